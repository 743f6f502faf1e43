"""Telegram accounts without access: when they were last refused and last heard from."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import StrangerNotice


class StrangerNoticeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tg_user_id: int) -> StrangerNotice | None:
        return await self.session.get(StrangerNotice, tg_user_id)

    async def save(self, notice: StrangerNotice) -> None:
        self.session.add(notice)
        await self.session.flush()
