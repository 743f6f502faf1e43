"""Pushes of the managers' numbers through the outbox: the daily digest (a chart, then the text), the quarter
summary and target nudges to staff.

The job builds every recipient's content at once (set-based, bot/services/digest.py) and stores it as the
row's params: figures, unit names and already-masked customer references, no phone or name in clear. The text
and the chart are drawn at send time in the recipient's language."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.domain.fieldwork import quarter_of
from bot.domain.targets import Progress, Totals
from bot.services.clock import Clock
from bot.services.digest import Digest, DigestService, Nudge, OverdueLine, QuarterSummary
from bot.services.numbers import LaggingUnit, UnitNumbers
from pushes.numbers_texts import digest_text, nudge_text, progress_chart_png, quarter_summary_text
from pushes.outbox import Attachment, RenderContext, Rendered, enqueue_many, renderer
from storage.models import OrgUnit
from storage.repositories import outbox as rows
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

DIGEST_TEXT = "digest.daily"
DIGEST_CHART = "digest.chart"
QUARTER_SUMMARY = "numbers.quarter_summary"
NUDGE = "numbers.nudge"
_TOTALS = ("visits", "verified", "field_visits", "new_customers", "leaders", "stations")


# --- params: JSON in, dataclasses out ------------------------------------------------------------------------


def _unit(unit: OrgUnit) -> dict[str, Any]:
    return {"id": unit.id, "code": unit.code, "name": unit.name, "kind": unit.kind, "path": unit.path}


def _unit_back(data: Mapping[str, Any]) -> OrgUnit:
    return OrgUnit(**data)


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _undec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _progress(row: Progress) -> dict[str, Any]:
    return {"kpi": row.kpi, "actual": _dec(row.actual), "target": _dec(row.target),
            "share_done": _dec(row.share_done), "share_gone": _dec(row.share_gone), "lagging": row.lagging}


def _progress_back(data: Mapping[str, Any]) -> Progress:
    return Progress(data["kpi"], _undec(data["actual"]) or Decimal(0), _undec(data["target"]),
                    _undec(data["share_done"]), _undec(data["share_gone"]) or Decimal(0), bool(data["lagging"]))


def numbers_params(numbers: UnitNumbers) -> dict[str, Any]:
    return {"unit": _unit(numbers.unit), "year": numbers.year, "quarter": numbers.quarter,
            "day": numbers.day.isoformat(), "days_left": numbers.days_left,
            "progress": [_progress(p) for p in numbers.progress],
            "lagging": [{"unit": _unit(lag.unit), "kpis": [_progress(p) for p in lag.kpis]}
                        for lag in numbers.lagging_children]}


def numbers_back(data: Mapping[str, Any]) -> UnitNumbers:
    return UnitNumbers(unit=_unit_back(data["unit"]), year=data["year"], quarter=data["quarter"],
                       day=date.fromisoformat(data["day"]), days_left=data["days_left"],
                       progress=[_progress_back(p) for p in data["progress"]],
                       lagging_children=[LaggingUnit(_unit_back(lag["unit"]),
                                                     [_progress_back(p) for p in lag["kpis"]])
                                         for lag in data["lagging"]])


def digest_params(digest: Digest) -> dict[str, Any]:
    """The digest as JSON; overdue customers are already masked, so the outbox never holds them in clear."""
    return {
        "staff_id": digest.staff_id, "role": digest.role, "unit": _unit(digest.unit), "day": digest.day.isoformat(),
        "yesterday": {name: getattr(digest.yesterday, name) for name in _TOTALS},
        "waiting_approval": digest.waiting_approval, "overdue": digest.overdue,
        "overdue_customers": [{"name": c.name, "phone": c.phone, "day": c.next_follow_up.isoformat()}
                              for c in digest.overdue_customers],
        "numbers": numbers_params(digest.numbers),
    }


def digest_back(data: Mapping[str, Any]) -> Digest:
    yesterday = Totals(**data["yesterday"])
    overdue = [OverdueLine(c["name"], c["phone"], date.fromisoformat(c["day"])) for c in data["overdue_customers"]]
    return Digest(staff_id=data["staff_id"], tg_user_id=None, locale=None, role=data["role"],
                  unit=_unit_back(data["unit"]), day=date.fromisoformat(data["day"]), yesterday=yesterday,
                  waiting_approval=data["waiting_approval"], numbers=numbers_back(data["numbers"]),
                  overdue=data["overdue"], overdue_customers=overdue)


# --- renderers (send time, recipient's language) --------------------------------------------------------------


@renderer(DIGEST_CHART)
def render_digest_chart(params: Mapping[str, Any], ctx: RenderContext) -> Rendered:
    numbers = numbers_back(params["numbers"])
    png = progress_chart_png(numbers)
    return Rendered(text="", attachment=Attachment(png, "digest.png", "photo"))


@renderer(DIGEST_TEXT)
def render_digest(params: Mapping[str, Any], ctx: RenderContext) -> Rendered:
    return Rendered(text=digest_text(digest_back(params)))


@renderer(QUARTER_SUMMARY)
def render_quarter_summary(params: Mapping[str, Any], ctx: RenderContext) -> Rendered:
    numbers = numbers_back(params["numbers"])
    summary = QuarterSummary(params["staff_id"], None, None, numbers.unit, params["year"], params["quarter"],
                             numbers)
    return Rendered(text=quarter_summary_text(summary))


@renderer(NUDGE)
def render_nudge(params: Mapping[str, Any], ctx: RenderContext) -> Rendered:
    nudge = Nudge(params["staff_id"], None, None, _unit_back(params["unit"]), _progress_back(params["kpi"]),
                  params["mine"], params["days_left"])
    return Rendered(text=nudge_text(nudge))


# --- the scheduled job ------------------------------------------------------------------------------------------


def _row(key: str, staff_id: int, chat_id: int, locale: str | None, params: dict[str, Any], idempotency_key: str,
         now: datetime, expires_at: datetime) -> dict[str, Any]:
    return rows.row_values(recipient_kind="staff", recipient_id=staff_id, chat_id=chat_id, phone=None,
                           channel="telegram", locale=locale, key=key, params=params,
                           idempotency_key=idempotency_key, due_at=now, expires_at=expires_at, now=now)


async def enqueue_manager_numbers(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings,
                                  clock: Clock) -> dict[str, int]:
    """The daily run: each digest recipient's chart and digest; on a quarter's first day each one's summary of
    the quarter just ended; on the nudge weekday a nudge to each field person of a unit behind the pace.

    Idempotent per day and person (the outbox key), so a second run the same day adds nothing."""
    now = clock()
    day = now.astimezone(settings.tz).date()
    # A digest not sent by the end of its day is stale: tomorrow's replaces it.
    expires = datetime.combine(day + timedelta(days=1), time.min, tzinfo=settings.tz)
    counts = {"digests": 0, "summaries": 0, "nudges": 0}
    async with UnitOfWork(sessionmaker) as uow:
        service = DigestService(uow, clock, settings)
        values: list[dict[str, Any]] = []
        for digest in await service.build_all(day):
            if digest.tg_user_id is None:
                continue
            params = digest_params(digest)
            values.append(_row(DIGEST_CHART, digest.staff_id, digest.tg_user_id, digest.locale,
                               {"numbers": params["numbers"]}, f"digest.chart:{day}:{digest.staff_id}", now,
                               expires))
            values.append(_row(DIGEST_TEXT, digest.staff_id, digest.tg_user_id, digest.locale, params,
                               f"digest:{day}:{digest.staff_id}", now, expires))
            counts["digests"] += 1
        if day.day == 1 and day.month in (1, 4, 7, 10):
            ended = day - timedelta(days=1)
            year, quarter = ended.year, quarter_of(ended)
            for summary in await service.quarter_summaries(year, quarter):
                if summary.tg_user_id is None:
                    continue
                values.append(_row(QUARTER_SUMMARY, summary.staff_id, summary.tg_user_id, summary.locale,
                                   {"staff_id": summary.staff_id, "year": year, "quarter": quarter,
                                    "numbers": numbers_params(summary.numbers)},
                                   f"quarter:{year}Q{quarter}:{summary.staff_id}", now,
                                   expires + timedelta(days=6)))
                counts["summaries"] += 1
        if day.weekday() == settings.nudge_weekday:
            for nudge in await service.nudges(day):
                if nudge.tg_user_id is None:
                    continue
                values.append(_row(NUDGE, nudge.staff_id, nudge.tg_user_id, nudge.locale,
                                   {"staff_id": nudge.staff_id, "unit": _unit(nudge.unit),
                                    "kpi": _progress(nudge.kpi), "mine": nudge.mine, "days_left": nudge.days_left},
                                   f"nudge:{day}:{nudge.staff_id}", now, expires))
                counts["nudges"] += 1
        await enqueue_many(uow.session, values)
        await uow.commit()
    log.info("manager numbers enqueued for %s: %s", day, counts)
    return counts
