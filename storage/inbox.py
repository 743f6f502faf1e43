"""The inbox table in raw SQL: every update is a row before Telegram is told it arrived.

A row is open (status NEW) until the transaction that ran its handler marks it DONE, or until it has failed
`max_attempts` times and is PARKED. With conversation state in Redis, which can't join that transaction, the
handler's transaction marks it STATE_PENDING instead, with the state it leaves in `state_after`; the row turns DONE
once Redis has that state. Until then the sender's next update waits behind it, and if the process dies first, the
row is claimed again (its claim runs out) only to write that state: a user never resumes a step behind.

Only the oldest open row of a chat_key (the sender) can be claimed, and a
claim expires, so one user's updates run one at a time in the order received, in any number of processes, and a
crashed process holds a user up for one claim lifetime at most.

Kept off the ORM on purpose: these statements run for every update (see docs/ARCHITECTURE.md, "One update").
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from storage import driver_sql
from storage.driver_sql import Statement
from storage.engine import SYNC_COMMITS, SYNC_STORE
from storage.sqlite_driver import write_turn

NEW, DONE, PARKED, STATE_PENDING = 0, 1, 2, 3
STATUS_NAMES = {NEW: "new", DONE: "done", PARKED: "parked", STATE_PENDING: "done, state not yet in Redis"}


@dataclass
class Claim:
    """One claimed update, for the length of one attempt. `completed` turns true once the done mark committed."""

    update_id: int
    chat_key: int
    payload: str  # the update as Telegram sent it (JSON), parsed once, by pydantic, when handled
    attempts: int
    token: str
    completed: bool = False
    error: BaseException | None = None
    # Calls that still failed after the retries; sent again after commit (see app/telegram.py).
    failed_sends: list[dict[str, Any]] = field(default_factory=list)
    last_attempt: bool = False
    # Conversation-state writes held back until the commit (app/deferred_state.py, Redis only).
    deferred_state: dict[Any, dict[str, Any]] = field(default_factory=dict)
    # Run after the commit, in order (e.g. flushing deferred state).
    after_commit: list[Any] = field(default_factory=list)
    # A STATE_PENDING row claimed again: its handler committed; only this state is left to write to Redis.
    state_to_write: list[dict[str, Any]] | None = None
    # Set while the error handler sends its apology: the messages this update sent before it go out again on
    # the next attempt, so the chat ends with the live prompt rather than "I will try again" (app/telegram.py).
    apologizing: bool = False


# The claim of the update being handled in this task: the unit of work marks it done in its own transaction.
current_claim: ContextVar[Claim | None] = ContextVar("fieldbot_current_claim", default=None)


def chat_key_of(payload: dict[str, Any]) -> int:
    """Whose queue an update joins: its sender, else its chat, else its own (then nothing orders it)."""
    for value in payload.values():
        if isinstance(value, dict):
            sender = value.get("from") or value.get("user")
            if isinstance(sender, dict) and isinstance(sender.get("id"), int):
                return int(sender["id"])
            chat = value.get("chat") or (value.get("message") or {}).get("chat")
            if isinstance(chat, dict) and isinstance(chat.get("id"), int):
                return int(chat["id"])
    return -int(payload.get("update_id", 0)) - 1


_INSERT = text(
    "INSERT INTO inbox (update_id, chat_key, payload, received_at) VALUES (:update_id, :chat_key, :payload, :now) "
    "ON CONFLICT (update_id) DO NOTHING"
)

_HEADS = (
    "SELECT i.update_id FROM inbox i "
    "WHERE ((i.status = 0 AND i.not_before <= :now AND i.attempts < :max_attempts) OR i.status = 3) "
    "AND i.claim_until < :now "
    "AND NOT EXISTS (SELECT 1 FROM inbox j WHERE j.chat_key = i.chat_key AND j.status IN (0, 3) "
    "AND j.update_id < i.update_id) "
    "ORDER BY i.update_id LIMIT :limit"
)

_CLAIM = (
    "UPDATE inbox SET claim_token = :token, claim_until = :until, attempts = attempts + 1 "
    "WHERE update_id IN ({heads}) RETURNING update_id, chat_key, payload, attempts, status, state_after"
)

_DONE = Statement(text(  # every update runs it: straight to the driver (storage/driver_sql.py)
    "UPDATE inbox SET status = :status, done_at = :now, payload = NULL, error = NULL, "
    "claim_token = :kept_token, state_after = :state_after, "
    "pending_reply = :pending_reply WHERE update_id = :update_id AND claim_token = :token"
))

_STATE_WRITTEN = text(
    "UPDATE inbox SET status = 1, state_after = NULL, claim_token = NULL "
    "WHERE update_id = :update_id AND status = 3 AND claim_token = :token"
)

_FAILED = text(
    "UPDATE inbox SET claim_token = NULL, claim_until = 0, not_before = :not_before, error = :error, "
    "status = CASE WHEN attempts >= :max_attempts THEN 2 ELSE 0 END "
    "WHERE update_id = :update_id AND claim_token = :token"
)

_RENEW = text("UPDATE inbox SET claim_until = :until WHERE claim_token IN :tokens").bindparams(
    bindparam("tokens", expanding=True))

# A claim that ran out on its last attempt: the process died or hung inside the handler every time.
_REAP = text(
    "UPDATE inbox SET status = 2, claim_token = NULL, "
    "error = COALESCE(error, 'the bot stopped or hung while handling it') "
    "WHERE status = 0 AND attempts >= :max_attempts AND claim_until < :now"
)


class ClaimLost(Exception):
    """The claim expired and another worker took the update: this attempt's writes must not commit."""


