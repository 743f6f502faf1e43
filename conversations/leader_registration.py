"""Registering a user opinion leader: name → phone → province → city → vehicles → fleet → Submit.

A phone already on file at the dealer shows that leader instead of creating a second one.
Diagram: leader_registration.mmd beside this file.
"""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.domain.errors import DomainError
from bot.domain.names import clean_name
from bot.domain.playbook import default_playbook
from bot.services.network import (
    CITY_MAX,
    NAME_MAX,
    VEHICLES_MAX,
    LeaderDraft,
    NetworkService,
    clean_text,
    parse_positive_int,
    require_dealer,
)
from storage.models import OrgUnit, Staff
from ui.filters import Answer, MenuButton, NotMenuOrCommand
from ui.flow import Flow, nav_buttons
from ui.keyboards import main_menu
from ui.labels import current_locale, playbook_label
from ui.network import leader_card_text, problem_text
from ui.states import LeaderRegistration

flow = Flow("leader")


class LeaderStep(CallbackData, prefix="ldr"):
    step: str  # "province" or "submit"
    value: str = ""


def _markup(rows: list[list[InlineKeyboardButton]], back: bool = True) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[*rows, nav_buttons(back)])


@flow.asks(LeaderRegistration.name)
async def ask_name(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("⭐ New opinion leader.\nWhat is the opinion leader's name?"),
                         reply_markup=_markup([], back=False))


@flow.asks(LeaderRegistration.phone)
async def ask_phone(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("The opinion leader's mobile phone number?"), reply_markup=_markup([]))


