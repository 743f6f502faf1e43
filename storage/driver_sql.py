"""The few statements every update runs, sent straight to the database driver on the update's own connection.

SQLAlchemy's execution layer (compiled-cache lookup, execution context, result objects) cost more than the
statements themselves: about half of the bot's database time per update (docs/BENCHMARKS.md). These statements are
compiled once per dialect, and each run is one driver call. On SQLite that is storage/sqlite_driver.py's `run` (a
read on the event loop's thread, anything else one trip to aiosqlite's); elsewhere the DBAPI cursor SQLAlchemy
adapts, in one greenlet switch.

They run on the update's connection (storage/uow.py), in the driver's transaction the ORM's writes join, so all
commit or roll back together. The commit itself is one trip too (`run_and_commit`): the update's last writes (its
conversation row, its inbox mark) and the COMMIT go to the driver at once. Errors come out as SQLAlchemy's
(OperationalError for a locked database, without parameters), as from any other statement, and engine listeners
of `before_cursor_execute` and `commit` see these statements and commits as they see SQLAlchemy's own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from storage import sqlite_driver
from storage.postgres_driver import DirectConnection
from storage.sqlite_driver import OneTripConnection

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class Prepared:
    sql: str
    names: tuple[str, ...]  # the parameters in the order the SQL takes them
    binds: tuple[Processor, ...]
    defaults: Mapping[str, Any]  # literals the statement binds itself
    results: tuple[Processor, ...]  # per result column; empty for a statement that returns no rows

    def arguments(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        values = []
        for name, process in zip(self.names, self.binds, strict=True):
            value = params[name] if name in params else self.defaults[name]
            values.append(process(value) if process is not None and value is not None else value)
        return tuple(values)

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        if not any(self.results):
            return tuple(raw)
        return tuple(process(value) if process is not None else value
                     for process, value in zip(self.results, raw, strict=True))


class Statement:
    """A statement, compiled on first use for each dialect and driver (drivers differ in how parameters are marked)."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, str], Prepared] = {}

    def compiled(self, dialect: Dialect) -> Prepared:
        key = (dialect.name, dialect.driver)
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = self._compile(dialect)
        return found

    def _compile(self, dialect: Dialect) -> Prepared:
        compiled = cast(SQLCompiler, self.statement.compile(dialect=dialect))
        names = tuple(compiled.positiontup or ())
        binds = tuple(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
        defaults = {name: bind.value for name, bind in compiled.binds.items() if bind.value is not None}
        results = tuple(column[3].dialect_impl(dialect).result_processor(dialect, None)
                        for column in getattr(compiled, "_result_columns", ()))
        return Prepared(compiled.string, names, binds, defaults, results)


async def fetch(connection: AsyncConnection, statement: Statement, params: Mapping[str, Any]
                ) -> list[tuple[Any, ...]]:
    """The rows the statement returns."""
    rows, _ = await _run(connection, statement, params, want_rows=True)
    return rows


async def execute(connection: AsyncConnection, statement: Statement, params: Mapping[str, Any]) -> int:
    """Runs a statement that returns no rows; the number of rows it changed."""
    _, count = await _run(connection, statement, params, want_rows=False)
    return count


@dataclass(frozen=True)
class Step:
    """A statement run at commit. When `expect` is set and the statement changes another number of rows, nothing
    commits and `lost` is raised."""

    statement: Statement
    params: Mapping[str, Any]
    expect: int | None = None
    lost: Exception | None = None


async def run_and_commit(connection: AsyncConnection, steps: Sequence[Step]) -> None:
    """Runs the steps and commits the driver's transaction, in one trip to the driver."""
    dialect = connection.dialect
    sync = connection.sync_connection
    assert sync is not None
    prepared = []
    for step in steps:
        compiled = step.statement.compiled(dialect)
        prepared.append((compiled.sql, compiled.arguments(step.params), step.expect))
    listeners = sync.dispatch.before_cursor_execute
    if listeners:
        for sql, arguments, _ in prepared:
            listeners(sync, None, sql, arguments, None, False)
    try:
        adapter = sync.connection.dbapi_connection
        if isinstance(adapter, OneTripConnection):  # SQLite (storage/engine.py)
            failed = await sqlite_driver.run_and_commit(adapter, prepared)
        elif isinstance(adapter, DirectConnection):  # PostgreSQL (storage/postgres_driver.py)
            failed = await adapter.run_and_commit(prepared, _schema_as_of(dialect))
        else:
            failed = await connection.run_sync(_cursor_steps, prepared)
    except dialect.loaded_dbapi.Error as error:
        sql = prepared[0][0] if prepared else "COMMIT"
        raise DBAPIError.instance(sql, None, error, dialect.loaded_dbapi.Error, hide_parameters=True,
                                  dialect=dialect) from error
    if failed is not None:
        raise steps[failed].lost or AssertionError(f"step {failed} changed an unexpected number of rows")
    if sync.dispatch.commit:
        sync.dispatch.commit(sync)


async def rollback(connection: AsyncConnection) -> None:
    """Rolls the driver's transaction back (only when one is open: asking costs no trip)."""
    sync = connection.sync_connection
    adapter = sync.connection.dbapi_connection if sync is not None else None
    if isinstance(adapter, DirectConnection):
        await adapter.roll_back()
        return
    await connection.run_sync(lambda conn: conn.connection.dbapi_connection.rollback())  # type: ignore[union-attr]


def _schema_as_of(dialect: Dialect) -> float:
    """When the dialect last saw the schema change: asyncpg's prepared statements older than that are made again,
    as SQLAlchemy's cursor does."""
    return float(getattr(dialect, "_invalidate_schema_cache_asof", 0))


def _cursor_steps(connection: Connection, prepared: Sequence[tuple[str, tuple[Any, ...], int | None]]
                  ) -> int | None:
    dbapi_connection = connection.connection.dbapi_connection
    assert dbapi_connection is not None
    cursor = dbapi_connection.cursor()
    try:
        for index, (sql, arguments, expect) in enumerate(prepared):
            cursor.execute(sql, arguments)
            if expect is not None and cursor.rowcount != expect:
                return index
    finally:
        cursor.close()
    dbapi_connection.commit()
    return None


async def _run(connection: AsyncConnection, statement: Statement, params: Mapping[str, Any], *,
               want_rows: bool) -> tuple[list[tuple[Any, ...]], int]:
    dialect = connection.dialect
    compiled = statement.compiled(dialect)
    arguments = compiled.arguments(params)
    sync = connection.sync_connection
    assert sync is not None
    listeners = sync.dispatch.before_cursor_execute
    if listeners:  # engine listeners (tests, tracing) see these statements as they see SQLAlchemy's own
        listeners(sync, None, compiled.sql, arguments, None, False)
    try:
        adapter = sync.connection.dbapi_connection
        if isinstance(adapter, OneTripConnection):
            # SQLite (storage/sqlite_driver.py): a read in WAL mode right here, on the event loop's thread (the
            # trip to aiosqlite's thread cost 75 µs of CPU, the read 3, and in WAL mode a read never waits for a
            # writer); anything else one trip to that thread, where a write may wait for the lock.
            _, count, _, raw = await sqlite_driver.run(adapter, compiled.sql, arguments)
            return ([compiled.row(row) for row in raw], len(raw)) if want_rows else ([], count)
        if isinstance(adapter, DirectConnection):
            # PostgreSQL (storage/postgres_driver.py): asyncpg's call right here, no greenlet, no cursor.
            raw, count = await adapter.run(compiled.sql, arguments, _schema_as_of(dialect))
            return ([compiled.row(row) for row in raw], len(raw)) if want_rows else ([], count)
        return await connection.run_sync(_on_cursor, compiled, arguments, want_rows)
    except dialect.loaded_dbapi.Error as error:
        raise DBAPIError.instance(compiled.sql, None, error, dialect.loaded_dbapi.Error, hide_parameters=True,
                                  dialect=dialect) from error


def _on_cursor(connection: Connection, compiled: Prepared, arguments: tuple[Any, ...], want_rows: bool
               ) -> tuple[list[tuple[Any, ...]], int]:
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(compiled.sql, arguments)
        if want_rows:
            raw = cursor.fetchall()
            return [compiled.row(row) for row in raw], len(raw)
        return [], cursor.rowcount
    finally:
        cursor.close()
