"""Unit of work: one transaction, the repositories over it, and the only place that commits.

An update's few fixed statements (who sent it, its conversation row, its inbox mark) run straight on the unit's
connection (`connection()`); the ORM session is made only when a repository is first used, bound to that same
connection and its transaction, so everything still commits once, together. Most updates never need the session:
making one, and its transaction bookkeeping and commit, cost more than the statements (docs/BENCHMARKS.md). Used
the other way round (the scheduler, the CLI: the session first), the unit is one session as it always was.
"""

from __future__ import annotations

from functools import cached_property
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from storage.conversation_rows import ConversationRow, write_row
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
    """Repositories are made when first used: an update uses two or three of the sixteen, often none."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._engine: AsyncEngine = sessionmaker.kw["bind"]
        self._session: AsyncSession | None = None
        self._connection: AsyncConnection | None = None  # set when statements came before the session
        # The conversation rows this unit read or changed (storage/fsm.py); the changed ones are written at commit.
        self.conversations: dict[str, ConversationRow] = {}

    async def __aenter__(self) -> UnitOfWork:
        self._session, self._connection = None, None
        self.conversations = {}
        self._forget_repositories()
        return self

    def _forget_repositories(self) -> None:
        for name in _REPOSITORIES:
            self.__dict__.pop(name, None)

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            # On the unit's connection when it has one: the ORM joins the transaction the statements run in.
            self._session = self._sessionmaker(bind=self._connection) if self._connection is not None \
                else self._sessionmaker()
        return self._session

    async def connection(self) -> AsyncConnection:
        """The unit's connection, in its transaction: what runs on it commits with everything else."""
        if self._connection is None:
            if self._session is not None:
                return await self._session.connection()
            self._connection = await self._engine.connect()
        if not self._connection.in_transaction():
            await self._connection.begin()
        return self._connection

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
        try:
            if exc_type is not None:
                await self.rollback()
        finally:
            if self._session is not None:
                await self._session.close()
            if self._connection is not None:
                await self._connection.close()

    async def commit(self) -> None:
        # Conversation state changed during the update is written here, so it commits with the handler's writes.
        pending = [(key, row) for key, row in self.conversations.items() if row.dirty]
        if pending:
            connection = await self.connection()
            for key, row in pending:
                await write_row(connection, key, row)
        if self._connection is None:
            await self.session.commit()
            return
        if self._session is not None:
            await self._session.commit()  # joined to the unit's transaction: flushes, and leaves the commit to it
        await self._connection.commit()

    async def rollback(self) -> None:
        # What this unit read or changed of conversations is no longer what the database holds.
        self.conversations = {}
        if self._session is not None:
            await self._session.rollback()  # joined: rolls the unit's transaction back too
        if self._connection is not None and self._connection.in_transaction():
            await self._connection.rollback()


_REPOSITORIES = tuple(name for name, value in vars(UnitOfWork).items() if isinstance(value, cached_property))
