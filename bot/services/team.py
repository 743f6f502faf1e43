"""A manager's view of the people and units below them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.errors import DomainError
from bot.domain.org import MANAGER_ROLES
from bot.domain.phones import mask_phone
from storage.models import Staff
from storage.uow import UnitOfWork

MAX_LINES = 60  # a Telegram message holds 4096 characters
VISIT_WINDOW_DAYS = 30


@dataclass(frozen=True)
class UnitLine:
    name: str
    kind: str
    depth: int


@dataclass(frozen=True)
class MemberLine:
    name: str
    role: str
    masked_phone: str
    registered: bool


@dataclass
class TeamOverview:
    unit_count: int = 0
    people: int = 0
    registered: int = 0
    units: list[tuple[UnitLine, list[MemberLine]]] = field(default_factory=list)
    truncated: bool = False
    # Visits of the last VISIT_WINDOW_DAYS in the subtree by location status: how far the reports can be trusted.
    visit_statuses: dict[str, int] = field(default_factory=dict)


async def team_overview(uow: UnitOfWork, manager: Staff, now: datetime | None = None) -> TeamOverview:
    if manager.role not in MANAGER_ROLES:
        raise DomainError("not_allowed")
    own = await uow.org.get(manager.org_unit_id)
    assert own is not None
    units = await uow.org.subtree(own.path)
    members_by_unit: dict[int, list[MemberLine]] = {}
    overview = TeamOverview(unit_count=len(units))
    if now is not None:
        overview.visit_statuses = await uow.stats.visit_statuses(own.path, now - timedelta(days=VISIT_WINDOW_DAYS),
                                                                 now + timedelta(seconds=1))
    for person, unit in await uow.staff.in_subtree(own.path):
        overview.people += 1
        overview.registered += person.tg_user_id is not None
        members_by_unit.setdefault(unit.id, []).append(  # type: ignore[arg-type]
            MemberLine(person.name, person.role, mask_phone(person.phone), person.tg_user_id is not None))
    base_depth = own.path.count("/")
    lines = 0
    for unit in units:
        members = members_by_unit.get(unit.id, [])  # type: ignore[arg-type]
        lines += 1 + len(members)
        if lines > MAX_LINES:
            overview.truncated = True
            break
        overview.units.append((UnitLine(unit.name, unit.kind, unit.path.count("/") - base_depth), members))
    return overview
