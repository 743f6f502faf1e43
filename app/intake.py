"""The update intake: store every update before it is acknowledged, then hand each one to aiogram exactly once,
one at a time per user, in the order received. See docs/ARCHITECTURE.md, "One update".

    getUpdates / webhook ──store──▶ inbox (NEW) ──claim (oldest open row per user)──▶ dispatcher.feed_update
                                                                                   └─ DONE in the handler's commit

Polling confirms an offset only after the batch is committed to the inbox; the webhook answers 200 only then.
A claim expires unless renewed, so a crashed process holds its users up for one claim lifetime at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import aiohttp
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import ClientDecodeError, TelegramAPIError, TelegramNetworkError, TelegramServerError
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.types import Update
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.telegram import TRANSIENT, ResilientCalls, replay
from bot.domain.phones import mask_phones_in
from storage.inbox import Claim, ClaimLost, Inbox, current_claim

log = logging.getLogger(__name__)

DATABASE_TROUBLE = (OperationalError, DBAPIError, OSError)
CLAIM_BATCH_S = 0.005
Listener = Callable[[int, str], None]  # (update_id, "done" | "retry" | "parked")


class UnreadableUpdate(ValueError):
    """An update aiogram can't parse: parked at once (another attempt reads it no better), never blocking."""


def update_payload(update: Update) -> dict[str, Any]:
    """An aiogram Update back to Telegram's JSON (field names as Telegram spells them)."""
    return update.model_dump(mode="json", exclude_none=True, by_alias=True)


def raw_updates(answer: Any) -> list[dict[str, Any]] | None:
    """The updates of a successful getUpdates answer as Telegram sent them (each a dict with its update_id), or None
    when the answer is anything else."""
    if not isinstance(answer, dict) or answer.get("ok") is not True or not isinstance(answer.get("result"), list):
        return None
    updates = answer["result"]
    if not all(isinstance(u, dict) and isinstance(u.get("update_id"), int) for u in updates):
        return None
    return updates


