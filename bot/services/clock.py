"""A clock is any callable returning an aware UTC datetime; tests pass a fixed one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class OffsetClock:
    """The system clock moved forward by an offset: the sandbox's clock, which its page can advance.

    The app shell hands the same instance to the dispatcher and the scheduler's jobs, so a jump is seen by both.
    """

    def __init__(self, base: Clock = system_clock) -> None:
        self.base = base
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return self.base() + self.offset

    def advance_to(self, when: datetime) -> datetime:
        """Moves forward to `when` (never back: what was stored stays in the past); returns the new time."""
        now = self()
        if when > now:
            self.offset += when - now
        return self()
