"""storage/postgres_driver.py on a real PostgreSQL: the trips each update makes to it, seen on the connection's
socket, and that what it saves in trips changes nothing of what commits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import driver_sql, postgres_driver
from storage.engine import make_engine
from storage.postgres_driver import DirectConnection
from tests.support.databases import fresh_postgres

CREATE = ("CREATE TABLE a (k text PRIMARY KEY, v int)", "CREATE TABLE b (k text PRIMARY KEY, v int)",
          "INSERT INTO b VALUES ('here', 0)")
PUT_A = driver_sql.Statement(text("INSERT INTO a (k, v) VALUES (:k, :v) ON CONFLICT (k) DO UPDATE SET v = excluded.v"))
BUMP_B = driver_sql.Statement(text("UPDATE b SET v = v + 1 WHERE k = :k"))
BUMP_A = driver_sql.Statement(text("UPDATE a SET v = v + 10 WHERE k = :k"))
READ_A = driver_sql.Statement(text("SELECT k, v FROM a ORDER BY k"))


class Lost(Exception):
    pass


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    async with fresh_postgres() as url:
        made = make_engine(url)
        async with made.begin() as connection:
            for sql in CREATE:
                await connection.exec_driver_sql(sql)
        try:
            yield made
        finally:
            await made.dispose()


async def logged(connection: Any) -> list[bytes]:
    """What asyncpg writes to this connection's socket from now on: one write per trip (a prepared statement's
    bind and execute go together; BEGIN, COMMIT and `;` are simple queries, their text in the write)."""
    raw = await connection.get_raw_connection()
    assert isinstance(raw.dbapi_connection, DirectConnection)
    transport = raw.driver_connection._transport
    sent: list[bytes] = []
    write = transport.write

    def recorded(data: Any) -> None:
        sent.append(bytes(data))
        write(data)

    transport.write = recorded
    return sent


def simple_queries(sent: list[bytes]) -> list[bytes]:
    return [data[5:].split(b"\0")[0] for data in sent if data[:1] == b"Q"]


async def test_a_read_and_a_commit_of_two_tables_are_two_statements_and_no_begin(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        sent = await logged(connection)
        assert await driver_sql.fetch(connection, READ_A, {}) == []
        await driver_sql.run_and_commit(connection, [driver_sql.Step(PUT_A, {"k": "x", "v": 1}),
                                                     driver_sql.Step(BUMP_B, {"k": "here"}, expect=1)])
    # The read, then the joined statement (prepared first: a parse and a describe, then its bind and execute).
    assert simple_queries(sent) == [] and any(b"WITH s0 AS (INSERT INTO a" in data for data in sent), sent
    trips = len(sent)
    async with engine.connect() as connection:  # the same statements again, prepared already: one trip each
        sent = await logged(connection)
        await driver_sql.fetch(connection, READ_A, {})
        await driver_sql.run_and_commit(connection, [driver_sql.Step(PUT_A, {"k": "x", "v": 1}),
                                                     driver_sql.Step(BUMP_B, {"k": "here"}, expect=1)])
    assert len(sent) == 2 and simple_queries(sent) == [], (trips, sent)
    async with engine.connect() as connection:
        assert await driver_sql.fetch(connection, READ_A, {}) == [("x", 1)]
        assert (await connection.exec_driver_sql("SELECT v FROM b")).scalar() == 2


async def test_a_missed_step_commits_nothing_of_the_joined_statement(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        with pytest.raises(Lost):
            await driver_sql.run_and_commit(connection, [
                driver_sql.Step(PUT_A, {"k": "y", "v": 1}),
                driver_sql.Step(BUMP_B, {"k": "nobody"}, expect=1, lost=Lost())])
        await driver_sql.rollback(connection)
        assert await driver_sql.fetch(connection, READ_A, {}) == []
        # The connection goes on working: the failed statement left no transaction behind.
        await driver_sql.run_and_commit(connection, [driver_sql.Step(PUT_A, {"k": "z", "v": 2})])
        assert await driver_sql.fetch(connection, READ_A, {}) == [("z", 2)]


async def test_steps_on_one_table_run_one_by_one_and_see_each_other(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        sent = await logged(connection)
        await driver_sql.run_and_commit(connection, [driver_sql.Step(PUT_A, {"k": "w", "v": 1}),
                                                     driver_sql.Step(BUMP_A, {"k": "w"}, expect=1)])
        assert await driver_sql.fetch(connection, READ_A, {}) == [("w", 11)]
    assert simple_queries(sent)[0] == b"BEGIN;" and simple_queries(sent)[-1] == b"COMMIT;", sent
    assert not any(b"WITH s0" in data for data in sent)


async def test_steps_join_a_transaction_the_orm_opened_and_commit_with_it(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("UPDATE b SET v = 100"))  # SQLAlchemy's own way: opens the transaction
        await driver_sql.run_and_commit(connection, [driver_sql.Step(PUT_A, {"k": "v", "v": 5})])
        await connection.commit()
    async with engine.connect() as connection:
        assert (await connection.exec_driver_sql("SELECT v FROM b")).scalar() == 100
        assert await driver_sql.fetch(connection, READ_A, {}) == [("v", 5)]


async def test_the_pool_pings_only_a_connection_that_has_not_answered_lately(
        engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    async with engine.connect() as connection:
        sent = await logged(connection)
        await driver_sql.fetch(connection, READ_A, {})  # prepared: from now on one trip
    before = len(sent)
    async with engine.connect() as connection:  # the same connection, back from the pool at once: no ping
        await driver_sql.fetch(connection, READ_A, {})
    assert len(sent) == before + 1, sent
    monkeypatch.setattr(postgres_driver, "FRESH_S", 0.0)
    async with engine.connect() as connection:  # as if it had been idle: pinged first
        await driver_sql.fetch(connection, READ_A, {})
    assert len(sent) == before + 3, sent  # the ping (`;`, prepared at the pool's first checkout), then the read


async def test_a_connection_the_server_closed_is_pinged_and_replaced(engine: AsyncEngine) -> None:
    """PostgreSQL restarted, say: the pooled connection answered moments ago, but its backend is gone. The pool
    still pings it (it is known closed), finds it dead and hands out a new one: the update's read succeeds."""
    import asyncio

    import asyncpg

    async with engine.connect() as connection:
        await driver_sql.fetch(connection, READ_A, {})
        backend = (await connection.exec_driver_sql("SELECT pg_backend_pid()")).scalar()
        await connection.rollback()
    admin = await asyncpg.connect(engine.url.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", backend)
    finally:
        await admin.close()
    await asyncio.sleep(0.2)  # the event loop sees the socket end
    async with engine.connect() as connection:
        assert await driver_sql.fetch(connection, READ_A, {}) == []
        assert (await connection.exec_driver_sql("SELECT pg_backend_pid()")).scalar() != backend
