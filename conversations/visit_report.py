"""Visit report by chat (/visit, menu, "Report visit" on a card or on /today).

customer (recent, search, or a new one) → visit kind → outcome → stage after → notes → next follow-up (quick
choices or the month calendar) → location proof (door visits) → photo → summary → Submit, then the next best action.
Diagram: visit_report.mmd beside this file.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiogram import F, Router
from aiogram.filters import StateFilter
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
from bot.domain.playbook import default_playbook
from bot.domain.text import shorten
from bot.i18n import N_
from bot.services.customers import CustomerService
from bot.services.visits import OUTCOMES, VisitDraft, VisitResult, VisitService
from conversations.customer_card import start_new
from storage.models import Customer, Staff
from ui.calendar import CalendarCb, DateRange, is_current, month_markup, parse_day, token_tag
from ui.callbacks import row_id
from ui.customers import CustomerAction, distance_text, error_message, outcome_name
from ui.filters import Answer, HasLocation, HasPhoto, NotMenuOrCommand
from ui.flow import VISIT_FOR_CUSTOMER, Flow, entry, nav_buttons
from ui.keyboards import main_menu
from ui.labels import current_locale, format_day, playbook_label
from ui.states import VisitReport

flow = Flow("visit")

MAX_NOTES_LENGTH = 2000
QUICK_DAYS = {
    "today": N_("Today ({day})"),
    "in_3_days": N_("In 3 days ({day})"),
    "in_1_week": N_("In a week ({day})"),
}
ERRORS = {
    "stage_not_allowed": N_("A customer in “{current}” can't move back to “{target}”. Choose the same stage or a "
                            "later one (from additional purchase: follow-up or purchase)."),
    "follow_up_in_past": N_("That date has already passed. Choose today or a later day."),
    "follow_up_too_far": N_("That is more than a year ahead. Choose a nearer day."),
}


class VisitPick(CallbackData, prefix="vr"):
    field: str
    value: str


def pick(text: str, field: str, value: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=VisitPick(field=field, value=value).pack())


def rows_of(buttons: list[InlineKeyboardButton], columns: int) -> list[list[InlineKeyboardButton]]:
    return [buttons[i:i + columns] for i in range(0, len(buttons), columns)]


def customer_button(customer: Customer) -> InlineKeyboardButton:
    text = f"{customer.name} · {customer.phone[-4:]}" if customer.phone else customer.name
    return pick(text, "cust", str(customer.id))


def visit_error(error: DomainError, answers: dict[str, Any] | None = None) -> str:
    if error.code == "stage_not_allowed" and answers is not None:
        return _(ERRORS["stage_not_allowed"]).format(current=playbook_label("stages", answers.get("customer_stage")),
                                                     target=playbook_label("stages", answers.get("stage_after")))
    if error.code in ERRORS:
        return _(ERRORS[error.code])
    return error_message(error)


# --- asking -------------------------------------------------------------------------------------------------

@flow.asks(VisitReport.customer)
async def ask_customer(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    customers: CustomerService = data["customers"]
    recent = await customers.recent(data["staff"])
    buttons = [customer_button(c) for c in recent]
    markup = InlineKeyboardMarkup(inline_keyboard=[*rows_of(buttons, 2), [pick(_("➕ New customer"), "new")],
                                                   nav_buttons(back=False)])
    text = _("Which customer did you visit? Tap one of your recent customers, or send part of a name or phone "
             "number to search.") if recent else _("Which customer did you visit? Send part of a name or phone "
                                                   "number to search, or add a new customer.")
    await message.answer(text, reply_markup=markup)


@flow.asks(VisitReport.kind)
async def ask_kind(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    answers = await state.get_data()
    choices = default_playbook().choices("visit_kinds", current_locale())
    markup = InlineKeyboardMarkup(inline_keyboard=[*rows_of([pick(text, "kind", code) for code, text in choices], 2),
                                                   nav_buttons()])
    await message.answer(_("Visit to {name}. What kind of visit?").format(name=answers.get("customer_name", "")),
                         reply_markup=markup)


@flow.asks(VisitReport.outcome)
async def ask_outcome(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    buttons = [pick(outcome_name(code), "outcome", code) for code in OUTCOMES]
    await message.answer(_("What came of it?"),
                         reply_markup=InlineKeyboardMarkup(inline_keyboard=[*rows_of(buttons, 2), nav_buttons()]))


@flow.asks(VisitReport.stage)
async def ask_stage(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    answers = await state.get_data()
    current = answers.get("customer_stage")
    buttons = [pick(f"• {text}" if code == current else text, "stage", code)
               for code, text in default_playbook().choices("stages", current_locale())]
    await message.answer(_("The customer is at “{stage}”. Which stage after this visit?").format(
        stage=playbook_label("stages", current)),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[*rows_of(buttons, 2), nav_buttons()]))


@flow.asks(VisitReport.notes)
async def ask_notes(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    markup = InlineKeyboardMarkup(inline_keyboard=[[pick(_("⏭ Skip"), "notes")], nav_buttons()])
    await message.answer(_("Notes on the visit (what the customer said, needs, next steps)? Send text, or Skip."),
                         reply_markup=markup)


@flow.asks(VisitReport.follow_up)
async def ask_follow_up(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    visits: VisitService = data["visits"]
    from bot.domain.fieldwork import follow_up_choices
    buttons = [pick(_(QUICK_DAYS[code]).format(day=format_day(day)), "day", day.isoformat())
               for code, day in follow_up_choices(visits.today())]
    markup = InlineKeyboardMarkup(inline_keyboard=[
        *rows_of(buttons, 1), [pick(_("📅 Pick a date"), "cal")],
        nav_buttons()])
    answers = await state.get_data()
    if VisitService.keeps_stage(answers.get("outcome") or ""):
        text = _("Not reached: plan another try. When will you contact the customer again?")
    else:
        text = _("When is the next follow-up?")
    await message.answer(text, reply_markup=markup)


def location_keyboard() -> ReplyKeyboardMarkup:
    button = KeyboardButton(text=_("📍 Send my location"), request_location=True)
    return ReplyKeyboardMarkup(keyboard=[[button]], resize_keyboard=True, one_time_keyboard=True)


@flow.asks(VisitReport.location)
async def ask_location(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("Proof of the visit: share your live location where you meet the customer (📎 → "
                           "Location → Share live location): managers trust it most. Or tap “📍 Send my location” "
                           "below. Forwarded locations are not accepted."), reply_markup=location_keyboard())
    await message.answer(_("No location to send? Skip it: the visit is then stored as not verified."),
                         reply_markup=InlineKeyboardMarkup(inline_keyboard=[[pick(_("⏭ Skip"), "loc")],
                                                                            nav_buttons()]))


@flow.asks(VisitReport.photo)
async def ask_photo(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    markup = InlineKeyboardMarkup(inline_keyboard=[[pick(_("⏭ Skip"), "photo")], nav_buttons()])
    await message.answer(_("A photo of the visit (the truck, the site, the meeting)? Send one, or Skip."),
                         reply_markup=markup)


def summary_lines(answers: dict[str, Any]) -> list[str]:
    follow_up = answers.get("next_follow_up")
    if answers.get("lat") is not None and answers.get("live_period"):
        location = _("live location shared")
    elif answers.get("lat") is not None:
        location = _("sent")
    elif answers.get("checks_location"):
        location = _("skipped")
    else:
        location = _("not needed for this kind of visit")
    return [
        _("Customer: {name}").format(name=answers.get("customer_name", "")),
        _("Visit kind: {kind}").format(kind=playbook_label("visit_kinds", answers.get("visit_kind"))),
        _("Outcome: {outcome}").format(outcome=outcome_name(answers.get("outcome", ""))),
        _("Stage after: {stage}").format(stage=playbook_label("stages", answers.get("stage_after"))),
        _("Notes: {notes}").format(notes=answers.get("notes") or "—"),
        _("Next follow-up: {day}").format(day=format_day(date.fromisoformat(follow_up)) if follow_up else "—"),
        _("Location: {location}").format(location=location),
        _("Photo: {photo}").format(photo=_("attached") if answers.get("photo_file_id") else "—"),
    ]


@flow.asks(VisitReport.confirm)
async def ask_confirm(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    answers = await state.get_data()
    markup = InlineKeyboardMarkup(inline_keyboard=[[pick(_("✅ Submit"), "submit")], nav_buttons()])
    await message.answer("\n".join([_("Please check the visit report:"), *summary_lines(answers)]),
                         reply_markup=markup)


# --- starting -----------------------------------------------------------------------------------------------

async def start_visit(message: Message, state: FSMContext, **data: Any) -> None:
    """/visit and the menu entry: a fresh report with its own client token; asks for the customer."""
    staff: Staff = data["staff"]
    from bot.services.customers import works_at_dealer
    if not works_at_dealer(data.get("unit")):
        await message.answer(_("Only dealer staff report customer visits."), reply_markup=main_menu(staff.role))
        return
    await flow.start(message, state, VisitReport.customer, data)


@entry(VISIT_FOR_CUSTOMER)
async def start_for_customer(message: Message, state: FSMContext, data: dict[str, Any], customer_id: int) -> None:
    """A fresh report on one customer of the reporter's dealer (card, /today, a new customer); asks the kind."""
    visits: VisitService = data["visits"]
    try:
        customer = await visits.customer_for_visit(data.get("unit"), customer_id)
    except DomainError as error:
        await message.answer(error_message(error))
        return
    await flow.start(message, state, VisitReport.kind, data,
                     **customer_answers(customer))


