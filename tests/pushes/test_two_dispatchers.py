"""Two dispatchers (each with its own engine, as two processes would have) on one database never send a row
twice and between them send every row."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from storage.engine import make_engine, make_sessionmaker
from tests.pushes.support import rig
from tests.support.databases import fresh_postgres


@pytest.fixture(params=["postgres", "sqlite"])
async def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield sqlite_url
        return
    async with fresh_postgres() as url:
        yield url


async def test_two_dispatchers_on_one_database_never_send_a_row_twice(database_url: str) -> None:
    async with rig(database_url, enforce=False) as r:
        chats = r.chats(300)
        expected = await r.enqueue_notes(chats, per_chat=1)
        other_engine = make_engine(database_url)
        try:
            # Small batches and a high rate: the two claim against each other many times over.
            one = r.dispatcher(owner="one", batch=10, rate_per_second=1000)
            two = r.dispatcher(owner="two", batch=10, rate_per_second=1000,
                               sessionmaker=make_sessionmaker(other_engine))
            first, second = await asyncio.gather(one.drain(within_s=120), two.drain(within_s=120))
        finally:
            await other_engine.dispose()
        delivered = r.delivered()
        assert sorted(delivered) == sorted(expected)
        assert set(delivered.values()) == {1}, "no row was sent twice"
        assert first.outcomes["sent"] + second.outcomes["sent"] == 300
        assert first.outcomes["sent"] > 0 and second.outcomes["sent"] > 0, "both really took part"
        assert await r.statuses() == {"sent": 300}