@flow.asks(LeaderRegistration.province)
async def ask_province(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    unit: OrgUnit | None = data.get("unit")
    default = unit.province if unit is not None else None
    rows: list[list[InlineKeyboardButton]] = []
    if default:
        rows.append([InlineKeyboardButton(text="✅ " + playbook_label("provinces", default),
                                          callback_data=LeaderStep(step="province", value=default).pack())])
    others = [InlineKeyboardButton(text=label, callback_data=LeaderStep(step="province", value=code).pack())
              for code, label in default_playbook().choices("provinces", current_locale()) if code != default]
    rows += [others[i:i + 4] for i in range(0, len(others), 4)]
    if default:
        text = _("Province: the dealer's province is {province}. Tap it, or choose another province.").format(
            province=playbook_label("provinces", default))
    else:
        text = _("Which province?")
    await message.answer(text, reply_markup=_markup(rows))


@flow.asks(LeaderRegistration.city)
async def ask_city(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("Which county-level city does the leader work in? Send its name."),
                         reply_markup=_markup([]))


@flow.asks(LeaderRegistration.vehicles)
async def ask_vehicles(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("Which vehicles does the leader's fleet run? E.g. “TX tractors, 2 dump trucks”."),
                         reply_markup=_markup([]))


@flow.asks(LeaderRegistration.fleet_size)
async def ask_fleet_size(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("How many trucks are in the fleet? Send a whole number, e.g. 12."),
                         reply_markup=_markup([]))


@flow.asks(LeaderRegistration.confirm)
async def ask_confirm(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    answers = await state.get_data()
    summary = _("Please check the opinion leader:\nName: {name}\nPhone: {phone}\nArea: {province}, {city}\n"
                "Vehicles: {vehicles}\nFleet: {fleet} trucks\n\nTap Submit to save.").format(
        name=answers["name"], phone=answers["phone"], province=playbook_label("provinces", answers.get("province")),
        city=answers["city"], vehicles=answers["vehicles"], fleet=answers["fleet_size"])
    submit = InlineKeyboardButton(text=_("✅ Submit"), callback_data=LeaderStep(step="submit").pack())
    await message.answer(summary, reply_markup=_markup([[submit]]))


async def start(message: Message, state: FSMContext, unit: OrgUnit | None, staff: Staff, **data: Any) -> None:
    """/newleader or the menu: draws the flow's client token and asks for the name."""
    try:
        require_dealer(unit)
    except DomainError as error:
        await message.answer(problem_text(error), reply_markup=main_menu(staff.role))
        return
    await flow.start(message, state, LeaderRegistration.name, {**data, "unit": unit, "staff": staff})


async def got_name(message: Message, state: FSMContext, **data: Any) -> None:
    """Stores the name; asks for the phone."""
    try:
        name = clean_name(message.text, NAME_MAX, "empty_text")
    except DomainError as error:
        await message.answer(problem_text(error))
        return
    await state.update_data(name=name)
    await flow.goto(message, state, LeaderRegistration.phone, data)


async def got_phone(message: Message, state: FSMContext, network: NetworkService, unit: OrgUnit | None,
                    staff: Staff, **data: Any) -> None:
    """Stores the normalised phone and asks for the province; a leader already on file ends the flow."""
    try:
        phone, existing = await network.leader_with_phone(unit, message.text or "")
    except DomainError as error:
        await message.answer(problem_text(error))
        await flow.reask(message, state, {**data, "unit": unit})
        return
    if existing is not None:
        await state.clear()
        card = await network.leader_card(unit, existing.id)  # type: ignore[arg-type]
        await message.answer(_("This phone number already belongs to an opinion leader of your dealer; "
                               "nothing new was created:") + "\n\n" + await leader_card_text(network, card),
                             reply_markup=main_menu(staff.role))
        return
    await state.update_data(phone=phone)
    await flow.goto(message, state, LeaderRegistration.province, {**data, "unit": unit})


async def got_province(callback: CallbackQuery, callback_data: LeaderStep, state: FSMContext,
                       **data: Any) -> None:
    """Stores a province of the playbook; asks for the county-level city."""
    try:
        default_playbook().province(callback_data.value)
    except KeyError:
        await callback.answer(_("This button is no longer active."), show_alert=True)
        return
    await callback.answer()
    await state.update_data(province=callback_data.value)
    if isinstance(callback.message, Message):
        await flow.goto(callback.message, state, LeaderRegistration.city, data)


async def got_city(message: Message, state: FSMContext, **data: Any) -> None:
    """Stores the city; asks for the vehicles."""
    try:
        city = clean_text(message.text, CITY_MAX, "empty_text")
    except DomainError as error:
        await message.answer(problem_text(error))
        return
    await state.update_data(city=city)
    await flow.goto(message, state, LeaderRegistration.vehicles, data)


async def got_vehicles(message: Message, state: FSMContext, **data: Any) -> None:
    """Stores the vehicles; asks for the fleet size."""
    try:
        vehicles = clean_text(message.text, VEHICLES_MAX, "empty_text")
    except DomainError as error:
        await message.answer(problem_text(error))
        return
    await state.update_data(vehicles=vehicles)
    await flow.goto(message, state, LeaderRegistration.fleet_size, data)


async def got_fleet_size(message: Message, state: FSMContext, **data: Any) -> None:
    """Stores the fleet size (a positive whole number, else re-asked); shows the summary."""
    fleet = parse_positive_int(message.text)
    if fleet is None:
        await message.answer(problem_text(DomainError("bad_positive_int")))
        return
    await state.update_data(fleet_size=fleet)
    await flow.goto(message, state, LeaderRegistration.confirm, data)


async def submit(callback: CallbackQuery, state: FSMContext, network: NetworkService, staff: Staff,
                 unit: OrgUnit | None) -> None:
    """Stores the leader exactly once (client token) and ends the flow in the same transaction."""
    answers = await state.get_data()
    draft = LeaderDraft(name=answers["name"], phone=answers["phone"], province=answers.get("province"),
                        city=answers["city"], vehicles=answers["vehicles"], fleet_size=int(answers["fleet_size"]))
    try:
        registered = await network.register_leader(staff, unit, draft, answers["client_token"])
    except DomainError as error:
        await callback.answer(problem_text(error), show_alert=True)
        return
    await callback.answer()
    await state.clear()
    if not isinstance(callback.message, Message):
        return
    card = await network.leader_card(unit, registered.row.id)  # type: ignore[arg-type]
    head = (_("✅ Opinion leader registered.") if registered.created
            else _("This phone number already belongs to an opinion leader of your dealer; nothing new was created:"))
    await callback.message.answer(head + "\n\n" + await leader_card_text(network, card),
                                  reply_markup=main_menu(staff.role))


async def choose_with_buttons(message: Message, state: FSMContext, **data: Any) -> None:
    """Typed text where a button is expected, or a non-text message: say why and ask again."""
    current = await state.get_state()
    if current in (LeaderRegistration.province.state, LeaderRegistration.confirm.state):
        await message.answer(_("Please choose one of the buttons, or send /cancel."))
    else:
        await message.answer(_("Please answer with text."))
    await flow.reask(message, state, data)


def make_router() -> Router:
    router = Router(name="leader-registration")
    router.message.register(start, Command("newleader"))
    router.message.register(start, MenuButton("leader_new"))
    router.message.register(got_name, StateFilter(LeaderRegistration.name), Answer())
    router.message.register(got_phone, StateFilter(LeaderRegistration.phone), Answer())
    router.message.register(got_city, StateFilter(LeaderRegistration.city), Answer())
    router.message.register(got_vehicles, StateFilter(LeaderRegistration.vehicles), Answer())
    router.message.register(got_fleet_size, StateFilter(LeaderRegistration.fleet_size), Answer())
    router.callback_query.register(got_province, StateFilter(LeaderRegistration.province),
                                   LeaderStep.filter(F.step == "province"))
    router.callback_query.register(submit, StateFilter(LeaderRegistration.confirm),
                                   LeaderStep.filter(F.step == "submit"))
    router.message.register(choose_with_buttons, StateFilter(LeaderRegistration), NotMenuOrCommand())
    return router
