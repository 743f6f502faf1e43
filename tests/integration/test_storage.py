"""Migrations, repositories and the FSM storage on SQLite and PostgreSQL; Redis FSM storage."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.assembly import fsm_backends, open_storage
from bot.config import load_settings
from bot.services.org_import import OrgImporter
from storage import migrate
from storage.engine import make_engine, make_sessionmaker
from storage.fsm import DatabaseStorage
from storage.models import Invite
from storage.types import UTCDateTime
from storage.uow import UnitOfWork
from tests.support.databases import fresh_postgres

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "bot" / "data" / "demo_org.yaml"


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'storage.sqlite3'}"
        return
    async with fresh_postgres() as url:
        yield url


@asynccontextmanager
async def demo_storage(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A migrated database holding the demo org; the engine is disposed of on the way out."""
    engine = make_engine(database_url)
    await migrate.upgrade(engine)
    sessionmaker = make_sessionmaker(engine)
    try:
        async with UnitOfWork(sessionmaker) as uow:
            await OrgImporter(uow).import_file(DEMO)
            await uow.commit()
        yield sessionmaker
    finally:
        await engine.dispose()


async def test_upgrade_twice_then_at_head(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert await migrate.current_revision(engine) is None
        await migrate.upgrade(engine)
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
        await migrate.ensure_migrated(engine)
    finally:
        await engine.dispose()


async def test_repositories_and_scope(database_url: str) -> None:
    engine = make_engine(database_url)
    await migrate.upgrade(engine)
    sessionmaker = make_sessionmaker(engine)
    try:
        async with UnitOfWork(sessionmaker) as uow:
            report = await OrgImporter(uow).import_file(DEMO)
            await uow.commit()
        assert (report.units_created, report.staff_created) == (11, 22)
        async with UnitOfWork(sessionmaker) as uow:
            north = await uow.org.by_code("north")
            assert north is not None and north.path.count("/") == 3
            below = {unit.code for unit in await uow.org.subtree(north.path)}
            assert below == {"north", "mkt-hebei", "mkt-shandong", "dlr-shijiazhuang", "dlr-tangshan", "dlr-jinan"}
            kunming = await uow.org.by_code("dlr-kunming")
            assert kunming is not None and kunming.region_class == "B"
            assert [u.code for u in await uow.org.ancestors(kunming)] == ["hq", "southwest", "mkt-yunnan",
                                                                          "dlr-kunming"]
            people = await uow.staff.in_subtree(north.path)
            assert len(people) == 15
            now = datetime.now(UTC)
            invite = await uow.invites.add(Invite(code_hash="x" * 64, role="sales_rep", org_unit_id=kunming.id,
                                                  expires_at=now + timedelta(hours=1)))
            assert await uow.invites.consume(invite.id, 42, now) is True
            assert await uow.invites.consume(invite.id, 43, now) is False
            stored = await uow.invites.get(invite.id)
            assert stored is not None and stored.used_by_tg_user_id == 42
            assert stored.expires_at.tzinfo is not None
    finally:
        await engine.dispose()


async def test_database_fsm_storage_survives_a_new_engine(database_url: str) -> None:
    key = StorageKey(bot_id=1, chat_id=2, user_id=2)
    engine = make_engine(database_url)
    await migrate.upgrade(engine)
    storage = DatabaseStorage(make_sessionmaker(engine))
    await storage.set_state(key, "VisitReport:notes")
    await storage.set_data(key, {"customer_id": 7, "notes": "客户要求试驾"})  # i18n-ok: data, not UI text
    assert await storage.update_data(key, {"kind": "door_visit"}) == {
        "customer_id": 7, "notes": "客户要求试驾", "kind": "door_visit"}  # i18n-ok
    await engine.dispose()

    engine = make_engine(database_url)
    storage = DatabaseStorage(make_sessionmaker(engine))
    assert await storage.get_state(key) == "VisitReport:notes"
    assert (await storage.get_data(key))["kind"] == "door_visit"
    await storage.set_state(key, None)
    await storage.set_data(key, {})
    assert await storage.get_state(key) is None and await storage.get_data(key) == {}
    await engine.dispose()


async def test_postgres_must_be_migrated_first() -> None:
    async with fresh_postgres() as url:
        settings = load_settings(database_url=url, _env_file=None)
        with pytest.raises(migrate.NotMigratedError, match="run `fieldbot db upgrade` first"):
            await open_storage(settings)
        engine = make_engine(url)
        await migrate.upgrade(engine)
        await engine.dispose()
        storage = await open_storage(settings)
        await storage.engine.dispose()


async def test_sqlite_is_migrated_on_start(tmp_path: Path) -> None:
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'auto.sqlite3'}", _env_file=None)
    storage = await open_storage(settings)
    try:
        assert await migrate.current_revision(storage.engine) == migrate.head_revision()
    finally:
        await storage.engine.dispose()


