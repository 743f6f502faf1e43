"""Conversation state in Redis, which can't join the update's transaction: the state an update leaves is kept in its
inbox row by the commit that marks it done (storage/inbox.py, STATE_PENDING), so neither a Redis failure nor a
process dying between that commit and the Redis write leaves a user a step behind, and the user's next update never
runs before Redis has the state. Found by the fault run on PostgreSQL + Redis: a kill in that window put the
conversation one step back, the Submit tap landed on the step before, and the customer was never stored."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlmodel import func, select

from app.deferred_state import DeferredStateStorage
from bot.config import Settings
from storage.inbox import Claim, Inbox
from storage.models import Customer
from tests.conftest import People
from tests.flows.test_customers import create_customer
from tests.support.harness import BotUnderTest, Chat


@pytest.fixture
def settings(settings: Settings, redis_url: str) -> Settings:
    return settings.model_copy(update={"redis_url": redis_url, "intake_claim_ttl_s": 1.0, "intake_retry_s": 0.1})


async def customers_named(runner: BotUnderTest, name: str) -> int:
    async with runner.sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(Customer)
                                      .where(Customer.name == name))).scalar_one()


async def statuses(runner: BotUnderTest) -> set[int]:
    assert runner.storage is not None
    return {int(row["status"]) for row in await Inbox(runner.storage.engine).listing(None, 10_000)}


async def conversation(runner: BotUnderTest, chat: Chat) -> tuple[str | None, dict[str, Any]]:
    assert runner.dispatcher is not None and runner.bot is not None
    context = runner.dispatcher.fsm.get_context(runner.bot, chat_id=chat.id, user_id=chat.id)
    return await context.get_state(), await context.get_data()


async def test_redis_failing_after_every_other_commit_loses_no_step(
        running_bot: BotUnderTest, people: People, monkeypatch: pytest.MonkeyPatch) -> None:
    chat = await people.onboarded("sales_rep", "dlr-jinan", "13800000061", language_code="en")
    original = DeferredStateStorage.flush
    failed: list[int] = []
    calls = 0

    async def flaky(self: DeferredStateStorage, claim: Claim) -> None:
        nonlocal calls
        calls += 1
        if calls % 2:
            failed.append(claim.update_id)
            raise ConnectionError("Redis went away")  # after the commit: the state is in the inbox row only
        await original(self, claim)

    monkeypatch.setattr(DeferredStateStorage, "flush", flaky)
    replies = await create_customer(chat, "Redis Gap Freight", "13912340061")
    assert len(failed) >= 6
    assert await customers_named(running_bot, "Redis Gap Freight") == 1
    texts = " ".join(str(reply.get("text")) for reply in replies)
    assert "Sorry" not in texts  # the update committed: a failed state write is no failure of the user's
    assert await conversation(running_bot, chat) == (None, {})  # finished, in Redis too
    assert await statuses(running_bot) == {1}  # every kept state was written, every row is done


async def test_the_next_update_waits_until_redis_has_the_state(
        running_bot: BotUnderTest, people: People, monkeypatch: pytest.MonkeyPatch) -> None:
    chat = await people.onboarded("sales_rep", "dlr-jinan", "13800000062", language_code="en")
    await chat.send("/newcustomer")
    original = DeferredStateStorage.flush

    async def slow(self: DeferredStateStorage, claim: Claim) -> None:
        await asyncio.sleep(0.6)  # Redis is slow to answer; the name step has committed meanwhile
        await original(self, claim)

    monkeypatch.setattr(DeferredStateStorage, "flush", slow)
    name = chat.user.send_text("Slow Redis Freight")
    phone = chat.user.send_text("13912340062")  # sent at once: taken as the phone, never as the name again
    await running_bot.processed(name)
    await running_bot.processed(phone)
    state, data = await conversation(running_bot, chat)
    assert state == "CustomerCard:nature"
    assert data.get("name") == "Slow Redis Freight" and data.get("phone") == "+8613912340062"
