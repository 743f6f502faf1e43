"""The outbox in raw SQL: insert (idempotent), claim, and the status marks of the dispatcher.

Raw SQL on purpose: an enqueue runs inside a user's update (the ORM costs 1-1.5 ms more per statement) and the
claim must be one statement. Everything here runs the same on SQLite and PostgreSQL; the claim adds
`FOR UPDATE SKIP LOCKED` on PostgreSQL so two dispatchers never wait for, or take, each other's rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage.types import UTCDateTime

# Statuses. "sending" doubles as "claimed": claimed_by/claim_expires_at say by whom and until when.
PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
DROPPED = "dropped"
NO_GATEWAY = "no_gateway"
UNREACHABLE = "unreachable"
STATUSES = (PENDING, SENDING, SENT, FAILED, DROPPED, NO_GATEWAY, UNREACHABLE)

_COLUMNS = ("recipient_kind", "recipient_id", "chat_id", "phone", "channel", "locale", "message_key", "params",
            "attachment", "attachment_name", "idempotency_key", "status", "attempts", "due_at", "expires_at",
            "created_at", "updated_at")

_UTC = UTCDateTime()


def _ts(column: str) -> Any:
    return bindparam(column, type_=_UTC)


_INSERT = text(
    f"INSERT INTO outbox ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)}) "
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
).bindparams(_ts("due_at"), _ts("expires_at"), _ts("created_at"), _ts("updated_at"))

_INSERT_MANY = text(
    f"INSERT INTO outbox ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)}) "
    "ON CONFLICT (idempotency_key) DO NOTHING"
).bindparams(_ts("due_at"), _ts("expires_at"), _ts("created_at"), _ts("updated_at"))


@dataclass
class OutboxRow:
    """A claimed row, as the dispatcher sees it."""

    id: int
    recipient_kind: str
    recipient_id: int | None
    chat_id: int | None
    phone: str | None
    channel: str
    locale: str | None
    message_key: str
    params: dict[str, Any]
    attachment: bytes | None
    attachment_name: str | None
    idempotency_key: str
    attempts: int
    due_at: datetime
    expires_at: datetime | None

    @property
    def address(self) -> str:
        return str(self.chat_id) if self.channel == "telegram" else (self.phone or "")


def row_values(*, recipient_kind: str, recipient_id: int | None, chat_id: int | None, phone: str | None,
               channel: str, locale: str | None, key: str, params: Mapping[str, Any], idempotency_key: str,
               due_at: datetime, expires_at: datetime | None, now: datetime, attachment: bytes | None = None,
               attachment_name: str | None = None) -> dict[str, Any]:
    return {
        "recipient_kind": recipient_kind, "recipient_id": recipient_id, "chat_id": chat_id, "phone": phone,
        "channel": channel, "locale": locale, "message_key": key,
        "params": json.dumps(dict(params), ensure_ascii=False, sort_keys=True, default=str),
        "attachment": attachment, "attachment_name": attachment_name, "idempotency_key": idempotency_key,
        "status": PENDING, "attempts": 0, "due_at": due_at, "expires_at": expires_at,
        "created_at": now, "updated_at": now,
    }


async def insert(session: AsyncSession | AsyncConnection, values: Mapping[str, Any]) -> bool:
    """True when the row is new; False when its idempotency key was already there (nothing written)."""
    result = await session.execute(_INSERT, dict(values))
    return result.scalar_one_or_none() is not None


async def insert_many(session: AsyncSession | AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Many rows in one executemany (existing idempotency keys are skipped)."""
    if rows:
        await session.execute(_INSERT_MANY, [dict(row) for row in rows])


_CLAIM_COLUMNS = {"due_at": _UTC, "expires_at": _UTC}

_CLAIM_SQLITE = text(
    "UPDATE outbox SET status = 'sending', claimed_by = :owner, claim_expires_at = :claim_until, "
    "attempts = attempts + 1, updated_at = :now "
    "WHERE id IN (SELECT id FROM outbox WHERE due_at <= :now AND channel IN :channels AND "
    "(status IN :statuses OR (status = 'sending' AND claim_expires_at < :now)) AND recipient_kind <> :skip_kind "
    "ORDER BY due_at, id LIMIT :limit) "
    "RETURNING id, recipient_kind, recipient_id, chat_id, phone, channel, locale, message_key, params, "
    "attachment, attachment_name, idempotency_key, attempts, due_at, expires_at"
).bindparams(bindparam("channels", expanding=True), bindparam("statuses", expanding=True),
             _ts("now"), _ts("claim_until")).columns(**_CLAIM_COLUMNS)

# Same statement; the inner SELECT locks the rows it picks and skips those another dispatcher holds.
_CLAIM_POSTGRES = text(
    "UPDATE outbox SET status = 'sending', claimed_by = :owner, claim_expires_at = :claim_until, "
    "attempts = attempts + 1, updated_at = :now "
    "WHERE id IN (SELECT id FROM outbox WHERE due_at <= :now AND channel IN :channels AND "
    "(status IN :statuses OR (status = 'sending' AND claim_expires_at < :now)) AND recipient_kind <> :skip_kind "
    "ORDER BY due_at, id LIMIT :limit FOR UPDATE SKIP LOCKED) "
    "RETURNING id, recipient_kind, recipient_id, chat_id, phone, channel, locale, message_key, params, "
    "attachment, attachment_name, idempotency_key, attempts, due_at, expires_at"
).bindparams(bindparam("channels", expanding=True), bindparam("statuses", expanding=True),
             _ts("now"), _ts("claim_until")).columns(**_CLAIM_COLUMNS)