class Intake:
    """Stores updates, claims them from the inbox and feeds them to the dispatcher."""

    def __init__(self, dispatcher: Dispatcher, bot: Bot, engine: AsyncEngine, *, max_in_flight: int = 64,
                 claim_ttl_s: float = 5.0, max_attempts: int = 3, retry_s: float = 2.0,
                 idle_poll_s: float = 0.5, calls: ResilientCalls | None = None) -> None:
        self.dispatcher = dispatcher
        self.bot = bot
        self.inbox = Inbox(engine, claim_ttl_s=claim_ttl_s, max_attempts=max_attempts)
        self.max_in_flight = max_in_flight
        self.retry_s = retry_s
        self.idle_poll_s = idle_poll_s
        self.listeners: list[Listener] = []
        self.in_flight: dict[int, Claim] = {}
        self._handlers: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self.calls = calls  # forgets an update's sent calls once it is settled

    # ---- lifecycle ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Startup hooks, then the claim loop and its helpers; returns once the bot is ready for updates."""
        workflow = {"dispatcher": self.dispatcher, "bots": [self.bot], **self.dispatcher.workflow_data}
        workflow.pop("bot", None)
        await self.dispatcher.emit_startup(bot=self.bot, **workflow)
        self._stopping = False
        for loop in (self._claim_loop, self._renew_loop, self._reply_loop):
            self._loops.append(asyncio.create_task(loop(), name=f"intake.{loop.__name__}"))

    async def stop(self, *, drain_s: float = 10.0) -> None:
        """Lets the updates in hand finish (what is not finished stays open in the inbox), then stops."""
        self._stopping = True
        self._wake.set()
        if self._handlers:
            await asyncio.wait(set(self._handlers), timeout=drain_s)
        await self.abort()
        workflow = {"dispatcher": self.dispatcher, "bots": [self.bot], **self.dispatcher.workflow_data}
        workflow.pop("bot", None)
        await self.dispatcher.emit_shutdown(bot=self.bot, **workflow)

    async def abort(self) -> None:
        """Stops at once, as a crash would: nothing in hand is finished (tests use this)."""
        self._stopping = True
        tasks = [*self._loops, *self._handlers]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loops.clear()
        self._handlers.clear()
        self.in_flight.clear()

    # ---- intake -------------------------------------------------------------------------------------------
    async def store(self, updates: list[dict[str, Any]]) -> None:
        await self.inbox.store(updates)
        self._wake.set()

    async def poll(self, *, timeout_s: int = 25, allowed_updates: list[str] | None = None) -> None:
        """Our own getUpdates loop: the offset that confirms a batch is sent only after the batch is stored."""
        offset: int | None = None
        failures = 0
        allowed = allowed_updates if allowed_updates is not None else self.dispatcher.resolve_used_update_types()
        while not self._stopping:
            batch: list[dict[str, Any]]
            try:
                batch = await self.fetch(offset, timeout_s, allowed)
                failures = 0
            except ClientDecodeError:
                # Not the Bot API's JSON (a proxy's error page, say). No TelegramAPIError: uncaught, it would end
                # this loop and the bot would stop receiving updates.
                failures += 1
                log.warning("getUpdates failed (ClientDecodeError); retrying")
                await asyncio.sleep(min(5.0, 0.2 * 2 ** min(failures, 5)))
                continue
            except (TelegramNetworkError, TelegramServerError, TelegramAPIError) as error:
                failures += 1
                log.warning("getUpdates failed (%s); retrying", type(error).__name__)
                await asyncio.sleep(min(5.0, 0.2 * 2 ** min(failures, 5)))
                continue
            if not batch:
                continue
            while not self._stopping:
                try:
                    await self.store(batch)
                    break
                except DATABASE_TROUBLE as error:
                    # Not confirmed: Telegram keeps the batch until a later getUpdates sends the new offset.
                    log.warning("could not store %d updates (%s); retrying", len(batch), type(error).__name__)
                    await asyncio.sleep(0.5)
            else:
                return
            offset = max(update["update_id"] for update in batch) + 1

    async def fetch(self, offset: int | None, timeout_s: int, allowed: list[str]) -> list[dict[str, Any]]:
        """One getUpdates, its updates kept as Telegram's JSON. They are stored as they came and each is parsed
        once, when it is handled: parsing a batch into aiogram's models here and dumping it again for the inbox
        cost a tenth of the bot's CPU (docs/BENCHMARKS.md). An update aiogram can't read is parked on its own
        when handled, instead of failing the whole batch. Errors are aiogram's, as `bot(GetUpdates(...))` raises."""
        method = GetUpdates(offset=offset, timeout=timeout_s, allowed_updates=allowed)
        session = self.bot.session
        if not isinstance(session, AiohttpSession):  # another transport: aiogram's way
            return [update_payload(update) for update in await self.bot(method)]
        client = await session.create_session()
        body = method.model_dump(exclude_none=True)
        try:
            async with client.post(session.api.api_url(token=self.bot.token, method="getUpdates"), json=body,
                                   timeout=aiohttp.ClientTimeout(total=session.timeout + timeout_s)) as response:
                status, content = response.status, await response.text()
        except TimeoutError as error:
            raise TelegramNetworkError(method=method, message="Request timeout error") from error
        except aiohttp.ClientError as error:
            raise TelegramNetworkError(method=method, message=f"{type(error).__name__}: {error}") from error
        try:
            answer = json.loads(content)
        except ValueError:
            answer = None
        updates = raw_updates(answer) if status == HTTPStatus.OK else None
        if updates is not None:
            return updates
        session.check_response(bot=self.bot, method=method, status_code=status, content=content)  # Telegram's error
        raise ClientDecodeError("getUpdates answered without a list of updates", ValueError(status), None)

    # ---- the claim loop -----------------------------------------------------------------------------------
    async def _claim_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            free = self.max_in_flight - len(self.in_flight)
            if free > 0:
                try:
                    claims = await self.inbox.claim(free)
                except DATABASE_TROUBLE as error:
                    log.warning("claiming updates failed (%s); retrying", type(error).__name__)
                    claims = []
                    await asyncio.sleep(self.idle_poll_s)
                for claim in claims:
                    running = self.in_flight.get(claim.update_id)
                    if running is not None:
                        # Our own claim ran out while its handler still runs (a starved event loop): keep that
                        # handler and let it finish under the new claim instead of starting it twice.
                        running.token, running.attempts = claim.token, claim.attempts
                        continue
                    self.in_flight[claim.update_id] = claim
                    task = asyncio.create_task(self._handle(claim), name=f"update.{claim.update_id}")
                    self._handlers.add(task)
                    task.add_done_callback(self._handlers.discard)
                if claims and len(claims) == free:
                    await asyncio.sleep(0)
                    continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.idle_poll_s)
            if len(self.in_flight) > self.max_in_flight // 2:
                # Loaded: updates finish one at a time, and claiming for each would be a write transaction per
                # update. A few milliseconds let several finish and share one claim.
                await asyncio.sleep(CLAIM_BATCH_S)
            else:
                await asyncio.sleep(0)  # let completions that arrive together share one claim query

    async def _renew_loop(self) -> None:
        interval = self.inbox.claim_ttl_s / 3
        while not self._stopping:
            await asyncio.sleep(interval)
            try:
                await self.inbox.renew({claim.token for claim in self.in_flight.values()})
            except DATABASE_TROUBLE as error:
                log.warning("renewing claims failed (%s)", type(error).__name__)

    async def _reply_loop(self) -> None:
        """Sends again the replies that failed after their update committed, each at most once."""
        last_prune = 0.0
        while not self._stopping:
            await asyncio.sleep(1.0)
            try:
                if time.monotonic() - last_prune > 3600:
                    last_prune = time.monotonic()
                    await self.inbox.prune()
                for update_id, calls in await self.inbox.pending_replies():
                    await self._resend(update_id, calls)
            except DATABASE_TROUBLE as error:
                log.warning("pending replies: %s", type(error).__name__)

    async def _resend(self, update_id: int, calls: list[dict[str, Any]]) -> None:
        remaining = list(calls)
        while remaining:
            try:
                await replay(self.bot, remaining[0])
            except TRANSIENT:
                break  # still failing: try again on the next round
            except TelegramAPIError as error:
                log.warning("update %s: a queued reply was refused: %s", update_id, error.message)
            remaining.pop(0)
        await self.inbox.set_pending_reply(update_id, remaining)

    # ---- one update ---------------------------------------------------------------------------------------
    async def _handle(self, claim: Claim) -> None:
        outcome = "retry"
        token = current_claim.set(claim)
        try:
            if claim.state_to_write is not None:
                await self._write_kept_state(claim)
                outcome = "done"
                return
            try:
                try:
                    update = Update.model_validate_json(claim.payload, context={"bot": self.bot})
                except ValidationError as error:
                    # Where the payload failed, never what it held (pydantic would quote names and phones).
                    where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                      for e in error.errors(include_input=False, include_url=False)[:5])
                    raise UnreadableUpdate(f"aiogram can't read this update ({where})") from None
                response = await self.dispatcher.feed_update(self.bot, update)
                if isinstance(response, TelegramMethod):  # a handler may answer with a method, as in polling
                    await self.bot(response)
            except ClaimLost:
                return
            except Exception as error:  # noqa: BLE001 - anything a handler raises is this update's failure
                claim.error = claim.error or error
            if claim.completed:
                outcome = "done"
            elif claim.error is None:
                # Nothing opened a unit of work for it (an update type no handler takes): done on its own.
                await self.inbox.mark_done_alone(claim)
                outcome = "done"
            else:
                outcome = await self._failed(claim)
        except ClaimLost:
            return
        except DATABASE_TROUBLE as error:
            # Could not even record the outcome: the claim runs out and the update is attempted again.
            log.warning("update %s: recording its outcome failed (%s)", claim.update_id, type(error).__name__)
        finally:
            current_claim.reset(token)
            self.in_flight.pop(claim.update_id, None)
            if outcome != "retry" and self.calls is not None:
                self.calls.forget(claim.update_id)
            self._wake.set()
            for listener in self.listeners:
                listener(claim.update_id, outcome)

    async def _write_kept_state(self, claim: Claim) -> None:
        """An update whose handler committed but whose conversation state never reached Redis (the process died,
        or Redis failed): write that state now, before the sender's next update (storage/inbox.py)."""
        write = getattr(self.dispatcher.fsm.storage, "write_records", None)
        if write is not None:
            await write(claim.state_to_write or [])
        else:  # Redis is no longer configured: the state has nowhere to go
            log.warning("update %s: conversation state kept for Redis, but Redis is not configured",
                        claim.update_id)
        await self.inbox.state_written_alone(claim)
        log.info("update %s: its conversation state, kept in the inbox, is written now", claim.update_id)

    async def _failed(self, claim: Claim) -> str:
        assert claim.error is not None
        error_text = mask_phones_in(f"{type(claim.error).__name__}: {claim.error}")
        parked = await self.inbox.mark_failed(claim, error_text, self.retry_s * claim.attempts,
                                              park_now=isinstance(claim.error, UnreadableUpdate))
        if parked:
            log.error("update %s parked after %d attempts: %s", claim.update_id, claim.attempts,
                      type(claim.error).__name__)
            return "parked"
        return "retry"
