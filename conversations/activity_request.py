"""Activity request (menu "Request activity", /activity_new), and editing a request sent back for changes.

type (shows the KPI it counts toward) → product line → series → date and time → county-level city → address →
customer natures (several) → expected attendance → budget lines → description → summary with Submit and Edit.
Submit files the request and sends it to the first level's approvers; for a request sent back it resubmits it
and the chain starts again. Diagram: activity_request.mmd beside this file.
"""

from __future__ import annotations

import json
import re
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, Filter, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.domain.approvals import ApprovalError, BudgetLine, counts_toward, parse_money_fen
from bot.domain.errors import DomainError
from bot.domain.numbers import parse_whole_number
from bot.domain.playbook import default_playbook
from bot.i18n import N_
from bot.services.activities import (
    REQUESTER_ROLES,
    ActivityDraft,
    ActivityService,
    ActivityView,
    budget_lines_of,
    chain_of,
)
from pushes.approvals import request_decision
from storage.models import Activity, OrgUnit, Staff
from ui.activities import EditCb, activity_error, card, kpi_label
from ui.filters import Answer, MenuButton, NotMenuOrCommand
from ui.flow import Flow, nav_buttons
from ui.keyboards import main_menu
from ui.labels import kind_name
from ui.states import ActivityRequest

flow = Flow("activity")

MAX_TEXT = 300
MAX_ATTENDANCE = 100_000
MAX_BUDGET_LINES = 20
EDITABLE = {
    "activity_type": N_("Type"),
    "product_line": N_("Product"),
    "starts_at": N_("Date and time"),
    "city": N_("City"),
    "address": N_("Address"),
    "natures": N_("Customers"),
    "attendance": N_("Attendance"),
    "budget": N_("Budget"),
    "description": N_("Description"),
}
# Also the Chinese way of writing it: 2026\u5e7412\u67085\u65e5 14\uff1a00.
_DATE_TIME = re.compile("^\\s*(\\d{4})[-/.\u5e74](\\d{1,2})[-/.\u6708](\\d{1,2})\u65e5?"
                        "\\s*(\\d{1,2})[:.\uff1a](\\d{2})\\s*$")


class ActPick(CallbackData, prefix="areq"):
    field: str
    value: str = ""


class Picked(Filter):
    """A tap on one kind of this flow's buttons; hands the unpacked data to the handler."""

    def __init__(self, field: str) -> None:
        self.field = field

    async def __call__(self, callback: CallbackQuery) -> bool | dict[str, Any]:
        try:
            data = ActPick.unpack(callback.data or "")
        except (TypeError, ValueError):
            return False
        return {"callback_data": data} if data.field == self.field else False


def pick(text: str, field: str, value: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=ActPick(field=field, value=value).pack())


def keyboard(buttons: list[InlineKeyboardButton], columns: int = 2, back: bool = True) -> InlineKeyboardMarkup:
    rows = [buttons[i:i + columns] for i in range(0, len(buttons), columns)]
    return InlineKeyboardMarkup(inline_keyboard=[*rows, nav_buttons(back=back)])


def locale_of(data: dict[str, Any]) -> str:
    i18n: I18n = data["i18n"]
    return i18n.current_locale


def parse_starts_at(text: str, settings: Settings) -> datetime | None:
    """"2026-12-05 14:00" (also with / or . or the Chinese date form) in the users' time zone, as aware UTC."""
    match = _DATE_TIME.match(text or "")
    if match is None:
        return None
    year, month, day, hour, minute = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, tzinfo=settings.tz).astimezone(UTC)
    except ValueError:
        return None


def parse_budget(text: str) -> list[tuple[str, int]] | None:
    """One line per item: a name, then its amount (e.g. "Venue 3000")."""
    lines = []
    for raw in (text or "").splitlines():
        if not raw.strip():
            continue
        parts = raw.strip().rsplit(maxsplit=1)
        if len(parts) != 2:
            return None
        try:
            lines.append((parts[0].strip(" :-\uff1a"), parse_money_fen(parts[1])))
        except ApprovalError:
            return None
        if not lines[-1][0]:
            return None
    return lines if 0 < len(lines) <= MAX_BUDGET_LINES else None


