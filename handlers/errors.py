"""The last line of defence: log the failure (personal data masked) and tell the user kindly.

Under the intake (app/intake.py) a failed update is attempted again a little later, so the first apology says
so; after the last attempt the update is parked and the user is asked to send it again. The callback spinner is
always stopped. Sends inside one update are remembered (app/telegram.py), so each apology reaches the user once.
"""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import gettext as _

from storage.inbox import ClaimLost, current_claim

log = logging.getLogger(__name__)


async def on_error(event: ErrorEvent, bot: Bot) -> None:
    claim = current_claim.get()
    if claim is not None:
        claim.error = event.exception
    log.error("update %s failed: %s", event.update.update_id, type(event.exception).__name__,
              exc_info=event.exception)
    if claim is None:
        text = _("Sorry, something went wrong on our side. What you sent before is kept; please try again.")
    elif claim.last_attempt:
        text = _("Sorry, I still could not handle your last message. Please send it again, or /cancel and "
                 "start over.")
    else:
        text = _("Sorry, something went wrong on our side. What you sent is kept, and I will try it again "
                 "in a moment.")
    update = event.update
    chat_id = None
    if update.message is not None:
        chat_id = update.message.chat.id
    elif update.callback_query is not None:
        await update.callback_query.answer()
        if update.callback_query.message is not None:
            chat_id = update.callback_query.message.chat.id
        else:
            chat_id = update.callback_query.from_user.id
    elif update.edited_message is not None:
        chat_id = update.edited_message.chat.id
    if chat_id is not None:
        if claim is not None:
            claim.apologizing = True
        try:
            await bot.send_message(chat_id, text)
        finally:
            if claim is not None:
                claim.apologizing = False


def make_router() -> Router:
    router = Router(name="errors")
    # A lost claim is not the update failing: whoever holds the claim now handles it. Left unhandled here, it
    # reaches the intake, which then neither apologises nor marks the update done without its writes.
    router.errors.register(on_error, ~ExceptionTypeFilter(ClaimLost))
    return router
