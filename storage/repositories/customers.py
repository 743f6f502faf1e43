"""Customers, always read within a scope: the org path of the person asking."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import bindparam, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Customer
from storage.repositories.sender import TELEGRAM_UNREACHABLE

SEARCH_LIMIT = 10
DUE_LIMIT = 20
# Built once: the phone step runs it on every new customer, and building the query cost as much as running it.
_BY_PHONE = select(Customer).where(Customer.dealer_unit_id == bindparam("dealer_unit_id"),
                                   Customer.phone == bindparam("phone"))
_LINKED_SENDER = (select(Customer, TELEGRAM_UNREACHABLE.label("unreachable"))
                  .where(Customer.tg_user_id == bindparam("tg_user_id"))
                  .order_by(col(Customer.linked_at).desc(), col(Customer.id).desc()).limit(1))


class CustomerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_in_scope(self, customer_id: int, scope_path: str) -> Customer | None:
        """The customer, or None when it doesn't exist or lies outside the asker's subtree."""
        customer = await self.session.get(Customer, customer_id)
        if customer is None or not scope_path or not customer.org_path.startswith(scope_path):
            return None
        return customer

    async def linked_to(self, tg_user_id: int) -> Customer | None:
        """The customer record most recently linked to a Telegram account, if any."""
        query = (select(Customer).where(Customer.tg_user_id == tg_user_id)
                 .order_by(col(Customer.linked_at).desc(), col(Customer.id).desc()).limit(1))
        result = await self.session.execute(query)
        return result.scalars().first()

    async def linked_sender(self, tg_user_id: int) -> tuple[Customer | None, bool]:
        """`linked_to` for the per-update middleware, in the same one query: the customer, and whether their
        Telegram address is marked unreachable (they had blocked the bot; writing to it again means they are back)."""
        row = (await self.session.execute(_LINKED_SENDER, {"tg_user_id": tg_user_id,
                                                           "tg_address": str(tg_user_id)})).first()
        return (None, False) if row is None else (row[0], bool(row[1]))

    async def by_phone(self, dealer_unit_id: int, phone: str) -> Customer | None:
        result = await self.session.execute(_BY_PHONE, {"dealer_unit_id": dealer_unit_id, "phone": phone})
        return result.scalar_one_or_none()

    async def search(self, scope_path: str, text: str, limit: int = SEARCH_LIMIT) -> Sequence[Customer]:
        """By name fragment or phone-digit fragment, newest first, within the scope."""
        digits = "".join(ch for ch in text if ch.isdigit())
        # autoescape: a "%" or "_" typed by the user is a character to find, not a wildcard
        conditions = [col(Customer.name).icontains(text.strip(), autoescape=True)]
        if len(digits) >= 3:
            conditions.append(col(Customer.phone).like(f"%{digits}%"))
        if not scope_path:
            return []
        query = (select(Customer).where(col(Customer.org_path).startswith(scope_path), or_(*conditions))
                 .order_by(col(Customer.updated_at).desc()).limit(limit))
        result = await self.session.execute(query)
        return result.scalars().all()

    async def recent_for_owner(self, owner_staff_id: int, limit: int = SEARCH_LIMIT) -> Sequence[Customer]:
        query = (select(Customer).where(Customer.owner_staff_id == owner_staff_id)
                 .order_by(col(Customer.updated_at).desc()).limit(limit))
        result = await self.session.execute(query)
        return result.scalars().all()

    async def due_for_owner(self, owner_staff_id: int, day: date, limit: int = DUE_LIMIT) -> Sequence[Customer]:
        """The owner's customers whose next follow-up is on or before `day`, most overdue first."""
        query = (select(Customer).where(Customer.owner_staff_id == owner_staff_id,
                                        col(Customer.next_follow_up).is_not(None),
                                        col(Customer.next_follow_up) <= day)
                 .order_by(col(Customer.next_follow_up), col(Customer.id)).limit(limit))
        result = await self.session.execute(query)
        return result.scalars().all()

    async def add(self, customer: Customer) -> Customer:
        self.session.add(customer)
        await self.session.flush()
        return customer
