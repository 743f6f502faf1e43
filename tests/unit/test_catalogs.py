"""Every text in the code is translated in every catalog, and no catalog keeps texts the code dropped."""

from __future__ import annotations

from babel import Locale

from bot.catalogs import extract, problems
from bot.config import SUPPORTED_LOCALES
from bot.i18n import LOCALES_DIR, make_i18n


def test_catalogs_are_complete_and_current() -> None:
    gaps = problems()
    assert gaps == [], "run `make i18n` and translate:\n" + "\n".join(gaps[:40])


def test_extraction_finds_the_texts() -> None:
    ids = {message.id for message in extract() if message.id}
    assert "You are already registered." in ids
    assert len(ids) > 50


def test_catalogs_load_and_translate() -> None:
    i18n = make_i18n("zh_CN")
    assert set(SUPPORTED_LOCALES) <= set(i18n.available_locales)
    assert i18n.gettext("Cancelled.", locale="zh_CN") == "已取消。"
    assert i18n.gettext("Cancelled.", locale="en") == "Cancelled."
    # Babel reads Telegram's codes as zh_Hans_CN: a lookup by Babel's name would miss our zh_CN folder.
    assert str(Locale.parse("zh-hans", sep="-")) == "zh_Hans"
    assert (LOCALES_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").exists()


def test_placeholders_survive_translation() -> None:
    import re

    from bot.catalogs import load

    for locale in SUPPORTED_LOCALES:
        for message in load(locale):
            if not message.id or not message.string:
                continue
            source = message.id if isinstance(message.id, str) else message.id[0]
            target = message.string if isinstance(message.string, str) else message.string[0]
            wanted = set(re.findall(r"\{(\w+)\}", source))
            assert set(re.findall(r"\{(\w+)\}", target)) == wanted, (locale, source)