def customer_answers(customer: Customer) -> dict[str, Any]:
    return {"customer_id": customer.id, "customer_name": customer.name, "customer_stage": customer.stage}


async def visit_from_button(callback: CallbackQuery, callback_data: CustomerAction, state: FSMContext,
                            **data: Any) -> None:
    """"Report visit" on a customer card or a /today item."""
    message = callback.message
    assert isinstance(message, Message)
    visits: VisitService = data["visits"]
    try:
        await visits.customer_for_visit(data.get("unit"), callback_data.id)
    except DomainError as error:
        await callback.answer(error_message(error), show_alert=True)
        return
    await callback.answer()
    await start_for_customer(message, state, data, callback_data.id)


# --- answers ------------------------------------------------------------------------------------------------

async def search_customer(message: Message, state: FSMContext, **data: Any) -> None:
    """Search text on the customer step: matching customers of the dealer as buttons."""
    customers: CustomerService = data["customers"]
    found = await customers.find(data.get("unit"), message.text or "")
    if not found:
        await message.answer(_("No customer matches “{text}”. Try another part of the name or phone, or add a new "
                               "customer.").format(text=shorten(message.text or "")),
                             reply_markup=InlineKeyboardMarkup(inline_keyboard=[
                                 [pick(_("➕ New customer"), "new")], nav_buttons(back=False)]))
        return
    markup = InlineKeyboardMarkup(inline_keyboard=[*rows_of([customer_button(c) for c in found], 1),
                                                   [pick(_("➕ New customer"), "new")], nav_buttons(back=False)])
    await message.answer(_("Choose the customer:"), reply_markup=markup)