def draft_of(answers: dict[str, Any]) -> ActivityDraft:
    return ActivityDraft(
        activity_type=answers["activity_type"], product_line=answers["product_line"], series=answers["series"],
        starts_at=datetime.fromisoformat(answers["starts_at"]), city=answers["city"], address=answers["address"],
        natures=tuple(answers.get("natures", [])), expected_attendance=int(answers["attendance"]),
        budget_lines=tuple(BudgetLine(name, int(fen)) for name, fen in answers["budget"]),
        description=answers.get("description", ""))


def draft_activity(draft: ActivityDraft, activity_id: int | None) -> Activity:
    """An unsaved Activity to draw the summary with the same card approvers see."""
    return Activity(id=activity_id, client_token="", requester_staff_id=0, dealer_unit_id=0, org_path="",
                    activity_type=draft.activity_type, kpi=draft.kpi, product_line=draft.product_line,
                    series=draft.series, starts_at=draft.starts_at, city=draft.city, address=draft.address,
                    natures=",".join(draft.natures), expected_attendance=draft.expected_attendance,
                    budget_fen=draft.budget_fen, description=draft.description,
                    budget_lines=json.dumps([[line.name, line.amount_fen] for line in draft.budget_lines]))


async def next_step(message: Message, state: FSMContext, step: Any, data: dict[str, Any]) -> None:
    """On to `step`, or straight back to the summary when the user came from Edit."""
    if (await state.get_data()).get("editing"):
        await state.update_data(editing=False)
        await flow.goto(message, state, ActivityRequest.confirm, data)
    else:
        await flow.goto(message, state, step, data)


# --- start -------------------------------------------------------------------------------------------------


async def start_request(message: Message, state: FSMContext, staff: Staff, **data: Any) -> None:
    """Begins a new request with its own client token (one row however often Submit is tapped)."""
    if staff.role not in REQUESTER_ROLES:
        await message.answer(_("Your role doesn't allow this."), reply_markup=main_menu(staff.role))
        return
    await message.answer(_("New marketing activity request. You can go back or cancel at every step."))
    await flow.start(message, state, ActivityRequest.activity_type, {**data, "staff": staff})


async def start_edit(callback: CallbackQuery, callback_data: EditCb, state: FSMContext, staff: Staff,
                     activities: ActivityService, **data: Any) -> None:
    """A request sent back for changes, loaded into the flow at its summary."""
    message = callback.message
    try:
        activity = await activities.editable(staff, callback_data.id)
        if activity.version != callback_data.v:
            raise ApprovalError("stale")
    except DomainError as error:
        await callback.answer(activity_error(error), show_alert=True)
        return
    await callback.answer()
    if not isinstance(message, Message):
        return
    answers = {
        "activity_id": activity.id, "version": activity.version, "activity_type": activity.activity_type,
        "product_line": activity.product_line, "series": activity.series,
        "starts_at": activity.starts_at.isoformat(), "city": activity.city, "address": activity.address,
        "natures": [code for code in activity.natures.split(",") if code],
        "attendance": activity.expected_attendance,
        "budget": [[line.name, line.amount_fen] for line in budget_lines_of(activity)],
        "description": activity.description,
    }
    await flow.start(message, state, ActivityRequest.confirm, {**data, "staff": staff, "activities": activities},
                     **answers)


# --- steps -------------------------------------------------------------------------------------------------


