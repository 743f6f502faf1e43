"""Fills zh_CN msgstr values from a YAML file of {msgid: translation} (used when adding texts in bulk).

Usage: .venv/bin/python tools/translate.py FILE.yaml   (then `make i18n` to check)
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from babel.messages.pofile import write_po

from bot.catalogs import load, po_path


def main(path: str, locale: str = "zh_CN") -> int:
    translations = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    catalog = load(locale)
    unknown = [msgid for msgid in translations if msgid not in catalog]
    for msgid, text in translations.items():
        if msgid in catalog:
            catalog[msgid].string = text
            catalog[msgid].flags.discard("fuzzy")
    with po_path(locale).open("wb") as handle:
        write_po(handle, catalog, omit_header=True, sort_output=True, width=110, include_previous=False)
    for msgid in unknown:
        print(f"not in the catalog (run make i18n first?): {msgid!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
