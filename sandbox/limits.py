"""The local Bot API with Telegram's sending limits enforced, faults injected, and send timing recorded.

Telegram answers 429 (with retry_after) to a bot that sends more than about 30 messages a second in all, more
than one a second to one chat, or more than 20 a minute to one group. This server does the same, so a test or a
benchmark can show a sender stays inside them: `violations()` says how close it came. Independently of the
limits, `fault_429_share` / `fault_500_share` of send calls fail at random (a seeded generator), as a busy
Telegram does.
"""

from __future__ import annotations

import bisect
import random
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.botapi import Call, LocalBotAPI

SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup", "sendVideo",
                          "sendAudio", "sendVoice", "sendAnimation", "sendSticker", "sendLocation", "sendContact",
                          "copyMessage", "forwardMessage"})


@dataclass(frozen=True)
class Timing:
    """What the accepted sends looked like."""

    sends: int
    max_in_any_second: int
    min_gap_same_chat_s: float | None
    max_per_minute_one_group: int
    rejected_429: int
    injected_429: int
    injected_500: int


class LimitedBotAPI(LocalBotAPI):
    def __init__(self, *args: Any, per_second: int = 30, per_chat_seconds: float = 1.0, group_per_minute: int = 20,
                 enforce: bool = True, retry_after: int = 1, seed: int = 7, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.per_second = per_second
        self.per_chat_seconds = per_chat_seconds
        self.group_per_minute = group_per_minute
        self.enforce = enforce
        self.retry_after = retry_after
        self.fault_429_share = 0.0
        self.fault_500_share = 0.0
        self.fault_chats: set[int] | None = None  # only sends to these chats fail (None: every chat)
        self.random = random.Random(seed)
        self.accepted: list[tuple[float, int]] = []  # (monotonic arrival, chat id) of each accepted send
        self._recent: deque[float] = deque()
        self._last_to_chat: dict[int, float] = {}
        self._group_recent: dict[int, deque[float]] = defaultdict(deque)
        self.rejected_429 = 0
        self.injected_429 = 0
        self.injected_500 = 0
        # Called with (method, raw params) as a send arrives; a hook returning True makes the server answer 500
        # without delivering (e.g. a test kills the sender at that moment). `after_send` hooks see accepted sends.
        self.before_send: list[Callable[[str, dict[str, Any]], bool]] = []
        self.after_send: list[Callable[[str, dict[str, Any]], None]] = []

    def reset_timing(self) -> None:
        self.accepted.clear()
        self._recent.clear()
        self._last_to_chat.clear()
        self._group_recent.clear()
        self.rejected_429 = self.injected_429 = self.injected_500 = 0

    async def call(self, token: str, method_name: str, raw: dict[str, Any],
                   uploads: dict[str, dict[str, Any]] | None = None) -> tuple[int, dict[str, Any]]:
        if method_name not in SEND_METHODS:
            return await super().call(token, method_name, raw, uploads)
        chat_id = _int(raw.get("chat_id"))
        now = time.monotonic()
        if any(hook(method_name, raw) for hook in list(self.before_send)):
            return 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        faulty = self.fault_chats is None or chat_id in self.fault_chats
        refusal = self._fault() if faulty else None
        if refusal is None and self.enforce and chat_id is not None:
            refusal = self._over_limit(chat_id, now)
        if refusal is not None:
            status, body = refusal
            self._record(Call(method_name, dict(raw), False, error=body["description"], chat_id=chat_id,
                              token=token, status=status))
            return status, body
        status, body = await super().call(token, method_name, raw, uploads)
        if status == 200 and chat_id is not None:
            self.accepted.append((now, chat_id))
            self._recent.append(now)
            self._last_to_chat[chat_id] = now
            if chat_id < 0:
                self._group_recent[chat_id].append(now)
            for hook in list(self.after_send):
                hook(method_name, raw)
        return status, body

    def _fault(self) -> tuple[int, dict[str, Any]] | None:
        roll = self.random.random()
        if roll < self.fault_429_share:
            self.injected_429 += 1
            return _too_many(self.retry_after)
        if roll < self.fault_429_share + self.fault_500_share:
            self.injected_500 += 1
            return 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        return None

    def _over_limit(self, chat_id: int, now: float) -> tuple[int, dict[str, Any]] | None:
        while self._recent and now - self._recent[0] >= 1.0:
            self._recent.popleft()
        last = self._last_to_chat.get(chat_id)
        group = self._group_recent[chat_id] if chat_id < 0 else None
        if group is not None:
            while group and now - group[0] >= 60.0:
                group.popleft()
        if (len(self._recent) >= self.per_second
                or (last is not None and now - last < self.per_chat_seconds)
                or (group is not None and len(group) >= self.group_per_minute)):
            self.rejected_429 += 1
            return _too_many(self.retry_after)
        return None

    def timing(self) -> Timing:
        times = [at for at, _chat in self.accepted]
        most = 0
        for index, start in enumerate(times):
            most = max(most, bisect.bisect_left(times, start + 1.0, lo=index) - index)
        by_chat: dict[int, list[float]] = defaultdict(list)
        for at, chat in self.accepted:
            by_chat[chat].append(at)
        gaps = [b - a for chat_times in by_chat.values() for a, b in zip(chat_times, chat_times[1:], strict=False)]
        group_most = 0
        for chat, chat_times in by_chat.items():
            if chat < 0:
                for index, start in enumerate(chat_times):
                    group_most = max(group_most,
                                     bisect.bisect_left(chat_times, start + 60.0, lo=index) - index)
        return Timing(len(times), most, min(gaps) if gaps else None, group_most, self.rejected_429,
                      self.injected_429, self.injected_500)


def _too_many(retry_after: int) -> tuple[int, dict[str, Any]]:
    return 429, {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {retry_after}",
                 "parameters": {"retry_after": retry_after}}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
