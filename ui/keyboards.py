"""Keyboards shared by handlers and conversations. Labels are translated in the current locale."""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from aiogram.utils.i18n import I18n, get_i18n
from aiogram.utils.i18n import gettext as _

from bot.domain.menu import menu_entries
from bot.i18n import LANGUAGE_NAMES
from ui.labels import menu_label

Markup = TypeVar("Markup", InlineKeyboardMarkup, ReplyKeyboardMarkup)


def kept_per_language(build: Callable[..., Markup]) -> Callable[..., Markup]:
    """A keyboard built once per catalog, language and arguments, then shared: aiogram's markups are frozen, and
    building the same ones again for every update was a few per cent of the bot's time (docs/BENCHMARKS.md).
    Only for keyboards made from their arguments and the catalog alone (lists in the arguments are compared by
    content)."""
    kept: weakref.WeakKeyDictionary[I18n, dict[tuple[Any, ...], Markup]] = weakref.WeakKeyDictionary()

    @functools.wraps(build)
    def keep(*args: Any, **kwargs: Any) -> Markup:
        i18n = get_i18n()
        markups = kept.get(i18n)
        if markups is None:
            markups = kept[i18n] = {}
        key = (i18n.current_locale, *(tuple(a) if isinstance(a, list) else a for a in args),
               *sorted(kwargs.items()))
        markup = markups.get(key)
        if markup is None:
            markup = markups[key] = build(*args, **kwargs)
        return markup

    return keep


class LanguageChoice(CallbackData, prefix="lang"):
    locale: str


@kept_per_language
def main_menu(role: str) -> ReplyKeyboardMarkup:
    labels = [menu_label(entry) for entry in menu_entries(role)]
    rows = [labels[i:i + 2] for i in range(0, len(labels), 2)]
    return ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text=label) for label in row] for row in rows],
                               resize_keyboard=True, is_persistent=True)


def share_contact() -> ReplyKeyboardMarkup:
    button = KeyboardButton(text=_("📱 Share my phone number"), request_contact=True)
    return ReplyKeyboardMarkup(keyboard=[[button]], resize_keyboard=True, one_time_keyboard=True)


def language_choice() -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(text=name, callback_data=LanguageChoice(locale=code).pack())
               for code, name in LANGUAGE_NAMES.items()]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])
