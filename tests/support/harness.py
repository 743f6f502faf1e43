"""Drives the production dispatcher over HTTP through the local Bot API server, as Telegram users would."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.types import TelegramObject, Update

from bot.app import Storage, build_bot, build_dispatcher, open_storage
from bot.config import Settings
from bot.services.clock import Clock, system_clock
from sandbox.botapi import FakeUser, LocalBotAPI

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
            self.bot, handle_signals=False, polling_timeout=1, tasks_concurrency_limit=16,
            allowed_updates=self.dispatcher.resolve_used_update_types()))
        await self.api.wait_for_call(lambda call: call.method == "getUpdates", timeout=WAIT_S)

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


class Chat:
    """One Telegram user talking to the bot in a private chat."""

    def __init__(self, runner: BotUnderTest, user: FakeUser) -> None:
        self.runner = runner
        self.user = user

    @property
    def id(self) -> int:
        return self.user.id

    async def _after(self, update_id: int, seen: int) -> list[dict[str, Any]]:
        await self.runner.processed(update_id)
        return self.runner.api.sent_messages(self.id)[seen:]

    def _seen(self) -> int:
        return len(self.runner.api.sent_messages(self.id))

    async def send(self, text: str) -> list[dict[str, Any]]:
        """Sends text and returns the bot's new messages in this chat once the update is fully handled."""
        seen = self._seen()
        return await self._after(self.user.send_text(text), seen)

    async def share_contact(self, phone: str, *, own: bool = True, first_name: str = "Test") -> list[dict[str, Any]]:
        seen = self._seen()
        update_id = self.user.send_contact(phone_number=phone, first_name=first_name,
                                           user_id=self.id if own else None)
        return await self._after(update_id, seen)

    async def forward_contact(self, phone: str, first_name: str, user_id: int | None) -> list[dict[str, Any]]:
        seen = self._seen()
        return await self._after(self.user.forward_contact(phone, first_name, user_id=user_id), seen)

    async def send_location(self, latitude: float, longitude: float, *, live_period: int | None = None
                            ) -> list[dict[str, Any]]:
        seen = self._seen()
        return await self._after(self.user.send_location(latitude, longitude, live_period=live_period), seen)

    async def send_photo(self, caption: str | None = None) -> list[dict[str, Any]]:
        seen = self._seen()
        return await self._after(self.user.send_photo(caption=caption), seen)

    async def tap(self, label: str) -> list[dict[str, Any]]:
        """Taps an inline button by its label on the latest message that has it."""
        seen = self._seen()
        return await self._after(self.user.press_button(label), seen)

    async def press(self, message: dict[str, Any] | int, callback_data: str) -> list[dict[str, Any]]:
        seen = self._seen()
        return await self._after(self.user.press(message, callback_data), seen)

    def texts(self) -> list[str]:
        return [m.get("text") or m.get("caption") or "" for m in self.runner.api.sent_messages(self.id)]

    def last_markup(self) -> dict[str, Any] | None:
        """The reply_markup the bot sent with its latest message here, as sent (reply keyboards included)."""
        calls = [c for c in self.runner.api.calls_to(self.id) if c.ok and c.method.startswith("send")]
        return calls[-1].params.get("reply_markup") if calls else None

    def asks_for_contact(self) -> bool:
        markup = self.last_markup() or {}
        return any(button.get("request_contact") for row in markup.get("keyboard", []) for button in row)

    def reply_keyboard(self) -> list[str] | None:
        return self.user.reply_keyboard()

    def inline_buttons(self) -> list[tuple[str, str | None]]:
        return self.user.inline_buttons()


def text_of(messages: list[dict[str, Any]]) -> str:
    return "\n---\n".join(m.get("text") or m.get("caption") or "" for m in messages)
