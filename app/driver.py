"""The real bot running against the local Bot API server in this process: for tests, benchmarks and demos.

The intake tells the tracker when an update is settled (done, its commit included, or parked), so a driver can
wait for exactly that instead of sleeping.
"""

from __future__ import annotations

import asyncio

from aiogram import Bot, Dispatcher

from app.assembly import Storage, build_bot, build_dispatcher, build_intake, open_storage
from app.intake import Intake
from bot.config import Settings
from bot.services.clock import Clock, system_clock
from pushes.dispatcher import OutboxDispatcher
from pushes.dispatcher import from_settings as outbox_dispatcher
from sandbox.botapi import LocalBotAPI

TOKEN = "123456789:TEST-fieldbot-token-for-tests"
BOT_USERNAME = "fieldbot_test_bot"
WAIT_S = 10.0


class UpdateTracker:
    """Knows when each update is settled: done (its commit included) or parked after its last attempt."""

    def __init__(self) -> None:
        self.done: dict[int, asyncio.Event] = {}
        self.outcomes: dict[int, list[str]] = {}

    def event(self, update_id: int) -> asyncio.Event:
        return self.done.setdefault(update_id, asyncio.Event())

    def settled(self, update_id: int, outcome: str) -> None:
        self.outcomes.setdefault(update_id, []).append(outcome)
        if outcome in ("done", "parked"):
            self.event(update_id).set()


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
        self.intake: Intake | None = None
        self.outbox: OutboxDispatcher | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.storage = await open_storage(self.settings)
        self.tracker = UpdateTracker()
        self.dispatcher = build_dispatcher(self.settings, self.storage.sessionmaker, clock=self.clock)
        self.bot = build_bot(self.settings, TOKEN)
        # Pushes go out as in production, through the outbox; no pacing here (tests/pushes test the limits).
        self.outbox = outbox_dispatcher(self.settings, self.storage.sessionmaker, self.bot,
                                        self.dispatcher["i18n_core"], system_clock, poll_seconds=0.5,
                                        per_chat_seconds=0.0, group_seconds=0.0, rate_per_second=1000.0)
        self.outbox.start()
        self.intake = build_intake(self.settings, self.dispatcher, self.bot, self.storage.engine)
        self.intake.listeners.append(self.tracker.settled)
        await self.intake.start()  # startup hooks done, claim loop running
        self._task = asyncio.create_task(self.intake.poll(timeout_s=1))

    async def _stop_polling(self) -> None:
        # Cancelling a long poll loses nothing: a batch is confirmed only by the next getUpdates after it is stored.
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _stop_outbox(self) -> None:
        if self.outbox is not None:
            await self.outbox.stop()
            self.outbox = None

    async def stop(self) -> None:
        await self._stop_polling()
        if self.intake is not None:
            await self.intake.stop(drain_s=WAIT_S)
            self.intake = None
        await self._stop_outbox()
        await self._close()

    async def crash(self) -> None:
        """Stops as kill -9 would: updates in hand are left unfinished in the inbox."""
        await self._stop_polling()
        if self.intake is not None:
            await self.intake.abort()
            self.intake = None
        await self._stop_outbox()
        await self._close()

    async def _close(self) -> None:
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
        """The update is handled and committed, and the pushes it wrote have been sent."""
        try:
            await asyncio.wait_for(self.tracker.event(update_id).wait(), WAIT_S)
        except TimeoutError:
            recent = [call.method for call in self.api.calls[-10:]]
            raise AssertionError(f"update {update_id} was not handled within {WAIT_S}s; last calls {recent}") from None
        await self.pushes_sent()

    async def pushes_sent(self) -> None:
        """Waits until no outbox row is due and unsent (what a scheduled job or an update wrote has gone out)."""
        assert self.outbox is not None
        if not await self.outbox.settled(within_s=WAIT_S):
            raise AssertionError(f"outbox rows still due after {WAIT_S}s")

    @property
    def sessionmaker(self):
        assert self.storage is not None
        return self.storage.sessionmaker
