"""/language: switch between Simplified Chinese and English; the choice is stored on the staff record."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import SUPPORTED_LOCALES
from bot.i18n import LANGUAGE_NAMES
from storage.models import Staff
from storage.uow import UnitOfWork
from ui.filters import MenuButton
from ui.keyboards import LanguageChoice, language_choice, main_menu


async def ask_language(message: Message) -> None:
    await message.answer(_("Choose your language:"), reply_markup=language_choice())


async def set_language(callback: CallbackQuery, callback_data: LanguageChoice, staff: Staff, uow: UnitOfWork,
                       i18n: I18n) -> None:
    """Stores the chosen locale (checked: callback data comes from the client) and redraws the menu in it."""
    if callback_data.locale not in SUPPORTED_LOCALES:
        await callback.answer(_("Unknown language."), show_alert=True)
        return
    staff.locale = callback_data.locale
    uow.session.add(staff)
    await uow.audit.record("staff.locale", actor_staff_id=staff.id, subject=f"staff:{staff.id}",
                           detail={"locale": staff.locale})
    with i18n.use_locale(staff.locale):
        await callback.answer()
        if callback.message is not None:
            # The language named in its own words (the msgid used to say "English" whichever was chosen).
            await callback.message.answer(_("Language set to {language}.").format(
                language=LANGUAGE_NAMES[staff.locale]), reply_markup=main_menu(staff.role))


def make_router() -> Router:
    router = Router(name="language")
    router.message.register(ask_language, Command("language"))
    router.message.register(ask_language, MenuButton("language"))
    router.callback_query.register(set_language, LanguageChoice.filter())
    return router
