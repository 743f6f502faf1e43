"""Async filters: aiogram runs synchronous filters (magic F included) in a thread for every update."""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message

from ui.labels import menu_texts


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
    """The sender has no active staff record (linked customers are served before the gate, by their router)."""

    async def __call__(self, event: Message | CallbackQuery, staff: Any = None) -> bool:
        return staff is None


class IsLinkedCustomer(Filter):
    """A customer who linked their Telegram account (and is not staff)."""

    async def __call__(self, event: Message | CallbackQuery, staff: Any = None, linked_customer: Any = None) -> bool:
        return staff is None and linked_customer is not None


class IsStaff(Filter):
    async def __call__(self, event: Message | CallbackQuery, staff: Any = None) -> bool:
        return staff is not None


class MenuButton(Filter):
    """A tap on a main-menu button, in whichever language the keyboard was drawn."""

    def __init__(self, entry: str) -> None:
        self.entry = entry

    def matches(self, text: str | None) -> bool:
        return bool(text) and text in menu_texts(self.entry)

    async def __call__(self, message: Message) -> bool:
        return self.matches(message.text)


def is_menu_text(text: str | None) -> bool:
    """A main-menu button label, in any language."""
    return bool(text) and text in menu_texts()


def is_menu_or_command(text: str | None) -> bool:
    """Texts that are never an answer to a step: commands and main-menu taps go to their own handlers."""
    return bool(text) and (text.startswith("/") or is_menu_text(text))  # type: ignore[union-attr]


class Answer(Filter):
    """A typed answer to a step: text that is neither a command nor a main-menu button."""

    async def __call__(self, message: Message) -> bool:
        return bool(message.text) and not is_menu_or_command(message.text)


class NotMenuOrCommand(Filter):
    """Anything but a command or a main-menu tap: a step's fallback re-asks only for those."""

    async def __call__(self, message: Message) -> bool:
        return not is_menu_or_command(message.text)