async def test_redis_storage_when_configured(tmp_path: Path, redis_url: str) -> None:
    """Redis holds conversation state; per-user order comes from the intake, so no Redis lock is taken."""
    from aiogram.fsm.storage.memory import DisabledEventIsolation
    from aiogram.fsm.storage.redis import RedisStorage

    from app.deferred_state import DeferredStateStorage

    settings = load_settings(redis_url=redis_url,
                             database_url=f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}", _env_file=None)
    storage, isolation = fsm_backends(settings, make_sessionmaker(make_engine(settings.database_url)))
    assert isinstance(storage, DeferredStateStorage) and isinstance(storage.inner, RedisStorage)
    assert isinstance(isolation, DisabledEventIsolation)
    key = StorageKey(bot_id=1, chat_id=int(uuid.uuid4().int % 10**9), user_id=5)
    try:
        await storage.set_state(key, "Onboarding:contact")
        await storage.set_data(key, {"invite_id": 3})
        again = RedisStorage.from_url(settings.redis_url)
        assert await again.get_state(key) == "Onboarding:contact"
        assert await again.get_data(key) == {"invite_id": 3}
        await again.close()
    finally:
        await storage.set_state(key, None)
        await storage.set_data(key, {})
        await storage.close()


async def test_fieldbot_run_refuses_unmigrated_postgres_with_one_line(tmp_path: Path) -> None:
    import asyncio
    import os
    import sys

    async with fresh_postgres() as url:
        env = {**os.environ, "DATABASE_URL": url, "BOT_TOKEN": "", "REDIS_URL": ""}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.cli", "run", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert stderr.decode().strip().splitlines()[-1] == (
        f"fieldbot: the database is at revision none but the code needs {migrate.head_revision()}: "
        "run `fieldbot db upgrade` first")
    assert "Traceback" not in stderr.decode()


async def test_large_money_amounts_fit_the_columns(database_url: str) -> None:
    """The largest amount the parser takes (100 million yuan in fen) overflows a 32-bit INTEGER on PostgreSQL."""
    from bot.domain.approvals import MAX_AMOUNT_FEN
    from storage.models import Activity

    engine = make_engine(database_url)
    await migrate.upgrade(engine)
    sessionmaker = make_sessionmaker(engine)
    try:
        async with UnitOfWork(sessionmaker) as uow:
            await OrgImporter(uow).import_file(DEMO)
            dealer = await uow.org.by_code("dlr-jinan")
            rep = await uow.staff.by_phone("+8613800000019")
            assert dealer is not None and rep is not None
            activity = Activity(client_token="big", requester_staff_id=rep.id, dealer_unit_id=dealer.id,
                                org_path=dealer.path, activity_type="launch_event", kpi="promotion",
                                product_line="vt", series="vt_tractor_new5", starts_at=datetime.now(UTC),
                                city="Jinan", address="Expo hall", expected_attendance=500,
                                budget_fen=MAX_AMOUNT_FEN, actual_expenses_fen=MAX_AMOUNT_FEN)
            uow.session.add(activity)
            await uow.commit()
        async with sessionmaker() as session:
            stored = await session.get(Activity, activity.id)
            assert stored is not None
            assert (stored.budget_fen, stored.actual_expenses_fen) == (MAX_AMOUNT_FEN, MAX_AMOUNT_FEN)
    finally:
        await engine.dispose()


def typed(values: dict[str, object]) -> dict[str, tuple[str, object]]:
    return {name: (type(value).__name__, value) for name, value in values.items()}


