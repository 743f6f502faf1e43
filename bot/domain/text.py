"""Bounding what a reply repeats of the user's own input: Telegram refuses a message over 4,096 characters."""

from __future__ import annotations

ELLIPSIS = "…"
# What a reply quotes of a search text, a name or a command: enough to recognise it, never enough to overflow.
ECHO_LIMIT = 50


def shorten(text: str, limit: int = ECHO_LIMIT, *, one_line: bool = True) -> str:
    """`text` cut to at most `limit` characters, an ellipsis marking the cut; with `one_line`, whitespace runs
    become one space so a quoted search text can't stretch a reply over many lines."""
    flat = " ".join(text.split()) if one_line else text.strip()
    if len(flat) <= limit:
        return flat
    return flat[:max(limit - 1, 0)].rstrip() + ELLIPSIS
