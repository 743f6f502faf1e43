"""Registering an information station: name → kind → contact → phone → city → location or skip → Submit.

Diagram: station_registration.mmd beside this file.
"""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiogram.utils.i18n import gettext as _

from bot.domain.errors import DomainError
from bot.domain.names import clean_name
from bot.domain.phones import normalize_phone
from bot.domain.playbook import default_playbook
from bot.services.network import CITY_MAX, NAME_MAX, NetworkService, StationDraft, clean_text, require_dealer
from storage.models import InfoStation, OrgUnit, Staff
from ui.filters import Answer, HasLocation, MenuButton, NotMenuOrCommand
from ui.flow import Flow, nav_buttons
from ui.keyboards import main_menu
from ui.labels import current_locale, playbook_label
from ui.network import problem_text
from ui.states import StationRegistration

flow = Flow("station")


class StationStep(CallbackData, prefix="stn"):
    step: str  # "kind", "skip_location" or "submit"
    value: str = ""


def _markup(rows: list[list[InlineKeyboardButton]], back: bool = True) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[*rows, nav_buttons(back)])


def _location_text(answers: dict[str, Any]) -> str:
    if answers.get("lat") is None:
        return _("not given")
    return "{lat:.5f}, {lon:.5f}".format(lat=answers["lat"], lon=answers["lon"])


@flow.asks(StationRegistration.name)
async def ask_name(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("📡 New information station.\nWhat is the station's name (e.g. the shop or company)?"),
                         reply_markup=_markup([], back=False))


@flow.asks(StationRegistration.kind)
async def ask_kind(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    buttons = [InlineKeyboardButton(text=label, callback_data=StationStep(step="kind", value=code).pack())
               for code, label in default_playbook().choices("station_kinds", current_locale())]
    await message.answer(_("What kind of place is it?"),
                         reply_markup=_markup([buttons[i:i + 2] for i in range(0, len(buttons), 2)]))


@flow.asks(StationRegistration.contact_name)
async def ask_contact_name(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("Who is the contact person there? Send their name."), reply_markup=_markup([]))


@flow.asks(StationRegistration.phone)
async def ask_phone(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("The contact person's phone number?"), reply_markup=_markup([]))


@flow.asks(StationRegistration.city)
async def ask_city(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("Which county-level city is the station in? Send its name."), reply_markup=_markup([]))


@flow.asks(StationRegistration.location)
async def ask_location(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    keyboard = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text=_("📍 Send the station's location"),
                                                             request_location=True)]],
                                   resize_keyboard=True, one_time_keyboard=True)
    await message.answer(_("If you are at the station, send its location with the button below."),
                         reply_markup=keyboard)
    skip = InlineKeyboardButton(text=_("Skip location"), callback_data=StationStep(step="skip_location").pack())
    await message.answer(_("Not there now? Skip it."), reply_markup=_markup([[skip]]))


