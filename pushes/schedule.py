"""The daily jobs that fill the outbox: greetings, maintenance and appointment reminders, replacement nudges and
the staff morning list. Each runs at its playbook time in the configured zone (APScheduler cron); the body is
a plain function over a sessionmaker and the project's Clock, so tests run it at any simulated moment.

A job writes rows and commits; the dispatcher sends them. Running a job twice on one day (two processes, a
restart, the catch-up at start) writes nothing new: every row has an idempotency key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.reminders import clock_time
from bot.services.clock import Clock
from bot.services.reminders import JobReport, ReminderService, daily_jobs

log = logging.getLogger(__name__)


async def run_job(method: str, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock,
                  tz: ZoneInfo) -> JobReport:
    """One job, in one transaction."""
    async with sessionmaker() as session:
        report: JobReport = await getattr(ReminderService(session, clock, tz), method)()
        await session.commit()
    log.info("schedule: %s", report)
    return report


async def run_all(sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, tz: ZoneInfo) -> list[JobReport]:
    """Every daily job once (at start, to catch up after downtime; keys keep it from doubling)."""
    reports = []
    for job in daily_jobs():
        try:
            reports.append(await run_job(job.method, sessionmaker, clock, tz))
        except Exception:
            log.exception("schedule: job %s failed", job.id)
    return reports


def add_daily_jobs(scheduler: BaseScheduler, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock,
                   tz: ZoneInfo, *, catch_up: bool = True,
                   wrap: Callable[[Callable[..., Any]], Callable[..., Any]] = lambda job: job) -> list[str]:
    """Registers the jobs on a scheduler (cron at each job's local time in `tz`); returns their ids.

    `wrap`: how the app shell guards each job (only the holder of the schedule lease runs it).
    `catch_up`: also run every job once at start, so what fell due while the bot was down is written (a
    greeting only on its day, a service reminder within the catch-up window; keys keep it from doubling).
    """
    ids = []
    if catch_up:
        scheduler.add_job(wrap(run_all), "date", id="daily:catch-up", args=(sessionmaker, clock, tz),
                          replace_existing=True)
    for job in daily_jobs():
        at = clock_time(job.at)
        scheduler.add_job(wrap(run_job), CronTrigger(hour=at.hour, minute=at.minute, timezone=tz), id=f"daily:{job.id}",
                          args=(job.method, sessionmaker, clock, tz), max_instances=1, coalesce=True,
                          misfire_grace_time=3600, replace_existing=True)
        ids.append(f"daily:{job.id}")
    return ids
