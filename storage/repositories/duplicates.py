"""Cross-dealer duplicate flags (one customer phone on file at two dealers), read by the unit above both."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Customer, DuplicateFlag


class DuplicateFlagRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def same_phone_elsewhere(self, phone: str, dealer_unit_id: int) -> Sequence[Customer]:
        """Customers with this phone at other dealers (any scope: the caller must not show them to the user)."""
        query = select(Customer).where(Customer.phone == phone, Customer.dealer_unit_id != dealer_unit_id)
        result = await self.session.execute(query.order_by(col(Customer.id)))
        return result.scalars().all()

    async def exists(self, customer_id: int, other_customer_id: int) -> bool:
        query = select(DuplicateFlag.id).where(DuplicateFlag.customer_id == customer_id,
                                               DuplicateFlag.other_customer_id == other_customer_id)
        return (await self.session.execute(query)).first() is not None

    async def add(self, flag: DuplicateFlag) -> DuplicateFlag:
        self.session.add(flag)
        await self.session.flush()
        return flag

    async def open_in_scope(self, scope_path: str) -> Sequence[DuplicateFlag]:
        """Unresolved flags a person whose unit has this path may review (flags raised at or below it)."""
        query = (select(DuplicateFlag).where(col(DuplicateFlag.reviewer_path).startswith(scope_path),
                                             col(DuplicateFlag.resolved_at).is_(None))
                 .order_by(col(DuplicateFlag.id)))
        return (await self.session.execute(query)).scalars().all()
