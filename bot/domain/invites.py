"""Invite codes and the throttle on guessing them."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

CODE_BYTES = 18  # 24 url-safe characters, ~144 bits: not guessable within the throttle
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=30)


def new_code() -> str:
    return secrets.token_urlsafe(CODE_BYTES)


def hash_code(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def looks_like_code(text: str) -> bool:
    return bool(CODE_PATTERN.match(text))


def deep_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"


@dataclass(frozen=True)
class Throttle:
    """Failures counted in a sliding-from-first window; too many lock the account out for a while."""

    failures: int
    window_started_at: datetime
    locked_until: datetime | None

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def after_failure(self, now: datetime) -> Throttle:
        if now - self.window_started_at > FAILURE_WINDOW:
            failures, started = 1, now
        else:
            failures, started = self.failures + 1, self.window_started_at
        locked = now + LOCKOUT if failures >= MAX_FAILURES else None
        return Throttle(failures=0 if locked else failures, window_started_at=now if locked else started,
                        locked_until=locked)