async def got_customer(callback: CallbackQuery, callback_data: VisitPick, state: FSMContext, **data: Any) -> None:
    """Stores the customer (checked: own dealer only); asks the kind of visit."""
    message = callback.message
    assert isinstance(message, Message)
    visits: VisitService = data["visits"]
    try:
        customer = await visits.customer_for_visit(data.get("unit"), row_id(callback_data.value))
    except (DomainError, ValueError):
        await callback.answer(_("Customer not found."), show_alert=True)
        return
    await callback.answer()
    await state.update_data(customer_answers(customer))
    await flow.goto(message, state, VisitReport.kind, data)


async def new_customer_first(callback: CallbackQuery, state: FSMContext, **data: Any) -> None:
    """"New customer": runs the customer flow, which comes back here with the new record."""
    message = callback.message
    assert isinstance(message, Message)
    await callback.answer()
    await start_new(message, state, data, return_to_visit=True)


async def got_kind(callback: CallbackQuery, callback_data: VisitPick, state: FSMContext, **data: Any) -> None:
    """Stores the visit kind (and whether it needs location proof); asks the outcome."""
    message = callback.message
    assert isinstance(message, Message)
    visits: VisitService = data["visits"]
    try:
        checks = visits.checks_location(callback_data.value)
    except KeyError:
        await callback.answer(_("That choice is not available. Please choose one of the buttons."), show_alert=True)
        return
    await callback.answer()
    await state.update_data(visit_kind=callback_data.value, checks_location=checks)
    await flow.goto(message, state, VisitReport.outcome, data)


