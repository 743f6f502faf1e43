"""A person's own day: follow-ups due and the quarter's numbers so far."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from bot.config import Settings
from bot.domain.fieldwork import quarter_bounds, quarter_of
from bot.services.clock import Clock
from bot.services.visits import local_today
from storage.models import Customer, Staff
from storage.repositories.stats import WorkCounts
from storage.uow import UnitOfWork


@dataclass(frozen=True)
class TodayView:
    today: date
    due: Sequence[Customer]
    year: int
    quarter: int
    counts: WorkCounts


class MyWorkService:
    def __init__(self, uow: UnitOfWork, clock: Clock, settings: Settings) -> None:
        self.uow = uow
        self.clock = clock
        self.settings = settings

    async def today(self, staff: Staff) -> TodayView:
        """Customers I own due today or overdue (Asia/Shanghai dates), and my numbers this quarter."""
        today = local_today(self.clock, self.settings)
        due = await self.uow.customers.due_for_owner(staff.id, today)  # type: ignore[arg-type]
        quarter = quarter_of(today)
        first, last = quarter_bounds(today.year, quarter)
        tz = self.settings.tz
        start = datetime.combine(first, time.min, tzinfo=tz)
        end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)
        counts = await self.uow.stats.for_staff(staff.id, start, end, first, last)  # type: ignore[arg-type]
        return TodayView(today=today, due=due, year=today.year, quarter=quarter, counts=counts)
