"""Approving in chat: the decision buttons, the comment a rejection or send-back needs, and the evaluation.

Every tap is re-checked by the service against the stored activity (version, step, role, org path); a stale,
repeated, forged or foreign tap changes nothing and is answered with why.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.domain.errors import DomainError
from bot.services.activities import ActivityService
from pushes.approvals import (
    announce_decision,
    announce_evaluation,
)
from storage.models import OrgUnit, Staff
from ui.activities import (
    DECISION_CODES,
    ApprovalCb,
    EvaluateCb,
    activity_error,
)
from ui.callbacks import RowId
from ui.filters import Answer, NotMenuOrCommand
from ui.flow import Flow, nav_buttons
from ui.keyboards import main_menu
from ui.states import ApprovalComment

comments = Flow("approval-comment")


class SkipCommentCb(CallbackData, prefix="aevs"):
    id: RowId


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
    await announce_decision(activities, decided, staff)


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
    await announce_decision(activities, decided, staff)


async def comment_expected(message: Message) -> None:
    await message.answer(_("Please write the comment as text, or tap Cancel."))




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
    await announce_evaluation(activities, evaluated, staff)













def make_router() -> Router:
    router = Router(name="approvals")
    router.callback_query.register(on_decision, ApprovalCb.filter())
    router.callback_query.register(on_evaluate, EvaluateCb.filter())
    router.callback_query.register(skip_evaluation_comment, SkipCommentCb.filter(),
                                   StateFilter(ApprovalComment.evaluation))
    router.message.register(got_decision_comment, StateFilter(ApprovalComment.decision), Answer())
    router.message.register(comment_expected, StateFilter(ApprovalComment.decision), NotMenuOrCommand())
    router.message.register(got_evaluation_comment, StateFilter(ApprovalComment.evaluation), Answer())
    router.message.register(comment_expected, StateFilter(ApprovalComment.evaluation), NotMenuOrCommand())
    return router
