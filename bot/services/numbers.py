"""Managers' numbers: the plan's targets, progress per unit and person, coverage, the evaluation numbers.

Everything is computed from one `Snapshot`: a handful of grouped queries per dealer, rolled up the org tree in
memory, so a region's numbers cost the same as a dealer's and a thousand digests cost one snapshot."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.domain.approvals import default_approval_rules, who_can_act
from bot.domain.errors import DomainError
from bot.domain.fieldwork import coverage_gaps, coverage_minimums, quarter_bounds, quarter_of
from bot.domain.org import in_subtree
from bot.domain.playbook import Playbook, default_playbook
from bot.domain.targets import (
    NUMBERS_ROLES,
    PLAN_KPIS,
    Node,
    PlanRow,
    Progress,
    Totals,
    allocate_plan,
    dealer_organisation_passes,
    progress,
    quarter_elapsed,
    ratio,
    roll_up,
)
from bot.services.clock import Clock
from storage.models import OrgUnit, Staff
from storage.repositories.numbers import PendingGroup, Person
from storage.uow import UnitOfWork


@dataclass(frozen=True)
class Period:
    """Local days first..last inclusive, and the UTC instants [start, end) they cover."""

    first_day: date
    last_day: date
    start: datetime
    end: datetime

    @classmethod
    def of_days(cls, first_day: date, last_day: date, tz: ZoneInfo) -> Period:
        if last_day < first_day:
            raise DomainError("bad_period")
        return cls(first_day, last_day, datetime.combine(first_day, time.min, tzinfo=tz),
                   datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=tz))

    @classmethod
    def quarter(cls, year: int, quarter: int, tz: ZoneInfo) -> Period:
        return cls.of_days(*quarter_bounds(year, quarter), tz)


@dataclass(frozen=True)
class LaggingUnit:
    unit: OrgUnit
    kpis: list[Progress]


@dataclass(frozen=True)
class UnitNumbers:
    unit: OrgUnit
    year: int
    quarter: int
    day: date
    days_left: int
    progress: list[Progress]
    lagging_children: list[LaggingUnit]


@dataclass(frozen=True)
class CityCoverage:
    dealer: OrgUnit
    city: str
    stations: int
    leaders: int
    min_stations: int
    min_leaders: int

    @property
    def stations_missing(self) -> int:
        return max(0, self.min_stations - self.stations)

    @property
    def leaders_missing(self) -> int:
        return max(0, self.min_leaders - self.leaders)


@dataclass(frozen=True)
class CoverageReport:
    cities: int  # county-level cities in the dealers' areas (and any city with a station or leader)
    gaps: list[CityCoverage]


@dataclass(frozen=True)
class Evaluation:
    unit: OrgUnit
    period: Period
    dealers: int
    dealers_passing: int
    pass_rate: Decimal | None
    customers: int
    complete_customers: int
    completeness: Decimal | None
    due_revisits: int
    revisited: int
    revisit_rate: Decimal | None
    plan_completion: dict[str, Decimal | None]  # KPI -> % of the period's target reached


@dataclass
class Snapshot:
    """The tree and what every unit's subtree did in one period, with the period's targets."""

    units: dict[int, OrgUnit]
    children: dict[int, list[OrgUnit]]
    totals: dict[int, Totals]
    targets: dict[tuple[int, str], Decimal | None]
    pass_rates: dict[int, Decimal | None]
    dealers_passing: dict[int, tuple[int, int]] = field(default_factory=dict)

    def of(self, unit_id: int) -> Totals:
        return self.totals.get(unit_id) or Totals()

    _memo: dict[tuple[int, date, tuple[str, ...]], list[Progress]] = field(default_factory=dict)

    def progress(self, unit_id: int, day: date, kpis: Iterable[str] = PLAN_KPIS) -> list[Progress]:
        # Memoised: a unit's numbers are read by its own managers and by every manager above it.
        key = (unit_id, day, tuple(kpis))
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        totals = self.of(unit_id)
        rows = []
        for kpi in key[2]:
            actual = totals.kpi_actual(kpi, self.pass_rates.get(unit_id))
            rows.append(progress(kpi, actual or Decimal(0), self.targets.get((unit_id, kpi)), day))
        self._memo[key] = rows
        return rows

    def lagging_children(self, unit_id: int, day: date) -> list[LaggingUnit]:
        lagging = []
        for child in self.children.get(unit_id, []):
            behind = [p for p in self.progress(child.id, day) if p.lagging]  # type: ignore[arg-type]
            if behind:
                lagging.append(LaggingUnit(child, behind))
        # The furthest behind first: the lowest share done of its worst KPI.
        lagging.sort(key=lambda lag: (min(p.share_done or Decimal(0) for p in lag.kpis), lag.unit.path))
        return lagging

    def dealer_ids_under(self, path: str) -> list[int]:
        return [u.id for u in self.units.values() if u.kind == "dealer" and in_subtree(u.path, path)]  # type: ignore[misc]


class NumbersService:
    def __init__(self, uow: UnitOfWork, clock: Clock, settings: Settings, playbook: Playbook | None = None) -> None:
        self.uow = uow
        self.clock = clock
        self.settings = settings
        self.playbook = playbook or default_playbook()

    @property
    def tz(self) -> ZoneInfo:
        return self.settings.tz

    def today(self) -> date:
        return self.clock().astimezone(self.tz).date()

    # --- scope ----------------------------------------------------------------------------------------------

    async def scope_unit(self, staff: Staff) -> OrgUnit:
        """The unit whose numbers a person may see: their own unit (and so its subtree)."""
        if staff.role not in NUMBERS_ROLES:
            raise DomainError("numbers_not_for_role")
        unit = await self.uow.org.get(staff.org_unit_id)
        if unit is None:
            raise DomainError("unknown_unit")
        return unit

    # --- the snapshot ---------------------------------------------------------------------------------------

    async def snapshot(self, period: Period, *, year: int, quarter: int, today: date | None = None,
                       scope_path: str | None = None) -> Snapshot:
        """Per-unit totals of the period, targets of (year, quarter) and pass rates, for the whole tree or a
        subtree. A fixed number of grouped queries whatever the tree's or the tables' size."""
        units_list = await self.uow.numbers.units()
        units = {u.id: u for u in units_list if u.id is not None}
        children: dict[int, list[OrgUnit]] = {}
        for unit in units_list:
            if unit.parent_id is not None:
                children.setdefault(unit.parent_id, []).append(unit)
        per_dealer = await self.uow.numbers.totals_per_dealer(
            period.start, period.end, period.first_day, period.last_day, today=today, scope_path=scope_path)
        dealer_paths = {u.id: u.path for u in units.values() if u.kind == "dealer"}
        totals = roll_up(per_dealer, dealer_paths)  # type: ignore[arg-type]
        targets = await self.uow.numbers.targets(year, quarter)
        filled = await self.uow.numbers.dealer_roles_filled()
        passing = {dealer_id: (1, 1 if dealer_organisation_passes(filled.get(dealer_id, ())) else 0)  # type: ignore[arg-type]
                   for dealer_id in dealer_paths}
        counts: dict[int, list[int]] = {}
        for dealer_id, (one, passed) in passing.items():
            for part in dealer_paths[dealer_id].strip("/").split("/"):
                entry = counts.setdefault(int(part), [0, 0])
                entry[0] += one
                entry[1] += passed
        pass_rates = {unit_id: ratio(passed, n) for unit_id, (n, passed) in counts.items()}
        return Snapshot(units, children, totals, targets, pass_rates,
                        {unit_id: (n, passed) for unit_id, (n, passed) in counts.items()})

    async def quarter_snapshot(self, day: date, scope_path: str | None = None) -> Snapshot:
        quarter = quarter_of(day)
        first, _last = quarter_bounds(day.year, quarter)
        period = Period.of_days(first, day, self.tz)  # quarter to date
        return await self.snapshot(period, year=day.year, quarter=quarter, today=day, scope_path=scope_path)

    # --- /targets -------------------------------------------------------------------------------------------

    async def unit_numbers(self, staff: Staff) -> UnitNumbers:
        unit = await self.scope_unit(staff)
        day = self.today()
        snap = await self.quarter_snapshot(day, scope_path=unit.path)
        return self.numbers_from(snap, unit, day)

    def numbers_from(self, snap: Snapshot, unit: OrgUnit, day: date) -> UnitNumbers:
        gone, days = quarter_elapsed(day)
        return UnitNumbers(unit=unit, year=day.year, quarter=quarter_of(day), day=day, days_left=days - gone,
                           progress=snap.progress(unit.id, day),  # type: ignore[arg-type]
                           lagging_children=snap.lagging_children(unit.id, day))  # type: ignore[arg-type]

    # --- /coverage ------------------------------------------------------------------------------------------

    async def coverage(self, staff: Staff) -> CoverageReport:
        """Every county-level city of the dealers in scope against its A/B minimums; the gaps, worst first."""
        unit = await self.scope_unit(staff)
        return await self.coverage_of(unit.path)

    async def coverage_of(self, scope_path: str) -> CoverageReport:
        counts = await self.uow.numbers.coverage_counts(scope_path)
        units = {u.id: u for u in await self.uow.numbers.units()}
        by_dealer: dict[int, dict[str, tuple[int, int]]] = {}
        for (dealer_id, city), (stations, leaders) in counts.items():
            by_dealer.setdefault(dealer_id, {})[city] = (stations, leaders)
        gaps: list[CityCoverage] = []
        cities_total = 0
        for dealer_id, cities in by_dealer.items():
            dealer = units.get(dealer_id)
            if dealer is None or not dealer.province:
                continue
            cities_total += len(cities)
            min_stations, min_leaders = coverage_minimums(dealer.province, self.playbook)
            for gap in coverage_gaps(dealer.province, cities, self.playbook):
                stations, leaders = cities[gap.city]
                gaps.append(CityCoverage(dealer, gap.city, stations, leaders, min_stations, min_leaders))
        gaps.sort(key=lambda r: (-(r.stations_missing + r.leaders_missing), r.dealer.path, r.city))
        return CoverageReport(cities_total, gaps)

    # --- evaluation numbers ---------------------------------------------------------------------------------

    async def evaluation(self, unit: OrgUnit, period: Period) -> Evaluation:
        """The plan's evaluation numbers for a unit's subtree over a period (README: "Evaluation numbers")."""
        assert unit.id is not None
        year, quarter = period.first_day.year, quarter_of(period.first_day)
        whole_quarter = (period.first_day, period.last_day) == quarter_bounds(year, quarter)
        snap = await self.snapshot(period, year=year, quarter=quarter if whole_quarter else 0,
                                   scope_path=unit.path)
        dealers, passing = snap.dealers_passing.get(unit.id, (0, 0))
        in_scope = set(snap.dealer_ids_under(unit.path))
        complete = await self.uow.numbers.completeness_per_dealer()
        customers = sum(n for d, (n, _c) in complete.items() if d in in_scope)
        complete_customers = sum(c for d, (_n, c) in complete.items() if d in in_scope)
        revisits = await self.uow.numbers.revisits_per_dealer(period.start, period.end, period.first_day,
                                                              period.last_day)
        due = sum(n for d, (n, _g) in revisits.items() if d in in_scope)
        got = sum(g for d, (_n, g) in revisits.items() if d in in_scope)
        completion: dict[str, Decimal | None] = {}
        totals = snap.of(unit.id)
        for kpi in PLAN_KPIS:
            target = snap.targets.get((unit.id, kpi))
            actual = totals.kpi_actual(kpi, snap.pass_rates.get(unit.id))
            completion[kpi] = (None if not target or actual is None
                               else (Decimal(100) * actual / target).quantize(Decimal("0.1")))
        return Evaluation(unit, period, dealers, passing, ratio(passing, dealers), customers, complete_customers,
                          ratio(complete_customers, customers), due, got, ratio(got, due), completion)

    # --- imports --------------------------------------------------------------------------------------------

    async def import_plan(self, year: int, rows: Sequence[PlanRow]) -> tuple[int, int]:
        """Allocates a plan down the tree and stores it; returns (units with figures, rows written)."""
        units = await self.uow.numbers.units()
        nodes = [Node(u.id, u.code, u.parent_id, u.kind) for u in units if u.id is not None]
        figures = allocate_plan(rows, nodes)
        by_code = {u.code: u.id for u in units}
        explicit = {(by_code[row.unit], row.kpi) for row in rows}
        written = await self.uow.numbers.replace_targets(year, {row.kpi for row in rows}, figures,
                                                         explicit, self.clock())  # type: ignore[arg-type]
        await self.uow.audit.record("targets.import", subject=str(year),
                                    detail={"rows": len(rows), "figures": written})
        return len({unit_id for unit_id, _kpi in figures}), written

    async def import_areas(self, areas: dict[str, list[str]]) -> int:
        """Sets each dealer's county-level cities (dealer code -> cities); returns the cities stored."""
        stored = 0
        for code, cities in areas.items():
            unit = await self.uow.org.by_code(code)
            if unit is None or unit.kind != "dealer":
                raise DomainError("unknown_unit", unit=code)
            stored += await self.uow.numbers.set_area(unit.id, unit.province or "", cities)  # type: ignore[arg-type]
        return stored


def pending_by_approver_unit(pending: Iterable[PendingGroup], units: dict[int, OrgUnit]) -> dict[int, int]:
    """Activities waiting at each unit: the dealer's ancestor whose level is the activity's current step."""
    waiting: dict[int, int] = {}
    for group in pending:
        levels = [level for level in group.chain.split(",") if level]
        dealer = units.get(group.dealer_unit_id)
        if dealer is None or not 0 <= group.step_index < len(levels):
            continue
        level = levels[group.step_index]
        for part in dealer.path.strip("/").split("/"):
            ancestor = units.get(int(part))
            if ancestor is not None and ancestor.kind == level:
                assert ancestor.id is not None
                waiting[ancestor.id] = waiting.get(ancestor.id, 0) + group.count
                break
    return waiting


def waiting_for(staff: Staff | Person, unit: OrgUnit, waiting: dict[int, int]) -> int:
    """Activities whose current step a person may decide: waiting at their unit, and their role decides there."""
    count = waiting.get(unit.id, 0)  # type: ignore[arg-type]
    if not count or unit.kind not in ("market", "region", "hq"):
        return 0
    return count if staff.role in who_can_act(unit.kind, default_approval_rules()) else 0
