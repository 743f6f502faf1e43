"""Whatever no other handler took: say so and show the way back."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from storage.models import Staff
from ui.keyboards import main_menu


async def not_understood(message: Message, staff: Staff) -> None:
    await message.answer(_("Sorry, I didn't understand that. Please use the menu below or /help."),
                         reply_markup=main_menu(staff.role))


async def stale_button(callback: CallbackQuery) -> None:
    await callback.answer(_("This button is no longer active."), show_alert=True)


def make_router() -> Router:
    router = Router(name="fallback")
    router.message.register(not_understood)
    router.callback_query.register(stale_button)
    return router
