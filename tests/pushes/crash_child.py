"""A bot process for the crash test: enqueues notes (unless told not to) and runs the dispatcher until killed.

    python -m tests.pushes.crash_child DATABASE_URL API_BASE CHAT_ID[,CHAT_ID...]
"""

from __future__ import annotations

import asyncio
import sys

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.i18n import make_i18n
from bot.services.clock import system_clock
from pushes.dispatcher import OutboxDispatcher
from pushes.outbox import Recipient, enqueue
from storage.engine import make_engine, make_sessionmaker
from tests.pushes.support import TOKEN, TZ


async def main(database_url: str, api_base: str, chats: list[int]) -> None:
    engine = make_engine(database_url)
    sessionmaker = make_sessionmaker(engine)
    async with sessionmaker() as session:
        for chat in chats:
            for round_ in range(2):
                n = f"{chat}-{round_}"
                await enqueue(session, key="test.note", params={"n": n},
                              recipient=Recipient.staff(None, chat_id=chat, locale="en"), idempotency_key=f"note:{n}")
        await session.commit()
    print("enqueued", flush=True)
    bot = Bot(token=TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api_base)))
    dispatcher = OutboxDispatcher(sessionmaker, bot, make_i18n("zh_CN"), tz=TZ, clock=system_clock, owner="child")
    await dispatcher.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], [int(c) for c in sys.argv[3].split(",")]))
