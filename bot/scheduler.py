"""Periodic jobs, until an outbox exists: the approval watch (reminders, escalations, asking for results).

The job body is a plain async function so tests call it directly with a fixed clock. Each due step is marked
and committed before its messages go out, so a crash between the two skips a message rather than repeating it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.utils.i18n import I18n
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.activities import ActivityService
from bot.services.clock import Clock
from handlers.approvals import announce_overdue, ask_for_results
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
APPROVAL_WATCH_MINUTES = 15


@dataclass(frozen=True)
class WatchReport:
    reminded: int
    escalated: int
    results_asked: int
    messages: int


async def approval_watch(sessionmaker: async_sessionmaker[AsyncSession], bot: Bot, i18n: I18n, clock: Clock,
                         tz: ZoneInfo = DEFAULT_TZ) -> WatchReport:
    """Reminds approvers of steps waiting too long, escalates the longer ones, asks for results when due."""
    async with UnitOfWork(sessionmaker) as uow:
        activities = ActivityService(uow, clock, tz)
        overdue = await activities.overdue_steps()
        results_due = await activities.results_due()
        await uow.commit()
        messages = 0
        # One activity whose messages fail (a bad row, an unexpected error) must not silence the others.
        for step in overdue:
            try:
                messages += await announce_overdue(bot, i18n, activities, step, tz)
            except Exception:
                log.exception("approval watch: could not announce the %s of activity %s", step.action,
                              step.activity.id)
        for due in results_due:
            try:
                messages += await ask_for_results(bot, i18n, due, tz)
            except Exception:
                log.exception("approval watch: could not ask for the results of activity %s", due.activity.id)
    reminded = sum(1 for step in overdue if step.action == "remind")
    report = WatchReport(reminded, len(overdue) - reminded, len(results_due), messages)
    if overdue or results_due:
        log.info("approval watch: %s", report)
    return report


def start_scheduler(sessionmaker: async_sessionmaker[AsyncSession], bot: Bot, i18n: I18n, clock: Clock,
                    tz: ZoneInfo, every_minutes: int = APPROVAL_WATCH_MINUTES) -> AsyncIOScheduler:
    """Starts the periodic jobs on the running event loop; stop with `scheduler.shutdown(wait=False)`."""
    scheduler = AsyncIOScheduler(timezone=tz)
    scheduler.add_job(approval_watch, "interval", minutes=every_minutes, id="approval_watch",
                      args=(sessionmaker, bot, i18n, clock, tz), max_instances=1, coalesce=True,
                      replace_existing=True)
    scheduler.start()
    return scheduler
