"""Keyboards shared by handlers and conversations. Labels are translated in the current locale."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from aiogram.utils.i18n import gettext as _

from bot.domain.menu import menu_entries
from bot.i18n import LANGUAGE_NAMES
from ui.labels import menu_label


class LanguageChoice(CallbackData, prefix="lang"):
    locale: str


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
