"""The bot as a real process, killed with SIGKILL: nothing fetched is lost (finding 3 of issue 7), a user whose
update was cut off is answered seconds after the restart (finding 2), and scripted conversations under every
fault at once — kill -9 at random points, every update delivered twice, 429 and 500 on a share of sendMessage
calls, the database held locked — end with each submission stored once, in order, every update answered."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.services.clock import system_clock
from bot.services.onboarding import OnboardingService
from bot.services.org_import import OrgImporter
from conversations.customer_card import CustomerPick
from sandbox.botapi import FakeUser, LocalBotAPI
from storage import migrate
from storage.engine import make_engine, make_sessionmaker
from storage.models import Customer, Staff
from storage.uow import UnitOfWork
from tests.conftest import DEMO_ORG, _user_ids
from tests.support.bot_process import BotProcess
from tests.support.databases import fresh_postgres

STEP_WAIT_S = 40.0


@dataclass
class World:
    engine: AsyncEngine
    url: str
    redis_url: str | None = None

    async def invite(self, role: str = "sales_rep", org: str = "dlr-jinan") -> str:
        async with UnitOfWork(make_sessionmaker(self.engine)) as uow:
            issued = await OnboardingService(uow, system_clock).issue_invite(role, org, timedelta(hours=1))
            await uow.commit()
        return issued.code

    async def status(self, update_id: int) -> int | None:
        async with self.engine.connect() as connection:
            return (await connection.execute(text("SELECT status FROM inbox WHERE update_id = :id"),
                                              {"id": update_id})).scalar()

    async def done(self, update_id: int, within_s: float = STEP_WAIT_S) -> float:
        """Waits until the update's done mark has committed; returns when that was seen."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            try:
                if await self.status(update_id) == 1:
                    return time.monotonic()
            except Exception:  # noqa: BLE001 - the database may be held locked by the test itself
                pass
            await asyncio.sleep(0.05)
        raise AssertionError(f"update {update_id} not done within {within_s}s (status {await self.status(update_id)})")


async def _world(url: str, redis_url: str | None = None) -> World:
    engine = make_engine(url)
    await migrate.upgrade(engine)
    async with UnitOfWork(make_sessionmaker(engine)) as uow:
        await OrgImporter(uow).import_file(DEMO_ORG)
        await uow.commit()
    return World(engine, url, redis_url)


@pytest.fixture
async def sqlite_world(sqlite_url: str) -> AsyncIterator[World]:
    world = await _world(sqlite_url)
    yield world
    await world.engine.dispose()


@pytest.fixture
async def postgres_redis_world(redis_url: str) -> AsyncIterator[World]:
    async with fresh_postgres() as url:
        world = await _world(url, redis_url)
        yield world
        await world.engine.dispose()


@pytest.fixture(params=["sqlite", "postgres+redis"])
def world(request: pytest.FixtureRequest) -> World:
    return request.getfixturevalue("sqlite_world" if request.param == "sqlite" else "postgres_redis_world")


def new_user(api: LocalBotAPI, name: str) -> FakeUser:
    return api.user(next(_user_ids), name, language_code="en")


async def test_kill_after_confirming_an_update_loses_nothing(api: LocalBotAPI, sqlite_world: World,
                                                             tmp_path: Path) -> None:
    """Finding 3: the bot is killed the moment its getUpdates confirms the contact it just fetched. Stored before
    confirmed, the contact is handled after the restart: the staff member is registered and told so."""
    bot = BotProcess(api, sqlite_world.url, tmp_path)
    await bot.start()
    try:
        user = new_user(api, "Kim")
        await sqlite_world.done(user.send_text(f"/start {await sqlite_world.invite()}"))
        target = 0

        def kill_on_confirm(name: str, params: dict[str, Any]) -> None:
            if name == "getUpdates" and target and int(params.get("offset", 0)) > target:
                bot.kill()

        api.faults.hooks.append(kill_on_confirm)
        target = user.send_contact("13800000051", user_id=user.id)
        while bot.kills == 0:  # noqa: ASYNC110 - the kill happens in the server's hook, polled here
            await asyncio.sleep(0.02)
        api.faults.hooks.remove(kill_on_confirm)
        await bot.start()
        await sqlite_world.done(target)
        async with make_sessionmaker(sqlite_world.engine)() as session:
            staff = (await session.execute(select(Staff).where(Staff.tg_user_id == user.id))).scalar_one()
        assert staff.phone == "+8613800000051"
        assert any("registered as" in (m.get("text") or "") for m in api.sent_messages(user.id))
    finally:
        await bot.stop()


