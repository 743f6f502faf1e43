"""Opinion leaders, information stations and sale reports, always read within a scope (an org path prefix)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import InfoStation, OpinionLeader, Sale

LIST_LIMIT = 50


class OpinionLeaderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_in_scope(self, leader_id: int, scope_path: str) -> OpinionLeader | None:
        """The leader, or None when it doesn't exist or lies outside the asker's subtree."""
        leader = await self.session.get(OpinionLeader, leader_id)
        if leader is None or not scope_path or not leader.org_path.startswith(scope_path):
            return None
        return leader

    async def by_token(self, client_token: str) -> OpinionLeader | None:
        result = await self.session.execute(select(OpinionLeader).where(OpinionLeader.client_token == client_token))
        return result.scalar_one_or_none()

    async def by_phone(self, dealer_unit_id: int, phone: str) -> OpinionLeader | None:
        query = select(OpinionLeader).where(OpinionLeader.dealer_unit_id == dealer_unit_id,
                                            OpinionLeader.phone == phone)
        result = await self.session.execute(query)
        return result.scalar_one_or_none()

    async def for_dealer(self, dealer_unit_id: int, limit: int = LIST_LIMIT) -> Sequence[OpinionLeader]:
        query = (select(OpinionLeader).where(OpinionLeader.dealer_unit_id == dealer_unit_id)
                 .order_by(col(OpinionLeader.name), col(OpinionLeader.id)).limit(limit))
        result = await self.session.execute(query)
        return result.scalars().all()

    async def in_scope(self, scope_path: str, limit: int = LIST_LIMIT) -> Sequence[OpinionLeader]:
        query = (select(OpinionLeader).where(col(OpinionLeader.org_path).startswith(scope_path))
                 .order_by(col(OpinionLeader.org_path), col(OpinionLeader.name), col(OpinionLeader.id))
                 .limit(limit))
        result = await self.session.execute(query)
        return result.scalars().all()

    async def add(self, leader: OpinionLeader) -> OpinionLeader:
        self.session.add(leader)
        await self.session.flush()
        return leader


class InfoStationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_token(self, client_token: str) -> InfoStation | None:
        result = await self.session.execute(select(InfoStation).where(InfoStation.client_token == client_token))
        return result.scalar_one_or_none()

    async def in_scope(self, scope_path: str, limit: int = LIST_LIMIT) -> Sequence[InfoStation]:
        query = (select(InfoStation).where(col(InfoStation.org_path).startswith(scope_path))
                 .order_by(col(InfoStation.created_at).desc()).limit(limit))
        result = await self.session.execute(query)
        return result.scalars().all()

    async def add(self, station: InfoStation) -> InfoStation:
        self.session.add(station)
        await self.session.flush()
        return station


class SaleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_token(self, client_token: str) -> Sale | None:
        result = await self.session.execute(select(Sale).where(Sale.client_token == client_token))
        return result.scalar_one_or_none()

    async def referred_between(self, leader_ids: Sequence[int], first: date, last: date) -> Sequence[Sale]:
        """Sales referred by any of the leaders with a sale date in [first, last], oldest first."""
        if not leader_ids:
            return []
        query = (select(Sale).where(col(Sale.leader_id).in_(list(leader_ids)),
                                    col(Sale.sold_on) >= first, col(Sale.sold_on) <= last)
                 .order_by(col(Sale.sold_on), col(Sale.id)))
        result = await self.session.execute(query)
        return result.scalars().all()

    async def add(self, sale: Sale) -> Sale:
        self.session.add(sale)
        await self.session.flush()
        return sale
