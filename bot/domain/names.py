"""Names people type for customers, opinion leaders and stations: trimmed, within a limit, and made of letters."""

from __future__ import annotations

from bot.domain.errors import DomainError


def clean_name(text: str | None, max_length: int, empty_code: str = "name_missing") -> str:
    """The name with runs of spaces collapsed, or DomainError:

    - `empty_code` when nothing is left;
    - "name_too_long" (with max and length) over the limit, so the user hears why and by how much;
    - "name_no_letters" for a name of emoji, symbols or digits only (no letter of any script, Chinese included).
    """
    value = " ".join((text or "").split())
    if not value:
        raise DomainError(empty_code)
    if len(value) > max_length:
        raise DomainError("name_too_long", max=max_length, length=len(value))
    if not any(ch.isalpha() for ch in value):
        raise DomainError("name_no_letters")
    return value
