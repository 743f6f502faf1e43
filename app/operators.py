"""What `fieldbot outbox` and `fieldbot schedule` show operators: plain text, personal data masked."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.scheduler import ScheduleLease, build_scheduler
from bot.config import Settings
from bot.domain.phones import mask_phone
from bot.services.clock import Clock
from pushes.dispatcher import OutboxDispatcher
from storage import lease
from storage.repositories import outbox as rows
from storage.types import UTCDateTime


def mask_address(channel: str, address: Any) -> str:
    """A chat id keeps its last three digits, a phone its usual mask."""
    if address is None:
        return ""
    value = str(address)
    if channel == "sms":
        return mask_phone(value)
    return "*" * max(0, len(value) - 3) + value[-3:]


async def outbox_report(sessionmaker: async_sessionmaker[AsyncSession], *, limit: int = 30) -> str:
    async with sessionmaker() as session:
        counts = await rows.counts(session)
        problems = await rows.problems(session, limit=limit)
        unreachable = await rows.unreachable_list(session, limit=limit)
        due = (await session.execute(text(
            "SELECT COUNT(*), MIN(due_at) FROM outbox WHERE status = 'pending'"))).one()
    lines = ["outbox by channel, recipient and status:"]
    if not counts:
        lines.append("  (empty)")
    for channel, kind, status, count in counts:
        lines.append(f"  {channel:<9} {kind:<9} {status:<12} {count:>9}")
    lines.append(f"pending: {due[0]}" + (f", the oldest due {due[1]}" if due[0] else ""))
    if problems:
        lines.append(f"needing attention (latest {limit}):")
        for row in problems:
            address = mask_address(row["channel"], row["phone"] if row["channel"] == "sms" else row["chat_id"])
            lines.append(f"  #{row['id']} {row['channel']} {row['recipient_kind']} {row['recipient_id'] or '-'} "
                         f"{address} {row['message_key']} {row['status']} attempts {row['attempts']}: "
                         f"{row['last_error'] or ''}")
    if unreachable:
        lines.append("unreachable recipients:")
        for entry in unreachable:
            lines.append(f"  {entry['channel']} {entry['recipient_kind']} {entry['recipient_id'] or '-'} "
                         f"{mask_address(entry['channel'], entry['address'])} since {entry['since']}: "
                         f"{entry['reason']}")
    return "\n".join(lines)


async def send_due(dispatcher: OutboxDispatcher, progress: Callable[[int, int], None]) -> dict[str, int]:
    """Sends what is due now, calling `progress(done, total)` as rows finish (a long run shows it moving)."""
    async with dispatcher.sessionmaker() as session:
        total = (await session.execute(text(
            "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'no_gateway') AND due_at <= :now"
        ).bindparams(bindparam("now", type_=UTCDateTime())), {"now": dispatcher.clock()})).scalar_one()
    task = asyncio.create_task(dispatcher.drain(within_s=24 * 3600))
    while not task.done():
        progress(sum(dispatcher.report.outcomes.values()), total)
        await asyncio.sleep(0.5)
    report = await task
    progress(sum(dispatcher.report.outcomes.values()), total)
    return dict(report.outcomes)


async def schedule_report(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock) -> str:
    """The jobs with their triggers and next run in the configured time zone, and who holds the lease."""
    now = clock()
    scheduler = build_scheduler(sessionmaker, clock, settings.tz, settings.approval_watch_minutes,
                                ScheduleLease(sessionmaker, clock))
    lines = [f"jobs (time zone {settings.timezone}):"]
    for job in scheduler.get_jobs():
        upcoming = job.trigger.get_next_fire_time(None, now.astimezone(settings.tz))
        when = upcoming.strftime("%Y-%m-%d %H:%M:%S %Z") if isinstance(upcoming, datetime) else "never"
        lines.append(f"  {job.id:<24} {job.trigger}  next: {when}")
    async with sessionmaker() as session:
        held = await lease.holder(session, name=ScheduleLease.NAME)
    if held is None:
        lines.append("schedule lease: free (no bot process is running the schedule)")
    else:
        owner, until = held
        state = "held" if until > now else "expired"
        lines.append(f"schedule lease: {state} by {owner} until {until.astimezone(settings.tz):%Y-%m-%d %H:%M:%S}")
    return "\n".join(lines)
