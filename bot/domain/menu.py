"""Which main-menu entries each role gets. Later features append their entries here."""

from __future__ import annotations

from bot.domain.org import MANAGER_ROLES

BASE_ENTRIES = ("profile", "language", "help")
MANAGER_ENTRIES = ("team",)


def menu_entries(role: str) -> tuple[str, ...]:
    entries: tuple[str, ...] = ()
    if role in MANAGER_ROLES:
        entries += MANAGER_ENTRIES
    return entries + BASE_ENTRIES
