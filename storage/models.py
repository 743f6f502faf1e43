"""Tables. Plain SQLModel classes: no behaviour beyond defaults; rules live in bot/domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


def _ts(nullable: bool = False, index: bool = False) -> Column:  # type: ignore[type-arg]
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


class StartAttempt(SQLModel, table=True):
    """Wrong invite codes per Telegram account, for throttling guessers."""

    __tablename__ = "start_attempt"

    tg_user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    failures: int = Field(default=0)
    window_started_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    locked_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


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
