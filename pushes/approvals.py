"""Approval pushes: requests for a decision, decisions told to the requester, reminders and escalations, the ask
for results, results to reviewers, the evaluation to the requester.

Each is an outbox row written in the transaction of its cause (`request_decision(session, ...)` from the handler
that submitted or approved, `remind(...)` from the watch) and drawn at send time from the activity as it is then:
a request or reminder for a step that was decided meanwhile is dropped, not sent with stale buttons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.text import shorten
from bot.i18n import N_
from bot.services.activities import ActivityService, ActivityView, Decided, Evaluated, Reported
from pushes.outbox import Recipient, RenderContext, Rendered, enqueue, renderer
from storage.models import Activity, Staff
from ui.activities import card, decision_keyboard, evaluation_keyboard, results_keyboard
from ui.activities import edit_keyboard as _edit_keyboard
from ui.labels import kind_name

# What the requester's notification quotes of the approver's comment (the whole of it stays on the activity).
COMMENT_ECHO_LIMIT = 1000

REQUEST = "approval.request"
DECIDED = "approval.decided"
REMINDER_KEY = "approval.reminder"
ESCALATION_KEY = "approval.escalation"
RESULTS_DUE = "activity.results_due"
RESULTS_REPORTED = "activity.results_reported"
EVALUATED = "activity.evaluated"

REMINDER = N_("⏰ Reminder: this activity request has been waiting for your decision for {hours} hours.")
ESCALATION = N_("⚠️ Escalated to you: this activity request has been waiting at {level} for {hours} hours. "
                "Please follow up with them.")
INTROS = {
    "request": N_("A marketing activity is waiting for your approval."),
}


def _staff(staff: Staff) -> Recipient | None:
    """Only onboarded, active staff can be reached in Telegram."""
    if staff.tg_user_id is None or not staff.active:
        return None
    return Recipient.staff(staff.id, chat_id=staff.tg_user_id, locale=staff.locale)


async def _push(session: AsyncSession, key: str, params: dict[str, Any], people: Sequence[Staff | None],
                idempotency: str) -> int:
    written = 0
    for person in people:
        if person is None:
            continue
        recipient = _staff(person)
        if recipient is None:
            continue
        written += await enqueue(session, key=key, params=params, recipient=recipient,
                                 idempotency_key=f"{idempotency}:staff{person.id}")
    return written


# --- writers (called before the cause commits) ------------------------------------------------------------

async def request_decision(session: AsyncSession, activity: Activity, approvers: Sequence[Staff],
                           intro: str = "request") -> int:
    """The card with decision buttons to each approver of the current step."""
    return await _push(session, REQUEST, {"activity_id": activity.id, "version": activity.version, "intro": intro},
                       approvers, f"{REQUEST}:{activity.id}:v{activity.version}")


async def tell_decision(session: AsyncSession, activity: Activity, requester: Staff | None, *, decision: str,
                        level: str, actor: Staff, next_level: str | None, comment: str | None) -> int:
    params = {"activity_id": activity.id, "version": activity.version, "decision": decision, "level": level,
              "actor": actor.name, "next_level": next_level, "comment": comment or ""}
    return await _push(session, DECIDED, params, [requester], f"{DECIDED}:{activity.id}:v{activity.version}")


async def remind(session: AsyncSession, activity: Activity, approvers: Sequence[Staff], hours: int) -> int:
    return await _push(session, REMINDER_KEY, {"activity_id": activity.id, "version": activity.version,
                                               "hours": hours},
                       approvers, f"{REMINDER_KEY}:{activity.id}:v{activity.version}:s{activity.step_index}")


async def escalate(session: AsyncSession, activity: Activity, uppers: Sequence[Staff], level: str, hours: int
                   ) -> int:
    return await _push(session, ESCALATION_KEY, {"activity_id": activity.id, "version": activity.version,
                                                 "level": level, "hours": hours},
                       uppers, f"{ESCALATION_KEY}:{activity.id}:v{activity.version}:s{activity.step_index}")


async def ask_for_results(session: AsyncSession, activity: Activity, requester: Staff | None) -> int:
    return await _push(session, RESULTS_DUE, {"activity_id": activity.id}, [requester],
                       f"{RESULTS_DUE}:{activity.id}")


async def results_reported(session: AsyncSession, activity: Activity, reviewers: Sequence[Staff]) -> int:
    return await _push(session, RESULTS_REPORTED, {"activity_id": activity.id}, reviewers,
                       f"{RESULTS_REPORTED}:{activity.id}")


async def tell_evaluation(session: AsyncSession, activity: Activity, requester: Staff | None, reviewer: Staff
                          ) -> int:
    return await _push(session, EVALUATED, {"activity_id": activity.id, "reviewer": reviewer.name,
                                            "score": activity.score}, [requester], f"{EVALUATED}:{activity.id}")


# The handlers' entry points: the service's unit of work is the update's transaction.

async def announce_decision(activities: ActivityService, decided: Decided, actor: Staff) -> None:
    """Tells the requester what happened, and hands an approved step on to the next level's approvers."""
    session = activities.uow.session
    if decided.next_level is not None:
        await request_decision(session, decided.activity, decided.next_approvers)
    await tell_decision(session, decided.activity, decided.requester, decision=decided.decision,
                        level=decided.level, actor=actor, next_level=decided.next_level, comment=decided.comment)


