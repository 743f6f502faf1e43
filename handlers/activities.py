"""Marketing activities as people see them: the card, its buttons, pushes to others, /activities and /activity N.

Cards for people other than the sender are drawn in the recipient's own language, phones masked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from babel.dates import format_date, format_time
from babel.numbers import format_currency

from bot.config import Settings
from bot.domain.approvals import ApprovalError
from bot.domain.errors import DomainError
from bot.domain.numbers import MAX_ID, parse_whole_number
from bot.domain.phones import mask_phone
from bot.domain.playbook import default_playbook
from bot.filters import MenuButton
from bot.i18n import N_
from bot.labels import error_text, kind_name, role_name
from bot.services.activities import (
    ActivityService,
    ActivityView,
    budget_lines_of,
    chain_of,
    current_level,
)
from handlers.keyboards import main_menu
from storage.models import Activity, OrgUnit, Staff

log = logging.getLogger(__name__)


class ApprovalCb(CallbackData, prefix="apv"):
    """A decision button: the activity, the version it was drawn for, and a/r/c."""

    id: int
    v: int
    d: str


class EvaluateCb(CallbackData, prefix="aev"):
    id: int
    score: int


class ResultsCb(CallbackData, prefix="ares"):
    id: int


class EditCb(CallbackData, prefix="aedit"):
    id: int
    v: int


DECISION_CODES = {"a": "approve", "r": "reject", "c": "request_changes"}

STATE_NAMES = {
    "draft": N_("Draft"),
    "pending": N_("Waiting for approval"),
    "changes_requested": N_("Sent back for changes"),
    "rejected": N_("Rejected"),
    "approved": N_("Approved"),
    "completed": N_("Held, results reported"),
    "evaluated": N_("Evaluated"),
}

DECISION_NAMES = {
    "approve": N_("approved"),
    "reject": N_("rejected"),
    "request_changes": N_("sent back for changes"),
}

ACTIVITY_ERRORS = {
    "activity_not_found": N_("Activity request not found."),
    "stale": N_("This request has already been decided. Nothing was changed."),
    "not_pending": N_("This request has already been decided. Nothing was changed."),
    "wrong_step": N_("It is not your turn to decide on this request."),
    "not_an_approver": N_("Your role doesn't allow this."),
    "outside_scope": N_("That is outside your part of the organisation."),
    "own_request": N_("You can't decide on your own request."),
    "comment_required": N_("Please write a comment: it is required to reject a request or send it back."),
    "not_requester": N_("Only the person who made the request can do this."),
    "not_changes_requested": N_("This request is not waiting for changes."),
    "not_approved": N_("Results can be reported once, for an approved activity."),
    "not_completed": N_("This activity has no results to evaluate, or it was evaluated already."),
    "bad_score": N_("Please choose a score from 1 to 5."),
    "starts_in_past": N_("The activity must start in the future."),
    "natures_required": N_("Please choose at least one customer nature."),
    "budget_required": N_("Please enter at least one budget line."),
    "bad_choice": N_("Please choose one of the offered options."),
    "blank_text": N_("Please fill in the city and the address."),
    "unknown_decision": N_("This button is no longer active."),
}


def activity_error(error: DomainError) -> str:
    message = ACTIVITY_ERRORS.get(error.code)
    return _(message) if message else error_text(error)


def money(fen: int | None, locale: str) -> str:
    return format_currency((fen or 0) / 100, "CNY", locale=locale)


def when(activity: Activity, tz: ZoneInfo, locale: str) -> str:
    local = activity.starts_at.astimezone(tz)
    return f"{format_date(local.date(), format='medium', locale=locale)} {format_time(local, 'HH:mm', locale=locale)}"


def type_label(activity: Activity, locale: str) -> str:
    return default_playbook().label("activity_types", activity.activity_type, locale)


def kpi_label(kpi: str, locale: str) -> str:
    return default_playbook().label("kpis", kpi, locale)


def status_line(activity: Activity) -> str:
    state = _(STATE_NAMES.get(activity.state, activity.state))
    if activity.state == "pending":
        level = current_level(activity) or ""
        return _("{state}: {level} (step {step} of {steps})").format(
            state=state, level=kind_name(level), step=activity.step_index + 1, steps=len(chain_of(activity)))
    if activity.state == "evaluated":
        return _("{state}: {score}/5").format(state=state, score=activity.score)
    return state


def card(view: ActivityView, tz: ZoneInfo, locale: str, history: bool = False) -> str:
    """The request as approvers and the requester see it, in the current locale."""
    activity = view.activity
    playbook = default_playbook()
    natures = ", ".join(playbook.label("natures", code, locale) for code in activity.natures.split(",") if code)
    requester = view.requester
    title = _("🎪 Activity #{id}: {type}") if activity.id else _("🎪 New activity: {type}")
    lines = [
        title.format(id=activity.id, type=type_label(activity, locale)),
        _("Counts toward: {kpi}").format(kpi=kpi_label(activity.kpi, locale)),
        _("Product: {line} · {series}").format(line=playbook.label("product_lines", activity.product_line, locale),
                                               series=playbook.label("series", activity.series, locale)),
        _("When: {when}").format(when=when(activity, tz, locale)),
        _("Where: {city}, {address}").format(city=activity.city, address=activity.address),
        _("Customers: {natures}").format(natures=natures),
        _("Expected attendance: {count}").format(count=activity.expected_attendance),
        _("Budget: {total}").format(total=money(activity.budget_fen, locale)),
    ]
    lines += [f"  • {line.name}: {money(line.amount_fen, locale)}" for line in budget_lines_of(activity)]
    if activity.description:
        lines.append(_("Description: {text}").format(text=activity.description))
    if requester is not None:
        lines.append(_("Requested by: {name} ({role}), {dealer}, {phone}").format(
            name=requester.name, role=role_name(requester.role), dealer=view.dealer.name if view.dealer else "",
            phone=mask_phone(requester.phone)))
    if activity.id:
        lines.append(_("Status: {status}").format(status=status_line(activity)))
    if activity.reported_at is not None:
        lines.append(_("Results: {attendance} attended, {leads} leads ({linked} known customers), {orders} orders, "
                       "spent {spent}, {receipts} receipt photos").format(
            attendance=activity.result_attendance, leads=activity.result_leads, linked=view.linked_leads,
            orders=activity.result_orders, spent=money(activity.actual_expenses_fen, locale),
            receipts=view.receipts))
    if activity.evaluated_at is not None and activity.evaluation_comment:
        lines.append(_("Evaluation: {comment}").format(comment=activity.evaluation_comment))
    if history and (view.history or view.escalations):
        events: list[tuple[datetime, str]] = []
        for entry in view.history:
            line = _("{when} {level}: {decision} by {name}").format(
                when=stamp(entry.decision.decided_at, tz, locale), level=kind_name(entry.decision.level),
                decision=_(DECISION_NAMES[entry.decision.decision]), name=entry.actor.name if entry.actor else "?")
            if entry.decision.comment:
                line += f" — {entry.decision.comment}"
            events.append((entry.decision.decided_at, line))
        for escalation in view.escalations:
            events.append((escalation.at, _("{when} escalated to {upper}: no decision at {level} for {hours} hours")
                           .format(when=stamp(escalation.at, tz, locale), level=kind_name(escalation.level),
                                   upper=kind_name(escalation.upper_level), hours=escalation.waited_hours)))
        lines += ["", _("History:")]
        lines += ["  " + line for _at, line in sorted(events, key=lambda event: event[0])]
    return "\n".join(lines)


def stamp(moment: datetime, tz: ZoneInfo, locale: str) -> str:
    local = moment.astimezone(tz)
    return f"{format_date(local.date(), format='medium', locale=locale)} {local:%H:%M}"


def decision_keyboard(activity: Activity) -> InlineKeyboardMarkup:
    assert activity.id is not None

    def button(text: str, code: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=text, callback_data=ApprovalCb(id=activity.id, v=activity.version,
                                                                        d=code).pack())

    return InlineKeyboardMarkup(inline_keyboard=[
        [button(_("✅ Approve"), "a"), button(_("❌ Reject"), "r")],
        [button(_("✏️ Ask for changes"), "c")],
    ])


def results_keyboard(activity: Activity) -> InlineKeyboardMarkup:
    assert activity.id is not None
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("📝 Report results"), callback_data=ResultsCb(id=activity.id).pack())]])


def edit_keyboard(activity: Activity) -> InlineKeyboardMarkup:
    assert activity.id is not None
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("✏️ Edit and resubmit"), callback_data=EditCb(id=activity.id, v=activity.version).pack())]])


def evaluation_keyboard(activity: Activity) -> InlineKeyboardMarkup:
    assert activity.id is not None
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=score_label(score), callback_data=EvaluateCb(id=activity.id, score=score).pack())
        for score in range(1, 6)]])


def score_label(score: int) -> str:
    return "⭐" * score if score <= 3 else f"{score}⭐"


async def push(bot: Bot, i18n: I18n, recipient: Staff,
               render: Callable[[str], tuple[str, InlineKeyboardMarkup | None]]) -> bool:
    """Sends a message drawn in the recipient's language; False when they can't be reached."""
    if recipient.tg_user_id is None or not recipient.active:
        return False
    locale = recipient.locale or i18n.default_locale
    with i18n.context(), i18n.use_locale(locale):
        text, markup = render(locale)
    try:
        await bot.send_message(chat_id=recipient.tg_user_id, text=text, reply_markup=markup)
    except TelegramAPIError as error:
        log.warning("could not notify staff %s: %s", recipient.id, error)
        return False
    return True


async def send_for_decision(bot: Bot, i18n: I18n, view: ActivityView, approvers: list[Staff], tz: ZoneInfo,
                            intro: str | None = None) -> int:
    """The request card with decision buttons to each approver of the current step."""
    sent = 0
    for approver in approvers:
        def render(locale: str) -> tuple[str, InlineKeyboardMarkup | None]:
            head = _(intro) if intro else _("A marketing activity is waiting for your approval.")
            return f"{head}\n\n{card(view, tz, locale)}", decision_keyboard(view.activity)

        sent += await push(bot, i18n, approver, render)
    return sent


def activity_line(activity: Activity, tz: ZoneInfo, locale: str) -> str:
    return _("#{id} {type} · {when} · {status}").format(
        id=activity.id, type=type_label(activity, locale), when=when(activity, tz, locale),
        status=status_line(activity))


async def list_activities(message: Message, staff: Staff, unit: OrgUnit | None, activities: ActivityService,
                          settings: Settings, i18n: I18n) -> None:
    """Mine (as requester) and those waiting for me (as approver or reviewer), with their state."""
    locale = i18n.current_locale
    mine = await activities.mine(staff)
    waiting = await activities.waiting_for(staff, unit)
    lines: list[str] = []
    if waiting:
        lines.append(_("Waiting for you:"))
        lines += ["  " + activity_line(a, settings.tz, locale) for a in waiting]
    if mine:
        lines.append(_("My requests:"))
        lines += ["  " + activity_line(a, settings.tz, locale) for a in mine]
    if not lines:
        lines.append(_("No activities for you yet."))
    else:
        lines.append(_("Send /activity N to open one."))
    if unit is not None:
        year, quarter, counts = await activities.this_quarter(unit)
        held = " · ".join(f"{kpi_label(kpi, locale)} {count}" for kpi, count in counts.items())
        lines += ["", _("Held this quarter (Q{quarter} {year}) in {unit}: {held}").format(
            quarter=quarter, year=year, unit=unit.name, held=held)]
    await message.answer("\n".join(lines), reply_markup=main_menu(staff.role))


async def show_activity(message: Message, command: CommandObject, staff: Staff, unit: OrgUnit | None,
                        activities: ActivityService, settings: Settings, i18n: I18n) -> None:
    """One activity with its history, and the buttons this person may use on it now."""
    activity_id = parse_whole_number((command.args or "").strip().lstrip("#"), minimum=1, maximum=MAX_ID)
    if activity_id is None:
        await message.answer(_("Send /activity followed by its number, e.g. /activity 12."))
        return
    try:
        view = await activities.view(staff, unit, activity_id)
    except DomainError as error:
        await message.answer(activity_error(error))
        return
    activity = view.activity
    markup: InlineKeyboardMarkup | None = None
    if activity.requester_staff_id == staff.id and activity.state == "approved":
        markup = results_keyboard(activity)
    elif activity.requester_staff_id == staff.id and activity.state == "changes_requested":
        markup = edit_keyboard(activity)
    elif activity.state == "pending" and await _may_decide(activities, staff, unit, activity):
        markup = decision_keyboard(activity)
    elif activity.state == "completed" and await _may_evaluate(activities, staff, unit, activity):
        markup = evaluation_keyboard(activity)
    await message.answer(card(view, settings.tz, i18n.current_locale, history=True), reply_markup=markup)


async def _may_decide(activities: ActivityService, staff: Staff, unit: OrgUnit | None, activity: Activity) -> bool:
    assert activity.id is not None
    try:
        await activities.check_decision(staff, unit, activity.id, activity.version, "approve")
    except ApprovalError:
        return False
    return True


async def _may_evaluate(activities: ActivityService, staff: Staff, unit: OrgUnit | None, activity: Activity
                        ) -> bool:
    assert activity.id is not None
    try:
        await activities.check_evaluation(staff, unit, activity.id)
    except DomainError:
        return False
    return True


def make_router() -> Router:
    router = Router(name="activities")
    router.message.register(list_activities, Command("activities"))
    router.message.register(list_activities, MenuButton("activities"))
    router.message.register(show_activity, Command("activity"))
    return router
