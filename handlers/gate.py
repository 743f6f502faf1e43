"""Anyone without a staff record gets one polite refusal per conversation in both languages, and no data."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n

from bot.i18n import N_, in_all_languages
from bot.services.gate import GateService
from ui.filters import IsStranger

REFUSAL = N_("This assistant is only for the truck dealer network. "
             "If you work with us, please ask your manager for an invitation link.")


async def refuse_message(message: Message, i18n: I18n, gate: GateService) -> None:
    """The refusal on the first message of a conversation; later messages of the same conversation get none."""
    restart = (message.text or "").split(maxsplit=1)[:1] == ["/start"]
    if message.from_user is None or await gate.refusal_due(message.from_user.id, restart=restart):
        await message.answer(in_all_languages(i18n, REFUSAL))


async def refuse_callback(callback: CallbackQuery, i18n: I18n) -> None:
    # An alert is capped at 200 characters by Telegram: one language, theirs.
    await callback.answer(i18n.gettext(REFUSAL)[:200], show_alert=True)


def make_router() -> Router:
    router = Router(name="gate")
    router.message.register(refuse_message, IsStranger())
    router.callback_query.register(refuse_callback, IsStranger())
    return router
