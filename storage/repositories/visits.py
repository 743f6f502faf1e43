"""Visit reports, always written with the flow's client token so a report is stored exactly once."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Visit

RECENT_LIMIT = 5


class VisitRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_token(self, client_token: str) -> Visit | None:
        result = await self.session.execute(select(Visit).where(Visit.client_token == client_token))
        return result.scalar_one_or_none()

    async def add(self, visit: Visit) -> Visit:
        self.session.add(visit)
        await self.session.flush()
        return visit

    async def recent_for_customer(self, customer_id: int, limit: int = RECENT_LIMIT) -> Sequence[Visit]:
        query = (select(Visit).where(Visit.customer_id == customer_id)
                 .order_by(col(Visit.visited_at).desc(), col(Visit.id).desc()).limit(limit))
        result = await self.session.execute(query)
        return result.scalars().all()
