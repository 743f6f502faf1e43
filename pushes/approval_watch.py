"""The approval watch (reminders, escalations, asking for results).

The job body is a plain async function so tests call it directly with a fixed clock. It writes outbox rows; the
dispatcher (pushes/dispatcher.py) sends them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.activities import ActivityService
from bot.services.clock import Clock
from pushes import approvals as approval_pushes
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class WatchReport:
    reminded: int
    escalated: int
    results_asked: int
    messages: int


async def approval_watch(sessionmaker: async_sessionmaker[AsyncSession], clock: Clock,
                         tz: ZoneInfo = DEFAULT_TZ) -> WatchReport:
    """Reminds approvers of steps waiting too long, escalates the longer ones, asks for results when due.

    Each step is marked by a conditional update and its pushes are outbox rows in the same commit, so a watch run
    twice (or in two processes) pushes once, and a failed send is retried by the dispatcher, never lost."""
    async with UnitOfWork(sessionmaker) as uow:
        activities = ActivityService(uow, clock, tz)
        overdue = await activities.overdue_steps()
        results_due = await activities.results_due()
        messages = 0
        for step in overdue:
            messages += await approval_pushes.remind(uow.session, step.activity, step.approvers, step.waited_hours)
            if step.upper_level is not None:
                messages += await approval_pushes.escalate(uow.session, step.activity, step.upper_approvers,
                                                           step.level, step.waited_hours)
        for due in results_due:
            messages += await approval_pushes.ask_for_results(uow.session, due.activity, due.requester)
        await uow.commit()
    reminded = sum(1 for step in overdue if step.action == "remind")
    report = WatchReport(reminded, len(overdue) - reminded, len(results_due), messages)
    if overdue or results_due:
        log.info("approval watch: %s", report)
    return report
