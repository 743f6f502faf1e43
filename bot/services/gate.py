"""Strangers (no active staff record): told once per conversation that the assistant is not for them."""

from __future__ import annotations

from datetime import timedelta

from bot.services.clock import Clock
from storage.models import StrangerNotice
from storage.uow import UnitOfWork

# A conversation ends after this long without a message; the next message starts a new one and is refused again.
QUIET_PERIOD = timedelta(hours=24)


class GateService:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    async def refusal_due(self, tg_user_id: int, *, restart: bool = False) -> bool:
        """Whether this message opens a new conversation (first ever, or after the quiet period): refuse it then.

        Every message is noted, so somebody writing every hour stays in one conversation and hears the refusal
        once; somebody coming back the next day hears it again. `restart` (a /start) always opens a new one.
        """
        now = self.clock()
        notice = await self.uow.strangers.get(tg_user_id)
        if notice is None:
            await self.uow.strangers.save(StrangerNotice(tg_user_id=tg_user_id, refused_at=now, last_seen_at=now))
            return True
        due = restart or now - notice.last_seen_at >= QUIET_PERIOD
        notice.last_seen_at = now
        if due:
            notice.refused_at = now
        await self.uow.strangers.save(notice)
        return due
