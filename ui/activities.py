"""Marketing activities as people see them: the card, its buttons and callback data, status and error texts.

Cards for people other than the sender are drawn in the recipient's own language, phones masked.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from babel.dates import format_date, format_time
from babel.numbers import format_currency

from bot.domain.errors import DomainError
from bot.domain.phones import mask_phone
from bot.domain.playbook import default_playbook
from bot.i18n import N_
from bot.services.activities import (
    ActivityView,
    budget_lines_of,
    chain_of,
    current_level,
)
from storage.models import Activity
from ui.callbacks import RowId
from ui.labels import error_text, kind_name, list_separator, role_name


class ApprovalCb(CallbackData, prefix="apv"):
    """A decision button: the activity, the version it was drawn for, and a/r/c."""

    id: RowId
    v: RowId
    d: str


class EvaluateCb(CallbackData, prefix="aev"):
    id: RowId
    score: int


class ResultsCb(CallbackData, prefix="ares"):
    id: RowId


class EditCb(CallbackData, prefix="aedit"):
    id: RowId
    v: RowId


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
    natures = list_separator().join(
        playbook.label("natures", code, locale) for code in activity.natures.split(",") if code)
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
    lines += [_("  • {item}: {amount}").format(item=line.name, amount=money(line.amount_fen, locale))
              for line in budget_lines_of(activity)]
    if activity.description:
        lines.append(_("Description: {text}").format(text=activity.description))
    if requester is not None:
        lines.append(_("Requested by: {name} ({role}), {dealer}, {phone}").format(
            name=requester.name, role=role_name(requester.role), dealer=view.dealer.name if view.dealer else "",
            phone=mask_phone(requester.phone)))
    if activity.id:
        lines.append(_("Status: {status}").format(status=status_line(activity)))
    if activity.reported_at is not None:
        lines.append(_("Results: {attendance} attended, {leads} leads ({linked} known customers), "
                       "{orders} trucks ordered, spent {spent}, {receipts} receipt photos").format(
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
    activity_id = activity.id
    assert activity_id is not None

    def button(text: str, code: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=text, callback_data=ApprovalCb(id=activity_id, v=activity.version,
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


def activity_line(activity: Activity, tz: ZoneInfo, locale: str) -> str:
    return _("#{id} {type} · {when} · {status}").format(
        id=activity.id, type=type_label(activity, locale), when=when(activity, tz, locale),
        status=status_line(activity))


