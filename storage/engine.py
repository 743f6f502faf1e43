"""Engine and session factories. Nothing is created at import time."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SQLITE_CONNECTIONS = 5
SYNC_COMMITS, SYNC_STORE = "NORMAL", "FULL"


def make_engine(database_url: str, *, echo: bool = False, busy_timeout_s: float = 30.0) -> AsyncEngine:
    # A failed statement's error would otherwise quote its parameters (names, phones) into the log.
    if database_url.startswith("sqlite"):
        # SQLite has one writer, so more connections than a few buy nothing, and each one is a thread of
        # aiosqlite's with its own caches: the default pool (5 + 10 overflow) cost ~15 MB of peak RSS under the
        # bench's flood for no throughput (docs/BENCHMARKS.md). An update waits for a free connection instead.
        engine = create_async_engine(database_url, echo=echo, hide_parameters=True,
                                     connect_args={"timeout": busy_timeout_s}, pool_size=SQLITE_CONNECTIONS,
                                     max_overflow=0, pool_reset_on_return=None)
        busy_ms = int(busy_timeout_s * 1000)

        @event.listens_for(engine.sync_engine, "reset")
        def _roll_back_if_open(dbapi_connection, record, state):
            # The pool's own reset rolls back every connection it gets back, each a trip to aiosqlite's thread,
            # though nearly every update has committed by then. Only an open transaction is rolled back here.
            if state.asyncio_safe and not state.terminate_only and record.driver_connection.in_transaction:
                dbapi_connection.rollback()

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            # WAL lets the scheduler read while a handler writes; FKs are off by default in SQLite.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # A commit doesn't wait for the disk (a crash of the bot loses nothing; a power cut may undo the last
            # commits). The intake's store, which Telegram's acknowledgement waits for, syncs, and that sync makes
            # every commit before it durable too (storage/inbox.py, `store`).
            cursor.execute(f"PRAGMA synchronous={SYNC_COMMITS}")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.close()

        return engine
    return create_async_engine(database_url, echo=echo, hide_parameters=True, pool_pre_ping=True, pool_size=10,
                               max_overflow=10)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
