"""Counts of one person's field work over a period, read straight from the tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Customer, InfoStation, OpinionLeader, Sale, Visit


@dataclass(frozen=True)
class WorkCounts:
    visits: int
    verified_visits: int
    new_customers: int
    sale_trucks: int
    opinion_leaders: int
    info_stations: int


class StatsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _scalar(self, query) -> int:  # type: ignore[no-untyped-def]
        result = await self.session.execute(query)
        return int(result.scalar_one() or 0)

    async def for_staff(self, staff_id: int, start: datetime, end: datetime, first_day: date,
                        last_day: date) -> WorkCounts:
        """Counts for [start, end) in UTC; sales by their sale date between first_day and last_day inclusive."""
        visits = select(func.count()).select_from(Visit).where(
            Visit.staff_id == staff_id, col(Visit.visited_at) >= start, col(Visit.visited_at) < end)
        verified = visits.where(Visit.location_status == "verified")
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
            new_customers=await self._scalar(customers), sale_trucks=await self._scalar(trucks),
            opinion_leaders=await self._scalar(leaders), info_stations=await self._scalar(stations))
