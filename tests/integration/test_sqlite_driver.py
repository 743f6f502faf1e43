"""SQLite through storage/sqlite_driver.py: the ORM and Core as ever, each statement one trip to aiosqlite's thread
and a read none."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import migrate, sqlite_driver
from storage.engine import make_engine, make_sessionmaker
from storage.models import FsmRecord
from storage.uow import UnitOfWork


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'trips.sqlite3'}")
    await migrate.upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The functions sent to aiosqlite's thread, by name."""
    sent: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(getattr(fn, "__name__", type(fn).__name__))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return sent


async def test_orm_reads_stay_on_the_loop_and_each_write_is_one_trip(engine: AsyncEngine, trips: list[str]) -> None:
    from storage.types import utcnow

    sessionmaker = make_sessionmaker(engine)
    async with UnitOfWork(sessionmaker) as uow:
        await uow.connection()  # checked out before counting: the pool's own trips are not the point here
        trips.clear()
        assert (await uow.session.execute(select(FsmRecord))).scalars().all() == []
        assert trips == []  # the read: no trip
        uow.session.add(FsmRecord(key="k1", state="s", data="{}", updated_at=utcnow()))
        await uow.session.flush()
        assert len(trips) == 1  # the INSERT: one trip (SQLAlchemy's adapter made four)
        found = (await uow.session.execute(select(FsmRecord.key))).scalars().all()
        assert found == ["k1"] and len(trips) == 1  # the unit's own write is seen by the read on the loop
        await uow.commit()
        assert len(trips) == 2  # the COMMIT, once: SQLAlchemy's own commit after it finds nothing open
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT key FROM fsm_record"))).scalars().all() == ["k1"]


async def test_errors_are_sqlalchemys_and_a_failed_write_rolls_back(engine: AsyncEngine) -> None:
    from storage.types import utcnow

    sessionmaker = make_sessionmaker(engine)
    async with UnitOfWork(sessionmaker) as uow:
        uow.session.add(FsmRecord(key="k1", state="s", data="{}", updated_at=utcnow()))
        await uow.commit()
    with pytest.raises(IntegrityError) as failed:
        async with UnitOfWork(sessionmaker) as uow:
            uow.session.add(FsmRecord(key="k2", state="s", data="{}", updated_at=utcnow()))
            uow.session.add(FsmRecord(key="k1", state="+8613912345678", data="{}", updated_at=utcnow()))
            await uow.commit()
    assert "UNIQUE" in str(failed.value) and "8613912345678" not in str(failed.value)
    async with engine.connect() as connection:
        keys = (await connection.execute(text("SELECT key FROM fsm_record ORDER BY key"))).scalars().all()
    assert keys == ["k1"]


async def test_many_rows_and_executemany(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO fsm_record (key, state, data, updated_at) "
                                      "VALUES (:key, 's', '{}', '2026-12-04')"),
                                 [{"key": f"k{n:03}"} for n in range(300)])
    async with engine.connect() as connection:
        result = await connection.execute(text("SELECT key FROM fsm_record ORDER BY key"))
        first = result.fetchmany(2)
        rest = result.fetchall()
        counted = (await connection.execute(text("SELECT count(*) FROM fsm_record"))).scalar_one()
    assert [row[0] for row in first] == ["k000", "k001"] and len(rest) == 298 and counted == 300


def _insert(key: str) -> Any:
    from storage import driver_sql

    return driver_sql.Step(driver_sql.Statement(text(
        "INSERT INTO fsm_record (key, state, data, updated_at) VALUES (:key, 's', '{}', '2026-12-04')")),
        {"key": key}, expect=1)


