"""The real bot running against the local Bot API server in this process: for tests, benchmarks and demos.

An outermost middleware marks each update done once its handler and the commit have finished, so a driver can
wait for exactly that instead of sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.types import TelegramObject, Update

from bot.app import Storage, build_bot, build_dispatcher, open_storage
from bot.config import Settings
from bot.services.clock import Clock, system_clock
from sandbox.botapi import LocalBotAPI

TOKEN = "123456789:TEST-fieldbot-token-for-tests"
BOT_USERNAME = "fieldbot_test_bot"
WAIT_S = 10.0


class UpdateTracker(BaseMiddleware):
    """Outermost middleware: marks an update done after its handler and the commit have finished."""

    def __init__(self) -> None:
        self.done: dict[int, asyncio.Event] = {}

    def event(self, update_id: int) -> asyncio.Event:
        return self.done.setdefault(update_id, asyncio.Event())

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        try:
            return await handler(event, data)
        finally:
            if isinstance(event, Update):
                self.event(event.update_id).set()


class BotUnderTest:
    """The real bot polling the local server; restartable to prove state survives a restart."""

    def __init__(self, api: LocalBotAPI, settings: Settings, clock: Clock = system_clock) -> None:
        self.api = api
        self.settings = settings
        self.clock = clock
        self.tracker = UpdateTracker()
        self.storage: Storage | None = None
        self.dispatcher: Dispatcher | None = None
        self.bot: Bot | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.storage = await open_storage(self.settings)
        self.tracker = UpdateTracker()
        self.dispatcher = build_dispatcher(self.settings, self.storage.sessionmaker, clock=self.clock,
                                           observers=[self.tracker])
        self.bot = build_bot(self.settings, TOKEN)
        self._task = asyncio.create_task(self.dispatcher.start_polling(
            self.bot, handle_signals=False, polling_timeout=1,
            tasks_concurrency_limit=self.settings.max_updates_in_flight,
            allowed_updates=self.dispatcher.resolve_used_update_types()))
        # getMe comes right after the startup hooks and before polling; a getUpdates call is only recorded when
        # its long poll returns, so waiting for it would cost a whole poll per start.
        earlier = {id(call) for call in self.api.calls if call.method == "getMe"}
        await self.api.wait_for_call(lambda call: call.method == "getMe" and id(call) not in earlier, timeout=WAIT_S)

    async def stop(self) -> None:
        if self.dispatcher is not None and self._task is not None:
            try:
                await self.dispatcher.stop_polling()
            except RuntimeError:
                pass
            await asyncio.wait_for(self._task, WAIT_S)
            self._task = None
        if self.dispatcher is not None:
            await self.dispatcher.storage.close()
        if self.bot is not None:
            await self.bot.session.close()
        if self.storage is not None:
            await self.storage.engine.dispose()

    async def restart(self) -> None:
        """Stops everything held in memory and starts afresh on the same database."""
        await self.stop()
        await self.start()

    async def processed(self, update_id: int) -> None:
        try:
            await asyncio.wait_for(self.tracker.event(update_id).wait(), WAIT_S)
        except TimeoutError:
            recent = [call.method for call in self.api.calls[-10:]]
            raise AssertionError(f"update {update_id} was not handled within {WAIT_S}s; last calls {recent}") from None

    @property
    def sessionmaker(self):  # type: ignore[no-untyped-def]
        assert self.storage is not None
        return self.storage.sessionmaker
