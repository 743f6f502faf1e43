"""Outbox rows from services: who a push goes to (Telegram or SMS), and the customer rules that hold on every
push to a customer — opt-outs, quiet hours and the frequency cap — applied when the row is written.

Rows go through storage's raw-SQL outbox writer (storage/repositories/outbox.py) in the caller's transaction;
the dispatcher (pushes/) renders and sends them after the commit. Written in batches: a scheduled fan-out to
many customers is a few statements, not one per customer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.domain.playbook import Schedule
from bot.domain.reminders import cap_reopens, within_quiet_hours
from storage.repositories import outbox as rows
from storage.types import UTCDateTime

BATCH = 500
# Rows that count toward a customer's frequency cap: what was sent and what is still to go.
_COUNTED = ("pending", "sending", "sent", "no_gateway")


@dataclass(frozen=True)
class StaffAddress:
    id: int
    chat_id: int
    locale: str | None


@dataclass(frozen=True)
class CustomerAddress:
    """What a push to a customer needs; `route` says how (or whether) they can be reached."""

    id: int
    tg_user_id: int | None
    phone: str | None
    locale: str | None
    reminders_off: bool
    sms_opted_out: bool

    def route(self) -> tuple[str, int | None, str | None] | None:
        """("telegram", chat, None), ("sms", None, phone), or None when they asked for nothing."""
        if self.reminders_off:
            return None
        if self.tg_user_id is not None:
            return "telegram", self.tg_user_id, None
        if self.phone and not self.sms_opted_out:
            return "sms", None, self.phone
        return None


@dataclass(frozen=True)
class CustomerPush:
    customer: CustomerAddress
    key: str
    params: Mapping[str, Any]
    idempotency_key: str
    due_at: datetime
    expires_in: timedelta | None = None  # None: still meaningful whenever it goes (service reminders)
    capped: bool = True  # an appointment the customer booked is not held back by the cap
    expires_at: datetime | None = None  # an absolute end instead of expires_in


@dataclass
class CustomerOutcome:
    queued: int = 0
    deferred: int = 0  # moved later by quiet hours or the cap
    dropped_cap: int = 0  # would only fit after expiry (greetings)
    unreachable: int = 0  # stopped, opted out, or no phone


_RECENT = text(
    "SELECT recipient_id, due_at, sent_at FROM outbox WHERE recipient_kind = 'customer' "
    "AND recipient_id IN :ids AND status IN :statuses AND due_at > :since"
).bindparams(bindparam("ids", expanding=True), bindparam("statuses", expanding=True),
             bindparam("since", type_=UTCDateTime())).columns(due_at=UTCDateTime(), sent_at=UTCDateTime())


async def recent_customer_pushes(session: AsyncSession | AsyncConnection, customer_ids: Iterable[int],
                                 since: datetime) -> dict[int, list[datetime]]:
    """Per customer, when each counted push went (or is due) since `since`."""
    found: dict[int, list[datetime]] = defaultdict(list)
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), BATCH):
        result = await session.execute(_RECENT, {"ids": ids[start:start + BATCH], "statuses": list(_COUNTED),
                                                 "since": since})
        for recipient_id, due_at, sent_at in result:
            found[recipient_id].append(sent_at or due_at)
    return found


class PushWriter:
    """Collects rows for one transaction and writes them in batches."""

    def __init__(self, session: AsyncSession | AsyncConnection, now: datetime) -> None:
        self.session = session
        self.now = now
        self._values: list[dict[str, Any]] = []

    def to_staff(self, staff: StaffAddress, key: str, params: Mapping[str, Any], idempotency_key: str, *,
                 due_at: datetime | None = None, expires_at: datetime | None = None) -> None:
        self._values.append(rows.row_values(
            recipient_kind="staff", recipient_id=staff.id, chat_id=staff.chat_id, phone=None, channel="telegram",
            locale=staff.locale, key=key, params=params, idempotency_key=idempotency_key,
            due_at=due_at or self.now, expires_at=expires_at, now=self.now))

    async def to_customers(self, pushes: Sequence[CustomerPush], schedule: Schedule, tz: ZoneInfo
                           ) -> CustomerOutcome:
        """Customer pushes under the customer rules: route, quiet hours, then the frequency cap."""
        outcome = CustomerOutcome()
        cap = schedule.frequency_cap
        earliest = min((p.due_at for p in pushes), default=self.now)
        recent = await recent_customer_pushes(self.session, (p.customer.id for p in pushes),
                                              min(earliest, self.now) - timedelta(days=cap.days))
        for push in pushes:
            route = push.customer.route()
            if route is None:
                outcome.unreachable += 1
                continue
            channel, chat_id, phone = route
            expires_at = push.expires_at or (push.due_at + push.expires_in if push.expires_in else None)
            # A due time already past (a catch-up) goes now, but never at night.
            due = self._fit(max(push.due_at, self.now), recent[push.customer.id] if push.capped else [], schedule, tz)
            if expires_at is not None and due >= expires_at:
                outcome.dropped_cap += 1
                continue
            if due > max(push.due_at, self.now):
                outcome.deferred += 1
            recent[push.customer.id].append(due)
            outcome.queued += 1
            self._values.append(rows.row_values(
                recipient_kind="customer", recipient_id=push.customer.id, chat_id=chat_id, phone=phone,
                channel=channel, locale=push.customer.locale, key=push.key, params=push.params,
                idempotency_key=push.idempotency_key, due_at=due, expires_at=expires_at, now=self.now))
        return outcome

    @staticmethod
    def _fit(due: datetime, recent: list[datetime], schedule: Schedule, tz: ZoneInfo) -> datetime:
        # Quiet hours and the cap each move the time later; repeat until both hold (a few rounds at most).
        for _ in range(10):
            moved = within_quiet_hours(cap_reopens(recent, due, schedule.frequency_cap), schedule.quiet_hours, tz)
            if moved == due:
                return due
            due = moved
        return due

    async def flush(self) -> int:
        """Writes what was collected (existing idempotency keys are skipped); returns how many were offered."""
        count = len(self._values)
        for start in range(0, count, BATCH):
            await rows.insert_many(self.session, self._values[start:start + BATCH])
        self._values.clear()
        return count
