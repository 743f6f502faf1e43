"""Reaching customers: the link a salesperson sends, the customer's confirmation, /stop and /start, SMS opt-outs
(TD) and service bookings, which tell the dealer through the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text, update
from sqlmodel import col, select

from bot.domain import invites as codes
from bot.domain.errors import DomainError
from bot.domain.phones import mask_phone, normalize_phone
from bot.domain.playbook import AppointmentRule, default_playbook
from bot.domain.reminders import local_day, local_moment
from bot.services.clock import Clock
from bot.services.onboarding import ContactCard
from bot.services.push_rows import PushWriter, StaffAddress
from storage.models import Customer, CustomerLink, OrgUnit, ServiceBooking, Staff
from storage.repositories import outbox as outbox_rows
from storage.uow import UnitOfWork

# Customer link codes start with this, so /start tells them from staff invites without a lookup.
LINK_PREFIX = "c-"
LINK_TTL = timedelta(days=7)
BOOKING_KINDS = ("maintenance", "repair", "parts")
# Who at the dealer hears of a booking, besides the customer's own salesperson.
DEALER_NOTIFIED_ROLES = ("dealer_marketing_manager",)


def is_link_code(code: str) -> bool:
    return code.startswith(LINK_PREFIX) and codes.looks_like_code(code[len(LINK_PREFIX):])


@dataclass(frozen=True)
class IssuedLink:
    code: str
    customer: Customer
    expires_at: datetime


def booking_days(today: date, rule: AppointmentRule) -> list[date]:
    """Days a customer may book: tomorrow up to book_days_ahead."""
    return [today + timedelta(days=n) for n in range(1, rule.book_days_ahead + 1)]


class CustomerReachService:
    def __init__(self, uow: UnitOfWork, clock: Clock, tz: ZoneInfo) -> None:
        self.uow = uow
        self.clock = clock
        self.tz = tz
        self.rule = default_playbook().schedule.appointments

    # --- the link -----------------------------------------------------------------------------------------

    async def issue_link(self, staff: Staff, unit: OrgUnit | None, customer_id: int) -> IssuedLink:
        """A one-time code for a customer in the salesperson's scope; earlier unused codes stop working."""
        customer = await self.uow.customers.get_in_scope(customer_id, unit.path if unit else "")
        if customer is None:
            raise DomainError("customer_not_found")
        if not customer.phone:
            raise DomainError("customer_no_phone")
        now = self.clock()
        await self.uow.session.execute(
            update(CustomerLink).where(col(CustomerLink.customer_id) == customer.id,
                                       col(CustomerLink.used_at).is_(None), col(CustomerLink.expires_at) > now)
            .values(expires_at=now))
        code = LINK_PREFIX + codes.new_code()
        assert customer.id is not None and staff.id is not None
        link = CustomerLink(code_hash=codes.hash_code(code), customer_id=customer.id, issued_by_staff_id=staff.id,
                            created_at=now, expires_at=now + LINK_TTL)
        self.uow.session.add(link)
        await self.uow.session.flush()
        await self.uow.audit.record("customer.link_issued", actor_staff_id=staff.id,
                                    subject=f"customer:{customer.id}", at=now)
        return IssuedLink(code=code, customer=customer, expires_at=link.expires_at)

    async def check_link(self, code: str) -> CustomerLink:
        """The unused, unexpired link behind a code, or DomainError link_invalid / link_used / link_expired."""
        result = await self.uow.session.execute(
            select(CustomerLink).where(CustomerLink.code_hash == codes.hash_code(code)))
        link = result.scalar_one_or_none() if is_link_code(code) else None
        if link is None:
            raise DomainError("link_invalid")
        if link.used_at is not None:
            raise DomainError("link_used")
        if link.expires_at <= self.clock():
            raise DomainError("link_expired")
        return link

    async def confirm(self, link_id: int, tg_user_id: int, contact: ContactCard, locale: str) -> Customer:
        """Links the sender's Telegram account when the phone they share is the customer's 联系电话."""  # i18n-ok
        if contact.user_id != tg_user_id:
            raise DomainError("contact_not_own")
        phone = normalize_phone(contact.phone_number)  # DomainError("bad_phone")
        now = self.clock()
        link = await self.uow.session.get(CustomerLink, link_id)
        if link is None:
            raise DomainError("link_invalid")
        if link.expires_at <= now:
            raise DomainError("link_expired")
        customer = await self.uow.session.get(Customer, link.customer_id)
        if customer is None:
            raise DomainError("link_invalid")
        if customer.phone != phone:
            await self.uow.audit.record("customer.link_refused", subject=f"customer:{customer.id}",
                                        detail={"phone": mask_phone(phone)}, at=now)
            raise DomainError("link_phone_mismatch")
        consumed = await self.uow.session.execute(
            update(CustomerLink).where(col(CustomerLink.id) == link_id, col(CustomerLink.used_at).is_(None))
            .values(used_at=now, used_by_tg_user_id=tg_user_id))
        if consumed.rowcount != 1:  # type: ignore[attr-defined]
            raise DomainError("link_used")
        customer.tg_user_id = tg_user_id
        customer.locale = locale
        customer.linked_at = now
        customer.reminders_off = False
        customer.updated_at = now
        self.uow.session.add(customer)
        # They are talking to the bot now: an old "blocked" mark on this account (an earlier link) no longer holds.
        await outbox_rows.mark_reachable(self.uow.session, channel="telegram", address=str(tg_user_id))
        await self.uow.audit.record("customer.linked", subject=f"customer:{customer.id}",
                                    detail={"link": link_id}, at=now)
        return customer

    async def linked(self, tg_user_id: int) -> Sequence[Customer]:
        """Customer records this Telegram account is linked to (one person may buy from two dealers)."""
        result = await self.uow.session.execute(
            select(Customer).where(Customer.tg_user_id == tg_user_id).order_by(col(Customer.id)))
        return result.scalars().all()

    # --- switching reminders off and on -------------------------------------------------------------------

    async def set_reminders(self, tg_user_id: int, on: bool) -> int:
        """/start and /stop: every record linked to this account; pending pushes are cancelled on /stop."""
        customers = await self.linked(tg_user_id)
        now = self.clock()
        for customer in customers:
            customer.reminders_off = not on
            customer.updated_at = now
            self.uow.session.add(customer)
            if not on:
                await self._drop_pending(customer.id, "stopped by the customer")  # type: ignore[arg-type]
            await self.uow.audit.record("customer.reminders_on" if on else "customer.reminders_off",
                                        subject=f"customer:{customer.id}", at=now)
        return len(customers)

    async def sms_opt_out(self, raw_phone: str) -> int:
        """An inbound TD (or the operator recording one): no more SMS to this number from any dealer."""
        phone = normalize_phone(raw_phone)
        now = self.clock()
        result = await self.uow.session.execute(select(Customer).where(Customer.phone == phone))
        customers = result.scalars().all()
        for customer in customers:
            if customer.sms_opt_out_at is None:
                customer.sms_opt_out_at = now
                customer.updated_at = now
                self.uow.session.add(customer)
            await self._drop_pending(customer.id, "opted out by SMS", channel="sms")  # type: ignore[arg-type]
            await self.uow.audit.record("customer.sms_opt_out", subject=f"customer:{customer.id}",
                                        detail={"phone": mask_phone(phone)}, at=now)
        return len(customers)

    async def _drop_pending(self, customer_id: int, reason: str, channel: str | None = None) -> None:
        # Rows still waiting for this customer are dropped, so an opt-out holds for what was already queued.
        await self.uow.session.execute(text(
            "UPDATE outbox SET status = 'dropped', last_error = :reason WHERE recipient_kind = 'customer' "
            "AND recipient_id = :cid AND status IN ('pending', 'no_gateway')"
            + (" AND channel = :channel" if channel else "")),
            {"cid": customer_id, "reason": reason, **({"channel": channel} if channel else {})})

    # --- booking a service appointment ---------------------------------------------------------------------

    def slot_moment(self, day: date, slot: str) -> datetime:
        if slot not in self.rule.slots:
            raise DomainError("booking_bad_slot")
        return local_moment(day, slot, self.tz)

    async def own_customer(self, tg_user_id: int, customer_id: int) -> Customer:
        """A customer record linked to this account; callback data is never trusted."""
        customer = await self.uow.session.get(Customer, customer_id)
        if customer is None or customer.tg_user_id != tg_user_id:
            raise DomainError("customer_not_found")
        return customer

    async def book(self, tg_user_id: int, customer_id: int, kind: str, day: date, slot: str,
                   client_token: str | None = None) -> ServiceBooking:
        """Books a slot and tells the customer's salesperson and the dealer's marketing manager."""
        if kind not in BOOKING_KINDS:
            raise DomainError("booking_bad_kind")
        customer = await self.own_customer(tg_user_id, customer_id)
        now = self.clock()
        if day not in booking_days(local_day(now, self.tz), self.rule):
            raise DomainError("booking_bad_day")
        slot_at = self.slot_moment(day, slot)
        token = client_token or uuid.uuid4().hex
        existing = (await self.uow.session.execute(
            select(ServiceBooking).where(ServiceBooking.client_token == token))).scalar_one_or_none()
        if existing is not None:
            return existing
        assert customer.id is not None
        booking = ServiceBooking(client_token=token, customer_id=customer.id, dealer_unit_id=customer.dealer_unit_id,
                                 org_path=customer.org_path, kind=kind, slot_at=slot_at, created_at=now)
        self.uow.session.add(booking)
        await self.uow.session.flush()
        writer = PushWriter(self.uow.session, now)
        for person in await self.dealer_contacts(customer):
            writer.to_staff(person, "staff.booking", {"booking": booking.id, "customer": customer.id},
                            f"booking:{booking.id}:staff:{person.id}")
        await writer.flush()
        await self.uow.audit.record("customer.booked", subject=f"booking:{booking.id}",
                                    detail={"customer": customer.id, "kind": kind}, at=now)
        return booking

    async def dealer_contacts(self, customer: Customer) -> list[StaffAddress]:
        """The customer's salesperson and the dealer's customer-marketing managers who use Telegram."""
        result = await self.uow.session.execute(
            select(Staff).where(Staff.active == True,  # noqa: E712
                                col(Staff.tg_user_id).is_not(None),
                                (col(Staff.id) == customer.owner_staff_id)
                                | ((col(Staff.org_unit_id) == customer.dealer_unit_id)
                                   & col(Staff.role).in_(DEALER_NOTIFIED_ROLES)))
            .order_by(col(Staff.id)))
        return [StaffAddress(s.id, s.tg_user_id, s.locale) for s in result.scalars()]  # type: ignore[arg-type]
