"""Whole numbers as people type them."""

from __future__ import annotations

MAX_ID = 2**31 - 1  # record ids: anything larger can't exist and would overflow a PostgreSQL INTEGER parameter


def parse_whole_number(text: str | None, *, minimum: int = 0, maximum: int) -> int | None:
    """A whole number within [minimum, maximum] in ASCII or full-width digits, else None.

    isdecimal, not isdigit: "²" is a digit that int() refuses; the length check keeps int() off huge inputs.
    """
    value = (text or "").strip()
    if not value.isdecimal() or len(value) > len(str(maximum)):
        return None
    number = int(value)
    return number if minimum <= number <= maximum else None
