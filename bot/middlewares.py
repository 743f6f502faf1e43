"""Per-update plumbing: one unit of work per update, the sender's staff record and unit, and the services."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.services.clock import Clock
from bot.services.registry import build_services
from storage.fsm import update_session
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)


class DatabaseMiddleware(BaseMiddleware):
    """Opens one session per update, commits when the handler succeeds and rolls back when it fails."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.clock = clock

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        async with UnitOfWork(self.sessionmaker) as uow:
            staff = await uow.staff.by_tg_user(user.id) if user else None
            if staff is not None and not staff.active:
                staff = None
            data["uow"] = uow
            data["staff"] = staff
            # The sender's own org unit: every scope check starts from its path.
            data["unit"] = await uow.org.get(staff.org_unit_id) if staff is not None else None
            data["settings"] = self.settings
            data["clock"] = self.clock
            data.update(build_services(uow, self.clock, self.settings))
            token = update_session.set(uow.session)
            try:
                result = await handler(event, data)
            finally:
                update_session.reset(token)
            await uow.commit()
            return result
