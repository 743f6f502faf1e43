"""Approving in chat: the decision buttons, the comment a rejection or send-back needs, and the evaluation.

Every tap is re-checked by the service against the stored activity (version, step, role, org path); a stale,
repeated, forged or foreign tap changes nothing and is answered with why.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.domain.errors import DomainError
from bot.filters import HasText, NotMenuText
from bot.i18n import N_
from bot.labels import kind_name
from bot.services.activities import ActivityService, Decided, Evaluated, OverdueStep, Reported, ResultsDue
from conversations.flow import Flow, nav_buttons
from conversations.states import ApprovalComment
from handlers.activities import (
    DECISION_CODES,
    ApprovalCb,
    EvaluateCb,
    activity_error,
    card,
    decision_keyboard,
    edit_keyboard,
    evaluation_keyboard,
    push,
    results_keyboard,
    send_for_decision,
)
from handlers.keyboards import main_menu
from storage.models import OrgUnit, Staff

comments = Flow("approval-comment")


class SkipCommentCb(CallbackData, prefix="aevs"):
    id: int


# --- decisions ---------------------------------------------------------------------------------------------


async def on_decision(callback: CallbackQuery, callback_data: ApprovalCb, state: FSMContext, staff: Staff,
                      unit: OrgUnit | None, activities: ActivityService, bot: Bot, i18n: I18n, settings: Settings,
                      **data: Any) -> None:
    """Approve decides at once; Reject and Ask for changes store the decision and ask for the comment."""
    decision = DECISION_CODES.get(callback_data.d)
    message = callback.message
    if decision is None or not isinstance(message, Message):
        await callback.answer(_("This button is no longer active."), show_alert=True)
        return
    try:
        await activities.check_decision(staff, unit, callback_data.id, callback_data.v, decision)
        if decision == "approve":
            decided = await activities.decide(staff, unit, callback_data.id, callback_data.v, decision)
    except DomainError as error:
        await callback.answer(activity_error(error), show_alert=True)
        return
    await callback.answer()
    await _drop_buttons(message)
    if decision != "approve":
        data.update(staff=staff, unit=unit, activities=activities, bot=bot, i18n=i18n, settings=settings)
        await comments.start(message, state, ApprovalComment.decision, data, activity_id=callback_data.id,
                             version=callback_data.v, decision=decision)
        return
    await message.answer(_("You approved activity #{id}.").format(id=callback_data.id),
                         reply_markup=main_menu(staff.role))
    await announce_decision(bot, i18n, activities, decided, staff, settings.tz)


@comments.asks(ApprovalComment.decision)
async def ask_decision_comment(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    answers = await state.get_data()
    if answers.get("decision") == "reject":
        text = _("Why is activity #{id} rejected? Please write a comment for the requester.")
    else:
        text = _("What should be changed in activity #{id}? Please write a comment for the requester.")
    await message.answer(text.format(id=answers.get("activity_id")),
                         reply_markup=InlineKeyboardMarkup(inline_keyboard=[nav_buttons(back=False)]))


async def got_decision_comment(message: Message, state: FSMContext, staff: Staff, unit: OrgUnit | None,
                               activities: ActivityService, bot: Bot, i18n: I18n, settings: Settings) -> None:
    """Takes the decision with the comment; the version is still the one the button was drawn for."""
    answers = await state.get_data()
    try:
        decided = await activities.decide(staff, unit, int(answers["activity_id"]), int(answers["version"]),
                                          str(answers["decision"]), message.text)
    except DomainError as error:
        if error.code == "comment_required":
            await message.answer(activity_error(error))
            return
        await state.clear()
        await message.answer(activity_error(error), reply_markup=main_menu(staff.role))
        return
    await state.clear()
    if decided.decision == "reject":
        text = _("You rejected activity #{id}. The requester has been told.")
    else:
        text = _("You sent activity #{id} back for changes. The requester has been told.")
    await message.answer(text.format(id=decided.activity.id), reply_markup=main_menu(staff.role))
    await announce_decision(bot, i18n, activities, decided, staff, settings.tz)


async def comment_expected(message: Message) -> None:
    await message.answer(_("Please write the comment as text, or tap Cancel."))


async def announce_decision(bot: Bot, i18n: I18n, activities: ActivityService, decided: Decided, actor: Staff,
                            tz: ZoneInfo) -> None:
    """Tells the requester what happened, and hands an approved step on to the next level's approvers."""
    view = await activities.describe(decided.activity)
    activity = decided.activity
    if decided.next_level is not None:
        await send_for_decision(bot, i18n, view, decided.next_approvers, tz)
    if decided.requester is None:
        return

    def render(locale: str) -> tuple[str, InlineKeyboardMarkup | None]:
        who = {"id": activity.id, "level": kind_name(decided.level), "name": actor.name,
               "next": kind_name(decided.next_level or ""), "comment": decided.comment or ""}
        if decided.decision == "approve" and decided.next_level is not None:
            return _("✅ Activity #{id} was approved by {level} ({name}). It now waits for {next}.").format(
                **who), None
        if decided.decision == "approve":
            return _("🎉 Activity #{id} is fully approved ({level}, {name}). After the activity, report its "
                     "results with the button below.").format(**who), results_keyboard(activity)
        if decided.decision == "reject":
            return _("❌ Activity #{id} was rejected by {level} ({name}): {comment}").format(**who), None
        return (_("✏️ Activity #{id} was sent back for changes by {level} ({name}): {comment}\n"
                  "Edit it and submit it again with the button below.").format(**who), edit_keyboard(activity))

    await push(bot, i18n, decided.requester, render)


