"""Logging set-up: personal data never reaches a log line, tracebacks and SQL parameters included.

Phone numbers are masked wherever they appear; the dumps that carry names and texts wholesale are cut out: SQL
parameters (the engine hides them too: storage/engine.py), database error details, the input pydantic echoes when
an update fails to parse (aiogram's "Failed to fetch updates"), the body aiogram quotes when an answer is not
JSON, and the fields of a Telegram object's repr that hold names, texts and phones.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from bot.domain.phones import mask_phones_in

HIDDEN = "…"
_DUMPS = [
    # SQLAlchemy's "[parameters: (...)]" (when an engine doesn't hide them), up to the closing bracket of its line
    (re.compile(r"\[parameters: .*?\](?=\n|$)", re.S), "[parameters hidden]"),
    # PostgreSQL details: "Key (phone)=(+86...) already exists", "Failing row contains (...)"
    (re.compile(r"Key \(([^)]*)\)=\(.*?\)(?= already| is not|\.|$)", re.S | re.M), r"Key (\1)=(…)"),
    (re.compile(r"Failing row contains \(.*?\)(?=\.?$)", re.S | re.M), "Failing row contains (…)"),
    # pydantic's echo of the input that failed validation: a whole update or a list of them
    (re.compile(r"input_value=.*?(?=, input_type=)", re.S), "input_value=…"),
    # aiogram's ClientDecodeError quotes the whole body it could not decode
    (re.compile(r"^Content: .*", re.S | re.M), "Content: (hidden)"),
    # Telegram objects' repr and JSON: names, usernames, texts, captions, phones
    (re.compile(r"\b(first_name|last_name|username|phone_number|text|caption|title|vcard)="
                r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"), r"\1=…"),
    (re.compile(r"\"(first_name|last_name|username|phone_number|text|caption|title|vcard)\":\s*"
                r"\"(?:[^\"\\]|\\.)*\""), r'"\1": "…"'),
]


def mask_personal_data(text: str) -> str:
    for pattern, replacement in _DUMPS:
        text = pattern.sub(replacement, text)
    return mask_phones_in(text)


class MaskPersonalData(logging.Filter):
    """Rewrites a record before any handler formats it: message, arguments, traceback and stack."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        record.msg = mask_personal_data(str(record.msg))
        if record.exc_info:
            # Formatted once here and cached where every Formatter looks first (exc_info stays for handlers
            # that inspect the exception itself).
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_personal_data(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_personal_data(record.stack_info)
        return True


def make_handler(stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskPersonalData())
    return handler


def setup_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    root.handlers[:] = [make_handler()]
    root.setLevel(level.upper())
    # aiogram logs every update at INFO with the user id; keep that at WARNING.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
