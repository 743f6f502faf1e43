"""ResilientCalls (app/telegram.py) answers an update's repeated call from memory, and keys calls only when needed."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram.methods import SendMessage, TelegramMethod

from app import telegram
from app.telegram import ResilientCalls
from storage.inbox import Claim, current_claim


async def test_an_attempt_again_sends_nothing_twice_and_a_lone_call_is_never_keyed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = ResilientCalls()
    sent: list[str] = []

    async def make_request(bot: Any, method: TelegramMethod[Any]) -> Any:
        sent.append(method.text)  # type: ignore[attr-defined]
        return f"answer {len(sent)}"

    keyed: list[str] = []
    build_key = telegram.call_key

    def counting_key(method: TelegramMethod[Any]) -> str:
        keyed.append(method.text)  # type: ignore[attr-defined]
        return build_key(method)

    monkeypatch.setattr(telegram, "call_key", counting_key)
    claim = Claim(update_id=7, chat_key=1, payload="{}", attempts=1, token="t")
    token = current_claim.set(claim)
    try:
        assert await calls(make_request, None, SendMessage(chat_id=1, text="name?")) == "answer 1"  # type: ignore[arg-type]
        assert keyed == []  # the update's only call so far: nothing to compare it with
        claim.attempts = 2  # the update failed after its reply and runs again
        assert await calls(make_request, None, SendMessage(chat_id=1, text="name?")) == "answer 1"  # type: ignore[arg-type]
        assert await calls(make_request, None, SendMessage(chat_id=1, text="phone?")) == "answer 2"  # type: ignore[arg-type]
        assert sent == ["name?", "phone?"]
        calls.forget(7)
        assert await calls(make_request, None, SendMessage(chat_id=1, text="name?")) == "answer 3"  # type: ignore[arg-type]
    finally:
        current_claim.reset(token)
    # Outside an update (a push), nothing is remembered: the same text goes out each time.
    assert await calls(make_request, None, SendMessage(chat_id=1, text="hello")) == "answer 4"  # type: ignore[arg-type]
    assert await calls(make_request, None, SendMessage(chat_id=1, text="hello")) == "answer 5"  # type: ignore[arg-type]