async def announce_evaluation(activities: ActivityService, evaluated: Evaluated, reviewer: Staff) -> None:
    await tell_evaluation(activities.uow.session, evaluated.activity, evaluated.requester, reviewer)


async def announce_results(activities: ActivityService, reported: Reported) -> None:
    """The reviewers get the held activity with its results and the score buttons."""
    await results_reported(activities.uow.session, reported.activity, reported.reviewers)


# --- renderers (at send time, in the recipient's language) ------------------------------------------------

async def _view(params: Mapping[str, Any], ctx: RenderContext) -> ActivityView | None:
    async with ctx.uow() as uow:
        activity = await uow.activities.get(int(params["activity_id"]))
        if activity is None:
            return None
        return await ActivityService(uow, lambda: ctx.now, ctx.tz).describe(activity)


def _still_waiting(view: ActivityView | None, params: Mapping[str, Any]) -> bool:
    """A decision push is only worth sending while the step it was written for is still open."""
    return (view is not None and view.activity.state == "pending"
            and view.activity.version == int(params["version"]))


@renderer(REQUEST)
async def render_request(params: Mapping[str, Any], ctx: RenderContext) -> Rendered | None:
    view = await _view(params, ctx)
    if not _still_waiting(view, params):
        return None
    assert view is not None
    head = _(INTROS.get(str(params.get("intro")), INTROS["request"]))
    return Rendered(f"{head}\n\n{card(view, ctx.tz, ctx.locale)}", decision_keyboard(view.activity))


@renderer(REMINDER_KEY)
async def render_reminder(params: Mapping[str, Any], ctx: RenderContext) -> Rendered | None:
    view = await _view(params, ctx)
    if not _still_waiting(view, params):
        return None
    assert view is not None
    head = _(REMINDER).format(hours=params["hours"])
    return Rendered(f"{head}\n\n{card(view, ctx.tz, ctx.locale)}", decision_keyboard(view.activity))


@renderer(ESCALATION_KEY)
async def render_escalation(params: Mapping[str, Any], ctx: RenderContext) -> Rendered | None:
    view = await _view(params, ctx)
    if not _still_waiting(view, params):
        return None
    assert view is not None
    head = _(ESCALATION).format(level=kind_name(str(params["level"])), hours=params["hours"])
    return Rendered(f"{head}\n\n{card(view, ctx.tz, ctx.locale)}")


@renderer(DECIDED)
async def render_decided(params: Mapping[str, Any], ctx: RenderContext) -> Rendered | None:
    view = await _view(params, ctx)
    if view is None:
        return None
    activity = view.activity
    who = {"id": activity.id, "level": kind_name(str(params["level"])), "name": params["actor"],
           "next": kind_name(str(params.get("next_level") or "")),
           "comment": shorten(str(params.get("comment") or ""), COMMENT_ECHO_LIMIT, one_line=False)}
    decision = params["decision"]
    # Buttons only while they still apply (the requester may have acted on the card meanwhile).
    current = activity.version == int(params["version"])
    if decision == "approve" and params.get("next_level"):
        return Rendered(_("✅ Activity #{id} was approved by {level} ({name}). It now waits for {next}.").format(
            **who))
    if decision == "approve":
        return Rendered(_("🎉 Activity #{id} is fully approved ({level}, {name}). After the activity, report its "
                          "results with the button below.").format(**who),
                        results_keyboard(activity) if current and activity.state == "approved" else None)
    if decision == "reject":
        return Rendered(_("❌ Activity #{id} was rejected by {level} ({name}): {comment}").format(**who))
    return Rendered(_("✏️ Activity #{id} was sent back for changes by {level} ({name}): {comment}\n"
                      "Edit it and submit it again with the button below.").format(**who),
                    _edit_keyboard(activity) if current and activity.state == "changes_requested" else None)


@renderer(RESULTS_DUE)
async def render_results_due(params: Mapping[str, Any], ctx: RenderContext) -> Rendered | None:
    view = await _view(params, ctx)
    if view is None or view.activity.state != "approved":
        return None  # reported already
    return Rendered(_("Activity #{id} has taken place. Please report its results: attendance, leads, orders and "
                      "the actual expenses with receipt photos.").format(id=view.activity.id),
                    results_keyboard(view.activity))


@renderer(RESULTS_REPORTED)
async def render_results_reported(params: Mapping[str, Any], ctx: RenderContext) -> Rendered | None:
    view = await _view(params, ctx)
    if view is None or view.activity.state != "completed":
        return None  # evaluated already
    head = _("Activity #{id} has been held and its results reported. Please evaluate it.").format(
        id=view.activity.id)
    return Rendered(f"{head}\n\n{card(view, ctx.tz, ctx.locale)}", evaluation_keyboard(view.activity))


@renderer(EVALUATED)
async def render_evaluated(params: Mapping[str, Any], ctx: RenderContext) -> Rendered | None:
    view = await _view(params, ctx)
    if view is None:
        return None
    activity = view.activity
    text = _("⭐ Activity #{id} was evaluated by {name}: {score}/5.").format(
        id=activity.id, name=params["reviewer"], score=params["score"])
    if activity.evaluation_comment:
        text += "\n" + activity.evaluation_comment
    return Rendered(text)
