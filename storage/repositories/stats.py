"""Counts of one person's field work over a period, read straight from the tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.domain.targets import FIELD_VISIT_KINDS
from storage.models import Customer, InfoStation, OpinionLeader, Sale, Visit


@dataclass(frozen=True)
class WorkCounts:
    visits: int
    verified_visits: int
    recorded_visits: int  # the first location of a customer, stored as its location: not verified
    new_customers: int
    sale_trucks: int
    opinion_leaders: int
    info_stations: int


class StatsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _scalar(self, query) -> int:
        result = await self.session.execute(query)
        return int(result.scalar_one() or 0)

    async def for_staff(self, staff_id: int, start: datetime, end: datetime, first_day: date,
                        last_day: date) -> WorkCounts:
        """Counts for [start, end) in UTC; sales by their sale date between first_day and last_day inclusive."""
        # Only visits where someone went out to meet the customer (零距离接触) count as visits; a phone  # i18n-ok
        # follow-up is work, but not a customer visit.
        visits = select(func.count()).select_from(Visit).where(
            Visit.staff_id == staff_id, col(Visit.visited_at) >= start, col(Visit.visited_at) < end,
            col(Visit.visit_kind).in_(sorted(FIELD_VISIT_KINDS)))
        verified = visits.where(Visit.location_status == "verified")
        recorded = visits.where(Visit.location_status == "recorded")
        customers = select(func.count()).select_from(Customer).where(
            Customer.owner_staff_id == staff_id, col(Customer.created_at) >= start, col(Customer.created_at) < end)
        trucks = select(func.sum(Sale.trucks)).where(
            Sale.staff_id == staff_id, col(Sale.sold_on) >= first_day, col(Sale.sold_on) <= last_day)
        leaders = select(func.count()).select_from(OpinionLeader).where(
            OpinionLeader.maintainer_staff_id == staff_id, col(OpinionLeader.created_at) >= start,
            col(OpinionLeader.created_at) < end)
        stations = select(func.count()).select_from(InfoStation).where(
            InfoStation.created_by_staff_id == staff_id, col(InfoStation.created_at) >= start,
            col(InfoStation.created_at) < end)
        return WorkCounts(
            visits=await self._scalar(visits), verified_visits=await self._scalar(verified),
            recorded_visits=await self._scalar(recorded),
            new_customers=await self._scalar(customers), sale_trucks=await self._scalar(trucks),
            opinion_leaders=await self._scalar(leaders), info_stations=await self._scalar(stations))

    async def visit_statuses(self, scope_path: str, start: datetime, end: datetime) -> dict[str, int]:
        """Visits in [start, end) within a subtree, by location status (verified, recorded, out_of_range, ...)."""
        query = (select(Visit.location_status, func.count()).where(
            col(Visit.org_path).startswith(scope_path), col(Visit.visited_at) >= start, col(Visit.visited_at) < end)
            .group_by(Visit.location_status))
        result = await self.session.execute(query)
        return {str(status): int(n) for status, n in result.all()}
