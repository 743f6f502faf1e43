"""Message catalogs and the choice of language per update.

The .mo files are compiled from the .po files at start when stale. The locale is picked explicitly:
Babel reads Telegram's "zh-hans"/"zh-cn" as zh_Hans_CN, which aiogram's stock lookup would miss.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.config import SUPPORTED_LOCALES

LOCALES_DIR = Path(__file__).resolve().parents[1] / "locales"
DOMAIN = "messages"
LANGUAGE_NAMES = {"zh_CN": "简体中文", "en": "English"}  # i18n-ok: each language named in itself


def N_(message: str) -> str:
    """Marks a message for extraction where it is translated later, in an explicit locale."""
    return message


def compile_catalogs(path: Path = LOCALES_DIR) -> Path:
    """Writes each .mo beside its .po when missing or older, so a fresh clone needs no build step; returns the
    directory holding the .mo files. An installed package may sit where nobody may write (site-packages of a
    system install): then the catalogs are compiled into a per-user cache directory instead."""
    try:
        _compile_into(path, path)
        return path
    except OSError:
        cache = Path(tempfile.gettempdir()) / f"fieldbot-locales-{os.getuid() if hasattr(os, 'getuid') else 0}"
        _compile_into(path, cache)
        return cache


def _compile_into(source: Path, target: Path) -> None:
    for locale in SUPPORTED_LOCALES:
        po_path = source / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
        mo_path = target / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=locale)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename: a second process starting at the same time never reads half a file.
        partial = mo_path.with_suffix(f".mo.{os.getpid()}")
        partial.write_bytes(buffer.getvalue())
        partial.replace(mo_path)


def make_i18n(default_locale: str) -> I18n:
    return I18n(path=compile_catalogs(), default_locale=default_locale, domain=DOMAIN)


def locale_for_language_code(language_code: str | None, default_locale: str) -> str:
    """Telegram's language_code to one of our catalogs: zh* → zh_CN, anything else → en."""
    if not language_code:
        return default_locale
    return "zh_CN" if language_code.lower().startswith("zh") else "en"


class LocaleMiddleware(I18nMiddleware):
    """The staff member's chosen language; otherwise their Telegram client's."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        # Read by DatabaseMiddleware before the handler: the staff object itself is detached after a rollback.
        staff_locale = data.get("staff_locale")
        if staff_locale in SUPPORTED_LOCALES:
            return str(staff_locale)
        customer_locale = data.get("customer_locale")
        if customer_locale in SUPPORTED_LOCALES:
            return str(customer_locale)
        user: User | None = data.get("event_from_user")
        return locale_for_language_code(user.language_code if user else None, self.i18n.default_locale)


def in_all_languages(i18n: I18n, message: str, separator: str = "\n\n") -> str:
    """The same message in every supported language, for people whose language we can't know yet."""
    return separator.join(i18n.gettext(message, locale=locale) for locale in SUPPORTED_LOCALES)
