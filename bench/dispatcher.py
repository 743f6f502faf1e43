"""The outbox dispatcher against a Bot API that enforces Telegram's limits, and a million reminders enqueued.

    .venv/bin/python -m bench.dispatcher                     # 900 messages to 600 chats; 1,000,000 rows
    .venv/bin/python -m bench.dispatcher --messages 300 --enqueue 100000 --database sqlite

Part 1 (throughput): rows to many chats (a third of them get two, so the 1-second-per-chat rule is exercised) are
drained by the production dispatcher through sandbox/limits.py, which answers 429 to anything over 30/s in any
second, 1/s to one chat or 20/min to a group. Reported: messages per second from the first accepted send to the
last, 429s the dispatcher provoked (target 0), the smallest gap between two sends to one chat (target >= 1 s),
and the busiest second. Target: >= 95 % of 30/s.

Part 2 (fan-out): one million customer service reminders written into the outbox by one set-based
INSERT ... SELECT ... ON CONFLICT DO NOTHING from the customers due (PostgreSQL; the bench makes the customers
first, untimed), and a batched executemany of the same rows for comparison. Target: <= 60 s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import bindparam, text

from bot.i18n import make_i18n
from bot.services.clock import system_clock
from pushes.dispatcher import OutboxDispatcher
from pushes.outbox import RenderContext, Rendered, enqueue_many, renderer
from sandbox.limits import LimitedBotAPI
from storage import migrate
from storage.engine import make_engine, make_sessionmaker
from storage.repositories.outbox import row_values
from storage.types import UTCDateTime, utcnow

TOKEN = "123456:BENCH-outbox-token"
TZ = ZoneInfo("Asia/Shanghai")
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@renderer("bench.note")
def _note(params: Mapping[str, Any], ctx: RenderContext) -> Rendered:
    return Rendered(f"bench {params['n']}")


async def _postgres_url() -> tuple[str, str] | None:
    try:
        import asyncpg

        admin = await asyncpg.connect(POSTGRES_ADMIN, timeout=2)
    except Exception:
        return None
    name = f"fieldbot_bench_{uuid.uuid4().hex[:10]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", name


async def _drop_postgres(name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def throughput(database_url: str, messages: int) -> dict[str, Any]:
    api = LimitedBotAPI(enforce=True)
    await api.start()
    api.add_bot(token=TOKEN, username="bench_outbox_bot")
    engine = make_engine(database_url)
    await migrate.upgrade(engine)
    sessionmaker = make_sessionmaker(engine)
    bot = Bot(token=TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
    try:
        chats = max(1, messages * 2 // 3)
        for n in range(chats):
            api.user(10_000 + n, first_name=f"C{n}")
        now = utcnow()
        values = [row_values(recipient_kind="customer", recipient_id=None, chat_id=10_000 + n % chats, phone=None,
                             channel="telegram", locale="zh_CN", key="bench.note", params={"n": n},
                             idempotency_key=f"bench:{n}", due_at=now, expires_at=None, now=now)
                  for n in range(messages)]
        async with sessionmaker() as session:
            await enqueue_many(session, values)
            await session.commit()
        dispatcher = OutboxDispatcher(sessionmaker, bot, make_i18n("zh_CN"), tz=TZ, clock=system_clock)
        started = time.perf_counter()
        report = await dispatcher.drain(within_s=messages / 10 + 60)
        wall = time.perf_counter() - started
        timing = api.timing()
        times = [at for at, _chat in api.accepted]
        span = (times[-1] - times[0]) if len(times) > 1 else 0.0
        rate = (len(times) - 1) / span if span else 0.0
        async with sessionmaker() as session:
            left = (await session.execute(text("SELECT COUNT(*) FROM outbox WHERE status <> 'sent'"))).scalar_one()
        return {"messages": messages, "chats": chats, "sent": report.outcomes.get("sent", 0), "not_sent": left,
                "rate_per_s": rate, "share_of_30": rate / 30, "wall_s": wall, "dispatcher_429": timing.rejected_429,
                "min_gap_same_chat_s": timing.min_gap_same_chat_s, "max_in_any_second": timing.max_in_any_second}
    finally:
        await bot.session.close()
        await engine.dispose()
        await api.stop()


# The fan-out a scheduled job runs: every customer due a service reminder gets one row, keyed so a second run of
# the job (or a second process) writes nothing more.
FAN_OUT = text("""
INSERT INTO outbox (recipient_kind, recipient_id, chat_id, phone, channel, locale, message_key, params,
                    idempotency_key, status, attempts, due_at, expires_at, created_at, updated_at)
SELECT 'customer', c.id, c.chat_id, c.phone, CASE WHEN c.chat_id IS NULL THEN 'sms' ELSE 'telegram' END,
       'zh_CN', 'reminder.service', '{"customer_id": ' || c.id || '}',
       'reminder.service:' || c.id || '\\:2026-12', 'pending', 0, :due, NULL, :now, :now
