"""A migrated database, the rate-limited local Bot API and a dispatcher over them, for the outbox tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.i18n import make_i18n
from pushes.dispatcher import OutboxDispatcher
from pushes.outbox import Recipient, RenderContext, Rendered, enqueue, renderer
from sandbox.limits import LimitedBotAPI
from storage import migrate
from storage.engine import make_engine, make_sessionmaker

TOKEN = "123456:OUTBOX-test-token"
TZ = ZoneInfo("Asia/Shanghai")


@renderer("test.note")
def note(params: Mapping[str, Any], ctx: RenderContext) -> Rendered | None:
    """A test push: its text names the row, so duplicates and losses are visible in the chat."""
    if params.get("obsolete"):
        return None
    return Rendered(f"note {params['n']} [{ctx.locale}]")


@dataclass
class Rig:
    api: LimitedBotAPI
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    bot: Bot

    def dispatcher(self, *, clock: Any = None, sessionmaker: async_sessionmaker[AsyncSession] | None = None,
                   **options: Any) -> OutboxDispatcher:
        from bot.services.clock import system_clock

        return OutboxDispatcher(sessionmaker or self.sessionmaker, self.bot, make_i18n("zh_CN"), tz=TZ,
                                clock=clock or system_clock, **options)

    def chats(self, count: int, start: int = 5000) -> list[int]:
        return [self.api.user(start + n, first_name=f"U{n}").id for n in range(count)]

    async def enqueue_notes(self, chat_ids: list[int], per_chat: int = 1, *, now: datetime | None = None,
                            **extra: Any) -> list[str]:
        texts = []
        async with self.sessionmaker() as session:
            for round_ in range(per_chat):
                for chat in chat_ids:
                    n = f"{chat}-{round_}"
                    await enqueue(session, key="test.note", params={"n": n, **extra.pop("params", {})},
                                  recipient=Recipient.staff(None, chat_id=chat, locale="en"),
                                  idempotency_key=f"note:{n}", now=now, **extra)
                    texts.append(f"note {n} [en]")
            await session.commit()
        return texts

    def delivered(self) -> Counter[str]:
        """Every text the server accepted, with how many times."""
        return Counter(call.params.get("text") for call in self.api.calls
                       if call.method == "sendMessage" and call.ok)

    async def statuses(self) -> Counter[str]:
        async with self.sessionmaker() as session:
            result = await session.execute(text("SELECT status, COUNT(*) FROM outbox GROUP BY status"))
            return Counter({r[0]: r[1] for r in result})


@asynccontextmanager
async def rig(database_url: str, **limits: Any) -> AsyncIterator[Rig]:
    api = LimitedBotAPI(**limits)
    await api.start()
    api.add_bot(token=TOKEN, username="outbox_test_bot")
    engine = make_engine(database_url)
    await migrate.upgrade(engine)
    bot = Bot(token=TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
    try:
        yield Rig(api, engine, make_sessionmaker(engine), bot)
    finally:
        await bot.session.close()
        await engine.dispose()
        await api.stop()
