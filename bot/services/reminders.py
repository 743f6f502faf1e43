"""The scheduled pushes as outbox rows: each method asks the rules in bot/domain/reminders.py what is due on the
clock's local day, selects the people it concerns in a few set-based queries, and writes rows whose
idempotency keys make a second run (another process, a restart, a catch-up) write nothing new.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import reminders as rules
from bot.domain.playbook import Schedule, default_playbook
from bot.services.clock import Clock
from bot.services.push_rows import BATCH, CustomerAddress, CustomerOutcome, CustomerPush, PushWriter, StaffAddress
from storage.types import UTCDateTime


@dataclass
class JobReport:
    """What one run of a job wrote."""

    job: str
    day: date
    customers: CustomerOutcome = field(default_factory=CustomerOutcome)
    staff_messages: int = 0

    def __str__(self) -> str:
        c = self.customers
        return (f"{self.job} {self.day}: {c.queued} to customers ({c.deferred} deferred, {c.dropped_cap} over the cap,"
                f" {c.unreachable} unreachable), {self.staff_messages} to staff")


_CUSTOMER_COLUMNS = ("c.id, c.name, c.tg_user_id, c.phone, c.locale, c.reminders_off, c.sms_opt_out_at, "
                     "c.dealer_unit_id, c.owner_staff_id, c.purchase_date, c.fleet_size")


def _address(row: Any) -> CustomerAddress:
    return CustomerAddress(id=row.id, tg_user_id=row.tg_user_id, phone=row.phone, locale=row.locale,
                           reminders_off=bool(row.reminders_off), sms_opted_out=row.sms_opt_out_at is not None)


class ReminderService:
    def __init__(self, session: AsyncSession, clock: Clock, tz: ZoneInfo, schedule: Schedule | None = None) -> None:
        self.session = session
        self.clock = clock
        self.tz = tz
        self.schedule = schedule or default_playbook().schedule

    def today(self) -> date:
        return rules.local_day(self.clock(), self.tz)

    async def _dealer_names(self) -> dict[int, str]:
        result = await self.session.execute(text("SELECT id, name FROM org_unit WHERE kind = 'dealer'"))
        return {row.id: row.name for row in result}

    async def _customers_in_batches(self, where: str, params: dict[str, Any],
                                    expanding: Sequence[str] = ()) -> AsyncIterator[Sequence[Any]]:
        """Customers matching `where`, BATCH at a time, by id (keyset: no OFFSET scans)."""
        statement = text(f"SELECT {_CUSTOMER_COLUMNS} FROM customer c WHERE c.id > :after AND ({where}) "
                         "ORDER BY c.id LIMIT :limit")
        if expanding:
            statement = statement.bindparams(*(bindparam(name, expanding=True) for name in expanding))
        after = 0
        while True:
            result = await self.session.execute(statement, {**params, "after": after, "limit": BATCH})
            batch = result.all()
            if not batch:
                return
            yield batch
            after = batch[-1].id

    # --- holiday greetings ------------------------------------------------------------------------------------

    async def greetings(self) -> JobReport:
        """On a festival's first day: a greeting to every reachable customer, signed with their dealer."""
        now, today = self.clock(), self.today()
        rule = self.schedule.greetings
        report = JobReport("greetings", today)
        festivals = rules.festivals_on(today, rule)
        if not festivals:
            return report
        due = rules.local_moment(today, rule.send_at, self.tz)
        expires_at = due + timedelta(hours=rule.expire_hours)
        if now >= expires_at:
            return report
        dealers = await self._dealer_names()
        where = "c.reminders_off = :off AND (c.tg_user_id IS NOT NULL OR (c.phone IS NOT NULL AND " \
                "c.sms_opt_out_at IS NULL))"
        async for batch in self._customers_in_batches(where, {"off": False}):
            writer = PushWriter(self.session, now)
            pushes = [CustomerPush(
                customer=_address(row), key="customer.greeting",
                params={"festival": festival, "dealer": dealers.get(row.dealer_unit_id, ""), "year": today.year},
                idempotency_key=rules.greeting_key(row.id, festival, today.year), due_at=due, expires_at=expires_at)
                for row in batch for festival in festivals]
            self._add(report.customers, await writer.to_customers(pushes, self.schedule, self.tz))
            await writer.flush()
        return report

    # --- maintenance -------------------------------------------------------------------------------------------

    async def maintenance(self) -> JobReport:
        """Service n reminded remind_days_before it falls due; missed days are caught up, never twice."""
        now, today = self.clock(), self.today()
        rule = self.schedule.maintenance
        report = JobReport("maintenance", today)
        wanted = rules.purchase_dates_due(today, rule)
        if not wanted:
            return report
        dealers = await self._dealer_names()
        days = sorted(wanted)
        for start in range(0, len(days), BATCH):
            chunk = days[start:start + BATCH]
            async for batch in self._customers_in_batches("c.purchase_date IN :days", {"days": chunk}, ("days",)):
                writer = PushWriter(self.session, now)
                pushes = []
                for row in batch:
                    purchase = row.purchase_date if isinstance(row.purchase_date, date) \
                        else date.fromisoformat(str(row.purchase_date))
                    for n in rules.maintenance_due(purchase, today, rule):
                        service_day = rules.service_date(purchase, n, rule)
                        pushes.append(CustomerPush(
                            customer=_address(row), key="customer.maintenance",
                            params={"n": n, "day": service_day.isoformat(), "customer": row.id,
                                    "dealer": dealers.get(row.dealer_unit_id, "")},
                            idempotency_key=rules.maintenance_key(row.id, n),
                            due_at=rules.local_moment(rules.reminder_day(purchase, n, rule), rule.send_at,
                                                      self.tz)))
                self._add(report.customers, await writer.to_customers(pushes, self.schedule, self.tz))
                await writer.flush()
        return report

    # --- appointments ------------------------------------------------------------------------------------------

    async def appointments(self) -> JobReport:
        """The day before a booked service, repair or parts appointment: a reminder to the customer."""
        now, today = self.clock(), self.today()
        rule = self.schedule.appointments
        report = JobReport("appointments", today)
        tomorrow = today + timedelta(days=1)
        start = rules.local_moment(tomorrow, "00:00", self.tz)
        result = await self.session.execute(text(
            "SELECT b.id AS booking, b.kind, b.slot_at, " + _CUSTOMER_COLUMNS +
            " FROM service_booking b JOIN customer c ON c.id = b.customer_id "
            "WHERE b.status = 'booked' AND b.slot_at >= :start AND b.slot_at < :end ORDER BY b.id"
        ).bindparams(bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime()))
            .columns(slot_at=UTCDateTime()), {"start": start, "end": start + timedelta(days=1)})
        dealers = await self._dealer_names()
        pushes = [CustomerPush(
            customer=_address(row), key="customer.appointment",
            params={"booking": row.booking, "kind": row.kind, "slot": row.slot_at.isoformat(),
                    "dealer": dealers.get(row.dealer_unit_id, "")},
            idempotency_key=f"appt:{row.booking}", due_at=rules.local_moment(today, rule.remind_at, self.tz),
            capped=False, expires_at=row.slot_at) for row in result]
        writer = PushWriter(self.session, now)
        self._add(report.customers, await writer.to_customers(pushes, self.schedule, self.tz))
        await writer.flush()
        return report

    # --- replacement nudges ------------------------------------------------------------------------------------

    async def replacement(self) -> JobReport:
        """Before a buying season opens: each salesperson hears which of their customers' fleets are 1.5-3 years
        old then (one message per salesperson and season)."""
        now, today = self.clock(), self.today()
        rule = self.schedule.replacement
        report = JobReport("replacement", today)
        season = rules.season_ahead(today, rule)
        if season is None:
            return report
        earliest, latest = rules.replacement_purchase_window(season, rule)
        by_owner: dict[int, list[Any]] = defaultdict(list)
        async for batch in self._customers_in_batches("c.purchase_date >= :earliest AND c.purchase_date <= :latest",
                                                      {"earliest": earliest, "latest": latest}):
            for row in batch:
                by_owner[row.owner_staff_id].append(row)
        staff = await self._staff(by_owner)
        writer = PushWriter(self.session, now)
        limit = self.schedule.staff_morning.max_listed
        for owner_id, customers in by_owner.items():
            person = staff.get(owner_id)
            if person is None:
                continue
            customers.sort(key=lambda row: (-(row.fleet_size or 0), row.id))
            writer.to_staff(person, "staff.replacement", {
                "season": season.isoformat(), "total": len(customers),
                "customers": [[row.id, row.name, str(row.purchase_date), row.fleet_size] for row in customers[:limit]]},
                f"replace:{owner_id}:{season.isoformat()}",
                due_at=max(now, rules.local_moment(today, rule.send_at, self.tz)))
            report.staff_messages += 1
        await writer.flush()
        return report

    # --- staff mornings ----------------------------------------------------------------------------------------

    async def staff_morning(self) -> JobReport:
        """Each salesperson's morning: follow-ups due today and overdue, customers untouched for N days."""
        now, today = self.clock(), self.today()
        rule = self.schedule.staff_morning
        report = JobReport("staff_morning", today)
        since = rules.local_moment(rules.untouched_since(today, rule.untouched_days), "00:00", self.tz)
        result = await self.session.execute(text(
            "SELECT c.id, c.name, c.owner_staff_id, c.next_follow_up, c.created_at, "
            "(SELECT MAX(v.visited_at) FROM visit v WHERE v.customer_id = c.id) AS last_visit "
            "FROM customer c JOIN staff s ON s.id = c.owner_staff_id "
            "WHERE s.active = :active AND s.tg_user_id IS NOT NULL "
            "AND (c.next_follow_up <= :today OR c.created_at < :since) ORDER BY c.id"
        ).bindparams(bindparam("since", type_=UTCDateTime()))
            .columns(created_at=UTCDateTime(), last_visit=UTCDateTime()),
            {"active": True, "today": today, "since": since})
        due: dict[int, list[rules.FollowUp]] = defaultdict(list)
        untouched: dict[int, list[tuple[int, str, str | None]]] = defaultdict(list)
        for row in result:
            follow = None
            if row.next_follow_up is not None:
                follow = row.next_follow_up if isinstance(row.next_follow_up, date) \
                    else date.fromisoformat(str(row.next_follow_up))
            if follow is not None and follow <= today:
                due[row.owner_staff_id].append(rules.FollowUp(row.id, row.name, follow))
                continue  # listed as a follow-up, not again as untouched
            last = row.last_visit or row.created_at
            if last < since:
                untouched[row.owner_staff_id].append(
                    (row.id, row.name, rules.local_day(row.last_visit, self.tz).isoformat() if row.last_visit
                     else None))
        owners = set(due) | set(untouched)
        staff = await self._staff(owners)
        writer = PushWriter(self.session, now)
        limit = rule.max_listed
        day_end = rules.local_moment(today + timedelta(days=1), "00:00", self.tz)
        for owner_id in sorted(owners):
            person = staff.get(owner_id)
            if person is None:
                continue
            today_items, overdue = rules.split_follow_ups(due.get(owner_id, []), today)
            quiet = untouched.get(owner_id, [])
            writer.to_staff(person, "staff.morning", {
                "day": today.isoformat(),
                "today": [[f.customer_id, f.name] for f in today_items[:limit]], "today_total": len(today_items),
                "overdue": [[f.customer_id, f.name, f.due.isoformat()] for f in overdue[:limit]],
                "overdue_total": len(overdue),
                "untouched": [list(item) for item in quiet[:limit]], "untouched_total": len(quiet),
                "untouched_days": rule.untouched_days},
                rules.morning_key(owner_id, today),
                due_at=max(now, rules.local_moment(today, rule.send_at, self.tz)), expires_at=day_end)
            report.staff_messages += 1
        await writer.flush()
        return report

    # --- helpers -------------------------------------------------------------------------------------------------

    async def _staff(self, ids: Any) -> dict[int, StaffAddress]:
        wanted = sorted(set(ids))
        found: dict[int, StaffAddress] = {}
        statement = text("SELECT id, tg_user_id, locale FROM staff WHERE active = :active AND tg_user_id IS NOT NULL "
                         "AND id IN :ids").bindparams(bindparam("ids", expanding=True))
        for start in range(0, len(wanted), BATCH):
            result = await self.session.execute(statement, {"active": True, "ids": wanted[start:start + BATCH]})
            for row in result:
                found[row.id] = StaffAddress(row.id, row.tg_user_id, row.locale)
        return found

    @staticmethod
    def _add(total: CustomerOutcome, part: CustomerOutcome) -> None:
        total.queued += part.queued
        total.deferred += part.deferred
        total.dropped_cap += part.dropped_cap
        total.unreachable += part.unreachable


@dataclass(frozen=True)
class Job:
    """A scheduled job: a ReminderService method run once a day at a local time."""

    id: str
    method: str
    at: str


def daily_jobs(schedule: Schedule | None = None) -> list[Job]:
    schedule = schedule or default_playbook().schedule
    return [
        Job("staff_morning", "staff_morning", schedule.staff_morning.send_at),
        Job("replacement", "replacement", schedule.replacement.send_at),
        Job("greetings", "greetings", schedule.greetings.send_at),
        Job("maintenance", "maintenance", schedule.maintenance.send_at),
        Job("appointments", "appointments", schedule.appointments.remind_at),
    ]


def job_due(now: datetime, at: str, tz: ZoneInfo) -> datetime:
    """The job's moment today (local)."""
    return rules.local_moment(rules.local_day(now, tz), at, tz)


__all__ = ["Job", "JobReport", "ReminderService", "daily_jobs", "job_due"]