async def got_outcome(callback: CallbackQuery, callback_data: VisitPick, state: FSMContext, **data: Any) -> None:
    """Stores the outcome; asks the stage after the visit."""
    message = callback.message
    assert isinstance(message, Message)
    if callback_data.value not in OUTCOMES:
        await callback.answer(_("That choice is not available. Please choose one of the buttons."), show_alert=True)
        return
    await callback.answer()
    await state.update_data(outcome=callback_data.value)
    if VisitService.keeps_stage(callback_data.value):
        # Nobody reached: the stage stays; the report goes on to notes and a new date to try again (re-plan).
        await state.update_data(stage_after=(await state.get_data()).get("customer_stage") or "collect")
        await flow.goto(message, state, VisitReport.notes, data)
        return
    await flow.goto(message, state, VisitReport.stage, data)


async def got_stage(callback: CallbackQuery, callback_data: VisitPick, state: FSMContext, **data: Any) -> None:
    """Stores the stage after the visit if the cycle allows the move; else says why and asks again."""
    message = callback.message
    assert isinstance(message, Message)
    answers = await state.get_data()
    target = callback_data.value
    try:
        default_playbook().stage(target)
    except KeyError:
        await callback.answer(_("That choice is not available. Please choose one of the buttons."), show_alert=True)
        return
    await callback.answer()
    try:
        VisitService.check_stage(answers.get("customer_stage") or "collect", target)
    except DomainError as error:
        await message.answer(visit_error(error, answers | {"stage_after": target}))
        await flow.reask(message, state, data)
        return
    await state.update_data(stage_after=target)
    await flow.goto(message, state, VisitReport.notes, data)


async def got_notes(message: Message, state: FSMContext, **data: Any) -> None:
    """Stores the notes; asks the next follow-up date."""
    notes = (message.text or "").strip()
    if len(notes) > MAX_NOTES_LENGTH:
        await message.answer(_("That is too long: please keep notes under {max} characters.").format(
            max=MAX_NOTES_LENGTH))
        return
    await state.update_data(notes=notes)
    await flow.goto(message, state, VisitReport.follow_up, data)


async def skip_notes(callback: CallbackQuery, state: FSMContext, **data: Any) -> None:
    message = callback.message
    assert isinstance(message, Message)
    await callback.answer()
    await state.update_data(notes="")
    await flow.goto(message, state, VisitReport.follow_up, data)


def follow_up_calendar(answers: dict[str, Any], visits: VisitService, month: date) -> InlineKeyboardMarkup:
    first, last = visits.follow_up_range()
    return month_markup(flow.name, token_tag(answers), month, DateRange(first, last), extra_rows=[nav_buttons()])


async def show_calendar(callback: CallbackQuery, callback_data: VisitPick, state: FSMContext, **data: Any) -> None:
    """The month calendar, from today's month up to a year ahead."""
    message = callback.message
    assert isinstance(message, Message)
    visits: VisitService = data["visits"]
    await callback.answer()
    await message.answer(_("Choose the follow-up day:"),
                         reply_markup=follow_up_calendar(await state.get_data(), visits, visits.today()))


async def calendar_tap(callback: CallbackQuery, callback_data: CalendarCb, state: FSMContext, **data: Any) -> None:
    """A tap on the follow-up calendar: another month (edited in place), a day, or nothing; old calendars refused."""
    message = callback.message
    if not await is_current(callback, callback_data, state, VisitReport.follow_up) or not isinstance(message,
                                                                                                       Message):
        return
    day = parse_day(callback_data)
    if callback_data.action == "month" and day is not None:
        await callback.answer()
        await message.edit_reply_markup(reply_markup=follow_up_calendar(await state.get_data(), data["visits"], day))
    elif callback_data.action == "day" and day is not None:
        await choose_follow_up(callback, message, day, state, data)
    else:
        await callback.answer()


async def got_follow_up(callback: CallbackQuery, callback_data: VisitPick, state: FSMContext, **data: Any) -> None:
    """A quick day button ("In 3 days")."""
    message = callback.message
    assert isinstance(message, Message)
    try:
        day = date.fromisoformat(callback_data.value)
    except ValueError:
        await callback.answer(_("That choice is not available. Please choose one of the buttons."), show_alert=True)
        return
    await choose_follow_up(callback, message, day, state, data)


