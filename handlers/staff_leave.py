"""A manager's "someone leaves" from /team: pick the person, the colleague who takes over, confirm.

Every tap is checked again in StaffAdminService (callback data is never trusted): the person must still be active
and in the manager's part of the organisation, the colleague active and at the same unit.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.domain.errors import DomainError
from bot.i18n import N_
from bot.services.staff_admin import StaffAdminService
from storage.models import Staff
from ui.callbacks import RowId
from ui.labels import error_text, role_name

MAX_BUTTONS = 30
ERRORS = {
    "staff_not_found": N_("That person is not in your part of the organisation."),
    "cannot_deactivate_self": N_("You can't deactivate yourself. Ask the manager above you."),
    "already_inactive": N_("That person has been deactivated already."),
    "successor_inactive": N_("That colleague has been deactivated. Please choose another one."),
    "successor_elsewhere": N_("The colleague taking over must work at the same unit. Please choose another one."),
    "successor_is_leaving": N_("The colleague taking over must be someone else. Please choose another one."),
}


class StaffLeave(CallbackData, prefix="leave"):
    step: str  # "pick", "who", "to", "ok"
    staff: RowId = 0
    to: RowId = 0


def leave_button() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("👋 Someone is leaving"), callback_data=StaffLeave(step="pick").pack())]])


def _problem(error: DomainError) -> str:
    return _(ERRORS[error.code]) if error.code in ERRORS else error_text(error)


def _person_button(person: Staff, step: str, **ids: int) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=f"{person.name} · {role_name(person.role)}"[:60],
                                callback_data=StaffLeave(step=step, **ids).pack())


async def pick_person(callback: CallbackQuery, staff: Staff | None, staff_admin: StaffAdminService) -> None:
    """The active people of the manager's part of the organisation, as buttons."""
    message = callback.message
    if staff is None or not isinstance(message, Message):
        await callback.answer()
        return
    try:
        people = await staff_admin.people_in_scope(staff)
    except DomainError as error:
        await callback.answer(_problem(error), show_alert=True)
        return
    await callback.answer()
    if not people:
        await message.answer(_("There is nobody else in your part of the organisation."))
        return
    rows = [[_person_button(p, "who", staff=p.id)] for p in people[:MAX_BUTTONS]]  # type: ignore[arg-type]
    text = _("Who is leaving? Their access ends, and their customers, follow-ups, opinion leaders and open "
             "activities go to a colleague you choose next.")
    if len(people) > MAX_BUTTONS:
        text += "\n" + _("Only the first {count} people are listed; for others an administrator can run "
                         "fieldbot staff deactivate.").format(count=MAX_BUTTONS)
    await message.answer(text, reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


async def pick_successor(callback: CallbackQuery, callback_data: StaffLeave, staff: Staff | None,
                         staff_admin: StaffAdminService) -> None:
    """The colleagues at the leaving person's unit who can take over."""
    message = callback.message
    if staff is None or not isinstance(message, Message):
        await callback.answer()
        return
    try:
        person = await staff_admin.leaving_in_scope(staff, callback_data.staff)
    except DomainError as error:
        await callback.answer(_problem(error), show_alert=True)
        return
    colleagues = await staff_admin.colleagues(person)
    await callback.answer()
    if not colleagues:
        await message.answer(_("{name} has no active colleague at the same unit to take over. Register one first, "
                               "then try again.").format(name=person.name))
        return
    rows = [[_person_button(c, "to", staff=person.id, to=c.id)] for c in colleagues[:MAX_BUTTONS]]  # type: ignore[arg-type]
    await message.answer(_("Who takes over the work of {name}?").format(name=person.name),
                         reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


async def confirm(callback: CallbackQuery, callback_data: StaffLeave, staff: Staff | None,
                  staff_admin: StaffAdminService) -> None:
    message = callback.message
    if staff is None or not isinstance(message, Message):
        await callback.answer()
        return
    try:
        person = await staff_admin.leaving_in_scope(staff, callback_data.staff)
        successor = await staff_admin.successor_for(person, callback_data.to)
    except DomainError as error:
        await callback.answer(_problem(error), show_alert=True)
        return
    await callback.answer()
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("✅ Deactivate and hand over"),
        callback_data=StaffLeave(step="ok", staff=person.id, to=successor.id).pack())]])  # type: ignore[arg-type]
    await message.answer(_("Deactivate {name} and hand their work to {successor}? {name} will no longer be able to "
                           "use the assistant.").format(name=person.name, successor=successor.name),
                         reply_markup=markup)


async def deactivate(callback: CallbackQuery, callback_data: StaffLeave, staff: Staff | None,
                     staff_admin: StaffAdminService) -> None:
    message = callback.message
    if staff is None or not isinstance(message, Message):
        await callback.answer()
        return
    try:
        person = await staff_admin.leaving_in_scope(staff, callback_data.staff)
        successor = await staff_admin.successor_for(person, callback_data.to)
        done = await staff_admin.deactivate(person, successor, actor=staff, via="chat")
    except DomainError as error:
        await callback.answer(_problem(error), show_alert=True)
        return
    await callback.answer()
    await message.answer(_("{name} is deactivated. Handed to {successor}: {customers} customers ({follow_ups} with a "
                           "follow-up), {leaders} opinion leaders, {activities} open activities.").format(
        name=done.leaving.name, successor=done.successor.name, customers=done.customers,
        follow_ups=done.follow_ups, leaders=done.leaders, activities=done.activities))


def make_router() -> Router:
    router = Router(name="staff-leave")
    router.callback_query.register(pick_person, StaffLeave.filter(F.step == "pick"))
    router.callback_query.register(pick_successor, StaffLeave.filter(F.step == "who"))
    router.callback_query.register(confirm, StaffLeave.filter(F.step == "to"))
    router.callback_query.register(deactivate, StaffLeave.filter(F.step == "ok"))
    return router
