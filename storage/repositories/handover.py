"""Moving one person's work to a colleague in bulk: customers (with their follow-ups), opinion leaders and the
activities still in progress. One UPDATE per table; the caller records the counts in the audit log."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Activity, Customer, Invite, OpinionLeader


class HandoverRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def follow_ups_of(self, staff_id: int) -> int:
        query = select(func.count()).select_from(Customer).where(
            Customer.owner_staff_id == staff_id, col(Customer.next_follow_up).is_not(None))
        return int((await self.session.execute(query)).scalar_one())

    async def move_customers(self, from_id: int, to_id: int) -> int:
        return await self._move(update(Customer).where(col(Customer.owner_staff_id) == from_id)
                                .values(owner_staff_id=to_id))

    async def move_leaders(self, from_id: int, to_id: int) -> int:
        return await self._move(update(OpinionLeader).where(col(OpinionLeader.maintainer_staff_id) == from_id)
                                .values(maintainer_staff_id=to_id))

    async def move_activities(self, from_id: int, to_id: int, states: Sequence[str]) -> int:
        return await self._move(update(Activity).where(col(Activity.requester_staff_id) == from_id,
                                                       col(Activity.state).in_(list(states)))
                                .values(requester_staff_id=to_id))

    async def expire_invites_for(self, staff_id: int, now) -> int:
        """Unused invites bound to the person can no longer be used to come back in."""
        return await self._move(update(Invite).where(col(Invite.staff_id) == staff_id, col(Invite.used_at).is_(None),
                                                     col(Invite.revoked_at).is_(None))
                                .values(revoked_at=now))

    async def _move(self, statement) -> int:
        result = await self.session.execute(statement.execution_options(synchronize_session=False))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
