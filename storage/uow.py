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

from storage import driver_sql
from storage.conversation_rows import ConversationRow, write_step, written
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
from storage.repositories.sender import Sender, active_sender, sender_and_conversation
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
        self._senders: dict[int, Sender | None] = {}

    async def __aenter__(self) -> UnitOfWork:
        self._session, self._connection = None, None
        self.conversations, self._senders = {}, {}
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
        """The unit's connection: what runs on it commits with everything else, at `commit`. Statements sent
        straight to the driver (storage/driver_sql.py) run in the driver's own transaction, which the ORM's joins."""
        if self._connection is None:
            if self._session is not None:
                return await self._session.connection()
            self._connection = await self._engine.connect()
        return self._connection

    async def sender(self, tg_user_id: int, conversation_key: str | None = None) -> Sender | None:
        """Who sent the update (storage/repositories/sender.py), read once per unit. Given the key of their
        conversation, its row comes in the same query, for the FSM storage to find here."""
        if tg_user_id in self._senders:
            return self._senders[tg_user_id]
        connection = await self.connection()
        if conversation_key is not None and conversation_key not in self.conversations:
            sender, self.conversations[conversation_key] = await sender_and_conversation(
                connection, tg_user_id, conversation_key)
        else:
            sender = await active_sender(connection, tg_user_id)
        self._senders[tg_user_id] = sender
        return sender

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

    async def commit(self, *steps: driver_sql.Step) -> None:
        """Commits everything: the ORM's writes, the conversation rows the update changed, and `steps` (the update's
        inbox mark) go to the driver with the COMMIT in one trip (storage/driver_sql.py)."""
        if self._session is not None:
            await self._session.flush()
        changed = [(key, row) for key, row in self.conversations.items() if row.dirty]
        writes = [step for key, row in changed if (step := write_step(key, row)) is not None]
        writes += steps
        if writes or self._session is not None or self._connection is not None:
            await driver_sql.run_and_commit(await self.connection(), writes)
        for _, row in changed:
            written(row)
        # SQLAlchemy's own bookkeeping of the transaction just committed (no statement, the driver has nothing left).
        if self._session is not None:
            await self._session.commit()
        if self._connection is not None and self._connection.in_transaction():
            await self._connection.commit()

    async def rollback(self) -> None:
        # What this unit read or changed of conversations is no longer what the database holds.
        self.conversations, self._senders = {}, {}
        if self._session is not None:
            await self._session.rollback()
        if self._connection is not None:
            if self._connection.in_transaction():
                await self._connection.rollback()
            # The statements that ran straight on the driver began a transaction SQLAlchemy does not know of.
            await driver_sql.rollback(self._connection)


_REPOSITORIES = tuple(name for name, value in vars(UnitOfWork).items() if isinstance(value, cached_property))
