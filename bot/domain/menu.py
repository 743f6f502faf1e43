"""Which main-menu entries each role gets. Later features append their entries here."""

from __future__ import annotations

from bot.domain.org import MANAGER_ROLES, ROLE_KIND, OrgKind
from bot.domain.targets import NUMBERS_ROLES

BASE_ENTRIES = ("profile", "language", "help")
MANAGER_ENTRIES = ("team",)
ACTIVITY_REQUESTER_ENTRIES = ("activity_new",)  # dealer staff request marketing activities
FIELD_ENTRIES = ("today", "visit", "customer_new", "find")  # dealer staff: customers and visits
NETWORK_ENTRIES = ("sale", "leader_new", "station_new", "leaders")  # dealer staff: leaders, stations, sales
NUMBERS_ENTRIES = ("targets", "digest")  # managers: the plan's numbers and the daily digest


def menu_entries(role: str) -> tuple[str, ...]:
    entries: tuple[str, ...] = ()
    entries += FIELD_ENTRIES if ROLE_KIND.get(role) is OrgKind.DEALER else ("find",)
    entries += NETWORK_ENTRIES if ROLE_KIND.get(role) is OrgKind.DEALER else ("leaders",)
    entries += ACTIVITY_REQUESTER_ENTRIES if ROLE_KIND.get(role) is OrgKind.DEALER else ()
    entries += ("activities",)
    if role in NUMBERS_ROLES:
        entries += NUMBERS_ENTRIES
    if role in MANAGER_ROLES:
        entries += MANAGER_ENTRIES
    return entries + BASE_ENTRIES
