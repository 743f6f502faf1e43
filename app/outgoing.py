"""A last bound on what the bot sends: Telegram refuses a text over 4,096 characters (a caption over 1,024) with
"message is too long", and the user would get no answer at all. Replies bound what they quote of the user's input
(bot/domain/text.py); this cuts anything that still overflows, with an ellipsis, instead of losing the message."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType

from bot.domain.text import ELLIPSIS

log = logging.getLogger(__name__)

TEXT_LIMIT, CAPTION_LIMIT = 4096, 1024


def utf16_len(text: str) -> int:
    """Telegram counts UTF-16 code units: an emoji outside the BMP counts twice."""
    return len(text.encode("utf-16-le")) // 2


def cut_utf16(text: str, limit: int) -> str:
    """`text` within `limit` UTF-16 code units, an ellipsis marking the cut."""
    if utf16_len(text) <= limit:
        return text
    budget, out = limit - 1, []
    for char in text:
        budget -= utf16_len(char)
        if budget < 0:
            break
        out.append(char)
    return "".join(out) + ELLIPSIS


class BoundTexts(BaseRequestMiddleware):
    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Any:
        for field, limit in (("text", TEXT_LIMIT), ("caption", CAPTION_LIMIT)):
            value = getattr(method, field, None)
            if isinstance(value, str) and utf16_len(value) > limit:
                log.warning("%s: %s of %d characters cut to %d", type(method).__name__, field, len(value), limit)
                setattr(method, field, cut_utf16(value, limit))
        return await make_request(bot, method)