FROM bench_customer c
ON CONFLICT (idempotency_key) DO NOTHING
""")


async def fan_out(database_url: str, count: int, executemany_sample: int) -> dict[str, Any]:
    engine = make_engine(database_url)
    await migrate.upgrade(engine)
    try:
        async with engine.begin() as connection:  # the customers, untimed
            await connection.execute(text(
                "CREATE TABLE bench_customer (id BIGINT PRIMARY KEY, chat_id BIGINT, phone VARCHAR(32))"))
            if engine.dialect.name == "postgresql":
                await connection.execute(text(
                    "INSERT INTO bench_customer SELECT g, CASE WHEN g % 3 = 0 THEN 10000000 + g END, "
                    "'+86138' || lpad(g::text, 8, '0') FROM generate_series(1, :n) g"), {"n": count})
            else:
                await connection.execute(text(
                    "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :n) "
                    "INSERT INTO bench_customer SELECT n, CASE WHEN n % 3 = 0 THEN 10000000 + n END, "
                    "'+86138' || substr('00000000' || n, -8) FROM g"), {"n": count})
        now = utcnow()
        statement = FAN_OUT.bindparams(bindparam("due", type_=UTCDateTime()), bindparam("now", type_=UTCDateTime()))
        started = time.perf_counter()
        async with engine.begin() as connection:
            result = await connection.execute(statement, {"due": now, "now": now})
            inserted = result.rowcount
        set_based = time.perf_counter() - started
        started = time.perf_counter()
        async with engine.begin() as connection:  # the same job run again: nothing more is written
            again = (await connection.execute(statement, {"due": now, "now": now})).rowcount
        rerun = time.perf_counter() - started
        # executemany in batches of 5,000 (what enqueue_many does), on a sample, for comparison.
        rows = [row_values(recipient_kind="customer", recipient_id=n, chat_id=None, phone="+8613800000000",
                           channel="sms", locale="zh_CN", key="reminder.service", params={"customer_id": n},
                           idempotency_key=f"reminder.sample:{n}", due_at=now, expires_at=None, now=now)
                for n in range(executemany_sample)]
        started = time.perf_counter()
        sessionmaker = make_sessionmaker(engine)
        for offset in range(0, len(rows), 5000):
            async with sessionmaker() as session:
                await enqueue_many(session, rows[offset:offset + 5000])
                await session.commit()
        many = time.perf_counter() - started
        return {"rows": count, "inserted": inserted, "set_based_s": set_based, "rerun_inserted": again,
                "rerun_s": rerun, "executemany_sample": executemany_sample, "executemany_s": many,
                "executemany_per_million_s": many / max(1, executemany_sample) * 1_000_000}
    finally:
        await engine.dispose()


async def run(args: argparse.Namespace) -> None:
    postgres = None if args.database == "sqlite" else await _postgres_url()
    if postgres is None and args.database == "postgres":
        raise SystemExit("PostgreSQL is not reachable on 127.0.0.1:5432")
    label = "PostgreSQL" if postgres else "SQLite"
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        url = postgres[0] if postgres else sqlite_url
        try:
            if args.messages:
                t = await throughput(url, args.messages)
                gap = t["min_gap_same_chat_s"]
                print(f"dispatcher ({label}): {t['sent']}/{t['messages']} sent to {t['chats']} chats, "
                      f"{t['rate_per_s']:.1f} msg/s = {t['share_of_30']:.0%} of 30/s (target >= 95 %), "
                      f"{t['dispatcher_429']} x 429 (target 0), smallest gap to one chat "
                      f"{gap if gap is None else round(gap, 3)} s (target >= 1), busiest second "
                      f"{t['max_in_any_second']}, wall {t['wall_s']:.1f} s", flush=True)
        finally:
            if postgres:
                await _drop_postgres(postgres[1])
        postgres = None if args.database == "sqlite" else await _postgres_url()
        url = postgres[0] if postgres else f"sqlite+aiosqlite:///{Path(tmp) / 'fanout.sqlite3'}"
        try:
            if args.enqueue:
                f = await fan_out(url, args.enqueue, args.executemany_sample)
                print(f"enqueue ({label}): {f['inserted']:,} reminders by one INSERT ... SELECT in "
                      f"{f['set_based_s']:.1f} s (target <= 60 s for 1,000,000); the job run again wrote "
                      f"{f['rerun_inserted']} in {f['rerun_s']:.1f} s; executemany in batches of 5,000: "
                      f"{f['executemany_sample']:,} in {f['executemany_s']:.1f} s "
                      f"(~{f['executemany_per_million_s']:.0f} s per million)", flush=True)
        finally:
            if postgres:
                await _drop_postgres(postgres[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=900, help="messages for the throughput part (0: skip)")
    parser.add_argument("--enqueue", type=int, default=1_000_000, help="reminders to enqueue (0: skip)")
    parser.add_argument("--executemany-sample", type=int, default=50_000)
    parser.add_argument("--database", choices=("auto", "postgres", "sqlite"), default="auto")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