async def test_killed_mid_update_the_user_is_answered_within_seconds(api: LocalBotAPI, world: World,
                                                                      tmp_path: Path) -> None:
    """Finding 2: killed while sending the reply to an update (before its commit). After the restart the update is
    handled again within a claim lifetime (2 s here), not after a 60 s lock, and the user's next one follows it."""
    bot = BotProcess(api, world.url, tmp_path, redis_url=world.redis_url)
    await bot.start()
    try:
        user = new_user(api, "Lin")
        await world.done(user.send_text(f"/start {await world.invite()}"))
        await world.done(user.send_contact("13800000052", user_id=user.id))
        armed = True

        def kill_on_reply(name: str, params: dict[str, Any]) -> None:
            nonlocal armed
            if armed and name == "sendMessage" and params.get("chat_id") == user.id:
                armed = False
                bot.kill()

        api.faults.hooks.append(kill_on_reply)
        cut_off = user.send_text("/newcustomer")
        while bot.kills == 0:  # noqa: ASYNC110 - the kill happens in the server's hook, polled here
            await asyncio.sleep(0.02)
        following = user.send_text("Killed Midway Freight")
        await bot.start()
        answered_at = await world.done(cut_off)
        await world.done(following)
        assert answered_at - bot.ready_at < 2.0 + 3.0
        texts = [m.get("text") or "" for m in api.sent_messages(user.id)]
        assert "name" in texts[-2].lower() and "phone" in texts[-1].lower()  # in order: the name, then the phone
    finally:
        await bot.stop()


# ---- scripted conversations under every fault ------------------------------------------------------------------

Step = Callable[[FakeUser], int]


def says(text_: str) -> Step:
    return lambda user: user.send_text(text_)


def picks(field_: str, code: str) -> Step:
    data = CustomerPick(field=field_, code=code).pack()

    def press(user: FakeUser) -> int:
        for message in reversed(user.api.sent_messages(user.id)):
            rows = message.get("reply_markup", {}).get("inline_keyboard", [])
            if any(button.get("callback_data") == data for row in rows for button in row):
                return user.press(message, data)
        raise LookupError(f"no button {data}")

    return press


def first_province(user: FakeUser) -> int:
    message = user.api.sent_messages(user.id)[-1]
    data = message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    return user.press(message, data)


def customer_script(name: str, phone: str) -> list[Step]:
    return [says("/newcustomer"), says(name), says(phone),
            *(picks(f, c) for f, c in (("nature", "individual_business"), ("level", "gold"),
                                       ("sales_mode", "distribution"), ("vehicle_type", "dump"),
                                       ("industry", "coal"), ("source", "mine"))),
            says("5"), first_province, says("Xinji"), picks("stage", "collect"), picks("confirm", "submit")]


@dataclass
class Tally:
    updates: int = 0
    answered: int = 0
    mid_flow_at_kill: int = 0
    resumed: int = 0
    unanswered: list[int] = field(default_factory=list)


async def run_user(api: LocalBotAPI, world: World, user: FakeUser, steps: list[Step], tally: Tally,
                   progress: dict[int, int]) -> None:
    for index, step in enumerate(steps):
        began = time.monotonic()
        # A button appears only once the step before it has been answered; under kills, 429s and 500s that
        # answer can be a reply sent later (a failed reply is kept and sent after a restart): up to ~30 s.
        for _attempt in range(600):
            try:
                update_id = step(user)
                break
            except LookupError:
                await asyncio.sleep(0.05)
        else:
            last = [str(m.get("text"))[:80] for m in api.sent_messages(user.id)[-3:]]
            raise AssertionError(f"user {user.id}: step {index} found no button; the bot's last messages: {last}")
        tally.updates += 1
        await world.done(update_id)
        try:  # answered: a message, an edit or a callback answer for this chat after the update was sent
            await api.wait_for_call(lambda call, began=began: call.ok and call.chat_id == user.id
                                    and call.at > began and call.method != "getUpdates", timeout=15)
            tally.answered += 1
        except TimeoutError:
            tally.unanswered.append(update_id)
        progress[user.id] = index + 1