@flow.asks(StationRegistration.confirm)
async def ask_confirm(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    answers = await state.get_data()
    summary = _("Please check the information station:\nName: {name}\nKind: {kind}\nContact: {contact}, {phone}\n"
                "City: {city}\nLocation: {location}\n\nTap Submit to save.").format(
        name=answers["name"], kind=playbook_label("station_kinds", answers["kind"]),
        contact=answers["contact_name"], phone=answers["phone"], city=answers["city"],
        location=_location_text(answers))
    submit = InlineKeyboardButton(text=_("✅ Submit"), callback_data=StationStep(step="submit").pack())
    await message.answer(summary, reply_markup=_markup([[submit]]))


async def start(message: Message, state: FSMContext, unit: OrgUnit | None, staff: Staff, **data: Any) -> None:
    """/newstation or the menu: draws the flow's client token and asks for the name."""
    try:
        require_dealer(unit)
    except DomainError as error:
        await message.answer(problem_text(error), reply_markup=main_menu(staff.role))
        return
    await flow.start(message, state, StationRegistration.name, {**data, "unit": unit, "staff": staff})


async def _text_step(message: Message, state: FSMContext, data: dict[str, Any], key: str, max_length: int,
                     next_step: Any) -> None:
    try:
        # Names (the station's, the contact person's) must be made of letters; other texts only within the limit.
        check = clean_name if key in ("name", "contact_name") else clean_text
        value = check(message.text, max_length, "empty_text")
    except DomainError as error:
        await message.answer(problem_text(error))
        return
    await state.update_data({key: value})
    await flow.goto(message, state, next_step, data)


async def got_name(message: Message, state: FSMContext, **data: Any) -> None:
    """Stores the name; asks for the kind."""
    await _text_step(message, state, data, "name", NAME_MAX, StationRegistration.kind)


async def got_kind(callback: CallbackQuery, callback_data: StationStep, state: FSMContext, **data: Any) -> None:
    """Stores a station kind of the playbook; asks for the contact person."""
    try:
        default_playbook().item("station_kinds", callback_data.value)
    except KeyError:
        await callback.answer(_("This button is no longer active."), show_alert=True)
        return
    await callback.answer()
    await state.update_data(kind=callback_data.value)
    if isinstance(callback.message, Message):
        await flow.goto(callback.message, state, StationRegistration.contact_name, data)


async def got_contact_name(message: Message, state: FSMContext, **data: Any) -> None:
    """Stores the contact person; asks for the phone."""
    await _text_step(message, state, data, "contact_name", NAME_MAX, StationRegistration.phone)


async def got_phone(message: Message, state: FSMContext, **data: Any) -> None:
    """Stores the normalised phone (invalid: re-asked); asks for the city."""
    try:
        phone = normalize_phone(message.text or "")
    except DomainError as error:
        await message.answer(problem_text(error))
        return
    await state.update_data(phone=phone)
    await flow.goto(message, state, StationRegistration.city, data)


async def got_city(message: Message, state: FSMContext, **data: Any) -> None:
    """Stores the city; asks for the location."""
    await _text_step(message, state, data, "city", CITY_MAX, StationRegistration.location)


async def got_location(message: Message, state: FSMContext, **data: Any) -> None:
    """Stores the shared location; shows the summary."""
    location = message.location
    assert location is not None
    await state.update_data(lat=location.latitude, lon=location.longitude)
    await message.answer(_("📍 Location received."), reply_markup=ReplyKeyboardRemove())
    await flow.goto(message, state, StationRegistration.confirm, data)


async def skip_location(callback: CallbackQuery, state: FSMContext, **data: Any) -> None:
    """No location; shows the summary."""
    await callback.answer()
    await state.update_data(lat=None, lon=None)
    if isinstance(callback.message, Message):
        await callback.message.answer(_("Location skipped."), reply_markup=ReplyKeyboardRemove())
        await flow.goto(callback.message, state, StationRegistration.confirm, data)


async def submit(callback: CallbackQuery, state: FSMContext, network: NetworkService, staff: Staff,
                 unit: OrgUnit | None) -> None:
    """Stores the station exactly once (client token) and ends the flow in the same transaction."""
    answers = await state.get_data()
    draft = StationDraft(name=answers["name"], kind=answers["kind"], contact_name=answers["contact_name"],
                         phone=answers["phone"], city=answers["city"], lat=answers.get("lat"),
                         lon=answers.get("lon"))
    try:
        registered = await network.register_station(staff, unit, draft, answers["client_token"])
    except DomainError as error:
        await callback.answer(problem_text(error), show_alert=True)
        return
    await callback.answer()
    await state.clear()
    station = registered.row
    assert isinstance(station, InfoStation)
    if isinstance(callback.message, Message):
        await callback.message.answer(
            _("✅ Information station No. {id} registered: {name} ({kind}), {city}.").format(
                id=station.id, name=station.name, kind=playbook_label("station_kinds", station.kind),
                city=station.city),
            reply_markup=main_menu(staff.role))


async def not_expected(message: Message, state: FSMContext, **data: Any) -> None:
    """Anything a step can't take: say why and ask again."""
    current = await state.get_state()
    if current == StationRegistration.location.state:
        await message.answer(_("Please send the location with the button, or tap “Skip location”."))
    elif current in (StationRegistration.kind.state, StationRegistration.confirm.state):
        await message.answer(_("Please choose one of the buttons, or send /cancel."))
    else:
        await message.answer(_("Please answer with text."))
    await flow.reask(message, state, data)


def make_router() -> Router:
    router = Router(name="station-registration")
    router.message.register(start, Command("newstation"))
    router.message.register(start, MenuButton("station_new"))
    router.message.register(got_name, StateFilter(StationRegistration.name), Answer())
    router.message.register(got_contact_name, StateFilter(StationRegistration.contact_name), Answer())
    router.message.register(got_phone, StateFilter(StationRegistration.phone), Answer())
    router.message.register(got_city, StateFilter(StationRegistration.city), Answer())
    router.message.register(got_location, StateFilter(StationRegistration.location), HasLocation())
    router.callback_query.register(got_kind, StateFilter(StationRegistration.kind),
                                   StationStep.filter(F.step == "kind"))
    router.callback_query.register(skip_location, StateFilter(StationRegistration.location),
                                   StationStep.filter(F.step == "skip_location"))
    router.callback_query.register(submit, StateFilter(StationRegistration.confirm),
                                   StationStep.filter(F.step == "submit"))
    router.message.register(not_expected, StateFilter(StationRegistration), NotMenuOrCommand())
    return router
