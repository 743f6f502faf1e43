"""The few statements every update runs, sent straight to the database driver on the update's own connection.

SQLAlchemy's execution layer (compiled-cache lookup, execution context, result objects) cost more than the
statements themselves: about half of the bot's database time per update (docs/BENCHMARKS.md). These statements are
compiled once per dialect, and each run is one driver call. On SQLite that is aiosqlite's own API, one trip to its
thread; elsewhere the DBAPI cursor SQLAlchemy adapts, in one greenlet switch.

They run inside SQLAlchemy's transaction, on the connection the update's session holds, so they commit or roll back
with the handler's ORM writes. Errors come out as SQLAlchemy's (OperationalError for a locked database, without
parameters), as from any other statement, and engine listeners of `before_cursor_execute` see them.
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
        if dialect.driver == "aiosqlite":
            # The session already holds this connection, so no I/O happens here.
            driver = sync.connection.driver_connection
            assert driver is not None
            if want_rows:
                raw = await driver.execute_fetchall(compiled.sql, arguments)
                return [compiled.row(row) for row in raw], len(raw)
            cursor = await driver.execute(compiled.sql, arguments)
            count = cursor.rowcount
            await cursor.close()
            return [], count
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
