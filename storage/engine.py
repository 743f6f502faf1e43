"""Engine and session factories. Nothing is created at import time."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from storage import postgres_driver, sqlite_driver

SQLITE_CONNECTIONS = 10
SQLITE_CACHE_KB = 512
# PostgreSQL: an update holds a connection for as long as it runs, so with fewer connections than updates in flight
# (MAX_UPDATES_IN_FLIGHT, 64 by default) updates queue for the pool, not for the CPU: 10 + 10 held the bench to
# three quarters of its speed. No overflow: the pool closes an overflow connection as soon as it comes back, so
# under load connections were opened and closed all the time, each a new PostgreSQL backend (40 + 10: 0.25 of the
# echo, 50 + 0: 0.30). Each connection costs the bot ~0.3 MB.
POSTGRES_POOL, POSTGRES_OVERFLOW = 50, 0
SYNC_COMMITS, SYNC_STORE = "NORMAL", "FULL"


def make_engine(database_url: str, *, echo: bool = False, busy_timeout_s: float = 30.0) -> AsyncEngine:
    # A failed statement's error would otherwise quote its parameters (names, phones) into the log.
    if database_url.startswith("sqlite"):
        # An update holds its connection from its first read to its commit, its reply to Telegram included, so the
        # pool bounds how many updates are past their first read at once: 5 left the bot idle while replies were
        # on their way. Each connection is a thread of aiosqlite's with its own page cache, so the cache is kept
        # small (the OS caches the file anyway): 10 connections at 512 KB fit the same peak RSS as 5 at 2 MB
        # (docs/BENCHMARKS.md). More would buy little: SQLite has one writer.
        engine = create_async_engine(database_url, echo=echo, hide_parameters=True, module=sqlite_driver.dbapi(),
                                     # Reads run on the event loop's thread (storage/sqlite_driver.py)
                                     connect_args={"timeout": busy_timeout_s, "check_same_thread": False},
                                     pool_size=SQLITE_CONNECTIONS,
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
            mode = cursor.fetchone()
            # Only in WAL mode does a read never wait for a writer, so only then may it run on the event loop's
            # thread (storage/sqlite_driver.py). (An in-memory database, say, has no WAL.)
            wal = bool(mode) and str(mode[0]).lower() == "wal"
            dbapi_connection.reads_inline = wal
            cursor.execute("PRAGMA foreign_keys=ON")
            # A commit doesn't wait for the disk (a crash of the bot loses nothing; a power cut may undo the last
            # commits). The intake's store, which Telegram's acknowledgement waits for, syncs, and that sync makes
            # every commit before it durable too (storage/inbox.py, `store`).
            cursor.execute(f"PRAGMA synchronous={SYNC_COMMITS}")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KB}")
            cursor.close()

        return engine
    # PostgreSQL through asyncpg (bot/config.py allows no other driver); the update's fixed statements go to asyncpg
    # straight from the event loop (storage/postgres_driver.py).
    return create_async_engine(database_url, echo=echo, hide_parameters=True, pool_pre_ping=True,
                               module=postgres_driver.dbapi(), pool_size=POSTGRES_POOL,
                               max_overflow=POSTGRES_OVERFLOW)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