async def _drop_buttons(message: Message) -> None:
    try:
        await message.edit_reply_markup(reply_markup=None)
    except TelegramAPIError:
        pass  # already without buttons: nothing to tidy


# --- evaluation --------------------------------------------------------------------------------------------


async def on_evaluate(callback: CallbackQuery, callback_data: EvaluateCb, state: FSMContext, staff: Staff,
                      unit: OrgUnit | None, activities: ActivityService, **data: Any) -> None:
    """Stores the score and asks for an optional comment."""
    message = callback.message
    if not isinstance(message, Message) or not 1 <= callback_data.score <= 5:
        await callback.answer(_("This button is no longer active."), show_alert=True)
        return
    try:
        await activities.check_evaluation(staff, unit, callback_data.id)
    except DomainError as error:
        await callback.answer(activity_error(error), show_alert=True)
        return
    await callback.answer()
    await comments.start(message, state, ApprovalComment.evaluation, data, activity_id=callback_data.id,
                         score=callback_data.score)


@comments.asks(ApprovalComment.evaluation)
async def ask_evaluation_comment(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    answers = await state.get_data()
    skip = InlineKeyboardButton(text=_("Skip"), callback_data=SkipCommentCb(id=int(answers["activity_id"])).pack())
    await message.answer(
        _("Score {score}/5 for activity #{id}. Add a comment for the requester, or tap Skip.").format(
            score=answers.get("score"), id=answers.get("activity_id")),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[skip], nav_buttons(back=False)]))


async def got_evaluation_comment(message: Message, state: FSMContext, staff: Staff, unit: OrgUnit | None,
                                 activities: ActivityService, bot: Bot, i18n: I18n, settings: Settings) -> None:
    await _evaluate(message, state, staff, unit, activities, bot, i18n, message.text)


async def skip_evaluation_comment(callback: CallbackQuery, state: FSMContext, staff: Staff, unit: OrgUnit | None,
                                  activities: ActivityService, bot: Bot, i18n: I18n) -> None:
    await callback.answer()
    if isinstance(callback.message, Message):
        await _evaluate(callback.message, state, staff, unit, activities, bot, i18n, None)


async def _evaluate(message: Message, state: FSMContext, staff: Staff, unit: OrgUnit | None,
                    activities: ActivityService, bot: Bot, i18n: I18n, comment: str | None) -> None:
    answers = await state.get_data()
    await state.clear()
    try:
        evaluated = await activities.evaluate(staff, unit, int(answers["activity_id"]), int(answers["score"]),
                                              comment)
    except DomainError as error:
        await message.answer(activity_error(error), reply_markup=main_menu(staff.role))
        return
    await message.answer(_("Thank you: activity #{id} is evaluated.").format(id=evaluated.activity.id),
                         reply_markup=main_menu(staff.role))
    await announce_evaluation(bot, i18n, evaluated, staff)