async def choose_follow_up(callback: CallbackQuery, message: Message, day: date, state: FSMContext,
                           data: dict[str, Any]) -> None:
    """Stores the follow-up day unless it is past or too far; asks for the location (or the photo)."""
    visits: VisitService = data["visits"]
    await callback.answer()
    try:
        visits.check_follow_up(day)
    except DomainError as error:
        await message.answer(visit_error(error))
        await flow.reask(message, state, data)
        return
    await state.update_data(next_follow_up=day.isoformat())
    answers = await state.get_data()
    if answers.get("checks_location"):
        await flow.goto(message, state, VisitReport.location, data)
    else:
        await state.update_data(lat=None, lon=None)
        await flow.goto(message, state, VisitReport.photo, data)


async def got_location(message: Message, state: FSMContext, **data: Any) -> None:
    """Stores the reported location and, when shared live, for how long; a forwarded location is no proof."""
    location = message.location
    assert location is not None
    if message.forward_origin is not None:
        await message.answer(_("That location was forwarded from another chat, so it proves nothing about this "
                               "visit. Please share your own location from where you are."))
        await flow.reask(message, state, data)
        return
    await state.update_data(lat=location.latitude, lon=location.longitude, live_period=location.live_period)
    if location.live_period:
        await message.answer(_("📍 Live location received."), reply_markup=ReplyKeyboardRemove())
    else:
        await message.answer(_("📍 Location received."), reply_markup=ReplyKeyboardRemove())
    await flow.goto(message, state, VisitReport.photo, data)


async def skip_location(callback: CallbackQuery, state: FSMContext, **data: Any) -> None:
    message = callback.message
    assert isinstance(message, Message)
    await callback.answer()
    await state.update_data(lat=None, lon=None, live_period=None)
    await message.answer(_("Location skipped."), reply_markup=ReplyKeyboardRemove())
    await flow.goto(message, state, VisitReport.photo, data)


async def location_expected(message: Message, state: FSMContext, **data: Any) -> None:
    await message.answer(_("Please send your location with the button below, or tap Skip."))
    await flow.reask(message, state, data)


async def got_photo(message: Message, state: FSMContext, **data: Any) -> None:
    """Stores the largest size of the photo; shows the summary. A forwarded photo is no proof of this visit."""
    assert message.photo
    if message.forward_origin is not None:
        await message.answer(_("That photo was forwarded from another chat. Please take and send your own photo "
                               "of this visit, or tap Skip."))
        await flow.reask(message, state, data)
        return
    await state.update_data(photo_file_id=message.photo[-1].file_id)
    await flow.goto(message, state, VisitReport.confirm, data)


async def skip_photo(callback: CallbackQuery, state: FSMContext, **data: Any) -> None:
    message = callback.message
    assert isinstance(message, Message)
    await callback.answer()
    await state.update_data(photo_file_id=None)
    await flow.goto(message, state, VisitReport.confirm, data)


async def photo_expected(message: Message, state: FSMContext, **data: Any) -> None:
    await message.answer(_("Please send a photo, or tap Skip."))
    await flow.reask(message, state, data)


async def submit(callback: CallbackQuery, state: FSMContext, **data: Any) -> None:
    """Stores the visit once (client token), checks the location, clears the flow, suggests the next action."""
    message = callback.message
    assert isinstance(message, Message)
    visits: VisitService = data["visits"]
    staff: Staff = data["staff"]
    answers = await state.get_data()
    follow_up = answers.get("next_follow_up")
    draft = VisitDraft(
        client_token=answers["client_token"], customer_id=int(answers["customer_id"]),
        visit_kind=answers["visit_kind"], outcome=answers["outcome"], stage_after=answers["stage_after"],
        notes=answers.get("notes") or "", next_follow_up=date.fromisoformat(follow_up) if follow_up else None,
        lat=answers.get("lat"), lon=answers.get("lon"), photo_file_id=answers.get("photo_file_id"),
        live_period=answers.get("live_period"))
    try:
        result = await visits.submit(staff, data.get("unit"), draft)
    except DomainError as error:
        await callback.answer()
        await message.answer(visit_error(error, answers))
        if error.code == "customer_not_found":
            await state.clear()
            await message.answer(_("Cancelled."), reply_markup=main_menu(staff.role))
        return
    await callback.answer(_("Visit saved."))
    await state.clear()
    await message.answer(result_text(result), reply_markup=main_menu(staff.role))