async def test_driver_statements_commit_and_roll_back_with_the_orm(database_url: str) -> None:
    """The per-update statements go to the driver (storage/driver_sql.py) but stay in the update's transaction:
    rolled back with the ORM's writes, committed with them, and seen by the ORM in between."""
    from sqlalchemy import text

    from storage import driver_sql
    from storage.models import Staff

    upsert = driver_sql.Statement(text(
        "INSERT INTO fsm_record (key, state, data, updated_at) VALUES (:key, :state, '{}', :now) "
        "ON CONFLICT (key) DO UPDATE SET state = excluded.state").bindparams(
        sqlalchemy.bindparam("now", type_=UTCDateTime())))
    read = driver_sql.Statement(text("SELECT state, updated_at FROM fsm_record WHERE key = :key")
                                .columns(state=sqlalchemy.String, updated_at=UTCDateTime()))
    at = datetime(2026, 12, 3, 8, 30, tzinfo=UTC)
    async with demo_storage(database_url) as sessionmaker:
        # The statements first, then the ORM joins (an update), or the session first (the scheduler, the CLI).
        for first, outcome in [(first, outcome) for first in ("statements", "session")
                               for outcome in ("rollback", "commit")]:
            async with UnitOfWork(sessionmaker) as uow:
                if first == "statements":
                    assert await driver_sql.fetch(await uow.connection(), read, {"key": "nothing"}) == []
                someone, _ = (await uow.staff.in_subtree("/"))[0]
                someone_id = someone.id
                someone.locale = f"{first[:3]}-{outcome[:4]}"  # locale holds 8 characters
                connection = await uow.connection()
                assert await driver_sql.execute(connection, upsert, {"key": "k", "state": outcome, "now": at}) == 1
                assert await driver_sql.fetch(connection, read, {"key": "k"}) == [(outcome, at)]
                await uow.session.flush()
                if outcome == "rollback":
                    await uow.rollback()
                else:
                    await uow.commit()
            async with UnitOfWork(sessionmaker) as uow:
                rows = await driver_sql.fetch(await uow.session.connection(), read, {"key": "k"})
                stored = await uow.session.get(Staff, someone_id)
                assert stored is not None
                if outcome == "rollback":
                    assert rows == [] and stored.locale != f"{first[:3]}-roll"
                else:
                    assert rows == [("commit", at)] and stored.locale == f"{first[:3]}-comm"
            async with UnitOfWork(sessionmaker) as uow:  # clean for the next round
                await driver_sql.execute(await uow.connection(), driver_sql.Statement(text(
                    "DELETE FROM fsm_record WHERE key = 'k'")), {})
                await uow.commit()


async def test_a_commit_sends_its_steps_and_a_missed_one_commits_nothing(database_url: str) -> None:
    """UnitOfWork.commit sends its steps with the COMMIT; a step that changes another number of rows than it
    expects (the inbox mark of a claim taken over) raises its error and nothing of the unit commits."""
    from sqlalchemy import text

    from storage import driver_sql
    from storage.models import Staff

    insert = driver_sql.Statement(text("INSERT INTO fsm_record (key, state, data, updated_at) "
                                       "VALUES (:key, 's', '{}', '2026-12-03')"))
    touch = driver_sql.Statement(text("UPDATE fsm_record SET state = 'touched' WHERE key = :key"))
    read = driver_sql.Statement(text("SELECT key, state FROM fsm_record ORDER BY key"))

    class Lost(Exception):
        pass

    async with demo_storage(database_url) as sessionmaker:
        async with UnitOfWork(sessionmaker) as uow:
            someone, _ = (await uow.staff.in_subtree("/"))[0]
            someone_id, someone.locale = someone.id, "missed"
            with pytest.raises(Lost):
                await uow.commit(driver_sql.Step(insert, {"key": "a"}),
                                 driver_sql.Step(touch, {"key": "nobody"}, expect=1, lost=Lost()))
            await uow.rollback()
        async with UnitOfWork(sessionmaker) as uow:
            assert await driver_sql.fetch(await uow.connection(), read, {}) == []
            assert (await uow.session.get(Staff, someone_id)).locale != "missed"  # type: ignore[union-attr]
            await uow.commit(driver_sql.Step(insert, {"key": "b"}), driver_sql.Step(touch, {"key": "b"}, expect=1))
        async with UnitOfWork(sessionmaker) as uow:
            assert await driver_sql.fetch(await uow.connection(), read, {}) == [("b", "touched")]


