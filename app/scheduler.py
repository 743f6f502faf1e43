"""Scheduler wiring: the periodic jobs on APScheduler, in the configured time zone, run by one process.

Every process starts a scheduler; only the holder of the schedule lease (storage/lease.py, a row renewed every
ttl/3) runs the jobs, so two bot processes on one database never remind twice or greet twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.utils.i18n import I18n
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.services.clock import Clock, system_clock
from pushes.approval_watch import approval_watch
from pushes.charts import cjk_font_family
from pushes.dispatcher import from_settings as outbox_dispatcher
from pushes.manager_numbers import enqueue_manager_numbers
from pushes.schedule import add_daily_jobs
from storage import lease

log = logging.getLogger(__name__)

APPROVAL_WATCH_MINUTES = 15


class ScheduleLease:
    """This process's claim to run the schedule (storage/lease.py), renewed by a job every `ttl / 3`."""

    NAME = "schedule"

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock = system_clock, *,
                 owner: str | None = None, ttl: timedelta = timedelta(seconds=60)) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.ttl = ttl
        self.held = False

    async def renew(self) -> bool:
        """Takes the lease if free or expired, renews it if ours; False while another process holds it."""
        try:
            async with self.sessionmaker() as session:
                held = await lease.acquire(session, name=self.NAME, owner=self.owner, now=self.clock(),
                                           ttl=self.ttl)
                await session.commit()
        except Exception:
            log.exception("schedule lease: could not renew; not running the schedule meanwhile")
            held = False
        if held != self.held:
            log.info("schedule lease %s by %s", "taken" if held else "lost", self.owner)
        self.held = held
        return held

    async def release(self) -> None:
        if self.held:
            with contextlib.suppress(Exception):
                async with self.sessionmaker() as session:
                    await lease.release(session, name=self.NAME, owner=self.owner)
                    await session.commit()
        self.held = False


def leader_only(lease: ScheduleLease, func: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """A job body that runs only in the process holding the schedule lease (checked afresh at each run).

    A coroutine *function*, not an object with an async __call__: APScheduler's asyncio executor awaits only what
    `iscoroutinefunction` recognises and runs anything else in a thread, where the coroutine is made and dropped."""

    @functools.wraps(func)
    async def run(*args: Any, **kwargs: Any) -> Any:
        if not await lease.renew():
            return None
        return await func(*args, **kwargs)

    return run


def build_scheduler(sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, tz: ZoneInfo,
                    every_minutes: int = APPROVAL_WATCH_MINUTES, lease: ScheduleLease | None = None,
                    settings: Settings | None = None) -> AsyncIOScheduler:
    """The jobs, not yet started (`fieldbot schedule` lists them with their next run)."""
    lease = lease or ScheduleLease(sessionmaker, clock)
    scheduler = AsyncIOScheduler(timezone=tz)
    scheduler.add_job(lease.renew, "interval", seconds=max(1, int(lease.ttl.total_seconds() // 3)),
                      id="schedule_lease", max_instances=1, coalesce=True, replace_existing=True)
    scheduler.add_job(leader_only(lease, approval_watch), "interval", minutes=every_minutes, id="approval_watch",
                      args=(sessionmaker, clock, tz), max_instances=1, coalesce=True, replace_existing=True)
    if settings is not None:
        # The managers' digest (and, on their days, quarter summaries and target nudges) at DIGEST_TIME local
        # time, into the outbox; a run missed while the bot was down is made up within six hours, and the
        # outbox's idempotency keys keep a second run the same day from sending twice.
        hour, minute = settings.digest_hour_minute
        scheduler.add_job(leader_only(lease, enqueue_manager_numbers), "cron", hour=hour, minute=minute,
                          id="manager_numbers", args=(sessionmaker, settings, clock), max_instances=1,
                          coalesce=True, misfire_grace_time=6 * 3600, replace_existing=True)
    # Greetings, service and appointment reminders, replacement nudges, the staff morning: cron at local times.
    add_daily_jobs(scheduler, sessionmaker, clock, tz, wrap=lambda job: leader_only(lease, job))
    return scheduler


def start_scheduler(sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, tz: ZoneInfo,
                    every_minutes: int = APPROVAL_WATCH_MINUTES, lease: ScheduleLease | None = None,
                    settings: Settings | None = None) -> AsyncIOScheduler:
    """Starts the periodic jobs on the running event loop; stop with `scheduler.shutdown(wait=False)`.

    Every process starts one; only the holder of the schedule lease runs the jobs."""
    scheduler = build_scheduler(sessionmaker, clock, tz, every_minutes, lease, settings)
    scheduler.start()
    return scheduler


class Background:
    """What runs beside the update intake in every mode: the outbox dispatcher (started first, so its first pass
    sends what fell due while the bot was down), the schedule lease and the scheduler, on one clock."""

    def __init__(self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], bot: Bot, i18n: I18n,
                 clock: Clock = system_clock) -> None:
        self.pushes = outbox_dispatcher(settings, sessionmaker, bot, i18n, clock)
        self.lease = ScheduleLease(sessionmaker, clock)
        self.scheduler = build_scheduler(sessionmaker, clock, settings.tz, settings.approval_watch_minutes,
                                         self.lease, settings=settings)
        self._font_warmup: asyncio.Task[Any] | None = None

    def start(self) -> None:
        self.pushes.start()
        self.scheduler.start()
        # The digest chart's CJK font (16 MB) is parsed once, in a thread, before the first /digest needs it.
        self._font_warmup = asyncio.create_task(asyncio.to_thread(cjk_font_family))

    async def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
        if self._font_warmup is not None:
            self._font_warmup.cancel()
        await self.lease.release()
        await self.pushes.stop()
