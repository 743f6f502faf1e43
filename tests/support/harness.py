"""Drives the production dispatcher over HTTP through the local Bot API server, as Telegram users would."""

from __future__ import annotations

from typing import Any

from app.driver import BOT_USERNAME, TOKEN, WAIT_S, BotUnderTest, UpdateTracker
from sandbox.botapi import FakeUser

__all__ = ["BOT_USERNAME", "TOKEN", "WAIT_S", "BotUnderTest", "Chat", "UpdateTracker", "text_of"]


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

    async def send_fields(self, **fields: Any) -> list[dict[str, Any]]:
        """Any message by its Message fields, e.g. a forwarded location: location=..., forward_origin=..."""
        seen = self._seen()
        return await self._after(self.user.send_message(**fields), seen)

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