async def test_a_read_does_not_wait_for_another_writer(tmp_path: Path) -> None:
    """Reads run on the event loop's thread (storage/driver_sql.py): in WAL mode they never wait for the write lock,
    so another process holding it does not stall the bot. A write still waits, on aiosqlite's thread, and the event
    loop goes on meanwhile."""
    import asyncio
    import sqlite3

    from sqlalchemy import text

    from storage import driver_sql

    path = tmp_path / "busy.sqlite3"
    engine = make_engine(f"sqlite+aiosqlite:///{path}", busy_timeout_s=30)
    read = driver_sql.Statement(text("SELECT key FROM fsm_record"))
    write = driver_sql.Statement(text("INSERT INTO fsm_record (key, state, data, updated_at) "
                                      "VALUES ('mine', 's', '{}', '2026-12-03')"))
    try:
        await migrate.upgrade(engine)
        blocker = sqlite3.connect(path)
        blocker.execute("BEGIN IMMEDIATE")
        blocker.execute("INSERT INTO fsm_record (key, state, data, updated_at) VALUES ('theirs', 's', '{}', 'x')")
        try:
            async with engine.connect() as connection:
                # Their write is not committed: not seen, and not waited for.
                assert await asyncio.wait_for(driver_sql.fetch(connection, read, {}), 5) == []
                writing = asyncio.create_task(driver_sql.execute(connection, write, {}))
                ticks = 0
                while ticks < 20:  # the loop runs while the write waits for the lock
                    await asyncio.sleep(0.01)
                    ticks += 1
                assert not writing.done()
                blocker.commit()
                assert await asyncio.wait_for(writing, 10) == 1
                assert sorted(key for (key,) in await driver_sql.fetch(connection, read, {})) == ["mine", "theirs"]
        finally:
            blocker.close()
    finally:
        await engine.dispose()


async def test_a_driver_statement_on_a_locked_database_fails_as_sqlalchemy_would(tmp_path: Path) -> None:
    """A locked SQLite database: OperationalError from SQLAlchemy (what the intake retries), no parameters quoted."""
    import sqlite3

    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from storage import driver_sql

    url = f"sqlite+aiosqlite:///{tmp_path / 'locked.sqlite3'}"
    async with demo_storage(url) as sessionmaker:
        write = driver_sql.Statement(text("INSERT INTO fsm_record (key, state, data, updated_at) "
                                          "VALUES (:key, 'secret-state', '{}', '2026-12-03')"))
        blocker = sqlite3.connect(tmp_path / "locked.sqlite3")
        blocker.execute("BEGIN IMMEDIATE")
        try:
            async with UnitOfWork(sessionmaker) as uow:
                connection = await uow.session.connection()
                await connection.exec_driver_sql("PRAGMA busy_timeout=50")
                with pytest.raises(OperationalError) as failed:
                    await driver_sql.execute(connection, write, {"key": "+8613912345678"})
        finally:
            blocker.rollback()
            blocker.close()
    assert "locked" in str(failed.value)
    assert "8613912345678" not in str(failed.value)


async def test_a_connection_given_back_mid_transaction_is_rolled_back(tmp_path: Path) -> None:
    """SQLite's pool rolls back only a connection still in a transaction (storage/engine.py): a write left open
    by a driver statement is undone and its lock released; a committed one stays."""
    from sqlalchemy import text

    from storage import driver_sql

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'reset.sqlite3'}", busy_timeout_s=0.2)
    write = driver_sql.Statement(text("INSERT INTO fsm_record (key, state, data, updated_at) "
                                      "VALUES (:key, 's', '{}', '2026-12-03')"))
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as connection:  # no SQLAlchemy transaction: only the driver knows
            await driver_sql.execute(connection, write, {"key": "left-open"})
        async with engine.begin() as connection:  # would wait out the busy timeout if the lock were still held
            await driver_sql.execute(connection, write, {"key": "committed"})
        async with engine.connect() as connection:
            keys = (await connection.execute(text("SELECT key FROM fsm_record ORDER BY key"))).scalars().all()
    finally:
        await engine.dispose()
    assert keys == ["committed"]