@flow.asks(ActivityRequest.activity_type)
async def ask_type(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    choices = default_playbook().choices("activity_types", locale_of(data))
    await message.answer(_("Which kind of activity?"),
                         reply_markup=keyboard([pick(text, "type", code) for code, text in choices], back=False))


async def got_type(callback: CallbackQuery, callback_data: ActPick, state: FSMContext, **data: Any) -> None:
    """Stores the type; asks for the product line, saying which KPI the type counts toward."""
    await callback.answer()
    try:
        default_playbook().activity_type(callback_data.value)
    except KeyError:
        return
    await state.update_data(activity_type=callback_data.value)
    if isinstance(callback.message, Message):
        await next_step(callback.message, state, ActivityRequest.product_line, data)


@flow.asks(ActivityRequest.product_line)
async def ask_product_line(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    answers = await state.get_data()
    locale = locale_of(data)
    playbook = default_playbook()
    kpi = counts_toward(answers["activity_type"])
    choices = playbook.choices("product_lines", locale)
    await message.answer(
        _("{type} counts toward: {kpi}.\nWhich product line is it for?").format(
            type=playbook.label("activity_types", answers["activity_type"], locale), kpi=kpi_label(kpi, locale)),
        reply_markup=keyboard([pick(text, "line", code) for code, text in choices], columns=3))


async def got_product_line(callback: CallbackQuery, callback_data: ActPick, state: FSMContext,
                           **data: Any) -> None:
    await callback.answer()
    try:
        default_playbook().item("product_lines", callback_data.value)
    except KeyError:
        return
    await state.update_data(product_line=callback_data.value, series=None)
    if isinstance(callback.message, Message):
        # A new line needs its series even when editing.
        await flow.goto(callback.message, state, ActivityRequest.series, data)


@flow.asks(ActivityRequest.series)
async def ask_series(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    answers = await state.get_data()
    locale = locale_of(data)
    line = default_playbook().item("product_lines", answers["product_line"])
    buttons = [pick(series.label.text(locale), "series", series.code) for series in line.series]  # type: ignore[attr-defined]
    await message.answer(_("Which series?"), reply_markup=keyboard(buttons, columns=1))


async def got_series(callback: CallbackQuery, callback_data: ActPick, state: FSMContext, **data: Any) -> None:
    await callback.answer()
    answers = await state.get_data()
    line = default_playbook().item("product_lines", answers.get("product_line") or "")
    if callback_data.value not in {series.code for series in line.series}:  # type: ignore[attr-defined]
        return
    await state.update_data(series=callback_data.value)
    if isinstance(callback.message, Message):
        await next_step(callback.message, state, ActivityRequest.starts_at, data)


@flow.asks(ActivityRequest.starts_at)
async def ask_starts_at(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("When does it start? Send the date and time, e.g. 2026-12-05 14:00."),
                         reply_markup=keyboard([]))


async def got_starts_at(message: Message, state: FSMContext, settings: Settings, clock: Any, **data: Any) -> None:
    """Stores the start as UTC; asks for the city."""
    starts_at = parse_starts_at(message.text or "", settings)
    if starts_at is None:
        await message.answer(_("Please send the date and time like 2026-12-05 14:00."), reply_markup=keyboard([]))
        return
    if starts_at <= clock():
        await message.answer(_("The activity must start in the future."), reply_markup=keyboard([]))
        return
    await state.update_data(starts_at=starts_at.isoformat())
    await next_step(message, state, ActivityRequest.city, {**data, "settings": settings, "clock": clock})


@flow.asks(ActivityRequest.city)
async def ask_city(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("In which county-level city?"), reply_markup=keyboard([]))


async def got_city(message: Message, state: FSMContext, **data: Any) -> None:
    """A blank (whitespace-only) answer is refused here, not only at Submit by the service."""
    city = (message.text or "").strip()[:64]
    if not city:
        await message.answer(_("The city can't be blank. Please send the name of the county-level city."),
                             reply_markup=keyboard([]))
        return
    await state.update_data(city=city)
    await next_step(message, state, ActivityRequest.address, data)


@flow.asks(ActivityRequest.address)
async def ask_address(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("At which address (venue)?"), reply_markup=keyboard([]))


async def got_address(message: Message, state: FSMContext, **data: Any) -> None:
    address = (message.text or "").strip()[:MAX_TEXT]
    if not address:
        await message.answer(_("The address can't be blank. Please send the address of the venue."),
                             reply_markup=keyboard([]))
        return
    await state.update_data(address=address)
    await next_step(message, state, ActivityRequest.natures, data)


@flow.asks(ActivityRequest.natures)
async def ask_natures(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    chosen = set((await state.get_data()).get("natures") or [])
    buttons = [pick(("✓ " if code in chosen else "") + text, "nature", code)
               for code, text in default_playbook().choices("natures", locale_of(data))]
    buttons.append(pick(_("Done"), "natures_done"))
    await message.answer(_("Which customers is it for? Tap all that apply, then Done."),
                         reply_markup=keyboard(buttons, columns=1))


async def got_nature(callback: CallbackQuery, callback_data: ActPick, state: FSMContext, **data: Any) -> None:
    """Toggles one nature and redraws the buttons."""
    await callback.answer()
    codes = [code for code, _label in default_playbook().choices("natures", "en")]
    if callback_data.value not in codes:
        return
    chosen = list((await state.get_data()).get("natures") or [])
    chosen = [c for c in chosen if c != callback_data.value] if callback_data.value in chosen \
        else [*chosen, callback_data.value]
    await state.update_data(natures=[code for code in codes if code in chosen])
    if isinstance(callback.message, Message):
        await flow.reask(callback.message, state, data)


async def natures_done(callback: CallbackQuery, state: FSMContext, **data: Any) -> None:
    if not (await state.get_data()).get("natures"):
        await callback.answer(_("Please choose at least one customer nature."), show_alert=True)
        return
    await callback.answer()
    if isinstance(callback.message, Message):
        await next_step(callback.message, state, ActivityRequest.attendance, data)


@flow.asks(ActivityRequest.attendance)
async def ask_attendance(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("How many people do you expect? Send a whole number."), reply_markup=keyboard([]))


async def got_attendance(message: Message, state: FSMContext, **data: Any) -> None:
    attendance = parse_whole_number(message.text, minimum=1, maximum=MAX_ATTENDANCE)
    if attendance is None:
        await message.answer(_("Please send the expected attendance as a whole number, e.g. 40."),
                             reply_markup=keyboard([]))
        return
    await state.update_data(attendance=attendance)
    await next_step(message, state, ActivityRequest.budget, data)


@flow.asks(ActivityRequest.budget)
async def ask_budget(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("The budget, one item per line: what, then the amount in yuan. For example:\n"
                           "Venue 3000\nGifts 2,500\nCatering 2000"), reply_markup=keyboard([]))


async def got_budget(message: Message, state: FSMContext, **data: Any) -> None:
    lines = parse_budget(message.text or "")
    if lines is None:
        await message.answer(_("I couldn't read that. Please send one item per line, a name then an amount, "
                               "e.g. “Venue 3000”."), reply_markup=keyboard([]))
        return
    await state.update_data(budget=[[name, fen] for name, fen in lines])
    await next_step(message, state, ActivityRequest.description, data)


@flow.asks(ActivityRequest.description)
async def ask_description(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("Describe the activity: programme, invited customers, goals."),
                         reply_markup=keyboard([]))


async def got_description(message: Message, state: FSMContext, **data: Any) -> None:
    await state.update_data(description=(message.text or "").strip()[:2000])
    await next_step(message, state, ActivityRequest.confirm, data)


@flow.asks(ActivityRequest.confirm)
async def ask_confirm(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    """The summary, drawn like the approvers' card, with Submit and one Edit button per field."""
    answers = await state.get_data()
    settings: Settings = data["settings"]
    draft = draft_of(answers)
    view = ActivityView(draft_activity(draft, None), None, None, [], 0, 0, 0)
    head = _("Please check the request:") if not answers.get("activity_id") else \
        _("Activity #{id} was sent back for changes. Edit what is needed, then submit it again:").format(
            id=answers["activity_id"])
    edits = [pick("✏️ " + _(label), "edit", field) for field, label in EDITABLE.items()]
    rows = [[pick(_("📨 Submit"), "submit")], *[edits[i:i + 3] for i in range(0, len(edits), 3)],
            nav_buttons(back=not answers.get("activity_id"))]
    await message.answer(f"{head}\n\n{card(view, settings.tz, locale_of(data))}",
                         reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


async def edit_field(callback: CallbackQuery, callback_data: ActPick, state: FSMContext, **data: Any) -> None:
    await callback.answer()
    steps = {"activity_type": ActivityRequest.activity_type, "product_line": ActivityRequest.product_line,
             "starts_at": ActivityRequest.starts_at, "city": ActivityRequest.city,
             "address": ActivityRequest.address, "natures": ActivityRequest.natures,
             "attendance": ActivityRequest.attendance, "budget": ActivityRequest.budget,
             "description": ActivityRequest.description}
    step = steps.get(callback_data.value)
    if step is None or not isinstance(callback.message, Message):
        return
    await state.update_data(editing=True)
    await flow.goto(callback.message, state, step, data)


async def submit(callback: CallbackQuery, state: FSMContext, staff: Staff, unit: OrgUnit | None,
                 activities: ActivityService, bot: Bot, i18n: I18n, settings: Settings) -> None:
    """Files (or refiles) the request, clears the flow and sends the card to the first level's approvers."""
    message = callback.message
    answers = await state.get_data()
    try:
        draft = draft_of(answers)
        if answers.get("activity_id"):
            done = await activities.resubmit(staff, int(answers["activity_id"]), int(answers["version"]), draft)
        else:
            assert unit is not None
            done = await activities.submit(staff, unit, draft, str(answers["client_token"]))
    except DomainError as error:
        await callback.answer(activity_error(error), show_alert=True)
        if error.code in ("stale", "not_changes_requested", "activity_not_found", "not_allowed") \
                and isinstance(message, Message):
            await state.clear()
            await message.answer(activity_error(error), reply_markup=main_menu(staff.role))
        return
    await callback.answer()
    await state.clear()
    activity = done.activity
    if isinstance(message, Message):
        with suppress(TelegramAPIError):
            await message.edit_reply_markup(reply_markup=None)
        levels = " → ".join(kind_name(level) for level in chain_of(activity))
        await message.answer(
            _("📨 Activity #{id} is submitted. Approval: {levels}. You will be told about each decision.").format(
                id=activity.id, levels=levels), reply_markup=main_menu(staff.role))
    if done.created:
        await request_decision(activities.uow.session, activity, done.approvers)


async def text_expected(message: Message, state: FSMContext, **data: Any) -> None:
    """Anything but text on a text step, or text on a button step: ask the same question again."""
    await flow.reask(message, state, data)


def make_router() -> Router:
    router = Router(name="activity-request")
    router.message.register(start_request, MenuButton("activity_new"))
    router.message.register(start_request, Command("activity_new"))
    router.callback_query.register(start_edit, EditCb.filter())
    router.callback_query.register(got_type, Picked("type"), StateFilter(ActivityRequest.activity_type))
    router.callback_query.register(got_product_line, Picked("line"), StateFilter(ActivityRequest.product_line))
    router.callback_query.register(got_series, Picked("series"), StateFilter(ActivityRequest.series))
    router.callback_query.register(got_nature, Picked("nature"), StateFilter(ActivityRequest.natures))
    router.callback_query.register(natures_done, Picked("natures_done"), StateFilter(ActivityRequest.natures))
    router.callback_query.register(edit_field, Picked("edit"), StateFilter(ActivityRequest.confirm))
    router.callback_query.register(submit, Picked("submit"), StateFilter(ActivityRequest.confirm))
    router.message.register(got_starts_at, StateFilter(ActivityRequest.starts_at), Answer())
    router.message.register(got_city, StateFilter(ActivityRequest.city), Answer())
    router.message.register(got_address, StateFilter(ActivityRequest.address), Answer())
    router.message.register(got_attendance, StateFilter(ActivityRequest.attendance), Answer())
    router.message.register(got_budget, StateFilter(ActivityRequest.budget), Answer())
    router.message.register(got_description, StateFilter(ActivityRequest.description), Answer())
    for step in ActivityRequest.__all_states__:
        router.message.register(text_expected, StateFilter(step), NotMenuOrCommand())
    return router
