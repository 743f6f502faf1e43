"""Tables. Plain SQLModel classes: no behaviour beyond defaults; rules live in bot/domain."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


def _ts(nullable: bool = False, index: bool = False) -> Column:
    return Column(UTCDateTime(), nullable=nullable, index=index)


class OrgUnit(SQLModel, table=True):
    """A node of the org tree: HQ → region → market department → dealer."""

    __tablename__ = "org_unit"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=16, index=True)
    parent_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    # Materialized path "/1/4/9/": a subtree is one prefix query.
    path: str = Field(default="", max_length=512, index=True)
    province: str | None = Field(default=None, max_length=32)
    region_class: str | None = Field(default=None, max_length=1)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Staff(SQLModel, table=True):
    """A person of the network; bound to a Telegram account at onboarding."""

    __tablename__ = "staff"

    id: int | None = Field(default=None, primary_key=True)
    tg_user_id: int | None = Field(default=None, sa_column=Column(BigInteger, unique=True, nullable=True))
    name: str = Field(max_length=200)
    phone: str | None = Field(default=None, max_length=32, unique=True, index=True)
    role: str = Field(max_length=32, index=True)
    org_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    locale: str | None = Field(default=None, max_length=8)
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    onboarded_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class Invite(SQLModel, table=True):
    """A one-time onboarding code; only its hash is stored."""

    __tablename__ = "invite"

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, unique=True, index=True)
    role: str = Field(max_length=32)
    org_unit_id: int = Field(foreign_key="org_unit.id")
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())
    used_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    used_by_tg_user_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class StartAttempt(SQLModel, table=True):
    """Wrong invite codes per Telegram account, for throttling guessers."""

    __tablename__ = "start_attempt"

    tg_user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    failures: int = Field(default=0)
    window_started_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    locked_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class StrangerNotice(SQLModel, table=True):
    """When a Telegram account without access was last told so: the refusal is sent once per conversation."""

    __tablename__ = "stranger_notice"

    tg_user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    refused_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class AuditLog(SQLModel, table=True):
    """Who did what, when: append-only."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))
    actor_staff_id: int | None = Field(default=None, foreign_key="staff.id", index=True)
    action: str = Field(max_length=64, index=True)
    subject: str = Field(default="", max_length=128)
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))


class FsmRecord(SQLModel, table=True):
    """Conversation state of one chat/user, so a restart resumes a half-finished flow."""

    __tablename__ = "fsm_record"
    key: str = Field(primary_key=True, max_length=255)
    state: str | None = Field(default=None, max_length=255)
    data: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


# --- Pushes: the outbox and who can't be reached ---------------------------------------------------------
# Written and read with raw SQL (storage/repositories/outbox.py): the dispatcher's claim is one statement.


