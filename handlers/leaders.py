"""Opinion leaders in the asker's scope: /leaders lists them with this quarter's referral count, /leader N opens one.

Also the texts the network flows share: their error messages, the answer filter, counts and dates for people.
"""

from __future__ import annotations

from decimal import Decimal

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.domain.errors import DomainError
from bot.domain.numbers import MAX_ID, parse_whole_number
from bot.filters import MenuButton
from bot.i18n import N_
from bot.labels import error_text, format_day, playbook_label
from bot.services.network import LeaderQuarter, NetworkService
from handlers.keyboards import main_menu
from storage.models import OrgUnit, Staff

NETWORK_ERRORS = {
    "dealer_only": N_("Only dealer staff can do this: opinion leaders, information stations and sales belong "
                      "to a dealer."),
    "not_found": N_("Not found, or not in your part of the organisation."),
    "bad_series": N_("That series is not part of the chosen product line. Please choose again."),
    "bad_positive_int": N_("Please send a whole number greater than zero, e.g. 12."),
    "sale_in_future": N_("The date sold can't be in the future. Please choose today or an earlier day."),
    "empty_text": N_("Please send some text."),
    "text_too_long": N_("That is too long. Please shorten it."),
    "bad_location": N_("That location is not valid. Please send it again with the button, or skip."),
}
LIST_BUTTONS_MAX = 30


class LeaderOpen(CallbackData, prefix="ldo"):
    leader_id: int


def problem_text(error: DomainError) -> str:
    """The translated reason for a refused step."""
    message = NETWORK_ERRORS.get(error.code)
    return _(message) if message is not None else error_text(error)


def format_count(value: Decimal | int) -> str:
    """A reward count without trailing zeros: 3.9, 5, 10."""
    return format(Decimal(value).normalize(), "f")


async def leader_card_text(network: NetworkService, card: LeaderQuarter) -> str:
    details = await network.card_details(card)
    leader = card.leader
    lines = [
        _("⭐ Opinion leader No. {id}: {name}").format(id=leader.id, name=leader.name),
        _("Phone: {phone}").format(phone=leader.phone),
        _("Area: {province}, {city}").format(province=playbook_label("provinces", leader.province),
                                             city=leader.city),
        _("Vehicles: {vehicles}; fleet of {fleet} trucks").format(vehicles=leader.vehicles,
                                                                  fleet=leader.fleet_size or 0),
        _("Maintained by {staff} ({dealer})").format(staff=details.maintainer_name, dealer=details.dealer_name),
        "",
        _("Referral sales in Q{quarter} {year} ({first} – {last}):").format(
            quarter=card.quarter, year=card.year, first=format_day(card.first), last=format_day(card.last)),
    ]
    if not card.sales:
        lines.append(_("none yet"))
    for sale in card.sales:
        lines.append(_("• {day}: {customer}, {series}, {trucks} trucks × {multiplier}").format(
            day=format_day(sale.sold_on), customer=details.customer_names.get(sale.customer_id, "—"),
            series=playbook_label("series", sale.series), trucks=sale.trucks,
            multiplier=format_count(Decimal(sale.reward_multiplier))))
    lines.append(_("Reward count this quarter: {weighted} (trucks: {trucks})").format(
        weighted=format_count(card.weighted), trucks=card.trucks))
    return "\n".join(lines)


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
