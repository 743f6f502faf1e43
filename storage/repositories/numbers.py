"""Set-based reads for targets, progress, coverage, digests and evaluation: one GROUP BY per measure, per dealer
(or per person), never a query per manager or per row. Subtree sums are rolled up from the per-dealer rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, exists, func, insert, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from bot.domain.targets import FIELD_VISIT_KINDS, REQUIRED_CUSTOMER_FIELDS, Totals
from storage.models import (
    Activity,
    Customer,
    DealerArea,
    InfoStation,
    OpinionLeader,
    OrgUnit,
    Sale,
    Staff,
    Target,
    Visit,
)

COUNTED_ACTIVITY_STATES = ("completed", "evaluated")  # bot.domain.approvals.counts_for_quarter


@dataclass(frozen=True)
class PendingGroup:
    dealer_unit_id: int
    chain: str
    step_index: int
    count: int


@dataclass(frozen=True)
class Person:
    """Who a push goes to: the few columns of a staff row a digest needs."""

    id: int
    tg_user_id: int | None
    locale: str | None
    role: str
    org_unit_id: int


@dataclass(frozen=True)
class OverdueCustomer:
    dealer_unit_id: int
    id: int
    name: str
    phone: str | None
    next_follow_up: date


def _sum_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


class NumbersRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- the tree -------------------------------------------------------------------------------------------

    async def units(self) -> Sequence[OrgUnit]:
        return (await self.session.execute(select(OrgUnit).order_by(col(OrgUnit.path)))).scalars().all()

    # --- field work per dealer over a period [start, end) ---------------------------------------------------

    async def totals_per_dealer(self, start: datetime, end: datetime, first_day: date, last_day: date,
                                today: date | None = None, scope_path: str | None = None) -> dict[int, Totals]:
        """Everything a period's digest or progress needs, per dealer unit id (seven grouped queries)."""
        totals: dict[int, Totals] = {}

        def scoped(query, model):
            return query if not scope_path else query.where(col(model.org_path).startswith(scope_path))

        def at(dealer_id: int) -> Totals:
            return totals.setdefault(dealer_id, Totals())

        visits = select(
            col(Visit.dealer_unit_id), func.count(),
            _sum_if(col(Visit.location_status) == "verified"),
            _sum_if(col(Visit.visit_kind).in_(sorted(FIELD_VISIT_KINDS))),
        ).where(col(Visit.visited_at) >= start, col(Visit.visited_at) < end).group_by(col(Visit.dealer_unit_id))
        for dealer_id, count, verified, field in (await self.session.execute(scoped(visits, Visit))).all():
            row = at(dealer_id)
            row.visits, row.verified, row.field_visits = int(count), int(verified), int(field)

        for model, attr, stamp in ((Customer, "new_customers", col(Customer.created_at)),
                                   (OpinionLeader, "leaders", col(OpinionLeader.created_at)),
                                   (InfoStation, "stations", col(InfoStation.created_at))):
            query = select(col(model.dealer_unit_id), func.count()).where(
                col(stamp) >= start, col(stamp) < end).group_by(col(model.dealer_unit_id))
            for dealer_id, count in (await self.session.execute(scoped(query, model))).all():
                setattr(at(dealer_id), attr, int(count))

        activities = select(col(Activity.dealer_unit_id), col(Activity.kpi), func.count()).where(
            col(Activity.state).in_(COUNTED_ACTIVITY_STATES), col(Activity.starts_at) >= start,
            col(Activity.starts_at) < end).group_by(col(Activity.dealer_unit_id), col(Activity.kpi))
        for dealer_id, kpi, count in (await self.session.execute(scoped(activities, Activity))).all():
            if kpi in ("promotion", "relationship"):
                setattr(at(dealer_id), kpi, int(count))

        sales = select(
            col(Sale.dealer_unit_id), func.coalesce(func.sum(col(Sale.trucks)), 0),
            func.coalesce(func.sum(case((col(Customer.nature) == "unit", col(Sale.trucks)), else_=0)), 0),
        ).join(Customer, col(Customer.id) == col(Sale.customer_id)).where(
            col(Sale.sold_on) >= first_day, col(Sale.sold_on) <= last_day).group_by(col(Sale.dealer_unit_id))
        for dealer_id, trucks, unit_trucks in (await self.session.execute(scoped(sales, Sale))).all():
            row = at(dealer_id)
            row.trucks, row.unit_trucks = int(trucks), int(unit_trucks)

        if today is not None:
            overdue = scoped(self._overdue_counts(today), Customer)
            for dealer_id, count in (await self.session.execute(overdue)).all():
                at(dealer_id).overdue = int(count)
        return totals

    def _overdue_counts(self, today: date):
        return select(col(Customer.dealer_unit_id), func.count()).where(
            col(Customer.next_follow_up).is_not(None), col(Customer.next_follow_up) < today,
        ).group_by(col(Customer.dealer_unit_id))

    async def overdue_customers(self, today: date, dealer_ids: Iterable[int], per_dealer: int = 5,
                                ) -> list[OverdueCustomer]:
        """The longest-overdue customers of each dealer, a few per dealer, in one windowed query."""
        ids = sorted(set(dealer_ids))
        if not ids:
            return []
        ranked = select(  # type: ignore[call-overload]  # sqlmodel's select() is typed for up to 4 columns
            Customer.dealer_unit_id, Customer.id, Customer.name, Customer.phone, Customer.next_follow_up,
            func.row_number().over(partition_by=col(Customer.dealer_unit_id),
                                   order_by=(col(Customer.next_follow_up), col(Customer.id))).label("rank"),
        ).where(col(Customer.next_follow_up).is_not(None), col(Customer.next_follow_up) < today,
                col(Customer.dealer_unit_id).in_(ids)).subquery()
        query = select(ranked.c.dealer_unit_id, ranked.c.id, ranked.c.name, ranked.c.phone,  # type: ignore[call-overload]
                       ranked.c.next_follow_up).where(ranked.c.rank <= per_dealer).order_by(
            ranked.c.dealer_unit_id, ranked.c.rank)
        return [OverdueCustomer(*row) for row in (await self.session.execute(query)).all()]

    async def pending_activities(self) -> list[PendingGroup]:
        """Activities waiting for a decision, grouped by dealer and where in their chain they stand."""
        query = select(col(Activity.dealer_unit_id), col(Activity.chain), col(Activity.step_index),
                       func.count()).where(col(Activity.state) == "pending").group_by(
            col(Activity.dealer_unit_id), col(Activity.chain), col(Activity.step_index))
        return [PendingGroup(int(d), c, int(s), int(n)) for d, c, s, n in (await self.session.execute(query)).all()]

    # --- per person -----------------------------------------------------------------------------------------

    async def totals_per_staff(self, start: datetime, end: datetime) -> dict[int, Totals]:
        """Field visits, leaders and stations per person over [start, end)."""
        totals: dict[int, Totals] = {}
        visits = select(col(Visit.staff_id), func.count(), _sum_if(col(Visit.location_status) == "verified"),
                        _sum_if(col(Visit.visit_kind).in_(sorted(FIELD_VISIT_KINDS)))).where(
            col(Visit.visited_at) >= start, col(Visit.visited_at) < end).group_by(col(Visit.staff_id))
        for staff_id, count, verified, field in (await self.session.execute(visits)).all():
            row = totals.setdefault(staff_id, Totals())
            row.visits, row.verified, row.field_visits = int(count), int(verified), int(field)
        for owner, attr, stamp in ((col(OpinionLeader.maintainer_staff_id), "leaders", col(OpinionLeader.created_at)),
                                   (col(InfoStation.created_by_staff_id), "stations", col(InfoStation.created_at)),
                                   (col(Customer.owner_staff_id), "new_customers", col(Customer.created_at))):
            query = select(owner, func.count()).where(col(stamp) >= start, col(stamp) < end).group_by(owner)
            for staff_id, count in (await self.session.execute(query)).all():
                setattr(totals.setdefault(staff_id, Totals()), attr, int(count))
        return totals

    async def people(self, roles: Iterable[str] | None = None) -> list[Person]:
        """Active, onboarded people (optionally of some roles): plain rows, no ORM objects for a thousand."""
        query = select(  # type: ignore[call-overload]  # sqlmodel's select() is typed for up to 4 columns
            Staff.id, Staff.tg_user_id, Staff.locale, Staff.role, Staff.org_unit_id).where(
            col(Staff.active).is_(True), col(Staff.tg_user_id).is_not(None))
        if roles is not None:
            query = query.where(col(Staff.role).in_(sorted(set(roles))))
        return [Person(*row) for row in (await self.session.execute(query.order_by(col(Staff.id)))).all()]

    # --- evaluation -----------------------------------------------------------------------------------------

    async def dealer_roles_filled(self) -> dict[int, set[str]]:
        """Per dealer unit: the roles held by an active, onboarded person."""
        query = select(col(Staff.org_unit_id), col(Staff.role)).join(
            OrgUnit, col(OrgUnit.id) == col(Staff.org_unit_id)).where(
            col(OrgUnit.kind) == "dealer", col(Staff.active).is_(True), col(Staff.onboarded_at).is_not(None),
        ).distinct()
        filled: dict[int, set[str]] = {}
        for unit_id, role in (await self.session.execute(query)).all():
            filled.setdefault(unit_id, set()).add(role)
        return filled

    async def completeness_per_dealer(self) -> dict[int, tuple[int, int]]:
        """Per dealer: (customer records, records with every required field)."""
        checks = []
        for name in REQUIRED_CUSTOMER_FIELDS:
            column = getattr(Customer, name)
            check: ColumnElement[bool] = col(column).is_not(None)
            if name != "fleet_size":
                check = and_(check, column != "")
            checks.append(check)
        query = select(col(Customer.dealer_unit_id), func.count(), _sum_if(and_(*checks))).group_by(
            col(Customer.dealer_unit_id))
        return {d: (int(n), int(c)) for d, n, c in (await self.session.execute(query)).all()}

    async def revisits_per_dealer(self, start: datetime, end: datetime, first_day: date, last_day: date,
                                  ) -> dict[int, tuple[int, int]]:
        """Per dealer: (customers due a revisit in the period, those of them revisited).

        Due: an earlier visit set a follow-up date inside the period. Revisited: a later visit to the same
        customer before the period ended (any kind: a phone revisit is a revisit)."""
        earlier = aliased(Visit)
        later = aliased(Visit)
        revisited = exists().where(col(later.customer_id) == col(earlier.customer_id),
                                   col(later.visited_at) > col(earlier.visited_at), col(later.visited_at) < end)
        due = select(col(earlier.dealer_unit_id), col(earlier.customer_id),
                     func.max(case((revisited, 1), else_=0)).label("got")).where(
            col(earlier.next_follow_up).is_not(None), col(earlier.next_follow_up) >= first_day,
            col(earlier.next_follow_up) <= last_day, col(earlier.visited_at) < end,
        ).group_by(col(earlier.dealer_unit_id), col(earlier.customer_id)).subquery()
        query = select(due.c.dealer_unit_id, func.count(), func.coalesce(func.sum(due.c.got), 0)).group_by(
            due.c.dealer_unit_id)
        return {d: (int(n), int(g)) for d, n, g in (await self.session.execute(query)).all()}

    # --- coverage -------------------------------------------------------------------------------------------

    async def coverage_counts(self, scope_path: str) -> dict[tuple[int, str], list[int]]:
        """(dealer id, city) -> [stations, leaders] for the dealers in scope, with every city of their areas."""
        counts: dict[tuple[int, str], list[int]] = {}
        areas = select(col(DealerArea.dealer_unit_id), col(DealerArea.city)).join(
            OrgUnit, col(OrgUnit.id) == col(DealerArea.dealer_unit_id)).where(
            col(OrgUnit.path).startswith(scope_path))
        for dealer_id, city in (await self.session.execute(areas)).all():
            counts.setdefault((dealer_id, city), [0, 0])
        for index, model in ((0, InfoStation), (1, OpinionLeader)):
            query = select(col(model.dealer_unit_id), col(model.city), func.count()).where(
                col(model.org_path).startswith(scope_path)).group_by(
                col(model.dealer_unit_id), col(model.city))
            for dealer_id, city, count in (await self.session.execute(query)).all():
                counts.setdefault((dealer_id, city), [0, 0])[index] = int(count)
        return counts

    async def set_area(self, dealer_unit_id: int, province: str, cities: Iterable[str]) -> int:
        """Replaces a dealer's area with these cities; returns how many."""
        await self.session.execute(delete(DealerArea).where(col(DealerArea.dealer_unit_id) == dealer_unit_id))
        names = list(dict.fromkeys(city.strip() for city in cities if city.strip()))
        for city in names:
            self.session.add(DealerArea(dealer_unit_id=dealer_unit_id, province=province, city=city))
        await self.session.flush()
        return len(names)

    # --- targets --------------------------------------------------------------------------------------------

    async def targets(self, year: int, quarter: int) -> dict[tuple[int, str], Decimal | None]:
        """(unit id, KPI) -> the figure for a year's quarter (0: annual)."""
        query = select(col(Target.org_unit_id), col(Target.kpi), col(Target.value)).where(
            col(Target.year) == year, col(Target.quarter) == quarter)
        rows = (await self.session.execute(query)).all()
        return {(u, k): (Decimal(v) if v is not None else None) for u, k, v in rows}

    async def replace_targets(self, year: int, kpis: Iterable[str],
                              figures: dict[tuple[int, str], list[Decimal | None]],
                              explicit: set[tuple[int, str]], now: datetime) -> int:
        """Writes a year's figures for the KPIs a plan carries, replacing what was there for them."""
        kpis = sorted(set(kpis))
        await self.session.execute(delete(Target).where(col(Target.year) == year, col(Target.kpi).in_(kpis)))
        rows = [{"year": year, "quarter": quarter, "kpi": kpi, "org_unit_id": unit_id,
                 "value": None if value is None else str(value), "explicit": (unit_id, kpi) in explicit,
                 "updated_at": now}
                for (unit_id, kpi), values in figures.items() for quarter, value in enumerate(values)]
        for start in range(0, len(rows), 5000):  # one executemany per chunk, not an ORM object per figure
            await self.session.execute(insert(Target), rows[start:start + 5000])
        return len(rows)

    # --- export ---------------------------------------------------------------------------------------------

    async def visits_in(self, scope_path: str, start: datetime, end: datetime):
        query = select(Visit, col(Customer.name), col(Staff.name), col(OrgUnit.name)).join(
            Customer, col(Customer.id) == col(Visit.customer_id)).join(
            Staff, col(Staff.id) == col(Visit.staff_id)).join(
            OrgUnit, col(OrgUnit.id) == col(Visit.dealer_unit_id)).where(
            col(Visit.org_path).startswith(scope_path), col(Visit.visited_at) >= start,
            col(Visit.visited_at) < end).order_by(col(Visit.visited_at), col(Visit.id))
        return await self.session.stream(query)

    @staticmethod
    def _customers_active(start: datetime, end: datetime):
        """A customer belongs to a period's export when created, changed or visited in it."""
        visited = exists().where(col(Visit.customer_id) == col(Customer.id), col(Visit.visited_at) >= start,
                                 col(Visit.visited_at) < end)
        return or_(and_(col(Customer.created_at) >= start, col(Customer.created_at) < end),
                   and_(col(Customer.updated_at) >= start, col(Customer.updated_at) < end), visited)

    async def customers_in(self, scope_path: str, start: datetime, end: datetime):
        """Customers of the scope created, changed or visited in the period."""
        query = select(Customer, col(Staff.name), col(OrgUnit.name)).join(
            Staff, col(Staff.id) == col(Customer.owner_staff_id)).join(
            OrgUnit, col(OrgUnit.id) == col(Customer.dealer_unit_id)).where(
            col(Customer.org_path).startswith(scope_path), self._customers_active(start, end),
        ).order_by(col(Customer.id))
        return await self.session.stream(query)

    async def activities_in(self, scope_path: str, start: datetime, end: datetime):
        query = select(Activity, col(Staff.name), col(OrgUnit.name)).join(
            Staff, col(Staff.id) == col(Activity.requester_staff_id)).join(
            OrgUnit, col(OrgUnit.id) == col(Activity.dealer_unit_id)).where(
            col(Activity.org_path).startswith(scope_path), col(Activity.starts_at) >= start,
            col(Activity.starts_at) < end).order_by(col(Activity.starts_at), col(Activity.id))
        return await self.session.stream(query)

    async def count_in(self, scope_path: str, start: datetime, end: datetime) -> tuple[int, int, int]:
        """Rows the export will write: (visits, customers, activities)."""
        visits = select(func.count()).select_from(Visit).where(
            col(Visit.org_path).startswith(scope_path), col(Visit.visited_at) >= start, col(Visit.visited_at) < end)
        customers = select(func.count()).select_from(Customer).where(
            col(Customer.org_path).startswith(scope_path), self._customers_active(start, end))
        activities = select(func.count()).select_from(Activity).where(
            col(Activity.org_path).startswith(scope_path), col(Activity.starts_at) >= start,
            col(Activity.starts_at) < end)
        return tuple([int((await self.session.execute(q)).scalar_one()) for q in (visits, customers, activities)])  # type: ignore[return-value]

