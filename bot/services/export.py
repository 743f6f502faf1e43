"""An Excel workbook of a scope's visits, customers, activities and progress for a period (openpyxl).

Rows are streamed from the database into a write-only workbook, so a region's year does not sit in memory
twice. Column titles come from the caller, already translated."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.domain.phones import mask_phone
from bot.domain.targets import PLAN_KPIS
from bot.services.clock import Clock
from bot.services.numbers import NumbersService, Period
from storage.models import Activity, Customer, OrgUnit, Visit
from storage.uow import UnitOfWork

Progress = Callable[[str, int, int], None]  # (sheet, rows written, rows in all)
REPORT_EVERY = 5000


@dataclass(frozen=True)
class ExportLabels:
    """Sheet titles and column headers in the reader's language, and how to name codes."""

    sheets: dict[str, str]  # visits, customers, activities, progress
    headers: dict[str, list[str]]
    code: Callable[[str, str | None], str]  # (playbook kind, code) -> label


@dataclass(frozen=True)
class ExportResult:
    content: bytes
    rows: dict[str, int]
    file_name: str


def _local(value: datetime | None, tz: ZoneInfo) -> datetime | None:
    # Excel has no time zones: write local wall-clock time without tzinfo.
    return value.astimezone(tz).replace(tzinfo=None) if value is not None else None


class ExportService:
    def __init__(self, uow: UnitOfWork, clock: Clock, settings: Settings) -> None:
        self.uow = uow
        self.clock = clock
        self.settings = settings

    async def workbook(self, unit: OrgUnit, period: Period, labels: ExportLabels, *, mask_phones: bool,
                       progress: Progress | None = None) -> ExportResult:
        tz = self.settings.tz
        repo = self.uow.numbers
        visits_total, customers_total, activities_total = await repo.count_in(unit.path, period.start, period.end)
        from openpyxl import Workbook  # here, not at the top: ~10 MB a bot that exports nothing never pays

        book = Workbook(write_only=True)
        rows: dict[str, int] = {}

        def phone(value: str | None) -> str:
            return (mask_phone(value) if mask_phones else value) or ""

        def report(sheet: str, done: int, total: int) -> None:
            if progress is not None:
                progress(sheet, done, total)

        async def write_sheet(name: str, found: AsyncIterator[Any], to_row: Callable[..., list[Any]],
                              total: int) -> None:
            """One sheet: its header, a row per record found, progress every REPORT_EVERY rows and at the end."""
            sheet = book.create_sheet(labels.sheets[name])
            sheet.append(labels.headers[name])
            count = 0
            async for record in found:
                sheet.append(to_row(*record))
                count += 1
                if count % REPORT_EVERY == 0:
                    report(name, count, total)
            rows[name] = count
            report(name, count, total)

        def visit_row(visit: Visit, customer_name: str, staff_name: str, dealer_name: str) -> list[Any]:
            return [visit.id, _local(visit.visited_at, tz), dealer_name, staff_name, customer_name,
                    labels.code("visit_kinds", visit.visit_kind), visit.outcome,
                    labels.code("stages", visit.stage_after), visit.location_status,
                    round(visit.distance_m) if visit.distance_m is not None else None,
                    visit.next_follow_up, visit.notes]

        def customer_row(customer: Customer, owner_name: str, dealer_name: str) -> list[Any]:
            return [customer.id, customer.name, phone(customer.phone), dealer_name, owner_name,
                    labels.code("natures", customer.nature), labels.code("levels", customer.level),
                    labels.code("vehicle_types", customer.vehicle_type),
                    labels.code("industries", customer.industry), customer.fleet_size,
                    labels.code("provinces", customer.province), customer.city,
                    labels.code("stages", customer.stage), customer.next_follow_up,
                    _local(customer.created_at, tz)]

        def activity_row(activity: Activity, requester: str, dealer_name: str) -> list[Any]:
            return [activity.id, _local(activity.starts_at, tz), dealer_name, requester,
                    labels.code("activity_types", activity.activity_type), labels.code("kpis", activity.kpi),
                    activity.city, activity.state, activity.expected_attendance, activity.budget_fen / 100,
                    activity.result_attendance, activity.result_leads, activity.result_orders,
                    activity.actual_expenses_fen / 100 if activity.actual_expenses_fen is not None else None,
                    activity.score]

        window = (unit.path, period.start, period.end)
        await write_sheet("visits", await repo.visits_in(*window), visit_row, visits_total)
        await write_sheet("customers", await repo.customers_in(*window), customer_row, customers_total)
        await write_sheet("activities", await repo.activities_in(*window), activity_row, activities_total)

        # Progress of the unit and each unit directly below it, per KPI, over the period.
        numbers = NumbersService(self.uow, self.clock, self.settings)
        year = period.first_day.year
        snap = await numbers.snapshot(period, year=year, quarter=_quarter_of_period(period), scope_path=unit.path)
        sheet = book.create_sheet(labels.sheets["progress"])
        sheet.append(labels.headers["progress"])
        count = 0
        for row_unit in [unit, *snap.children.get(unit.id, [])]:  # type: ignore[arg-type]
            for row in snap.progress(row_unit.id, period.last_day, PLAN_KPIS):  # type: ignore[arg-type]
                sheet.append([row_unit.name, labels.code("kpis", row.kpi), float(row.actual),
                              float(row.target) if row.target is not None else None,
                              float(row.share_done) if row.share_done is not None else None])
                count += 1
        rows["progress"] = count
        buffer = io.BytesIO()
        book.save(buffer)
        name = f"fieldbot-{unit.code}-{period.first_day:%Y%m%d}-{period.last_day:%Y%m%d}.xlsx"
        return ExportResult(buffer.getvalue(), rows, name)


def _quarter_of_period(period: Period) -> int:
    """The quarter whose targets a period is measured against: its own when it is exactly one quarter,
    else the annual figures (0)."""
    from bot.domain.fieldwork import quarter_bounds, quarter_of

    quarter = quarter_of(period.first_day)
    if (period.first_day, period.last_day) == quarter_bounds(period.first_day.year, quarter):
        return quarter
    return 0
