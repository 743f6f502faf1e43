"""The outbox table on SQLite and PostgreSQL: idempotent enqueue in the caller's transaction, claims."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pushes.outbox import Recipient, add_wake_listener, enqueue, remove_wake_listener
from storage import migrate
from storage.engine import make_engine, make_sessionmaker
from storage.repositories import outbox as rows
from tests.support.databases import fresh_postgres

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
async def sessionmaker(request: pytest.FixtureRequest, sqlite_url: str
                       ) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    if request.param == "sqlite":
        engine = make_engine(sqlite_url)
        await migrate.upgrade(engine)
        yield make_sessionmaker(engine)
        await engine.dispose()
        return
    async with fresh_postgres() as url:
        engine = make_engine(url)
        await migrate.upgrade(engine)
        yield make_sessionmaker(engine)
        await engine.dispose()


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def wake(self) -> None:
        self.count += 1


async def _statuses(sm: async_sessionmaker[AsyncSession]) -> list[tuple[str, str]]:
    async with sm() as session:
        result = await session.execute(text("SELECT idempotency_key, status FROM outbox ORDER BY id"))
        return [(r[0], r[1]) for r in result]


async def test_same_key_is_written_once_and_only_on_commit(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    wakes = Wakes()
    add_wake_listener(wakes)
    try:
        staff = Recipient.staff(7, chat_id=700)
        async with sessionmaker() as session:
            assert await enqueue(session, key="k", params={"a": 1}, recipient=staff, idempotency_key="one", now=NOW)
            assert not await enqueue(session, key="k", params={"a": 2}, recipient=staff, idempotency_key="one",
                                     now=NOW)
            await session.rollback()
        assert await _statuses(sessionmaker) == []
        assert wakes.count == 0, "a rolled-back enqueue must not wake the dispatcher"
        async with sessionmaker() as session:
            assert await enqueue(session, key="k", params={"a": 1}, recipient=staff, idempotency_key="one", now=NOW)
            await session.commit()
        assert wakes.count == 1
        async with sessionmaker() as session:
            assert not await enqueue(session, key="k", params={}, recipient=staff, idempotency_key="one", now=NOW)
            await session.commit()
        assert await _statuses(sessionmaker) == [("one", "pending")]
    finally:
        remove_wake_listener(wakes)


async def test_claim_takes_due_rows_once_and_reclaims_after_the_claim_expires(
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        for n in range(3):
            await enqueue(session, key="k", params={"n": n}, recipient=Recipient.staff(n, chat_id=n + 1),
                          idempotency_key=f"r{n}", due_at=NOW + timedelta(minutes=n), now=NOW)
        await session.commit()
    claim = timedelta(minutes=2)
    async with sessionmaker() as session:
        first = await rows.claim(session, owner="a", now=NOW + timedelta(minutes=1), claim_for=claim, limit=10,
                                 channels=["telegram"])
        await session.commit()
    assert [row.params["n"] for row in first] == [0, 1]  # the third is not due yet
    async with sessionmaker() as session:
        again = await rows.claim(session, owner="b", now=NOW + timedelta(minutes=2), claim_for=claim, limit=10,
                                 channels=["telegram"])
        await session.commit()
    assert [row.params["n"] for row in again] == [2], "claimed rows are not claimed twice while the claim holds"
    # "a" dies without marking: after its claim expires, "b" takes its rows; "a" can no longer renew them.
    async with sessionmaker() as session:
        later = await rows.claim(session, owner="b", now=NOW + timedelta(minutes=5), claim_for=claim, limit=10,
                                 channels=["telegram"])
        assert not await rows.renew(session, row_id=later[0].id, owner="a", now=NOW + timedelta(minutes=5),
                                    claim_for=claim)
        assert await rows.finish(session, row_id=later[0].id, owner="b", status=rows.SENT,
                                 now=NOW + timedelta(minutes=5))
        await session.commit()
    assert sorted(row.params["n"] for row in later) == [0, 1, 2]
    assert later[0].attempts == 2


async def test_one_schedule_lease_holder_at_a_time(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    from app.scheduler import ScheduleLease, leader_only

    now = [NOW]
    first = ScheduleLease(sessionmaker, lambda: now[0], owner="first", ttl=timedelta(seconds=60))
    second = ScheduleLease(sessionmaker, lambda: now[0], owner="second", ttl=timedelta(seconds=60))
    assert await first.renew() and not await second.renew()
    runs: list[str] = []

    async def job(name: str) -> None:
        runs.append(name)

    await leader_only(first, job)("first")
    await leader_only(second, job)("second")
    assert runs == ["first"], "only the holder runs the schedule"
    now[0] = NOW + timedelta(seconds=30)
    assert await first.renew() and not await second.renew(), "renewing keeps it"
    now[0] = NOW + timedelta(seconds=91)  # first stopped renewing (died) 61 s ago
    assert await second.renew() and not await first.renew()
    await second.release()
    assert await first.renew()
