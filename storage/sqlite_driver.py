"""SQLAlchemy's aiosqlite adapter, with each statement one trip to aiosqlite's thread, and a read none.

SQLAlchemy's adapter runs a statement as four trips to aiosqlite's thread (open a cursor, execute, fetch the rows,
close), and commits even when nothing is open. Each trip costs ~75 µs of CPU, the statement itself a few
(docs/BENCHMARKS.md): an ORM query cost 300 µs before it ran. Here a statement is one function run on that thread
(aiosqlite's own `_execute`, which its execute and commit use), and in WAL mode a SELECT runs on the event loop's
thread, since there a read never waits for a writer. storage/driver_sql.py's statements go through `run` too.

The process's own write transactions take turns (`OneTripDBAPI.turn`). SQLite lets one writer in at a time and
makes the others sleep and try again (1, 2, 5, 10 ms...); a writer on aiosqlite's thread also holds the write lock
while it waits for the GIL between its statements. Ten pooled connections committing at once slept ~5 ms per
update in all, holding their connections meanwhile; waiting in turn on the event loop, a writer starts the moment
the one before it is done. A unit whose ORM already opened a write transaction commits without its turn: it holds
the database's write lock already, and a writer waiting on it must not also hold the turn it needs. A writer that
waits for its turn longer than `TURN_WAIT_S` (one ahead is stuck: another process holds the database) goes on
without it and waits as SQLite makes it, as before, instead of queueing one busy timeout after another.
Handed to SQLAlchemy as the engine's DBAPI module (`create_async_engine(module=...)`), so the dialect, its types
and its errors are SQLAlchemy's.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection, AsyncAdapt_aiosqlite_dbapi
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util.concurrency import await_

Result = tuple[Any, int, Any, list[Any]]  # description, rowcount, lastrowid, rows
TURN_WAIT_S = 1.0


def is_read(sql: str) -> bool:
    return sql.lstrip()[:6].upper() == "SELECT"


def _run(raw: sqlite3.Connection, sql: str, parameters: Any, many: bool) -> Result:
    cursor = raw.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        elif parameters is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


def _on_thread(driver: Any, sql: str, parameters: Any, many: bool) -> Result:
    return _run(driver._conn, sql, parameters, many)


def _steps_on_thread(driver: Any, steps: Sequence[tuple[str, tuple[Any, ...], int | None]]) -> int | None:
    raw = driver._conn
    for index, (sql, arguments, expect) in enumerate(steps):
        _, count, _, _ = _run(raw, sql, arguments, many=False)
        if expect is not None and count != expect:
            return index  # left uncommitted: the unit of work rolls back
    raw.commit()
    return None


async def run(connection: OneTripConnection, sql: str, parameters: Any = None, many: bool = False) -> Result:
    """One statement: right here when it is a read in WAL mode, else one trip to aiosqlite's thread."""
    driver = connection._connection
    if connection.reads_inline and not many and is_read(sql):
        return _run(driver._conn, sql, parameters, many)
    return await driver._execute(_on_thread, driver, sql, parameters, many)


async def run_and_commit(connection: OneTripConnection, steps: Sequence[tuple[str, tuple[Any, ...], int | None]]
                         ) -> int | None:
    """The statements (sql, arguments, rows each must change or None) and the COMMIT, in one trip to aiosqlite's
    thread; the index of the first statement that changed another number of rows (nothing committed), else None."""
    driver = connection._connection
    # When the ORM wrote, the database's write lock is this unit's already: no turn to wait for.
    turn = contextlib.nullcontext() if driver._conn.in_transaction else connection.dbapi.turn()
    async with turn:
        return await driver._execute(_steps_on_thread, driver, steps)


class OneTripCursor:
    """A DBAPI cursor over a result already fetched whole (as SQLAlchemy's adapter does for aiosqlite)."""

    server_side = False

    def __init__(self, adapt_connection: OneTripConnection) -> None:
        self._adapt_connection = adapt_connection
        self._rows: collections.deque[Any] = collections.deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: Any = None
        self.arraysize = 1

    def _execute(self, sql: str, parameters: Any, many: bool) -> None:
        connection = self._adapt_connection
        try:
            # Through await_ even when the read completes at once: AsyncConnection.execute insists that a statement
            # awaited something (AwaitRequired), and a coroutine that returns at once costs two greenlet switches.
            result = await_(run(connection, sql, parameters, many))
        except Exception as error:  # noqa: BLE001 - SQLAlchemy's adapter turns it into the DBAPI's error
            connection._handle_exception(error)
        self.description, self.rowcount, self.lastrowid, rows = result
        self._rows = collections.deque(rows)

    def execute(self, operation: str, parameters: Any = None) -> None:
        self._execute(operation, parameters, many=False)

    def executemany(self, operation: str, seq_of_parameters: Sequence[Any]) -> None:
        self._execute(operation, seq_of_parameters, many=True)

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = self._rows
        return [rows.popleft() for _ in range(min(size or self.arraysize, len(rows)))]

    def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def __iter__(self) -> Iterator[Any]:
        while self._rows:
            yield self._rows.popleft()

    def close(self) -> None:
        self._rows.clear()

    async def _async_soft_close(self) -> None:
        """SQLAlchemy's asyncio layer closes a cursor this way before handing back its result: already done."""

    def setinputsizes(self, *inputsizes: Any) -> None:
        pass

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        pass


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("reads_inline",)

    _cursor_cls = OneTripCursor  # type: ignore[assignment]

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.reads_inline = False  # set when the connection is found in WAL mode (storage/engine.py)

    def commit(self) -> None:
        # Nothing open (storage/driver_sql.py committed it already, or nothing was written): no trip.
        if self._connection._connection and self._connection.in_transaction:
            super().commit()

    def rollback(self) -> None:
        if self._connection._connection and self._connection.in_transaction:
            super().rollback()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """One per engine; the lock behind `turn` is made on first use, inside the event loop the engine serves."""

    _writes: asyncio.Lock | None = None

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """A write transaction's turn among this process's writers that hold no write lock yet."""
        if self._writes is None:
            self._writes = asyncio.Lock()
        writes = self._writes
        taken = True
        try:
            if writes.locked():
                await asyncio.wait_for(writes.acquire(), TURN_WAIT_S)
            else:
                await writes.acquire()  # free: taken at once, without a timer
        except TimeoutError:
            taken = False  # the writer ahead is stuck: wait on SQLite's busy handler instead, as without turns
        try:
            yield
        finally:
            if taken:
                writes.release()

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


def write_turn(engine: AsyncEngine) -> AbstractAsyncContextManager[Any]:
    """A write transaction's turn (see the module's docstring) on an engine made with this module; no wait on
    any other database."""
    dbapi = engine.dialect.loaded_dbapi
    return dbapi.turn() if isinstance(dbapi, OneTripDBAPI) else contextlib.nullcontext()


def dbapi() -> OneTripDBAPI:
    import aiosqlite

    return OneTripDBAPI(aiosqlite, sqlite3)
