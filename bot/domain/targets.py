"""Targets and progress: allocating a plan down the org tree, the quarter's pace, lagging units, the evaluation
numbers. Plain functions over plain data; the services feed them what the queries return."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from bot.domain.fieldwork import quarter_bounds

# The KPIs a plan carries (DOMAIN.md section 2) and how each is measured from records.
PLAN_KPIS: tuple[str, ...] = (
    "information_stations", "opinion_leaders", "organisation_pass_rate", "customer_visits",
    "organisation_contribution", "promotion", "relationship",
)
# Rates are not split between units: every unit below carries the same percentage.
RATE_KPIS = frozenset({"organisation_pass_rate", "organisation_contribution"})
COUNT_KPIS = tuple(kpi for kpi in PLAN_KPIS if kpi not in RATE_KPIS)

# 零距离接触: only kinds where someone went out to meet the customer count toward the visit KPI.  # i18n-ok
# A phone revisit or a customer who came to the store is work, but not a customer visit.
FIELD_VISIT_KINDS = frozenset({"door_visit", "door_display", "site_roadshow", "door_inspection", "on_site_check",
                               "canvassing"})

# Roles a dealer's marketing organisation must have filled (组织建设合格: GM or brand manager,  # i18n-ok
# customer-marketing manager, information administrator).
REQUIRED_DEALER_ROLES = frozenset({"dealer_gm", "dealer_marketing_manager", "info_admin"})

# Customer fields a record needs to count as complete (信息完整).  # i18n-ok
REQUIRED_CUSTOMER_FIELDS: tuple[str, ...] = ("phone", "vehicle_type", "industry", "fleet_size", "province", "city",
                                             "source")

# A unit lags when its share done is below this fraction of the share of the quarter gone.
LAG_TOLERANCE = Decimal("0.9")

ANNUAL = 0  # the quarter number of an annual target row

# Roles that see their unit's numbers (/targets, /coverage, /digest, /export): everyone who manages or plans a
# part of the tree. Salespeople see their own numbers in /today.
NUMBERS_ROLES = frozenset({
    "hq_admin", "hq_staff", "region_manager", "customer_dev_manager", "marcom_manager", "marketing_manager",
    "customer_mgmt_specialist", "trainer", "activity_specialist", "dealer_gm", "dealer_marketing_manager",
    "info_admin",
})
# Staff who get target nudges: the people whose field work the counts are made of.
NUDGE_ROLES = frozenset({"sales_rep", "info_admin", "dealer_marketing_manager"})


class TargetError(ValueError):
    """A plan that cannot be imported; the message names the row and what is wrong."""


# --- allocation ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """One org unit as the allocator sees it."""

    id: int
    code: str
    parent_id: int | None
    kind: str


def split_integer(total: int, weights: Mapping[int, int | Decimal]) -> dict[int, int]:
    """Splits a whole number by weights so the parts add up to the total (largest remainder, ties by key)."""
    if total < 0:
        raise TargetError(f"a target can't be negative: {total}")
    weight_sum = sum(Decimal(w) for w in weights.values())
    if not weights or weight_sum <= 0:
        return {key: 0 for key in weights}
    exact = {key: Decimal(total) * Decimal(w) / weight_sum for key, w in weights.items()}
    parts = {key: int(value) for key, value in exact.items()}
    left = total - sum(parts.values())
    for key in sorted(exact, key=lambda k: (-(exact[k] - parts[k]), k))[:left]:
        parts[key] += 1
    return parts


@dataclass
class PlanRow:
    """One row of an imported plan: a unit's KPI figures and how they go down to the units below."""

    unit: str
    kpi: str
    quarters: tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None]
    annual: Decimal | None = None
    # "dealers" (by number of dealers below), "even" (equal shares), None (no allocation), or explicit
    # weights / figures per child unit code.
    allocate: str | dict[str, Decimal] | None = None


