"""A named lease in the database: at most one holder at a time, until it stops renewing and the lease expires.

With several bot processes on one database only the lease holder runs the schedule (a PostgreSQL advisory lock
would do on PostgreSQL alone; a row works on SQLite too, and `fieldbot schedule` can show who holds it).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.types import UTCDateTime

_UTC = UTCDateTime()

# One statement: take a free or expired lease, or renew our own; anyone else's live lease is left alone.
_ACQUIRE = text(
    "INSERT INTO scheduler_lease (name, owner, expires_at, acquired_at) VALUES (:name, :owner, :until, :now) "
    "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at, "
    "acquired_at = CASE WHEN scheduler_lease.owner = excluded.owner THEN scheduler_lease.acquired_at "
    "ELSE excluded.acquired_at END "
    "WHERE scheduler_lease.owner = excluded.owner OR scheduler_lease.expires_at < excluded.acquired_at "
    "RETURNING owner"
).bindparams(bindparam("until", type_=_UTC), bindparam("now", type_=_UTC))


async def acquire(session: AsyncSession, *, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
    result = await session.execute(_ACQUIRE, {"name": name, "owner": owner, "until": now + ttl, "now": now})
    return result.scalar_one_or_none() == owner


async def release(session: AsyncSession, *, name: str, owner: str) -> None:
    await session.execute(text("DELETE FROM scheduler_lease WHERE name = :name AND owner = :owner"),
                          {"name": name, "owner": owner})


async def holder(session: AsyncSession, *, name: str) -> tuple[str, datetime] | None:
    statement = text("SELECT owner, expires_at FROM scheduler_lease WHERE name = :name").columns(expires_at=_UTC)
    result = await session.execute(statement, {"name": name})
    row = result.first()
    return (row[0], row[1]) if row else None
