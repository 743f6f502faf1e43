"""The org tree and roles: levels, which role belongs where, and who may see what."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from enum import StrEnum


class OrgKind(StrEnum):
    HQ = "hq"
    REGION = "region"
    MARKET = "market"
    DEALER = "dealer"


PARENT_KIND: dict[OrgKind, OrgKind | None] = {
    OrgKind.HQ: None,
    OrgKind.REGION: OrgKind.HQ,
    OrgKind.MARKET: OrgKind.REGION,
    OrgKind.DEALER: OrgKind.MARKET,
}

# DOMAIN.md section 1; sales_rep is the dealer's salesperson who visits customers.
ROLE_KIND: dict[str, OrgKind] = {
    "hq_admin": OrgKind.HQ,
    "hq_staff": OrgKind.HQ,
    "region_manager": OrgKind.REGION,
    "customer_dev_manager": OrgKind.REGION,
    "marcom_manager": OrgKind.REGION,
    "marketing_manager": OrgKind.MARKET,
    "customer_mgmt_specialist": OrgKind.MARKET,
    "trainer": OrgKind.MARKET,
    "activity_specialist": OrgKind.MARKET,
    "dealer_gm": OrgKind.DEALER,
    "dealer_marketing_manager": OrgKind.DEALER,
    "info_admin": OrgKind.DEALER,
    "sales_rep": OrgKind.DEALER,
}
ROLES = tuple(ROLE_KIND)

# Roles that manage people below them: they may invite and see their subtree's staff.
MANAGER_ROLES = frozenset(
    {"hq_admin", "hq_staff", "region_manager", "marketing_manager", "dealer_gm", "dealer_marketing_manager"}
)


def parse_kind(value: str) -> OrgKind:
    try:
        return OrgKind(value)
    except ValueError:
        raise ValueError(f"unknown org level {value!r}; one of {', '.join(k.value for k in OrgKind)}") from None


def check_parent(kind: OrgKind, parent_kind: OrgKind | None) -> None:
    """HQ is the root; every other level hangs under the level just above it."""
    expected = PARENT_KIND[kind]
    if expected != parent_kind:
        if expected is None:
            raise ValueError("an hq unit has no parent")
        raise ValueError(f"a {kind.value} unit belongs under a {expected.value} unit")


def check_role(role: str, kind: OrgKind) -> None:
    """A role exists only at its own level: a dealer's salesperson can't sit in a region."""
    if role not in ROLE_KIND:
        raise ValueError(f"unknown role {role!r}")
    if ROLE_KIND[role] != kind:
        raise ValueError(f"role {role} belongs to a {ROLE_KIND[role].value} unit, not a {kind.value} unit")


def child_path(parent_path: str, unit_id: int) -> str:
    return f"{parent_path or '/'}{unit_id}/"


def in_subtree(path: str, ancestor_path: str) -> bool:
    """True when the unit at `path` is the ancestor itself or below it."""
    return bool(ancestor_path) and path.startswith(ancestor_path)


def can_invite(inviter_role: str, inviter_path: str, target_path: str) -> bool:
    return inviter_role in MANAGER_ROLES and in_subtree(target_path, inviter_path)


def common_ancestor_path(path_a: str, path_b: str) -> str:
    """The path of the lowest unit above (or equal to) both units: "/1/2/5/" for "/1/2/5/9/" and "/1/2/5/10/"."""
    parts_a, parts_b = path_a.strip("/").split("/"), path_b.strip("/").split("/")
    shared: list[str] = []
    for a, b in zip(parts_a, parts_b, strict=False):
        if a != b or not a:
            break
        shared.append(a)
    return "/" + "".join(f"{part}/" for part in shared)


def unit_id_of(path: str) -> int | None:
    """The id of the unit a materialized path ends with."""
    parts = [part for part in path.strip("/").split("/") if part]
    return int(parts[-1]) if parts else None


def closest_codes(code: str, codes: Iterable[str], limit: int = 3, cutoff: float = 0.6) -> list[str]:
    """Org codes that look like a mistyped one ("dlr-shijiazuang" -> "dlr-shijiazhuang"), closest first.

    Codes share prefixes ("dlr-", "mkt-"), so a far second best is left out: only those near the best one count.
    """
    scored = sorted(((difflib.SequenceMatcher(None, code.lower(), c.lower()).ratio(), c) for c in codes),
                    key=lambda pair: (-pair[0], pair[1]))
    if not scored or scored[0][0] < cutoff:
        return []
    best = scored[0][0]
    return [c for ratio, c in scored[:limit] if ratio >= cutoff and ratio >= best - 0.15]