async def test_the_sender_comes_back_as_the_orm_would_load_it(database_url: str) -> None:
    """active_sender builds its records without the models' __init__ (storage/repositories/sender.py): every column
    as stored, detached, and a change to one, added back to a session, is written."""
    from storage.models import Staff
    from storage.repositories.sender import active_sender

    async with demo_storage(database_url) as sessionmaker:
        async with UnitOfWork(sessionmaker) as uow:
            someone, unit = (await uow.staff.in_subtree("/"))[0]
            someone.tg_user_id = 777_001
            someone.active = True
            await uow.commit()
            loaded, unit_loaded = typed(someone.model_dump()), typed(unit.model_dump())
        async with UnitOfWork(sessionmaker) as uow:
            sender = await active_sender(await uow.connection(), 777_001)
            assert sender is not None and not sender.unreachable
            # Types too: the driver hands back 1 for True and text for a time on SQLite (storage/driver_sql.py)
            assert typed(sender.staff.model_dump()) == loaded
            assert typed(sender.unit.model_dump()) == unit_loaded
            assert sender.staff not in uow.session  # detached until a handler adds it
            sender.staff.locale = "en" if sender.staff.locale != "en" else "zh_CN"
            uow.session.add(sender.staff)
            await uow.commit()
            changed = sender.staff.locale
        async with UnitOfWork(sessionmaker) as uow:
            stored = await uow.session.get(Staff, someone.id)
            assert stored is not None and stored.locale == changed
            assert await active_sender(await uow.connection(), 999_999) is None



async def test_the_sender_and_their_conversation_come_in_one_query(database_url: str) -> None:
    """sender_and_conversation (the first statement of every update): the same sender as active_sender, and the
    conversation row, for staff and strangers, with a row and without one."""
    from storage.conversation_rows import EMPTY_DATA, ConversationRow, write_row
    from storage.repositories.sender import active_sender, sender_and_conversation

    async with demo_storage(database_url) as sessionmaker:
        async with UnitOfWork(sessionmaker) as uow:
            someone, _ = (await uow.staff.in_subtree("/"))[0]
            someone.tg_user_id, someone.active = 777_002, True
            await uow.commit()
        async with UnitOfWork(sessionmaker) as uow:
            connection = await uow.connection()
            await write_row(connection, "k:staff", ConversationRow("Flow:step", '{"a": 1}', stored=False))
            await write_row(connection, "k:stranger", ConversationRow("Other:step", EMPTY_DATA, stored=False))
            await uow.commit()
        async with UnitOfWork(sessionmaker) as uow:
            connection = await uow.connection()
            expected = await active_sender(connection, 777_002)
            sender, row = await sender_and_conversation(connection, 777_002, "k:staff")
            assert sender is not None and expected is not None
            assert typed(sender.staff.model_dump()) == typed(expected.staff.model_dump())
            assert typed(sender.unit.model_dump()) == typed(expected.unit.model_dump())
            assert sender.unreachable is False
            assert (row.state, row.data, row.stored) == ("Flow:step", '{"a": 1}', True)
            sender, row = await sender_and_conversation(connection, 777_002, "k:none")
            assert sender is not None and (row.state, row.data, row.stored) == (None, EMPTY_DATA, False)
            assert await sender_and_conversation(connection, 999_998, "k:stranger") == (
                None, ConversationRow("Other:step", EMPTY_DATA, stored=True))
            assert await sender_and_conversation(connection, 999_998, "k:none") == (
                None, ConversationRow(None, EMPTY_DATA, stored=False))
            # Through the unit: read once, and the row left where the FSM storage looks for it.
            assert (await uow.sender(777_002, "k:staff")) is not None
            assert uow.conversations["k:staff"].state == "Flow:step"
            assert await uow.sender(777_002) is await uow.sender(777_002, "k:other")
            assert "k:other" not in uow.conversations

FIRST_IN_A_FRESH_PROCESS = """
import asyncio, sys
from storage.engine import make_engine
from storage.repositories.sender import active_sender

async def main():
    engine = make_engine(sys.argv[1])
    async with engine.connect() as connection:
        sender = await active_sender(connection, 777_002)
        print(sender.staff.tg_user_id, sender.unit.code)
    await engine.dispose()

asyncio.run(main())
"""


async def test_the_sender_query_works_first_thing_in_a_fresh_process(tmp_path: Path) -> None:
    """The first update after a start used to fail: nothing had configured the ORM's mappers yet, which the
    models' __init__ had done as a side effect (found by `make bench`, whose bot is a fresh process)."""
    import asyncio
    import sys

    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
    async with demo_storage(url) as sessionmaker, UnitOfWork(sessionmaker) as uow:
        someone, unit = (await uow.staff.in_subtree("/"))[0]
        someone.tg_user_id, someone.active = 777_002, True
        await uow.commit()
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", FIRST_IN_A_FRESH_PROCESS, url, cwd=ROOT,
                                                 stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(child.communicate(), 60)
    assert child.returncode == 0, err.decode()[-2000:]
    assert out.decode().split() == ["777002", unit.code]