class OutboxMessage(SQLModel, table=True):
    """One push to send: written in the transaction of its cause, rendered and sent by the dispatcher."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    recipient_kind: str = Field(max_length=16)  # staff | customer
    recipient_id: int | None = Field(default=None)
    chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    phone: str | None = Field(default=None, max_length=32)
    channel: str = Field(default="telegram", max_length=16)  # telegram | sms
    locale: str | None = Field(default=None, max_length=8)  # fallback when the recipient has none stored
    message_key: str = Field(max_length=64)
    params: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    attachment: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    attachment_name: str | None = Field(default=None, max_length=200)
    idempotency_key: str = Field(max_length=255, unique=True)
    status: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    due_at: datetime = Field(sa_column=_ts())
    expires_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    claimed_by: str | None = Field(default=None, max_length=64)
    claim_expires_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    provider_message_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class UnreachableRecipient(SQLModel, table=True):
    """An address that refused us for good (bot blocked, chat not found): nothing more is sent there."""

    __tablename__ = "unreachable_recipient"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_unreachable_address"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=64)  # chat id or phone
    recipient_kind: str = Field(max_length=16)
    recipient_id: int | None = Field(default=None)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    since: datetime = Field(default_factory=utcnow, sa_column=_ts())


class SchedulerLease(SQLModel, table=True):
    """Who runs the schedule: one row per lease name, held by one process until it expires."""

    __tablename__ = "scheduler_lease"

    name: str = Field(primary_key=True, max_length=64)
    owner: str = Field(max_length=128)
    expires_at: datetime = Field(sa_column=_ts())
    acquired_at: datetime = Field(sa_column=_ts())


# --- Field work (customers, visits, opinion leaders, information stations, sales) ---------------------------
# Every row carries the dealer unit it belongs to and that unit's path, so scope checks are one prefix query.


class Customer(SQLModel, table=True):
    """A customer archive record, owned by a salesperson of one dealer."""

    __tablename__ = "customer"
    __table_args__ = (UniqueConstraint("dealer_unit_id", "phone", name="uq_customer_dealer_phone"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, index=True)
    phone: str | None = Field(default=None, max_length=32, index=True)
    nature: str = Field(max_length=32)
    level: str = Field(default="general", max_length=16)
    sales_mode: str = Field(default="distribution", max_length=16)
    vehicle_type: str | None = Field(default=None, max_length=32)
    industry: str | None = Field(default=None, max_length=48)
    fleet_size: int | None = Field(default=None)
    province: str | None = Field(default=None, max_length=32)
    city: str | None = Field(default=None, max_length=64)
    stage: str = Field(default="collect", max_length=16, index=True)
    source: str | None = Field(default=None, max_length=48)
    owner_staff_id: int = Field(foreign_key="staff.id", index=True)
    dealer_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    org_path: str = Field(max_length=512, index=True)
    known_lat: float | None = Field(default=None)
    known_lon: float | None = Field(default=None)
    purchase_date: date | None = Field(default=None, index=True)
    next_follow_up: date | None = Field(default=None, index=True)
    # Reaching the customer: their own Telegram account once they confirmed the link, else SMS to `phone`.
    tg_user_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True, index=True))
    locale: str | None = Field(default=None, max_length=8)
    linked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    reminders_off: bool = Field(default=False)  # /stop in Telegram
    sms_opt_out_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))  # replied TD
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class CustomerLink(SQLModel, table=True):
    """A one-time code a salesperson sends a customer so they can link their Telegram account; hash only."""

    __tablename__ = "customer_link"

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, unique=True, index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    issued_by_staff_id: int = Field(foreign_key="staff.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())
    used_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    used_by_tg_user_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class ServiceBooking(SQLModel, table=True):
    """A service, repair or parts appointment a customer booked (from a reminder's button or /book)."""

    __tablename__ = "service_booking"

    id: int | None = Field(default=None, primary_key=True)
    client_token: str = Field(max_length=64, unique=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    dealer_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    org_path: str = Field(max_length=512, index=True)
    kind: str = Field(max_length=16)  # maintenance | repair | parts
    slot_at: datetime = Field(sa_column=_ts(index=True))
    status: str = Field(default="booked", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Visit(SQLModel, table=True):
    """A customer visit report with its location proof."""

    __tablename__ = "visit"

    id: int | None = Field(default=None, primary_key=True)
    # One id per submitted report, chosen when the flow starts: a double tap or a redelivered update can't add
    # a second row.
    client_token: str = Field(max_length=64, unique=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    dealer_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    org_path: str = Field(max_length=512, index=True)
    visit_kind: str = Field(max_length=32)
    outcome: str = Field(max_length=32)
    stage_after: str = Field(max_length=16)
    notes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    next_follow_up: date | None = Field(default=None)
    lat: float | None = Field(default=None)
    lon: float | None = Field(default=None)
    location_status: str = Field(default="unverified", max_length=16)
    distance_m: float | None = Field(default=None)
    # Seconds a live location was shared for (None: a pinned, one-off location or none at all).
    live_period: int | None = Field(default=None)
    photo_file_id: str | None = Field(default=None, max_length=255)
    visited_at: datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))


class DuplicateFlag(SQLModel, table=True):
    """A customer phone on file at two dealers (a possible double claim), for the market department above both.

    Neither dealer is shown the other's record; the market department's staff see both.
    """

    __tablename__ = "duplicate_flag"
    __table_args__ = (UniqueConstraint("customer_id", "other_customer_id", name="uq_duplicate_flag_pair"),)

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(max_length=32, index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)  # the record just saved
    other_customer_id: int = Field(foreign_key="customer.id", index=True)  # the one already on file
    dealer_unit_id: int = Field(foreign_key="org_unit.id")
    other_dealer_unit_id: int = Field(foreign_key="org_unit.id")
    # The lowest unit above both dealers (their market department, or higher when they sit under different ones).
    reviewer_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    reviewer_path: str = Field(max_length=512, index=True)
    raised_by_staff_id: int = Field(foreign_key="staff.id")
    resolved_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class OpinionLeader(SQLModel, table=True):
    """A user opinion leader maintained by a dealer."""

    __tablename__ = "opinion_leader"
    __table_args__ = (UniqueConstraint("dealer_unit_id", "phone", name="uq_leader_dealer_phone"),)

    id: int | None = Field(default=None, primary_key=True)
    client_token: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    phone: str = Field(max_length=32, index=True)
    province: str | None = Field(default=None, max_length=32)
    city: str = Field(max_length=64)
    vehicles: str = Field(default="", max_length=500)
    fleet_size: int | None = Field(default=None)
    maintainer_staff_id: int = Field(foreign_key="staff.id", index=True)
    dealer_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    org_path: str = Field(max_length=512, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class InfoStation(SQLModel, table=True):
    """An information station: a fixed channel that passes on customer information."""

    __tablename__ = "info_station"

    id: int | None = Field(default=None, primary_key=True)
    client_token: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=48)
    contact_name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    province: str | None = Field(default=None, max_length=32)
    city: str = Field(max_length=64)
    lat: float | None = Field(default=None)
    lon: float | None = Field(default=None)
    created_by_staff_id: int = Field(foreign_key="staff.id", index=True)
    dealer_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    org_path: str = Field(max_length=512, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Sale(SQLModel, table=True):
    """A sale report; with a referring opinion leader it counts toward the quarter's referral rewards."""

    __tablename__ = "sale"

    id: int | None = Field(default=None, primary_key=True)
    client_token: str = Field(max_length=64, unique=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    product_line: str = Field(max_length=32)
    series: str = Field(max_length=48)
    vehicle_type: str = Field(max_length=32)
    trucks: int
    leader_id: int | None = Field(default=None, foreign_key="opinion_leader.id", index=True)
    reward_multiplier: str = Field(default="1.0", max_length=8)  # a Decimal as text: exact on every database
    ceremony_tier: str = Field(max_length=16)
    sold_on: date = Field(index=True)
    dealer_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    org_path: str = Field(max_length=512, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


# --- Marketing activities (request, approval chain, results, evaluation) ------------------------------------
# An activity carries its requester's dealer unit and that unit's path like field work does; the approval state
# (chain, step, version) mirrors bot.domain.approvals.RequestState, and `version` guards every decision.


class Activity(SQLModel, table=True):
    """A marketing activity: the request, where its approval stands, its results and evaluation."""

    __tablename__ = "activity"

    id: int | None = Field(default=None, primary_key=True)
    client_token: str = Field(max_length=64, unique=True)
    requester_staff_id: int = Field(foreign_key="staff.id", index=True)
    dealer_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    org_path: str = Field(max_length=512, index=True)
    activity_type: str = Field(max_length=32)
    kpi: str = Field(max_length=16, index=True)
    product_line: str = Field(max_length=32)
    series: str = Field(max_length=48)
    starts_at: datetime = Field(sa_column=_ts(index=True))
    city: str = Field(max_length=64)
    address: str = Field(max_length=300)
    natures: str = Field(default="", max_length=100)  # customer-nature codes, comma-separated
    expected_attendance: int
    budget_fen: int = Field(sa_column=Column(BigInteger, nullable=False))
    budget_lines: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))  # JSON list
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    state: str = Field(default="pending", max_length=24, index=True)
    chain: str = Field(default="", max_length=64)  # levels, comma-separated, fixed at (re)submission
    step_index: int = Field(default=0)
    version: int = Field(default=0)
    step_started_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    reminded_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    escalated_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    results_asked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    result_attendance: int | None = Field(default=None)
    result_leads: int | None = Field(default=None)
    result_orders: int | None = Field(default=None)
    actual_expenses_fen: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    reported_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    score: int | None = Field(default=None)
    evaluation_comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    evaluated_by_staff_id: int | None = Field(default=None, foreign_key="staff.id")
    evaluated_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    submitted_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class ActivityDecision(SQLModel, table=True):
    """One approver's decision on one step: the audit trail of the chain."""

    __tablename__ = "activity_decision"
    # A version is decided once: two approvers tapping at the same moment can't both win.
    __table_args__ = (UniqueConstraint("activity_id", "version", name="uq_activity_decision_version"),)

    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id", index=True)
    version: int
    level: str = Field(max_length=16)
    decision: str = Field(max_length=24)
    actor_staff_id: int = Field(foreign_key="staff.id", index=True)
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    decided_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class ActivityReceipt(SQLModel, table=True):
    """A photo of a receipt for the activity's actual expenses."""

    __tablename__ = "activity_receipt"

    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id", index=True)
    file_id: str = Field(max_length=255)
    file_unique_id: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class ActivityLead(SQLModel, table=True):
    """A lead collected at the activity; linked to the customer archive when the phone is already known."""

    __tablename__ = "activity_lead"

    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id", index=True)
    phone: str = Field(max_length=32)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


# --- Targets and coverage areas (the plan's numbers per unit, the county-level cities a dealer covers) -------


class Target(SQLModel, table=True):
    """A unit's figure for one KPI in one year and quarter (quarter 0: the annual figure).

    `value` NULL means the plan sets no number ("optimise": improve on what was reached)."""

    __tablename__ = "target"
    __table_args__ = (UniqueConstraint("year", "quarter", "kpi", "org_unit_id", name="uq_target_unit_kpi"),)

    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(index=True)
    quarter: int
    kpi: str = Field(max_length=32)
    org_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    value: str | None = Field(default=None, max_length=24)  # a Decimal as text: exact on every database
    explicit: bool = Field(default=False)  # set by a plan row for this unit, not allocated from above
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class DealerArea(SQLModel, table=True):
    """A county-level city in a dealer's authorised area: coverage is counted per city."""

    __tablename__ = "dealer_area"
    __table_args__ = (UniqueConstraint("dealer_unit_id", "city", name="uq_dealer_area_city"),)

    id: int | None = Field(default=None, primary_key=True)
    dealer_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    province: str = Field(max_length=32)
    city: str = Field(max_length=64)