def allocate_plan(rows: Sequence[PlanRow], nodes: Sequence[Node]) -> dict[tuple[int, str], list[Decimal | None]]:
    """Every unit's figures per KPI: [annual, q1, q2, q3, q4] (None: no number, e.g. "optimise").

    Rows name units by code; a unit's own row wins over what its parent allocates to it, and its own
    allocation rule then goes on below it."""
    by_code = {node.code: node for node in nodes}
    children: dict[int | None, list[Node]] = {}
    for each in nodes:
        children.setdefault(each.parent_id, []).append(each)
    dealers_below = _dealers_below(nodes, children)
    explicit: dict[tuple[int, str], PlanRow] = {}
    for index, row in enumerate(rows, start=1):
        if row.kpi not in PLAN_KPIS:
            raise TargetError(f"row {index}: unknown KPI {row.kpi!r}; one of {', '.join(PLAN_KPIS)}")
        node = by_code.get(row.unit)
        if node is None:
            raise TargetError(f"row {index}: no org unit with code {row.unit!r}")
        if (node.id, row.kpi) in explicit:
            raise TargetError(f"row {index}: {row.unit} has a second {row.kpi} row")
        for value in (row.annual, *row.quarters):
            if value is not None and value < 0:
                raise TargetError(f"row {index}: {row.kpi} can't be negative")
        if isinstance(row.allocate, dict):
            kids = {child.code for child in children.get(node.id, [])}
            strangers = sorted(set(row.allocate) - kids)
            if strangers:
                raise TargetError(f"row {index}: {', '.join(strangers)} not directly under {row.unit}")
        explicit[(node.id, row.kpi)] = row
    result: dict[tuple[int, str], list[Decimal | None]] = {}

    def place(node: Node, kpi: str, figures: list[Decimal | None], rule: str | dict[str, Decimal] | None) -> None:
        result[(node.id, kpi)] = figures
        kids = children.get(node.id, [])
        if rule is None or not kids:
            for kid in kids:  # an explicit row further down still counts
                descend(kid, kpi)
            return
        shares = _shares(kpi, figures, kids, rule, dealers_below)
        for kid in kids:
            own = explicit.get((kid.id, kpi))
            if own is not None:
                place(kid, kpi, _figures(own), own.allocate)
            else:
                place(kid, kpi, shares[kid.id], rule if not isinstance(rule, dict) else None)

    def descend(node: Node, kpi: str) -> None:
        own = explicit.get((node.id, kpi))
        if own is not None:
            place(node, kpi, _figures(own), own.allocate)
        else:
            for kid in children.get(node.id, []):
                descend(kid, kpi)

    kpis = {row.kpi for row in rows}
    for root in children.get(None, []):
        for kpi in sorted(kpis):
            descend(root, kpi)
    return result


def _figures(row: PlanRow) -> list[Decimal | None]:
    annual = row.annual
    if annual is None and row.kpi not in RATE_KPIS and all(q is not None for q in row.quarters):
        annual = sum((q for q in row.quarters if q is not None), Decimal(0))
    return [annual, *row.quarters]


def _dealers_below(nodes: Sequence[Node], children: Mapping[int | None, list[Node]]) -> dict[int, int]:
    counts: dict[int, int] = {}

    def count(node: Node) -> int:
        total = (1 if node.kind == "dealer" else 0) + sum(count(kid) for kid in children.get(node.id, []))
        counts[node.id] = total
        return total

    for root in children.get(None, []):
        count(root)
    return counts


def _shares(kpi: str, figures: list[Decimal | None], kids: list[Node], rule: str | dict[str, Decimal],
            dealers_below: Mapping[int, int]) -> dict[int, list[Decimal | None]]:
    if kpi in RATE_KPIS:  # the same rate for everyone below
        return {kid.id: list(figures) for kid in kids}
    if isinstance(rule, dict):
        weights: dict[int, int | Decimal] = {kid.id: rule.get(kid.code, Decimal(0)) for kid in kids}
    elif rule == "dealers":
        weights = {kid.id: dealers_below.get(kid.id, 0) for kid in kids}
    elif rule == "even":
        weights = {kid.id: 1 for kid in kids}
    else:
        raise TargetError(f"unknown allocation rule {rule!r}; use dealers, even or shares per unit")
    shares: dict[int, list[Decimal | None]] = {kid.id: [] for kid in kids}
    for value in figures:
        if value is None:
            for kid in kids:
                shares[kid.id].append(None)
            continue
        whole = int(value.to_integral_value(ROUND_HALF_UP))
        for kid_id, part in split_integer(whole, weights).items():
            shares[kid_id].append(Decimal(part))
    return shares


