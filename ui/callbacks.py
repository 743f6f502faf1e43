"""What a button may carry. Callback data is never trusted: a client can send any 64 bytes as a tap.

A record id in button data is a `RowId`: a forged one that no database integer can hold (forty digits, say) fails
to unpack, so the tap is answered as a stale button instead of reaching SQL (SQLite raised OverflowError there).
A text field that carries an id is read with `row_id()`, which refuses the same values with ValueError.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

ROW_ID_MAX = 2**63 - 1  # the largest signed 64-bit integer: SQLite's INTEGER and PostgreSQL's BIGINT

RowId = Annotated[int, Field(ge=0, le=ROW_ID_MAX)]


def row_id(text: str) -> int:
    """The id a button's text field carries; ValueError for anything that cannot be a stored row's id."""
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise ValueError(f"not a row id: {text[:24]!r}")
    value = int(text)
    if value > ROW_ID_MAX:
        raise ValueError("row id out of range")
    return value