async def announce_evaluation(bot: Bot, i18n: I18n, evaluated: Evaluated, reviewer: Staff) -> None:
    activity = evaluated.activity
    if evaluated.requester is None:
        return

    def render(locale: str) -> tuple[str, InlineKeyboardMarkup | None]:
        text = _("⭐ Activity #{id} was evaluated by {name}: {score}/5.").format(
            id=activity.id, name=reviewer.name, score=activity.score)
        if activity.evaluation_comment:
            text += "\n" + activity.evaluation_comment
        return text, None

    await push(bot, i18n, evaluated.requester, render)


async def announce_results(bot: Bot, i18n: I18n, activities: ActivityService, reported: Reported,
                           tz: ZoneInfo) -> None:
    """The reviewers get the held activity with its results and the score buttons."""
    view = await activities.describe(reported.activity)
    for reviewer in reported.reviewers:
        def render(locale: str) -> tuple[str, InlineKeyboardMarkup | None]:
            head = _("Activity #{id} has been held and its results reported. Please evaluate it.").format(
                id=reported.activity.id)
            return f"{head}\n\n{card(view, tz, locale)}", evaluation_keyboard(reported.activity)

        await push(bot, i18n, reviewer, render)


# --- pushes of the periodic watch (bot/scheduler.py) -------------------------------------------------------

REMINDER = N_("⏰ Reminder: this activity request has been waiting for your decision for {hours} hours.")
ESCALATION = N_("⚠️ Escalated to you: this activity request has been waiting at {level} for {hours} hours. "
                "Please follow up with them.")


async def announce_overdue(bot: Bot, i18n: I18n, activities: ActivityService, step: OverdueStep,
                           tz: ZoneInfo) -> int:
    """A reminder with the decision buttons to the step's approvers; an escalation also to the level above."""
    view = await activities.describe(step.activity)
    sent = 0
    for approver in step.approvers:
        def remind(locale: str) -> tuple[str, InlineKeyboardMarkup | None]:
            head = _(REMINDER).format(hours=step.waited_hours)
            return f"{head}\n\n{card(view, tz, locale)}", decision_keyboard(step.activity)

        sent += await push(bot, i18n, approver, remind)
    for upper in step.upper_approvers:
        def escalate(locale: str) -> tuple[str, InlineKeyboardMarkup | None]:
            head = _(ESCALATION).format(level=kind_name(step.level), hours=step.waited_hours)
            return f"{head}\n\n{card(view, tz, locale)}", None

        sent += await push(bot, i18n, upper, escalate)
    return sent


async def ask_for_results(bot: Bot, i18n: I18n, due: ResultsDue, tz: ZoneInfo) -> bool:
    if due.requester is None:
        return False
    activity = due.activity

    def render(locale: str) -> tuple[str, InlineKeyboardMarkup | None]:
        return (_("Activity #{id} has taken place. Please report its results: attendance, leads, orders and the "
                  "actual expenses with receipt photos.").format(id=activity.id), results_keyboard(activity))

    return await push(bot, i18n, due.requester, render)


def make_router() -> Router:
    router = Router(name="approvals")
    router.callback_query.register(on_decision, ApprovalCb.filter())
    router.callback_query.register(on_evaluate, EvaluateCb.filter())
    router.callback_query.register(skip_evaluation_comment, SkipCommentCb.filter(), ApprovalComment.evaluation)
    router.message.register(got_decision_comment, ApprovalComment.decision, HasText(), NotMenuText())
    router.message.register(comment_expected, ApprovalComment.decision, NotMenuText())
    router.message.register(got_evaluation_comment, ApprovalComment.evaluation, HasText(), NotMenuText())
    router.message.register(comment_expected, ApprovalComment.evaluation, NotMenuText())
    return router
