"""Unit of work: one session, the repositories over it, and the only place that commits."""

from __future__ import annotations

from functools import cached_property
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
    """Repositories are made when first used: an update uses two or three of the sixteen."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self.session: AsyncSession

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessionmaker()
        for name in _REPOSITORIES:
            self.__dict__.pop(name, None)  # entered again: the repositories of the new session
        return self

    @cached_property
    def org(self) -> OrgRepository:
        return OrgRepository(self.session)

    @cached_property
    def staff(self) -> StaffRepository:
        return StaffRepository(self.session)

    @cached_property
    def invites(self) -> InviteRepository:
        return InviteRepository(self.session)

    @cached_property
    def attempts(self) -> AttemptRepository:
        return AttemptRepository(self.session)

    @cached_property
    def audit(self) -> AuditRepository:
        return AuditRepository(self.session)

    @cached_property
    def customers(self) -> CustomerRepository:
        return CustomerRepository(self.session)

    @cached_property
    def activities(self) -> ActivityRepository:
        return ActivityRepository(self.session)

    @cached_property
    def leaders(self) -> OpinionLeaderRepository:
        return OpinionLeaderRepository(self.session)

    @cached_property
    def stations(self) -> InfoStationRepository:
        return InfoStationRepository(self.session)

    @cached_property
    def sales(self) -> SaleRepository:
        return SaleRepository(self.session)

    @cached_property
    def visits(self) -> VisitRepository:
        return VisitRepository(self.session)

    @cached_property
    def stats(self) -> StatsRepository:
        return StatsRepository(self.session)

    @cached_property
    def numbers(self) -> NumbersRepository:
        return NumbersRepository(self.session)

    @cached_property
    def strangers(self) -> StrangerNoticeRepository:
        return StrangerNoticeRepository(self.session)

    @cached_property
    def duplicates(self) -> DuplicateFlagRepository:
        return DuplicateFlagRepository(self.session)

    @cached_property
    def handover(self) -> HandoverRepository:
        return HandoverRepository(self.session)

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


_REPOSITORIES = tuple(name for name, value in vars(UnitOfWork).items() if isinstance(value, cached_property))
