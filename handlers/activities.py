"""Marketing activities as people see them: the card, its buttons, pushes to others, /activities and /activity N.

Cards for people other than the sender are drawn in the recipient's own language, phones masked.
"""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.domain.approvals import ApprovalError
from bot.domain.errors import DomainError
from bot.domain.numbers import MAX_ID, parse_whole_number
from bot.services.activities import (
    ActivityService,
)
from storage.models import Activity, OrgUnit, Staff
from ui.activities import (
    activity_error,
    activity_line,
    card,
    decision_keyboard,
    edit_keyboard,
    evaluation_keyboard,
    kpi_label,
    results_keyboard,
)
from ui.filters import MenuButton
from ui.keyboards import main_menu
from ui.labels import list_separator

log = logging.getLogger(__name__)















































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
        held = list_separator().join(_("{kpi} {count}").format(kpi=kpi_label(kpi, locale), count=count)
                                     for kpi, count in counts.items())
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