async def faults_run(api: LocalBotAPI, world: World, workdir: Path, capsys: pytest.CaptureFixture[str], *,
                     users: int, kills: int, lock: Callable[[], Awaitable[None]]) -> None:
    """Onboards `users` people and runs one customer record each, while the bot is killed `kills` times at
    random moments and the database is held locked once; then counts."""
    rng = random.Random()
    faults = api.faults
    faults.deliver_twice = True
    faults.rate_limit_share, faults.retry_after, faults.server_error_share = 0.08, 1, 0.08
    # A kill in the middle of an update counts as one of its attempts; allow more than this test kills.
    bot = BotProcess(api, world.url, workdir, redis_url=world.redis_url, sqlite_busy_timeout_s=1,
                     intake_max_attempts=kills + 3)
    await bot.start()
    people = [new_user(api, f"Driver{i}") for i in range(users)]
    scripts = {}
    for i, user in enumerate(people):
        onboarding = [says(f"/start {await world.invite()}"),
                      lambda u, i=i: u.send_contact(f"138000011{i:02d}", user_id=u.id)]
        scripts[user.id] = onboarding + customer_script(f"Fault Freight {i}", f"139123411{i:02d}")
    tally = Tally()
    progress = {user.id: 0 for user in people}
    conversations = [asyncio.create_task(run_user(api, world, user, scripts[user.id], tally, progress))
                     for user in people]
    mid_flow: set[int] = set()
    try:
        for round_ in range(kills):
            await asyncio.sleep(rng.uniform(0.5, 3.0))
            if all(task.done() for task in conversations):
                break
            bot.kill()
            mid_flow |= {uid for uid, done in progress.items() if 0 < done < len(scripts[uid])}
            if round_ == kills // 2:
                await lock()
            await bot.start()
        await asyncio.wait_for(asyncio.gather(*conversations), timeout=240)
    finally:
        for task in conversations:
            task.cancel()
        await bot.stop()
    faults.off()

    async with make_sessionmaker(world.engine)() as session:
        names = [c.name for c in (await session.execute(select(Customer))).scalars()]
    stored_once = sum(names.count(f"Fault Freight {i}") == 1 for i in range(users))
    async with world.engine.connect() as connection:
        rows = (await connection.execute(text(
            "SELECT update_id, chat_key, status, done_at FROM inbox ORDER BY update_id"))).all()
    out_of_order = 0
    last_done: dict[int, float] = {}
    for row in rows:
        if row.status == 1:
            if row.done_at < last_done.get(row.chat_key, 0):
                out_of_order += 1
            last_done[row.chat_key] = row.done_at
    parked = sum(row.status == 2 for row in rows)
    still_open = sum(row.status in (0, 3) for row in rows)  # 3: done, its state not yet in Redis
    resumed = sum(progress[uid] == len(scripts[uid]) for uid in mid_flow)
    with capsys.disabled():
        print(f"\n[{world.url.split('+')[0]}{' + redis' if world.redis_url else ''}] "
              f"kills {bot.kills}, updates sent {tally.updates}, delivered twice {faults.injected['redelivered']}, "
              f"429 {faults.injected['429']}, 500 {faults.injected['500']}; "
              f"submissions stored exactly once {stored_once}/{users} (rows {len(names)}); "
              f"half-finished conversations resumed {resumed}/{len(mid_flow)}; "
              f"updates handled out of order {out_of_order}; answered {tally.answered}/{tally.updates}; "
              f"parked {parked}, still open {still_open}")
    assert bot.kills >= 1 and faults.injected["redelivered"] > 0
    assert stored_once == users and len(names) == users
    assert resumed == len(mid_flow)
    assert out_of_order == 0 and parked == 0 and still_open == 0
    assert tally.answered == tally.updates and not tally.unanswered


async def test_scripted_conversations_under_faults_sqlite(api: LocalBotAPI, sqlite_world: World, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = sqlite_world.url.split(":///", 1)[1]

    async def hold_write_lock() -> None:
        """Past the bot's busy timeout (1 s): its writes fail meanwhile and are attempted again."""
        ready = threading.Event()

        def hold() -> None:
            connection = sqlite3.connect(path, timeout=10)
            connection.execute("BEGIN IMMEDIATE")
            ready.set()
            time.sleep(2.5)
            connection.rollback()
            connection.close()

        thread = threading.Thread(target=hold)
        thread.start()
        await asyncio.to_thread(ready.wait, 10)
        asyncio.get_running_loop().run_in_executor(None, thread.join)

    await faults_run(api, sqlite_world, tmp_path, capsys, users=4, kills=3, lock=hold_write_lock)


async def test_scripted_conversations_under_faults_postgres_redis(api: LocalBotAPI, postgres_redis_world: World,
                                                                   tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    world = postgres_redis_world
    holders: list[asyncio.Task[None]] = []

    async def hold_table_locks() -> None:
        """The inbox and customer tables locked for 2.5 s: every claim and submission waits behind it."""
        async def hold() -> None:
            async with world.engine.connect() as connection:
                await connection.execute(text("LOCK TABLE inbox, customer IN ACCESS EXCLUSIVE MODE"))
                await asyncio.sleep(2.5)
                await connection.rollback()

        holders.append(asyncio.get_running_loop().create_task(hold()))
        await asyncio.sleep(0.1)

    await faults_run(api, world, tmp_path, capsys, users=4, kills=3, lock=hold_table_locks)
