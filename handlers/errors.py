"""The last line of defence: log the failure (personal data masked) and tell the user kindly."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import gettext as _

log = logging.getLogger(__name__)


async def on_error(event: ErrorEvent) -> None:
    log.exception("update %s failed: %s", event.update.update_id, type(event.exception).__name__,
                  exc_info=event.exception)
    text = _("Sorry, something went wrong on our side. What you sent before is kept; please try again.")
    if event.update.message is not None:
        await event.update.message.answer(text)
    elif event.update.callback_query is not None:
        await event.update.callback_query.answer(text[:200], show_alert=True)


def make_router() -> Router:
    router = Router(name="errors")
    router.errors.register(on_error)
    return router
