"""Opinion leaders in the asker's scope: /leaders lists them with this quarter's referral count, /leader N opens one.

Also the texts the network flows share: their error messages, the answer filter, counts and dates for people.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.domain.errors import DomainError
from bot.domain.numbers import MAX_ID, parse_whole_number
from bot.services.network import NetworkService
from storage.models import OrgUnit, Staff
from ui.callbacks import RowId
from ui.filters import MenuButton
from ui.keyboards import main_menu
from ui.network import format_count, leader_card_text, problem_text

LIST_BUTTONS_MAX = 30


class LeaderOpen(CallbackData, prefix="ldo"):
    leader_id: RowId








async def show_leader(message: Message, command: CommandObject, staff: Staff, unit: OrgUnit | None,
                      network: NetworkService) -> None:
    """/leader N: one leader of the asker's scope with the quarter's referral sales."""
    leader_id = parse_whole_number((command.args or "").strip().lstrip("#").lstrip("№"), minimum=1, maximum=MAX_ID)
    if leader_id is None:
        await message.answer(_("Send /leader and the leader's number, e.g. /leader 3. /leaders lists them."))
        return
    try:
        card = await network.leader_card(unit, leader_id)
    except DomainError as error:
        await message.answer(problem_text(error))
        return
    await message.answer(await leader_card_text(network, card), reply_markup=main_menu(staff.role))


async def open_leader(callback: CallbackQuery, callback_data: LeaderOpen, unit: OrgUnit | None,
                      network: NetworkService) -> None:
    """A leader button of the list; the id is re-checked against the tapper's scope."""
    try:
        card = await network.leader_card(unit, callback_data.leader_id)
    except DomainError as error:
        await callback.answer(problem_text(error), show_alert=True)
        return
    await callback.answer()
    if isinstance(callback.message, Message):
        await callback.message.answer(await leader_card_text(network, card))


async def list_leaders(message: Message, staff: Staff, unit: OrgUnit | None, network: NetworkService) -> None:
    """/leaders: the leaders below the asker's unit with this quarter's reward count."""
    cards = await network.leaders_in_scope(unit)
    if not cards:
        await message.answer(_("No opinion leaders registered in your part of the organisation yet."),
                             reply_markup=main_menu(staff.role))
        return
    first = cards[0]
    lines = [_("Opinion leaders: {count}. Referral reward count in Q{quarter} {year}:").format(
        count=len(cards), quarter=first.quarter, year=first.year)]
    for card in cards:
        lines.append(_("No. {id} {name} ({city}): {weighted}").format(
            id=card.leader.id, name=card.leader.name, city=card.leader.city, weighted=format_count(card.weighted)))
    lines.append(_("Open one with /leader N or the buttons below."))
    buttons = [[InlineKeyboardButton(text=f"{card.leader.id}. {card.leader.name}"[:60],
                                     callback_data=LeaderOpen(leader_id=card.leader.id or 0).pack())]
               for card in cards[:LIST_BUTTONS_MAX]]
    await message.answer("\n".join(lines), reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons))


def make_router() -> Router:
    router = Router(name="leaders")
    router.message.register(list_leaders, Command("leaders"))
    router.message.register(list_leaders, MenuButton("leaders"))
    router.message.register(show_leader, Command("leader"))
    router.callback_query.register(open_leader, LeaderOpen.filter())
    return router
