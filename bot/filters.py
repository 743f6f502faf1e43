"""Async filters: aiogram runs synchronous filters (magic F included) in a thread for every update."""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message

from bot.config import SUPPORTED_LOCALES
from bot.labels import menu_label


class HasText(Filter):
    async def __call__(self, message: Message) -> bool:
        return bool(message.text)


class HasContact(Filter):
    async def __call__(self, message: Message) -> bool:
        return message.contact is not None


class HasLocation(Filter):
    async def __call__(self, message: Message) -> bool:
        return message.location is not None


class HasPhoto(Filter):
    async def __call__(self, message: Message) -> bool:
        return bool(message.photo)


class IsStranger(Filter):
    """The sender has no active staff record."""

    async def __call__(self, event: Message | CallbackQuery, staff: Any = None) -> bool:
        return staff is None


class IsStaff(Filter):
    async def __call__(self, event: Message | CallbackQuery, staff: Any = None) -> bool:
        return staff is not None


class MenuButton(Filter):
    """A tap on a main-menu button, in whichever language the keyboard was drawn."""

    def __init__(self, entry: str) -> None:
        self.entry = entry

    async def __call__(self, message: Message) -> bool:
        return bool(message.text) and any(
            message.text == menu_label(self.entry, locale) for locale in SUPPORTED_LOCALES)