async def claim(session: AsyncSession, *, owner: str, now: datetime, claim_for: timedelta, limit: int,
                channels: Iterable[str], statuses: Iterable[str] = (PENDING,), skip_kind: str = ""
                ) -> list[OutboxRow]:
    """Marks up to `limit` due rows "sending" for `owner` and returns them, oldest first.

    A row still "sending" past its claim expiry belongs to a process that died: it is claimed again.
    On SQLite the one UPDATE runs under the database's single write lock, which is the claim's atomicity.
    `skip_kind` leaves one recipient kind's rows where they are ("customer" during the quiet hours).
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    result = await session.execute(_CLAIM_POSTGRES if postgres else _CLAIM_SQLITE, {
        "owner": owner, "now": now, "claim_until": now + claim_for, "limit": limit,
        "channels": list(channels), "statuses": list(statuses), "skip_kind": skip_kind})
    rows = []
    for r in result.mappings():
        rows.append(OutboxRow(
            id=r["id"], recipient_kind=r["recipient_kind"], recipient_id=r["recipient_id"], chat_id=r["chat_id"],
            phone=r["phone"], channel=r["channel"], locale=r["locale"], message_key=r["message_key"],
            params=json.loads(r["params"] or "{}"), attachment=r["attachment"],
            attachment_name=r["attachment_name"], idempotency_key=r["idempotency_key"], attempts=r["attempts"],
            due_at=r["due_at"], expires_at=r["expires_at"]))
    rows.sort(key=lambda row: (row.due_at, row.id))
    return rows


QUIET_HOURS_HELD = "held by the quiet hours until the sending window opens"
QUIET_HOURS_EXPIRED = "expired during the quiet hours before it could be sent"

_QUIET_DROP = text(
    "UPDATE outbox SET status = 'dropped', last_error = :error, updated_at = :now "
    "WHERE recipient_kind = 'customer' AND channel IN :channels AND status IN :statuses AND due_at <= :now "
    "AND expires_at IS NOT NULL AND expires_at <= :opens"
).bindparams(bindparam("channels", expanding=True), bindparam("statuses", expanding=True), _ts("now"),
             _ts("opens"))

_QUIET_HOLD = text(
    "UPDATE outbox SET due_at = :opens, last_error = :error, updated_at = :now "
    "WHERE recipient_kind = 'customer' AND channel IN :channels AND status IN :statuses AND due_at <= :now"
).bindparams(bindparam("channels", expanding=True), bindparam("statuses", expanding=True), _ts("now"),
             _ts("opens"))


async def hold_customers_until(session: AsyncSession, *, now: datetime, opens: datetime, channels: Iterable[str],
                               statuses: Iterable[str]) -> None:
    """During the quiet hours: customer rows due by now wait for `opens` (the sending window's next opening), in
    two statements whatever their number; those that would expire before it are dropped instead. Attempts are
    not touched (nothing was tried)."""
    params = {"now": now, "opens": opens, "channels": list(channels), "statuses": list(statuses)}
    await session.execute(_QUIET_DROP, params | {"error": QUIET_HOURS_EXPIRED})
    await session.execute(_QUIET_HOLD, params | {"error": QUIET_HOURS_HELD})


_RENEW = text(
    "UPDATE outbox SET claim_expires_at = :claim_until, updated_at = :now "
    "WHERE id = :id AND status = 'sending' AND claimed_by = :owner"
).bindparams(_ts("now"), _ts("claim_until"))


async def renew(session: AsyncSession, *, row_id: int, owner: str, now: datetime, claim_for: timedelta) -> bool:
    """Re-asserts the claim just before sending; False when the row is no longer ours (never send then)."""
    result = await session.execute(_RENEW, {"id": row_id, "owner": owner, "now": now,
                                            "claim_until": now + claim_for})
    return getattr(result, "rowcount", 0) == 1  # a DML result (CursorResult) has it


_FINISH = text(
    "UPDATE outbox SET status = :status, last_error = :error, sent_at = :sent_at, "
    "provider_message_id = :provider_id, claimed_by = NULL, claim_expires_at = NULL, updated_at = :now "
    "WHERE id = :id AND claimed_by = :owner"
).bindparams(_ts("now"), _ts("sent_at"))


async def finish(session: AsyncSession, *, row_id: int, owner: str, status: str, now: datetime,
                 error: str | None = None, provider_id: str | None = None) -> bool:
    """A final (or waiting) status for a claimed row: sent, failed, dropped, unreachable, no_gateway."""
    result = await session.execute(_FINISH, {
        "id": row_id, "owner": owner, "status": status, "now": now, "error": error,
        "sent_at": now if status == SENT else None, "provider_id": provider_id})
    return getattr(result, "rowcount", 0) == 1  # a DML result (CursorResult) has it


_RELEASE = text(
    "UPDATE outbox SET status = 'pending', due_at = :due_at, last_error = :error, claimed_by = NULL, "
    "claim_expires_at = NULL, attempts = attempts - :uncount, updated_at = :now "
    "WHERE id = :id AND claimed_by = :owner"
).bindparams(_ts("now"), _ts("due_at"))


async def release(session: AsyncSession, *, row_id: int, owner: str, now: datetime, due_at: datetime,
                  error: str | None, count_attempt: bool = True) -> bool:
    """Back to pending, to be tried again at `due_at` (a back-off, or a row never tried in this batch)."""
    result = await session.execute(_RELEASE, {"id": row_id, "owner": owner, "now": now, "due_at": due_at,
                                              "error": error, "uncount": 0 if count_attempt else 1})
    return getattr(result, "rowcount", 0) == 1  # a DML result (CursorResult) has it


_UNREACHABLE_INSERT = text(
    "INSERT INTO unreachable_recipient (channel, address, recipient_kind, recipient_id, reason, since) "
    "VALUES (:channel, :address, :kind, :rid, :reason, :since) "
    "ON CONFLICT (channel, address) DO UPDATE SET reason = excluded.reason, since = excluded.since"
).bindparams(_ts("since"))


async def mark_unreachable(session: AsyncSession, *, channel: str, address: str, recipient_kind: str,
                           recipient_id: int | None, reason: str, now: datetime) -> None:
    await session.execute(_UNREACHABLE_INSERT, {"channel": channel, "address": address, "kind": recipient_kind,
                                                "rid": recipient_id, "reason": reason, "since": now})


async def mark_reachable(session: AsyncSession, *, channel: str, address: str) -> bool:
    """The person is back (wrote to the bot, linked again): pushes go to them again.

    Only the mark goes. Rows already finished "unreachable" stay so, never resurrected: they were due while the
    person had blocked the bot, and a reminder or greeting arriving late in a burst would be stale or wrong."""
    result = await session.execute(text("DELETE FROM unreachable_recipient WHERE channel = :c AND address = :a"),
                                   {"c": channel, "a": address})
    return getattr(result, "rowcount", 0) > 0


async def unreachable_reason(session: AsyncSession, *, channel: str, address: str) -> str | None:
    result = await session.execute(
        text("SELECT reason FROM unreachable_recipient WHERE channel = :c AND address = :a"),
        {"c": channel, "a": address})
    return result.scalar_one_or_none()


async def unreachable_among(session: AsyncSession, addresses: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(channel, address) → reason, for those of `addresses` that are unreachable."""
    wanted = set(addresses)
    if not wanted:
        return {}
    statement = text("SELECT channel, address, reason FROM unreachable_recipient WHERE address IN :addresses"
                     ).bindparams(bindparam("addresses", expanding=True))
    result = await session.execute(statement, {"addresses": sorted({address for _c, address in wanted})})
    return {(r[0], r[1]): r[2] for r in result if (r[0], r[1]) in wanted}


async def counts(session: AsyncSession) -> list[tuple[str, str, str, int]]:
    """(channel, recipient kind, status, count) for the operators' view."""
    result = await session.execute(text(
        "SELECT channel, recipient_kind, status, COUNT(*) FROM outbox "
        "GROUP BY channel, recipient_kind, status ORDER BY channel, recipient_kind, status"))
    return [(r[0], r[1], r[2], r[3]) for r in result]


async def problems(session: AsyncSession, *, limit: int = 50) -> list[dict[str, Any]]:
    """Rows that need an operator's eye: failed, unreachable, waiting for a gateway, or retrying."""
    result = await session.execute(text(
        "SELECT id, channel, recipient_kind, recipient_id, chat_id, phone, message_key, status, attempts, "
        "last_error, due_at FROM outbox "
        "WHERE status IN ('failed', 'unreachable', 'no_gateway', 'dropped') "
        "OR (status = 'pending' AND attempts > 0) ORDER BY updated_at DESC, id DESC LIMIT :limit"),
        {"limit": limit})
    return [dict(r) for r in result.mappings()]


async def unreachable_list(session: AsyncSession, *, limit: int = 50) -> list[dict[str, Any]]:
    result = await session.execute(text(
        "SELECT channel, address, recipient_kind, recipient_id, reason, since FROM unreachable_recipient "
        "ORDER BY since DESC LIMIT :limit"), {"limit": limit})
    return [dict(r) for r in result.mappings()]


async def next_due(session: AsyncSession, *, channels: Iterable[str]) -> datetime | None:
    """When the next pending row falls due (the dispatcher sleeps until then, or until woken)."""
    result = await session.execute(text(
        "SELECT MIN(due_at) AS due_at FROM outbox WHERE status = 'pending' AND channel IN :channels"
    ).bindparams(bindparam("channels", expanding=True)).columns(due_at=_UTC), {"channels": list(channels)})
    return result.scalar_one_or_none()
