"""The managers' daily digest, the quarter summary and target nudges: content for every recipient at once.

A run reads two snapshots (quarter to date, yesterday) and a few grouped lists, then cuts each recipient's
subtree out of them in memory: the cost does not grow with the number of managers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from bot.config import Settings
from bot.domain.fieldwork import quarter_bounds, quarter_of
from bot.domain.org import ROLES
from bot.domain.phones import mask_name, mask_phone
from bot.domain.targets import COUNT_KPIS, NUDGE_ROLES, Progress, Totals, roll_up
from bot.services.clock import Clock
from bot.services.numbers import (
    NumbersService,
    Period,
    Snapshot,
    UnitNumbers,
    pending_by_approver_unit,
    waiting_for,
)
from storage.models import OrgUnit, Staff
from storage.repositories.numbers import Person
from storage.uow import UnitOfWork

OVERDUE_LISTED = 5  # overdue customers named in a dealer-level digest (masked)


@dataclass(frozen=True)
class OverdueLine:
    """An overdue customer as a digest shows it: name and phone masked before they leave the service."""

    name: str
    phone: str
    next_follow_up: date


@dataclass(frozen=True)
class Digest:
    staff_id: int
    tg_user_id: int | None
    locale: str | None
    role: str
    unit: OrgUnit
    day: date
    yesterday: Totals
    waiting_approval: int
    numbers: UnitNumbers
    overdue: int
    overdue_customers: list[OverdueLine]


@dataclass(frozen=True)
class QuarterSummary:
    staff_id: int
    tg_user_id: int | None
    locale: str | None
    unit: OrgUnit
    year: int
    quarter: int
    numbers: UnitNumbers


@dataclass(frozen=True)
class Nudge:
    staff_id: int
    tg_user_id: int | None
    locale: str | None
    unit: OrgUnit
    kpi: Progress
    mine: int  # what this person did toward it this quarter
    days_left: int


class DigestService:
    def __init__(self, uow: UnitOfWork, clock: Clock, settings: Settings) -> None:
        self.uow = uow
        self.clock = clock
        self.settings = settings
        self.numbers = NumbersService(uow, clock, settings)

    @property
    def roles(self) -> frozenset[str]:
        unknown = [role for role in self.settings.digest_role_list if role not in ROLES]
        if unknown:
            raise ValueError(f"DIGEST_ROLES: unknown roles {', '.join(unknown)}")
        return frozenset(self.settings.digest_role_list)

    async def build_all(self, day: date | None = None, roles: Iterable[str] | None = None) -> list[Digest]:
        """The digest of every active, onboarded person holding one of the digest roles, for a local day."""
        day = day or self.numbers.today()
        recipients = await self.uow.numbers.people(roles if roles is not None else self.roles)
        return await self._build(day, recipients)

    async def build_for(self, staff: Staff) -> Digest:
        """One person's digest, on demand (/digest): the same content the scheduled run would send."""
        unit = await self.numbers.scope_unit(staff)
        person = Person(staff.id, staff.tg_user_id, staff.locale, staff.role, staff.org_unit_id)  # type: ignore[arg-type]
        [digest] = await self._build(self.numbers.today(), [person], scope_path=unit.path)
        return digest

    async def _build(self, day: date, recipients: Iterable[Person], scope_path: str | None = None) -> list[Digest]:
        recipients = list(recipients)
        quarter = await self.numbers.quarter_snapshot(day, scope_path=scope_path)
        yesterday_day = day - timedelta(days=1)
        period = Period.of_days(yesterday_day, yesterday_day, self.settings.tz)
        per_dealer = await self.uow.numbers.totals_per_dealer(period.start, period.end, period.first_day,
                                                              period.last_day, scope_path=scope_path)
        yesterday = _roll(per_dealer, quarter)
        waiting = pending_by_approver_unit(await self.uow.numbers.pending_activities(), quarter.units)
        dealer_recipients = {p.org_unit_id for p in recipients if quarter.units[p.org_unit_id].kind == "dealer"}
        overdue_rows = await self.uow.numbers.overdue_customers(day, dealer_recipients, per_dealer=OVERDUE_LISTED)
        overdue_by_dealer: dict[int, list[OverdueLine]] = {}
        for row in overdue_rows:
            overdue_by_dealer.setdefault(row.dealer_unit_id, []).append(
                OverdueLine(mask_name(row.name), mask_phone(row.phone), row.next_follow_up))
        digests = []
        for person in recipients:
            unit = quarter.units[person.org_unit_id]
            digests.append(Digest(
                staff_id=person.id, tg_user_id=person.tg_user_id, locale=person.locale, role=person.role,
                unit=unit, day=day, yesterday=yesterday.get(person.org_unit_id) or Totals(),
                waiting_approval=waiting_for(person, unit, waiting),
                numbers=self.numbers.numbers_from(quarter, unit, day),
                overdue=quarter.of(person.org_unit_id).overdue,
                overdue_customers=overdue_by_dealer.get(person.org_unit_id, []) if unit.kind == "dealer" else []))
        return digests

    async def quarter_summaries(self, year: int, quarter: int) -> list[QuarterSummary]:
        """Each digest recipient's numbers for a finished quarter against its targets."""
        first, last = quarter_bounds(year, quarter)
        snap = await self.numbers.snapshot(Period.of_days(first, last, self.settings.tz), year=year,
                                           quarter=quarter, today=last)
        summaries = []
        for person in await self.uow.numbers.people(self.roles):
            unit = snap.units[person.org_unit_id]
            summaries.append(QuarterSummary(person.id, person.tg_user_id, person.locale, unit, year, quarter,
                                            self.numbers.numbers_from(snap, unit, last)))
        return summaries

    async def nudges(self, day: date | None = None) -> list[Nudge]:
        """For each field person of a dealer behind the quarter's pace: the KPI furthest behind, what they did."""
        day = day or self.numbers.today()
        snap = await self.numbers.quarter_snapshot(day)
        first, _last = quarter_bounds(day.year, quarter_of(day))
        period = Period.of_days(first, day, self.settings.tz)
        mine = await self.uow.numbers.totals_per_staff(period.start, period.end)
        nudges = []
        for staff in await self.uow.numbers.people(NUDGE_ROLES):
            unit = snap.units[staff.org_unit_id]
            if unit.kind != "dealer":
                continue
            behind = [p for p in snap.progress(unit.id, day, COUNT_KPIS) if p.lagging]  # type: ignore[arg-type]
            if not behind:
                continue
            worst = min(behind, key=lambda p: p.share_done or 0)
            numbers = self.numbers.numbers_from(snap, unit, day)
            own = mine.get(staff.id) or Totals()
            nudges.append(Nudge(staff.id, staff.tg_user_id, staff.locale, unit, worst,
                                int(own.kpi_actual(worst.kpi) or 0) if worst.kpi in
                                ("customer_visits", "opinion_leaders", "information_stations") else 0,
                                numbers.days_left))
        return nudges


def _roll(per_dealer: dict[int, Totals], snap: Snapshot) -> dict[int, Totals]:
    paths = {u.id: u.path for u in snap.units.values() if u.kind == "dealer"}
    return roll_up(per_dealer, paths)  # type: ignore[arg-type]
