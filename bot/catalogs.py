"""Keeping the message catalogs in step with the code: extract, merge, and check for gaps.

`python -m bot.catalogs sync` (make i18n) rewrites messages.pot and merges it into each catalog, filling en
from the English source; zh_CN entries still to translate are listed. `check` is what the tests run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from bot.config import SUPPORTED_LOCALES
from bot.i18n import DOMAIN, LOCALES_DIR

ROOT = LOCALES_DIR.parent
SOURCE_DIRS = ("bot", "storage", "ui", "pushes", "conversations", "handlers", "app")
KEYWORDS = {"_": None, "N_": None, "gettext": None, "__": None, "lazy_gettext": None,
            "ngettext": (1, 2), "_n": (1, 2)}
SOURCE_LOCALE = "en"


def extract() -> Catalog:
    catalog = Catalog(project="fieldbot", domain=DOMAIN)
    for folder in SOURCE_DIRS:
        for filename, lineno, message, comments, context in extract_from_dir(
                ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS, comment_tags=("i18n:",)):
            catalog.add(message, None, [(f"{folder}/{filename}", lineno)], auto_comments=comments,
                        context=context)
    return catalog


def po_path(locale: str) -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def load(locale: str) -> Catalog:
    with po_path(locale).open("rb") as handle:
        return read_po(handle, locale=locale)


def problems() -> list[str]:
    """Every msgid in the code must be translated in every catalog; nothing stale may linger."""
    template = extract()
    wanted = {message.id for message in template if message.id}
    found: list[str] = []
    for locale in SUPPORTED_LOCALES:
        if not po_path(locale).exists():
            found.append(f"{locale}: catalog missing")
            continue
        catalog = load(locale)
        have = {message.id: message for message in catalog if message.id}
        for msgid in sorted(wanted - have.keys(), key=str):
            found.append(f"{locale}: untranslated {msgid!r}")
        for msgid in sorted(have.keys() - wanted, key=str):
            found.append(f"{locale}: stale {msgid!r}")
        for msgid in sorted(wanted & have.keys(), key=str):
            message = have[msgid]
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if not all(strings) or message.fuzzy:
                found.append(f"{locale}: {'fuzzy' if message.fuzzy else 'empty'} {msgid!r}")
    return found


def sync() -> None:
    template = extract()
    pot = LOCALES_DIR / f"{DOMAIN}.pot"
    with pot.open("wb") as handle:
        write_po(handle, template, omit_header=True, sort_output=True, width=110)
    for locale in SUPPORTED_LOCALES:
        path = po_path(locale)
        path.parent.mkdir(parents=True, exist_ok=True)
        catalog = load(locale) if path.exists() else Catalog(locale=locale, domain=DOMAIN)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        if locale == SOURCE_LOCALE:
            for message in catalog:
                if message.id and not message.string:
                    message.string = message.id
        with path.open("wb") as handle:
            write_po(handle, catalog, omit_header=True, sort_output=True, width=110, include_previous=False)


def main(argv: list[str]) -> int:
    if argv[:1] == ["sync"]:
        sync()
    gaps = problems()
    for gap in gaps:
        print(gap)
    return 1 if gaps and argv[:1] == ["check"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