async def test_the_processs_commits_take_turns_instead_of_meeting_the_busy_handler(tmp_path: Path) -> None:
    """With no busy timeout at all, a writer that finds the lock taken fails at once ("database is locked"): twenty
    units committing together all succeed only because they take turns on the event loop."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'turns.sqlite3'}", busy_timeout_s=0)
    try:
        await migrate.upgrade(engine)
        sessionmaker = make_sessionmaker(engine)

        async def one(n: int) -> None:
            async with UnitOfWork(sessionmaker) as uow:
                await uow.connection()
                await uow.commit(_insert(f"k{n:02}"))

        await asyncio.gather(*(one(n) for n in range(20)))
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM fsm_record"))).scalar_one() == 20
    finally:
        await engine.dispose()


async def test_a_unit_that_holds_the_write_lock_commits_without_waiting_for_the_turn(tmp_path: Path) -> None:
    """A unit whose ORM wrote holds the database's write lock until it commits. Another unit's commit, holding the
    turn, waits on that lock; the first must not wait for the turn, or each would wait on the other until the busy
    timeout failed one of them."""
    from storage.types import utcnow

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'holder.sqlite3'}", busy_timeout_s=10)
    try:
        await migrate.upgrade(engine)
        sessionmaker = make_sessionmaker(engine)
        async with UnitOfWork(sessionmaker) as holder:
            holder.session.add(FsmRecord(key="held", state="s", data="{}", updated_at=utcnow()))
            await holder.session.flush()  # the write lock is the holder's from here to its commit

            async def other() -> None:
                async with UnitOfWork(sessionmaker) as uow:
                    await uow.connection()
                    await uow.commit(_insert("other"))

            waiting = asyncio.create_task(other())
            for _ in range(20):  # the other unit takes the turn and waits on the lock
                await asyncio.sleep(0.01)
            assert not waiting.done()
            await asyncio.wait_for(holder.commit(), 3)
        await asyncio.wait_for(waiting, 5)
        async with engine.connect() as connection:
            keys = (await connection.execute(text("SELECT key FROM fsm_record ORDER BY key"))).scalars().all()
        assert keys == ["held", "other"]
    finally:
        await engine.dispose()


async def test_a_writer_stuck_in_its_turn_holds_the_others_up_for_a_moment_only(tmp_path: Path,
                                                                                  monkeypatch: pytest.MonkeyPatch
                                                                                  ) -> None:
    """A writer ahead that never finishes (another process holds the database, say) keeps the turn: the others
    wait TURN_WAIT_S for it, then go on without their turn, as SQLite's busy handler lets them."""
    monkeypatch.setattr(sqlite_driver, "TURN_WAIT_S", 0.2)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'stuck.sqlite3'}")
    try:
        await migrate.upgrade(engine)
        sessionmaker = make_sessionmaker(engine)
        async with sqlite_driver.write_turn(engine):  # the stuck writer's turn, held throughout
            async with UnitOfWork(sessionmaker) as uow:
                await uow.connection()
                await asyncio.wait_for(uow.commit(_insert("late")), 3)
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT key FROM fsm_record"))).scalars().all() == ["late"]
    finally:
        await engine.dispose()


async def test_a_claim_waiting_for_its_turn_holds_no_connection_the_units_ahead_need(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every writer takes a connection first, then its turn. A claim that took the turn first and then waited for a
    connection, while every pooled connection was a unit's waiting for the turn, stalled them all (found by the
    fuzz test: an update not handled within 10 s). The turn's own give-up is set long here, so only the order
    can pass this."""
    from storage.engine import SQLITE_CONNECTIONS
    from storage.inbox import Inbox

    monkeypatch.setattr(sqlite_driver, "TURN_WAIT_S", 30.0)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'order.sqlite3'}")
    try:
        await migrate.upgrade(engine)
        inbox = Inbox(engine)
        await inbox.store([{"update_id": 1, "message": {"from": {"id": 7}, "text": "hi"}}])
        sessionmaker = make_sessionmaker(engine)
        units = [UnitOfWork(sessionmaker) for _ in range(SQLITE_CONNECTIONS)]
        for uow in units:
            await uow.__aenter__()
            await uow.connection()  # the whole pool, held by units about to commit
        async with sqlite_driver.write_turn(engine):  # a writer in progress: everyone below waits for the turn
            claiming = asyncio.create_task(inbox.claim(10))
            await asyncio.sleep(0.05)

            async def commit(n: int, uow: UnitOfWork) -> None:
                try:
                    await uow.commit(_insert(f"k{n:02}"))
                finally:
                    await uow.__aexit__(None, None, None)

            committing = [asyncio.create_task(commit(n, uow)) for n, uow in enumerate(units)]
            await asyncio.sleep(0.05)
        claims = await asyncio.wait_for(claiming, 5)
        await asyncio.wait_for(asyncio.gather(*committing), 5)
        assert [claim.update_id for claim in claims] == [1]
        async with engine.connect() as connection:
            counted = (await connection.execute(text("SELECT count(*) FROM fsm_record"))).scalar_one()
        assert counted == SQLITE_CONNECTIONS
    finally:
        await engine.dispose()
