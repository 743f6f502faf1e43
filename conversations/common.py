"""/cancel works in every conversation and leaves nothing half-done behind."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, ReplyKeyboardRemove
from aiogram.utils.i18n import gettext as _

from storage.models import Staff
from ui.keyboards import main_menu


async def cancel(message: Message, state: FSMContext, staff: Staff | None) -> None:
    """Drops the current conversation and its answers; back to the main menu."""
    had_state = await state.get_state() is not None
    await state.clear()
    text = _("Cancelled.") if had_state else _("There is nothing to cancel.")
    markup = main_menu(staff.role) if staff is not None else ReplyKeyboardRemove()
    await message.answer(text, reply_markup=markup)


def make_router() -> Router:
    router = Router(name="common")
    router.message.register(cancel, Command("cancel"))
    return router
