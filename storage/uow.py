"""Unit of work: one session, the repositories over it, and the only place that commits."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.conversation_rows import flush_conversations, forget_conversations
from storage.repositories import (
    AttemptRepository,
    AuditRepository,
    InviteRepository,
    OrgRepository,
    StaffRepository,
)
from storage.repositories.activities import ActivityRepository
from storage.repositories.customers import CustomerRepository
from storage.repositories.duplicates import DuplicateFlagRepository
from storage.repositories.handover import HandoverRepository
from storage.repositories.network import InfoStationRepository, OpinionLeaderRepository, SaleRepository
from storage.repositories.numbers import NumbersRepository
from storage.repositories.stats import StatsRepository
from storage.repositories.strangers import StrangerNoticeRepository
from storage.repositories.visits import VisitRepository


class UnitOfWork:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self.session: AsyncSession

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessionmaker()
        self.org = OrgRepository(self.session)
        self.staff = StaffRepository(self.session)
        self.invites = InviteRepository(self.session)
        self.attempts = AttemptRepository(self.session)
        self.audit = AuditRepository(self.session)
        self.customers = CustomerRepository(self.session)
        self.activities = ActivityRepository(self.session)
        self.leaders = OpinionLeaderRepository(self.session)
        self.stations = InfoStationRepository(self.session)
        self.sales = SaleRepository(self.session)
        self.visits = VisitRepository(self.session)
        self.stats = StatsRepository(self.session)
        self.numbers = NumbersRepository(self.session)
        self.strangers = StrangerNoticeRepository(self.session)
        self.duplicates = DuplicateFlagRepository(self.session)
        self.handover = HandoverRepository(self.session)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if exc_type is not None:
            await self.rollback()
        await self.session.close()

    async def commit(self) -> None:
        # Conversation state changed during the update is written here, so it commits with the handler's writes.
        await flush_conversations(self.session)
        await self.session.commit()

    async def rollback(self) -> None:
        forget_conversations(self.session)
        await self.session.rollback()
