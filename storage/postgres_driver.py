"""SQLAlchemy's asyncpg adapter, with the update's fixed statements run by asyncpg straight from the event loop.

Through SQLAlchemy's adapter a statement is a greenlet switch, a DBAPI cursor and a wait on the adapter's mutex
around asyncpg's own call: about 100 µs of CPU each, for statements PostgreSQL answers in a fraction of that
(docs/BENCHMARKS.md). storage/driver_sql.py's statements (the conversation row, the sender, the inbox mark) come
here instead: the same mutex, the same prepared-statement cache and the same error translation as the adapter's,
without the greenlet and the cursor. The ORM's statements still go the adapter's way, on the same connection and
in the same transaction.

Each trip to PostgreSQL costs the bot ~80-120 µs of CPU here (the socket's system calls and the event loop's
wake-up), more than the statements cost PostgreSQL, and an update used to make seven. Here it makes three (its two
reads and its commit) unless its handler wrote through the ORM:
- A read that begins the update's work runs without a BEGIN of its own. Under READ COMMITTED each statement sees
  the database as of its own start, in a transaction or not, so the read sees what it would have seen inside one;
  the first write opens the transaction, as before. A locking read (FOR UPDATE) always runs in one.
- The commit's statements (the conversation row, the inbox mark) go as one statement, each a data-modifying WITH
  clause: one statement is one transaction, so with nothing else written there is no BEGIN and no COMMIT to send.
  A statement that must change a given number of rows and does not makes the whole statement fail, so nothing of
  it commits, as when the statements ran one by one inside a transaction.
- The pool checks a connection it hands out (pool_pre_ping) only when the connection has not answered for a few
  seconds or is known closed, and then with one statement, not SQLAlchemy's BEGIN, `;`, ROLLBACK (that shape is
  for pgbouncer's transaction mode, which fieldbot does not run behind). A connection that answered moments ago and
  whose socket is still open is alive, or the database went away in between; then the update fails on its first
  statement as it would on the ping, and is retried (app/intake.py).

Handed to SQLAlchemy as the engine's DBAPI module (`create_async_engine(module=...)`), so the dialect, its types
and its errors are SQLAlchemy's.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection, AsyncAdapt_asyncpg_dbapi
from sqlalchemy.util.concurrency import await_

Steps = Sequence[tuple[str, tuple[Any, ...], int | None]]  # (sql, arguments, rows it must change or None)

_LOCKING = re.compile(r"\bFOR\s+(UPDATE|SHARE|NO\s+KEY\s+UPDATE|KEY\s+SHARE)\b", re.IGNORECASE)
_COUNT = re.compile(r"(?:SELECT|UPDATE|DELETE|INSERT \d+) (\d+)")
# The isolation levels under which a read outside a transaction sees what it would inside one.
_PER_STATEMENT = (None, "autocommit", "READ COMMITTED", "read_committed")
_WRITE = re.compile(r"\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(\w+)", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
_PARAMETER = re.compile(r"\$(\d+)")
# A step that changed another number of rows fails the joined statement with this (see `joined`).
MISSED = "fieldbot step missed: "
FRESH_S = 5.0  # a connection that answered this recently is not pinged when the pool hands it out


@functools.lru_cache(maxsize=256)
def needs_transaction(sql: str) -> bool:
    # Kept per statement text: the few statements sent here are the same every update, and scanning the sender's
    # long query for a locking clause on each was a visible share of the profile.
    return sql.lstrip()[:6].upper() != "SELECT" or _LOCKING.search(sql) is not None


def joined(steps: Steps) -> tuple[str, tuple[Any, ...]] | None:
    """The steps as one statement, or None when they can't be one: each must be an INSERT, UPDATE or DELETE without
    a RETURNING of its own, each on a table of its own. All the clauses of a statement see the database as it was
    before the statement; a step could see what an earlier step wrote only in the same table, so there the steps
    run one by one. (A commit's steps are the update's conversation row and its inbox row.)

    The statement returns each step's row count. A step with a count it must have checks it in the statement
    itself: when the count differs, the text "fieldbot step missed: <index>" is cast to an integer, which fails
    the statement with PostgreSQL's invalid_text_representation and so commits none of it. The text depends on the
    count, so PostgreSQL can't evaluate it ahead, when it plans the statement."""
    sql = _joined_sql(tuple((step_sql, len(arguments), expect) for step_sql, arguments, expect in steps))
    if sql is None:
        return None
    return sql, tuple(argument for _, arguments, _ in steps for argument in arguments)