# --- pace and progress --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def quarter_elapsed(day: date) -> tuple[int, int]:
    """(days gone including today, days in the quarter) for the quarter that holds the day."""
    quarter = (day.month - 1) // 3 + 1
    first, last = quarter_bounds(day.year, quarter)
    return (day - first).days + 1, (last - first).days + 1


@dataclass(frozen=True)
class Progress:
    kpi: str
    actual: Decimal
    target: Decimal | None  # None: no number for this quarter ("optimise" or no plan)
    share_done: Decimal | None  # actual / target (counts) or None
    share_gone: Decimal  # of the quarter's days
    lagging: bool

    @property
    def left(self) -> Decimal | None:
        if self.target is None:
            return None
        return max(Decimal(0), self.target - self.actual)


def progress(kpi: str, actual: Decimal | int, target: Decimal | None, day: date) -> Progress:
    """Where a KPI stands on a day: counts against the quarter's pace, rates against the target itself."""
    actual = Decimal(actual)
    gone, days = quarter_elapsed(day)
    share_gone = Decimal(gone) / Decimal(days)
    if target is None:
        return Progress(kpi, actual, None, None, share_gone, False)
    if kpi in RATE_KPIS:
        return Progress(kpi, actual, target, actual / target if target else None, share_gone, actual < target)
    share_done = actual / target if target > 0 else Decimal(1)
    return Progress(kpi, actual, target, share_done, share_gone, target > 0 and share_done < share_gone * LAG_TOLERANCE)


# --- evaluation numbers -------------------------------------------------------------------------------------


def ratio(part: int, whole: int) -> Decimal | None:
    """part / whole as a percentage with one decimal; None when there is nothing to measure."""
    if whole <= 0:
        return None
    return (Decimal(100) * part / whole).quantize(Decimal("0.1"), ROUND_HALF_UP)


def dealer_organisation_passes(roles_filled: Iterable[str]) -> bool:
    """A dealer passes when every required role is held by an active, onboarded person."""
    return REQUIRED_DEALER_ROLES <= set(roles_filled)


@dataclass
class Totals:
    """What a unit's subtree did in a period: the measurable KPIs and the digest's counts."""

    visits: int = 0  # every reported visit
    verified: int = 0
    field_visits: int = 0  # the visit KPI (零距离接触)  # i18n-ok
    new_customers: int = 0
    leaders: int = 0
    stations: int = 0
    promotion: int = 0
    relationship: int = 0
    trucks: int = 0
    unit_trucks: int = 0
    overdue: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def add(self, other: Totals) -> None:
        for name in ("visits", "verified", "field_visits", "new_customers", "leaders", "stations", "promotion",
                     "relationship", "trucks", "unit_trucks", "overdue"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def kpi_actual(self, kpi: str, pass_rate: Decimal | None = None) -> Decimal | None:
        """The measured value of a plan KPI (rates as percentages)."""
        if kpi == "customer_visits":
            return Decimal(self.field_visits)
        if kpi == "opinion_leaders":
            return Decimal(self.leaders)
        if kpi == "information_stations":
            return Decimal(self.stations)
        if kpi == "promotion":
            return Decimal(self.promotion)
        if kpi == "relationship":
            return Decimal(self.relationship)
        if kpi == "organisation_contribution":
            return ratio(self.unit_trucks, self.trucks) if self.trucks else Decimal(0)
        if kpi == "organisation_pass_rate":
            return pass_rate if pass_rate is not None else Decimal(0)
        raise KeyError(kpi)


def roll_up(per_dealer: Mapping[int, Totals], dealer_paths: Mapping[int, str]) -> dict[int, Totals]:
    """Totals per unit id of every unit on the dealers' paths: a subtree's sum, from the per-dealer rows."""
    units: dict[int, Totals] = {}
    for dealer_id, totals in per_dealer.items():
        path = dealer_paths.get(dealer_id)
        if path is None:
            continue
        for part in path.strip("/").split("/"):
            units.setdefault(int(part), Totals()).add(totals)
    return units