class Inbox:
    """The intake's own statements, each in a short transaction of its own on the engine."""

    def __init__(self, engine: AsyncEngine, *, claim_ttl_s: float = 5.0, max_attempts: int = 3) -> None:
        self.engine = engine
        self.claim_ttl_s = claim_ttl_s
        self.max_attempts = max_attempts
        self._reaped_at = 0.0
        self._sqlite = engine.dialect.name == "sqlite"
        heads = _HEADS + (" FOR UPDATE OF i SKIP LOCKED" if engine.dialect.name == "postgresql" else "")
        self._claim = text(_CLAIM.format(heads=heads))

    async def store(self, updates: Sequence[dict[str, Any]]) -> None:
        """Stores a batch in one transaction; an update_id already there (a redelivery) is left as it is."""
        if not updates:
            return
        now = time.time()
        rows = [{"update_id": int(u["update_id"]), "chat_key": chat_key_of(u),
                 "payload": json.dumps(u, ensure_ascii=False, separators=(",", ":")), "now": now} for u in updates]
        if not self._sqlite:
            async with self.engine.begin() as connection:
                await connection.execute(_INSERT, rows)
            return
        # Telegram forgets what the next getUpdates acknowledges, so this commit waits for the disk even though
        # the bot's other commits don't (storage/engine.py). The pragma can't change inside a transaction; the
        # driver begins one only at the INSERT.
        async with self.engine.connect() as connection, write_turn(self.engine):  # in that order: see `claim`
            await connection.exec_driver_sql(f"PRAGMA synchronous={SYNC_STORE}")
            try:
                await connection.execute(_INSERT, rows)
                await connection.commit()
            finally:
                await connection.rollback()
                await connection.exec_driver_sql(f"PRAGMA synchronous={SYNC_COMMITS}")

    async def claim(self, limit: int) -> list[Claim]:
        """Up to `limit` updates, each the oldest open one of its sender, none claimed by anyone else."""
        now = time.time()
        token = uuid.uuid4().hex
        # The connection first, then the turn, as every unit of work takes them: the other way round, a claim
        # holding the turn could wait for a connection that units waiting for the turn hold. The turn ends after
        # the COMMIT.
        async with self.engine.connect() as connection, write_turn(self.engine), connection.begin():
            if now - self._reaped_at > self.claim_ttl_s / 3:  # not on every claim: once a third of a claim's life
                self._reaped_at = now
                await connection.execute(_REAP, {"max_attempts": self.max_attempts, "now": now})
            rows = (await connection.execute(self._claim, {
                "token": token, "until": now + self.claim_ttl_s, "now": now,
                "max_attempts": self.max_attempts, "limit": limit})).all()
        claims = [Claim(update_id=int(row.update_id), chat_key=int(row.chat_key),
                        payload=row.payload or "{}", attempts=int(row.attempts),
                        token=token,
                        state_to_write=json.loads(row.state_after or "[]") if row.status == STATE_PENDING else None)
                  for row in rows]
        claims.sort(key=lambda claim: claim.update_id)
        for claim in claims:
            claim.last_attempt = claim.attempts >= self.max_attempts
        return claims

    async def renew(self, tokens: set[str]) -> None:
        if tokens:
            async with self.engine.begin() as connection:
                await connection.execute(_RENEW, {"until": time.time() + self.claim_ttl_s, "tokens": list(tokens)})

    @staticmethod
    def done_step(claim: Claim) -> driver_sql.Step:
        """The update's done mark, for the handler's own commit: the update is done exactly when its writes commit
        (STATE_PENDING, with the state to write, when conversation state waits for Redis: see `state_written`)."""
        pending = json.dumps(claim.failed_sends, ensure_ascii=False) if claim.failed_sends else None
        state_after = None
        if claim.deferred_state:
            state_after = json.dumps([{"key": dataclasses.asdict(key), **changes}
                                      for key, changes in claim.deferred_state.items()], ensure_ascii=False)
        return driver_sql.Step(_DONE, {
            "now": time.time(), "update_id": claim.update_id, "token": claim.token, "pending_reply": pending,
            "status": STATE_PENDING if state_after else DONE,
            # STATE_PENDING keeps the claim: the sender's next update waits
            "kept_token": claim.token if state_after else None, "state_after": state_after},
            expect=1, lost=ClaimLost(f"update {claim.update_id}: the claim expired and was taken over"))

    @staticmethod
    async def mark_done(connection: AsyncConnection, claim: Claim) -> None:
        step = Inbox.done_step(claim)
        if await driver_sql.execute(connection, step.statement, step.params) != step.expect:
            assert step.lost is not None  # done_step always says what a miss means
            raise step.lost

    @staticmethod
    async def state_written(session: AsyncSession | AsyncConnection, claim: Claim) -> None:
        """Redis has the state a STATE_PENDING update left: the row is DONE and its sender's next update may run."""
        await session.execute(_STATE_WRITTEN, {"update_id": claim.update_id, "token": claim.token})

    async def state_written_alone(self, claim: Claim) -> None:
        async with self.engine.begin() as connection:
            await self.state_written(connection, claim)

    async def mark_done_alone(self, claim: Claim) -> None:
        async with self.engine.begin() as connection:
            await self.mark_done(connection, claim)
        claim.completed = True

    async def mark_failed(self, claim: Claim, error: str, retry_in_s: float, *, park_now: bool = False) -> bool:
        """Releases the claim for a later attempt, or parks the update after its last one (or at once, when another
        attempt can't help). True when parked."""
        async with self.engine.begin() as connection:
            await connection.execute(_FAILED, {
                "not_before": time.time() + retry_in_s, "error": error[:2000],
                "max_attempts": claim.attempts if park_now else self.max_attempts,
                "update_id": claim.update_id, "token": claim.token})
        return claim.last_attempt or park_now

    async def pending_replies(self, limit: int = 50) -> list[tuple[int, list[dict[str, Any]]]]:
        async with self.engine.connect() as connection:
            rows = (await connection.execute(text(
                "SELECT update_id, pending_reply FROM inbox WHERE status = 1 AND pending_reply IS NOT NULL "
                "ORDER BY update_id LIMIT :limit"), {"limit": limit})).all()
        return [(int(row.update_id), json.loads(row.pending_reply)) for row in rows]

    async def set_pending_reply(self, update_id: int, calls: list[dict[str, Any]]) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(text("UPDATE inbox SET pending_reply = :reply WHERE update_id = :update_id"),
                                     {"reply": json.dumps(calls, ensure_ascii=False) if calls else None,
                                      "update_id": update_id})

    async def prune(self, older_than_s: float = 2 * 86400) -> None:
        """Done rows are kept past Telegram's 24 h redelivery window, then dropped."""
        async with self.engine.begin() as connection:
            await connection.execute(text(
                "DELETE FROM inbox WHERE status = 1 AND pending_reply IS NULL AND done_at < :before"),
                {"before": time.time() - older_than_s})

    async def listing(self, status: int | None = PARKED, limit: int = 100) -> list[dict[str, Any]]:
        where = "" if status is None else "WHERE status = :status"
        async with self.engine.connect() as connection:
            rows = (await connection.execute(text(
                "SELECT update_id, chat_key, status, attempts, received_at, error, payload, pending_reply "
                f"FROM inbox {where} ORDER BY update_id DESC LIMIT :limit"),
                {"status": status, "limit": limit})).mappings().all()
        return [dict(row) for row in rows]

    async def counts(self) -> dict[str, int]:
        async with self.engine.connect() as connection:
            rows = (await connection.execute(text("SELECT status, COUNT(*) AS n FROM inbox GROUP BY status"))).all()
        return {STATUS_NAMES.get(int(row.status), str(row.status)): int(row.n) for row in rows}