@functools.lru_cache(maxsize=256)
def _joined_sql(shape: tuple[tuple[str, int, int | None], ...]) -> str | None:
    """The joined statement's text for steps of this shape (text, number of arguments, count each must have): the
    same few shapes every update, so it is made once each."""
    clauses: list[str] = []
    counts: list[str] = []
    tables: set[str] = set()
    offset = 0
    for index, (sql, arguments, expect) in enumerate(shape):
        write = _WRITE.match(sql)
        if write is None or _RETURNING.search(sql) or write.group(1).lower() in tables:
            return None
        tables.add(write.group(1).lower())
        if offset:
            sql = _renumbered(sql, offset)
        offset += arguments
        clauses.append(f"s{index} AS ({sql} RETURNING 1)")
        count = f"(SELECT count(*) FROM s{index})"
        if expect is not None:
            count = (f"CASE WHEN {count} = {int(expect)} THEN {count} "
                     f"ELSE CAST('{MISSED}{index} ' || {count} AS bigint) END")
        counts.append(count)
    return "WITH " + ", ".join(clauses) + " SELECT " + ", ".join(counts)


def _renumbered(sql: str, offset: int) -> str:
    """`sql` with its parameters $1, $2, ... moved to follow the `offset` parameters of the steps before it."""
    return _PARAMETER.sub(lambda found: f"${int(found.group(1)) + offset}", sql)


def missed_step(error: Exception) -> int | None:
    """The index of the step whose count failed a joined statement, if that is what `error` is."""
    message = str(error)
    at = message.find(MISSED)
    if at < 0 or getattr(error, "sqlstate", None) != "22P02":
        return None
    return int(message[at + len(MISSED):].split()[0])


class DirectConnection(AsyncAdapt_asyncpg_connection):
    __slots__ = ("_answered_at",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._answered_at = 0.0  # monotonic time of the last statement that succeeded here

    async def _fetch(self, sql: str, arguments: tuple[Any, ...], schema_as_of: float) -> tuple[list[Any], int]:
        prepared, _ = await self._prepare(sql, schema_as_of)
        rows = await prepared.fetch(*arguments)
        found = _COUNT.match(prepared.get_statusmsg() or "")
        return rows, int(found.group(1)) if found else -1

    async def run(self, sql: str, arguments: tuple[Any, ...], schema_as_of: float
                  ) -> tuple[list[tuple[Any, ...]], int]:
        """One statement: its rows and the number of rows it changed."""
        async with self._execute_mutex:
            try:
                if self._transaction is None and (self.isolation_level not in _PER_STATEMENT
                                                  or needs_transaction(sql)):
                    await self._start_transaction()
                rows, count = await self._fetch(sql, arguments, schema_as_of)
            except Exception as error:  # noqa: BLE001 - the adapter turns it into the DBAPI's error
                self._handle_exception(error)
        self._answered_at = time.monotonic()
        return [tuple(row) for row in rows], count

    async def run_and_commit(self, steps: Steps, schema_as_of: float) -> int | None:
        """The statements and the COMMIT; the index of the first statement that changed another number of rows
        (then nothing is committed: the caller rolls back), else None."""
        statement = joined(steps) if steps else None
        async with self._execute_mutex:
            try:
                if statement is not None:
                    # Inside the transaction the ORM's writes opened, or, with none open, a transaction of its own.
                    try:
                        await self._fetch(*statement, schema_as_of)
                    except Exception as error:
                        missed = missed_step(error)
                        if missed is None:
                            raise
                        return missed  # nothing of it committed; an open transaction is the caller's to roll back
                else:
                    if self._transaction is None and steps:
                        await self._start_transaction()
                    for index, (sql, arguments, expect) in enumerate(steps):
                        _, count = await self._fetch(sql, arguments, schema_as_of)
                        if expect is not None and count != expect:
                            return index
                if self._transaction is not None:
                    await self._call_and_discard(self._transaction.commit)
            except Exception as error:  # noqa: BLE001 - as above
                self._handle_exception(error)
        self._answered_at = time.monotonic()
        return None

    async def roll_back(self) -> None:
        async with self._execute_mutex:
            if self._transaction is not None:
                try:
                    await self._call_and_discard(self._transaction.rollback)
                except Exception as error:  # noqa: BLE001 - as above
                    self._handle_exception(error)

    def ping(self) -> None:
        # Called by the pool (pool_pre_ping) on every checkout. A connection the server closed (a restart, say) is
        # known closed as soon as the event loop saw its socket end: that one is always pinged, so the pool finds
        # it dead and opens another.
        if self._connection.is_closed() or time.monotonic() - self._answered_at >= FRESH_S:
            super().ping()

    async def _async_ping(self) -> None:
        # One trip: outside a transaction (the pool rolled back any on return), `;` needs none.
        await self._connection.fetchrow(";")
        self._answered_at = time.monotonic()


class DirectDBAPI(AsyncAdapt_asyncpg_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> DirectConnection:
        creator_fn = kw.pop("async_creator_fn", self.asyncpg.connect)
        cache_size = kw.pop("prepared_statement_cache_size", 100)
        name_func = kw.pop("prepared_statement_name_func", None)
        return await_(DirectConnection.create(self, creator_fn(*arg, **kw), prepared_statement_cache_size=cache_size,
                                              prepared_statement_name_func=name_func))


def dbapi() -> DirectDBAPI:
    import asyncpg  # type: ignore[import-untyped]

    return DirectDBAPI(asyncpg)