def result_text(result: VisitResult) -> str:
    check = result.check
    if check.status == "verified":
        proof = _("✅ Location verified: the visit happened at the customer's place.")
    elif check.status == "recorded":
        proof = _("📌 Location recorded as the customer's location (not verified: there was no known location to "
                  "compare with). Later visits are checked against it.")
    elif check.status == "out_of_range":
        proof = _("⚠️ Location out of range: {distance} away from the customer's known location.").format(
            distance=distance_text(check.distance_m or 0))
    else:
        proof = _("❔ No location: the visit is stored as not verified.")
    lines = [_("Visit to {name} saved.").format(name=result.customer.name), proof, "",
             _("Next best action for “{stage}”:").format(stage=playbook_label("stages", result.customer.stage))]
    lines += [f"• {playbook_label('actions', code)}" for code in result.next_action.actions]
    if result.next_action.script:
        lines.append(_("Script to use: {script}").format(script=playbook_label("scripts", result.next_action.script)))
    if result.customer.next_follow_up and VisitService.keeps_stage(result.visit.outcome):
        lines.append(_("🔁 Not reached: re-planned, try again on {day}.").format(
            day=format_day(result.customer.next_follow_up)))
    elif result.customer.next_follow_up:
        lines.append(_("Next follow-up: {day}").format(day=format_day(result.customer.next_follow_up)))
    return "\n".join(lines)


async def noop(callback: CallbackQuery) -> None:
    await callback.answer()


async def tap_expected(message: Message, state: FSMContext, **data: Any) -> None:
    await message.answer(_("Please choose one of the buttons, or send /cancel."))
    await flow.reask(message, state, data)


def make_router() -> Router:
    router = Router(name="visit-report")
    router.callback_query.register(visit_from_button, CustomerAction.filter(F.action == "visit"))
    router.callback_query.register(noop, VisitPick.filter(F.field == "noop"))
    router.message.register(search_customer, StateFilter(VisitReport.customer), Answer())
    router.callback_query.register(got_customer, StateFilter(VisitReport.customer), VisitPick.filter(F.field == "cust"))
    router.callback_query.register(new_customer_first, StateFilter(VisitReport.customer),
                                   VisitPick.filter(F.field == "new"))
    router.callback_query.register(got_kind, StateFilter(VisitReport.kind), VisitPick.filter(F.field == "kind"))
    router.callback_query.register(got_outcome, StateFilter(VisitReport.outcome),
                                   VisitPick.filter(F.field == "outcome"))
    router.callback_query.register(got_stage, StateFilter(VisitReport.stage), VisitPick.filter(F.field == "stage"))
    router.message.register(got_notes, StateFilter(VisitReport.notes), Answer())
    router.callback_query.register(skip_notes, StateFilter(VisitReport.notes), VisitPick.filter(F.field == "notes"))
    router.callback_query.register(show_calendar, StateFilter(VisitReport.follow_up),
                                   VisitPick.filter(F.field == "cal"))
    router.callback_query.register(got_follow_up, StateFilter(VisitReport.follow_up),
                                   VisitPick.filter(F.field == "day"))
    # No state filter: a tap on a calendar of a finished flow must still be answered (and refused).
    router.callback_query.register(calendar_tap, CalendarCb.filter(F.flow == flow.name))
    router.message.register(got_location, StateFilter(VisitReport.location), HasLocation())
    router.callback_query.register(skip_location, StateFilter(VisitReport.location), VisitPick.filter(F.field == "loc"))
    router.message.register(location_expected, StateFilter(VisitReport.location), NotMenuOrCommand())
    router.message.register(got_photo, StateFilter(VisitReport.photo), HasPhoto())
    router.callback_query.register(skip_photo, StateFilter(VisitReport.photo), VisitPick.filter(F.field == "photo"))
    router.message.register(photo_expected, StateFilter(VisitReport.photo), NotMenuOrCommand())
    router.callback_query.register(submit, StateFilter(VisitReport.confirm), VisitPick.filter(F.field == "submit"))
    # One StateFilter with every step (separate state filters would all have to match at once).
    router.message.register(tap_expected, StateFilter(VisitReport.customer, VisitReport.kind, VisitReport.outcome,
                                                      VisitReport.stage, VisitReport.notes, VisitReport.follow_up,
                                                      VisitReport.confirm), NotMenuOrCommand())
    return router
