"""The dispatcher: drains due outbox rows after commit, under Telegram's limits, through its errors.

One `OutboxDispatcher` per process. It wakes after every commit that enqueued (pushes.outbox) and polls every
`poll_seconds` besides, so a missed wake or another process's rows wait one poll at most.

Limits (aiolimiter): all Telegram sends share one limiter (`rate_per_second`, default 29.5/s, evenly spaced so no
1-second window holds more than 30); each chat gets at most one message per `per_chat_seconds` (1.05 s: a
margin for network jitter over Telegram's 1/s), groups one per 3.05 s (20 a minute).

Errors: 429 waits `retry_after` and tries again holding the row; 5xx, timeouts and network errors back off in place
a few times, then the row (and the rest of that chat's rows, to keep their order) goes back to pending with a
longer back-off; "blocked by the user", "chat not found" and "deactivated" mark the address unreachable and stop
everything to it; any other 400 fails the row (a bug: the message would never be accepted).

Quiet hours: customers (Telegram or SMS) are messaged only inside the playbook's sending window
(`schedule.quiet_hours`, in TIMEZONE). push_rows puts a customer row's due time inside it when the row is written;
the dispatcher checks again when it sends, so rows that fell due while the bot was down overnight are not sent at
night: they wait for the window's next opening without counting an attempt, or are dropped when they would expire
before it. Staff pushes have no window.

Exactly once, as far as Telegram allows. A row is claimed ("sending", owner, claim expiry) in one statement:
`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single write lock on SQLite, so two dispatchers never hold the same
row. Just before each send the claim is renewed by a conditional update (owner and status must still match);
a row whose renewal fails belongs to someone else and is not sent. After the send the row is marked "sent". The one
window: a process that dies after Telegram accepted a message and before the "sent" mark committed leaves the row
"sending"; when its claim expires (`claim_for`, 2 minutes) another dispatcher sends it again. Telegram has no
idempotency key, so that message may arrive twice; nothing is ever lost. A timeout whose request did reach
Telegram is the same case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import BufferedInputFile
from aiogram.utils.i18n import I18n
from aiolimiter import AsyncLimiter
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.playbook import QuietHours
from bot.domain.reminders import within_quiet_hours
from pushes import outbox
from pushes.sms import SmsError, SmsGateway
from storage.repositories import outbox as rows
from storage.repositories.outbox import OutboxRow
from storage.types import UTCDateTime
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
LocaleLookup = Callable[[AsyncSession, int], Awaitable[str | None]]

# Errors meaning "this address will never take a message from us" (until the person comes back).
UNREACHABLE_MARKERS = ("chat not found", "user not found", "bot was blocked", "user is deactivated",
                       "bot was kicked", "peer_id_invalid", "bot can't initiate conversation",
                       "not enough rights to send")
CAPTION_LIMIT = 1024


@dataclass
class DrainReport:
    """What one dispatcher did since it started (or in one `drain`)."""

    outcomes: Counter[str] = field(default_factory=Counter)
    retries_429: int = 0
    retries_transient: int = 0

    def __str__(self) -> str:
        parts = [f"{status} {count}" for status, count in sorted(self.outcomes.items())]
        return ", ".join(parts) + f"; 429 retries {self.retries_429}, other retries {self.retries_transient}"


async def _staff_locale(session: AsyncSession, staff_id: int) -> str | None:
    result = await session.execute(text("SELECT locale FROM staff WHERE id = :id"), {"id": staff_id})
    return result.scalar_one_or_none()


# kind → how to read a recipient's language at send time. `schedule` registers "customer".
_locale_lookups: dict[str, LocaleLookup] = {"staff": _staff_locale}


def register_locale_lookup(recipient_kind: str, lookup: LocaleLookup) -> None:
    _locale_lookups[recipient_kind] = lookup


def default_owner() -> str:
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _Retry(Exception):
    """Give the row back to pending, to be tried at `delay` from now (with the rest of its chat's rows).
    `count=False`: nothing was tried (held by the quiet hours), so no attempt is counted."""

    def __init__(self, reason: str, delay: float, count: bool = True) -> None:
        super().__init__(reason)
        self.delay = delay
        self.count = count


class _Done(Exception):
    def __init__(self, status: str, reason: str | None = None) -> None:
        super().__init__(reason or status)
        self.status = status
        self.reason = reason


class OutboxDispatcher:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], bot: Bot | None, i18n: I18n, *,
                 tz: ZoneInfo, clock: Clock, sms: SmsGateway | None = None, sms_signature: str = "",
                 sms_codes: Mapping[str, str] | None = None, owner: str | None = None,
                 rate_per_second: float = 29.5, per_chat_seconds: float = 1.05, group_seconds: float = 3.05,
                 sms_per_second: float = 10.0, poll_seconds: float = 5.0, batch: int = 100,
                 claim_for: timedelta = timedelta(minutes=2), send_timeout: float = 30.0,
                 inplace_retries: int = 4, max_claims: int = 12, max_retry_after: float = 300.0,
                 quiet_hours: QuietHours | None = None) -> None:
        self.sessionmaker = sessionmaker
        self.bot = bot
        self.i18n = i18n
        self.tz = tz
        self.clock = clock
        self.sms = sms
        self.sms_signature = sms_signature
        self.sms_codes = dict(sms_codes or {})
        self.owner = owner or default_owner()
        self.rate_per_second = rate_per_second
        self.per_chat_seconds = per_chat_seconds
        self.group_seconds = group_seconds
        self.sms_per_second = sms_per_second
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.claim_for = claim_for
        self.send_timeout = send_timeout
        self.inplace_retries = inplace_retries
        self.max_claims = max_claims
        self.max_retry_after = max_retry_after
        # Customers are messaged only inside the playbook's sending window, re-checked at send time (a row
        # written for 19:50 must not go at 02:00 because the bot was down in between). None: no window (staff
        # pushes never have one).
        self.quiet_hours = quiet_hours
        self.report = DrainReport()
        self._wake = asyncio.Event()
        self._stopping = False
        self._limiter: AsyncLimiter | None = None
        self._sms_limiter: AsyncLimiter | None = None
        # chat id → when its last send ended (insertion-ordered: the oldest are forgotten first).
        self._chat_last: OrderedDict[int, float] = OrderedDict()
        self._group_limiters: dict[int, AsyncLimiter] = {}
        self._chats: dict[str, asyncio.Task[None]] = {}
        self._queues: dict[str, list[OutboxRow]] = {}
        self._in_flight = 0
        self._claimed_at: dict[int, float] = {}  # row id → monotonic time of our claim (or last renewal)
        self._unreachable_known: dict[tuple[str, str], str] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ------------------------------------------------------------------------------------------

    def wake(self) -> None:
        """Called after a commit that enqueued (from any thread, so through the loop)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    _loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> asyncio.Task[None]:
        """Runs `run()` as a task on the current loop; the first pass sends what fell due while we were down."""
        self._task = asyncio.create_task(self.run(), name="outbox-dispatcher")
        return self._task

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stops claiming, lets claimed rows finish (up to `grace_s`), then cancels."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace_s)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
        outbox.remove_wake_listener(self)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        outbox.add_wake_listener(self)
        log.info("outbox dispatcher %s started", self.owner)
        try:
            while not self._stopping:
                self._wake.clear()
                try:
                    claimed = await self._claim_more()
                except Exception:
                    log.exception("outbox: claiming failed; trying again after the poll interval")
                    claimed = 0
                if claimed and self._in_flight < self.batch // 2:
                    continue  # more may be due right now
                await self._sleep_until_work()
            await self._wait_idle()
        finally:
            outbox.remove_wake_listener(self)
            for task in list(self._chats.values()):
                task.cancel()
            log.info("outbox dispatcher %s stopped: %s", self.owner, self.report)

    async def drain(self, *, within_s: float = 60.0) -> DrainReport:
        """Sends everything due now and returns (tests, `fieldbot outbox --send`): one pass, no polling."""
        self._loop = asyncio.get_running_loop()
        before = DrainReport(Counter(self.report.outcomes), self.report.retries_429, self.report.retries_transient)
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            claimed = await self._claim_more()
            if not claimed and self._in_flight == 0:
                break
            await asyncio.wait_for(self._wait_some(), max(0.0, deadline - time.monotonic()))
        await self._wait_idle(max(0.0, deadline - time.monotonic()))
        return DrainReport(self.report.outcomes - before.outcomes, self.report.retries_429 - before.retries_429,
                           self.report.retries_transient - before.retries_transient)

    async def settled(self, *, within_s: float = 10.0) -> bool:
        """True once nothing is due and unsent and nothing is in flight (tests, driver): the run loop sends."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if self._in_flight == 0:
                async with self.sessionmaker() as session:
                    due = (await session.execute(_DUE_COUNT, {"now": self.clock(), "owner": self.owner,
                                                              "channels": self._channels()})).scalar_one()
                if due == 0 and self._in_flight == 0:
                    return True
                self._wake.set()
            await asyncio.sleep(0.02)
        return False

    async def _wait_some(self) -> None:
        """Until there is room to claim more (lanes finishing set the wake event)."""
        self._wake.clear()
        if self._in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.2)

    async def _wait_idle(self, limit_s: float | None = None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), limit_s)

    async def _sleep_until_work(self) -> None:
        delay = self.poll_seconds
        with contextlib.suppress(Exception):
            async with self.sessionmaker() as session:
                due = await rows.next_due(session, channels=self._channels())
            if due is not None:
                delay = min(delay, max(0.0, (due - self.clock()).total_seconds()))
        if self._in_flight >= self.batch // 2:
            delay = min(delay, 0.2)  # room frees up as chats finish
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(delay, 0.01))

    def _channels(self) -> list[str]:
        return [outbox.TELEGRAM, outbox.SMS] if self.bot is not None else [outbox.SMS]

    # --- claiming -----------------------------------------------------------------------------------------

    async def _claim_more(self) -> int:
        room = self.batch - self._in_flight
        if room <= 0 or self._stopping:
            return 0
        now = self.clock()
        # SMS rows that waited for a gateway are taken again once one is configured.
        statuses = [rows.PENDING, rows.NO_GATEWAY] if self.sms is not None else [rows.PENDING]
        opens = self._customers_wait_until(now)
        async with self.sessionmaker() as session:
            await self._drop_expired(session, now)
            if opens is not None:
                # Quiet hours: customer rows due now wait for the window (or drop, when they'd expire first), two
                # statements per pass whatever their number, and the claim leaves them alone.
                await rows.hold_customers_until(session, now=now, opens=opens, channels=self._channels(),
                                                statuses=statuses)
            claimed = await rows.claim(session, owner=self.owner, now=now, claim_for=self.claim_for, limit=room,
                                       channels=self._channels(), statuses=statuses,
                                       skip_kind="customer" if opens is not None else "")
            await session.commit()
            # Who of these refused us before: one query per batch, not one per row.
            addresses = {(row.channel, row.address) for row in claimed}
            fresh = await rows.unreachable_among(session, addresses)
            for address in addresses:  # someone marked reachable again (they came back) is tried again
                self._unreachable_known.pop(address, None)
            self._unreachable_known.update(fresh)
        claimed_at = time.monotonic()
        for row in claimed:
            self._claimed_at[row.id] = claimed_at
            self._enqueue_local(row)
        return len(claimed)

    def _customers_wait_until(self, now: datetime) -> datetime | None:
        """During the quiet hours, the next opening of the sending window (the rule push_rows applies when it
        writes a customer row); None when customers may be messaged now."""
        if self.quiet_hours is None:
            return None
        opens = within_quiet_hours(now, self.quiet_hours, self.tz)
        return opens if opens > now else None

    async def _drop_expired(self, session: AsyncSession, now: datetime) -> None:
        """Late beyond meaning (a greeting a day after the festival): dropped in one statement, never sent."""
        await session.execute(_DROP_EXPIRED, {"now": now})

    def _enqueue_local(self, row: OutboxRow) -> None:
        lane = f"{row.channel}:{row.address}"
        self._queues.setdefault(lane, []).append(row)
        self._in_flight += 1
        self._idle.clear()
        if lane not in self._chats:
            self._chats[lane] = asyncio.create_task(self._lane(lane), name=f"outbox-{row.channel}")

    async def _lane(self, lane: str) -> None:
        """One chat's (or phone's) rows, one after the other, in due order."""
        try:
            while self._queues.get(lane):
                row = self._queues[lane].pop(0)
                try:
                    await self._process(row)
                except _Retry as retry:
                    # Keep the chat's order: everything queued behind this row goes back with it.
                    rest = self._queues.pop(lane, [])
                    try:
                        await self._release([row, *rest], retry, count=retry.count)
                    finally:
                        for _row in rest:  # they leave the lane too (`row` itself is counted below)
                            self._row_done()
                except Exception:
                    log.exception("outbox: row %s failed unexpectedly", row.id)
                    await self._finish(row, rows.FAILED, "internal error; see the log")
                finally:
                    self._row_done()
        finally:
            self._chats.pop(lane, None)
            leftover = self._queues.pop(lane, [])
            if leftover:  # cancelled while rows waited: give them back untouched
                with contextlib.suppress(Exception):
                    await self._release(leftover, _Retry("dispatcher stopped", 0), count=False)
                for _row in leftover:
                    self._row_done()

    def _row_done(self) -> None:
        self._in_flight -= 1
        if self._in_flight <= 0:
            self._in_flight = 0
            self._idle.set()
            self._wake.set()
        elif self._in_flight < self.batch // 2:
            self._wake.set()

    # --- one row ------------------------------------------------------------------------------------------

    async def _process(self, row: OutboxRow) -> None:
        now = self.clock()
        if row.expires_at is not None and now > row.expires_at:
            await self._finish(row, rows.DROPPED, "expired before it could be sent")
            return
        if row.attempts > self.max_claims:
            await self._finish(row, rows.FAILED, "gave up after too many attempts")
            return
        reason = self._unreachable_known.get((row.channel, row.address))
        if reason is not None:
            await self._finish(row, rows.UNREACHABLE, reason)
            return
        if row.recipient_kind == "customer":
            # Claimed before the window closed, reached only after (a long batch, a 429 wait): not now.
            opens = self._customers_wait_until(now)
            if opens is not None:
                if row.expires_at is not None and row.expires_at <= opens:
                    await self._finish(row, rows.DROPPED, rows.QUIET_HOURS_EXPIRED)
                    return
                raise _Retry(rows.QUIET_HOURS_HELD, (opens - now).total_seconds(), count=False)
        try:
            if row.channel == outbox.SMS:
                await self._process_sms(row)
            else:
                await self._process_telegram(row)
        except _Done as done:
            await self._finish(row, done.status, done.reason)

    async def _context(self, row: OutboxRow) -> tuple[str, outbox.RenderContext]:
        locale = None
        lookup = _locale_lookups.get(row.recipient_kind)
        if lookup is not None and row.recipient_id is not None:
            async with self.sessionmaker() as session:
                locale = await lookup(session, row.recipient_id)
        if locale not in self.i18n.available_locales:
            locale = row.locale if row.locale in self.i18n.available_locales else self.i18n.default_locale
        ctx = outbox.RenderContext(
            locale=locale, tz=self.tz, now=self.clock(), row_id=row.id, recipient_kind=row.recipient_kind,
            recipient_id=row.recipient_id, uow=lambda: UnitOfWork(self.sessionmaker),
            stored_attachment=row.attachment, stored_attachment_name=row.attachment_name)
        return locale, ctx

    async def _process_telegram(self, row: OutboxRow) -> None:
        assert self.bot is not None and row.chat_id is not None
        locale, ctx = await self._context(row)
        try:
            with self.i18n.context(), self.i18n.use_locale(locale):
                rendered = await outbox.render(row.message_key, row.params, ctx)
        except LookupError as error:
            raise _Done(rows.FAILED, str(error)) from None
        if rendered is None:
            raise _Done(rows.DROPPED, "no longer applies")
        if rendered.attachment is None and row.attachment is not None:
            rendered = outbox.Rendered(rendered.text, rendered.reply_markup,
                                       outbox.Attachment(row.attachment, row.attachment_name or "file"))
        chat_id = row.chat_id
        transient = 0
        while True:
            await self._pace_chat(chat_id)
            if not await self._renew(row):
                raise _Done("lost", None)  # someone else holds it now (our claim expired): not ours to send
            await self._pace_all()
            try:
                try:
                    message_id = await self._send(chat_id, rendered)
                finally:
                    self._sent_to(chat_id)
            except TelegramRetryAfter as error:
                self.report.retries_429 += 1
                wait = float(error.retry_after)
                if wait > self.max_retry_after:
                    raise _Retry(f"429: retry after {wait:.0f} s", wait) from None
                log.info("outbox: 429 for row %s, waiting %.0f s", row.id, wait)
                await asyncio.sleep(wait)
                continue
            except TelegramMigrateToChat as error:
                chat_id = error.migrate_to_chat_id  # a group became a supergroup: same chat, new id
                await self._move_chat(row, chat_id)
                continue
            except (TelegramForbiddenError, TelegramNotFound) as error:
                await self._unreachable(row, error.message)
                raise _Done(rows.UNREACHABLE, error.message) from None
            except TelegramBadRequest as error:
                if any(marker in error.message.lower() for marker in UNREACHABLE_MARKERS):
                    await self._unreachable(row, error.message)
                    raise _Done(rows.UNREACHABLE, error.message) from None
                raise _Done(rows.FAILED, error.message) from None
            except (TelegramServerError, TelegramNetworkError, TelegramUnauthorizedError, TimeoutError,
                    OSError) as error:
                transient += 1
                self.report.retries_transient += 1
                reason = f"{type(error).__name__}: {getattr(error, 'message', error)}"
                if transient > self.inplace_retries:
                    raise _Retry(reason, self._backoff(row.attempts)) from None
                await asyncio.sleep(min(8.0, 0.5 * 2 ** (transient - 1)) * random.uniform(0.8, 1.2))
                continue
            await self._finish(row, rows.SENT, None, provider_id=str(message_id))
            return

    async def _send(self, chat_id: int, rendered: outbox.Rendered) -> int:
        assert self.bot is not None
        attachment = rendered.attachment
        if attachment is None:
            message = await self.bot.send_message(chat_id=chat_id, text=rendered.text,
                                                  reply_markup=rendered.reply_markup,
                                                  request_timeout=int(self.send_timeout))
        elif attachment.kind == "photo":
            message = await self.bot.send_photo(
                chat_id=chat_id, photo=BufferedInputFile(attachment.data, attachment.filename),
                caption=rendered.text[:CAPTION_LIMIT] or None, reply_markup=rendered.reply_markup,
                request_timeout=int(self.send_timeout))
        else:
            message = await self.bot.send_document(
                chat_id=chat_id, document=BufferedInputFile(attachment.data, attachment.filename),
                caption=rendered.text[:CAPTION_LIMIT] or None, reply_markup=rendered.reply_markup,
                request_timeout=int(self.send_timeout))
        return message.message_id

    async def _process_sms(self, row: OutboxRow) -> None:
        if self.sms is None:
            raise _Done(rows.NO_GATEWAY, "no SMS gateway configured (SMS_URL)")
        assert row.phone
        locale, ctx = await self._context(row)
        try:
            with self.i18n.context(), self.i18n.use_locale(locale):
                content = await outbox.render_sms(row.message_key, row.params, ctx)
        except LookupError as error:
            raise _Done(rows.FAILED, str(error)) from None
        if content is None:
            raise _Done(rows.DROPPED, "no longer applies")
        if self._sms_limiter is None:
            self._sms_limiter = AsyncLimiter(1, 1 / self.sms_per_second)
        await self._sms_limiter.acquire()
        if not await self._renew(row):
            raise _Done("lost", None)
        code = self.sms_codes.get(content.template, content.template)
        try:
            provider_id = await asyncio.wait_for(
                self.sms.send(row.phone, code, dict(content.params), self.sms_signature), self.send_timeout)
        except SmsError as error:
            if error.permanent:
                await self._unreachable(row, str(error))
                raise _Done(rows.UNREACHABLE, str(error)) from None
            raise _Retry(f"SMS: {error}", self._backoff(row.attempts)) from None
        except (TimeoutError, OSError) as error:
            raise _Retry(f"SMS: {type(error).__name__}", self._backoff(row.attempts)) from None
        await self._finish(row, rows.SENT, None, provider_id=provider_id)

    # --- pacing -------------------------------------------------------------------------------------------

    async def _pace_chat(self, chat_id: int) -> None:
        """One chat's spacing counts from the end of its previous send (its answer came back): the next request
        then reaches Telegram at least `per_chat_seconds` after the previous one did, whatever the latency."""
        last = self._chat_last.get(chat_id)
        if last is not None:
            wait = last + (self.group_seconds if chat_id < 0 else self.per_chat_seconds) - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        if chat_id < 0:  # groups: also 20 a minute
            limiter = self._group_limiters.get(chat_id)
            if limiter is None:
                limiter = self._group_limiters[chat_id] = AsyncLimiter(1, self.group_seconds)
            await limiter.acquire()

    def _sent_to(self, chat_id: int) -> None:
        now = time.monotonic()
        self._chat_last.pop(chat_id, None)
        self._chat_last[chat_id] = now
        # Forget chats idle for a minute: memory stays bounded with a million customers.
        while self._chat_last:
            oldest, last = next(iter(self._chat_last.items()))
            if now - last < 60:
                break
            del self._chat_last[oldest]
            self._group_limiters.pop(oldest, None)

    async def _pace_all(self) -> None:
        """All sends share one limiter, evenly spaced (bucket of one): no second ever holds more than the rate."""
        if self._limiter is None:
            self._limiter = AsyncLimiter(1, 1 / self.rate_per_second)
        await self._limiter.acquire()

    def _backoff(self, attempts: int) -> float:
        return min(900.0, 30.0 * 2 ** max(0, attempts - 1)) * random.uniform(0.8, 1.2)

    # --- marks --------------------------------------------------------------------------------------------

    async def _renew(self, row: OutboxRow) -> bool:
        """Is the row still ours to send? A claim younger than half its lifetime certainly is (nobody takes an
        unexpired claim, and half of two minutes covers clock skew between hosts); an older one is renewed by a
        conditional update, which fails if another dispatcher has taken the row since."""
        claimed_at = self._claimed_at.get(row.id)
        if claimed_at is not None and time.monotonic() - claimed_at < self.claim_for.total_seconds() / 2:
            return True
        async with self.sessionmaker() as session:
            ok = await rows.renew(session, row_id=row.id, owner=self.owner, now=self.clock(),
                                  claim_for=self.claim_for)
            await session.commit()
        if ok:
            self._claimed_at[row.id] = time.monotonic()
        if not ok:
            log.warning("outbox: row %s is no longer claimed by this dispatcher; not sending it", row.id)
            self.report.outcomes["lost"] += 1
        return ok

    async def _finish(self, row: OutboxRow, status: str, reason: str | None, provider_id: str | None = None
                      ) -> None:
        self._claimed_at.pop(row.id, None)
        if status == "lost":
            return
        async with self.sessionmaker() as session:
            await rows.finish(session, row_id=row.id, owner=self.owner, status=status, now=self.clock(),
                              error=reason, provider_id=provider_id)
            await session.commit()
        self.report.outcomes[status] += 1
        if status not in (rows.SENT, rows.NO_GATEWAY):
            log.warning("outbox: row %s (%s to %s %s) %s: %s", row.id, row.message_key, row.recipient_kind,
                        row.recipient_id, status, reason)

    async def _release(self, batch: list[OutboxRow], retry: _Retry, count: bool = True) -> None:
        now = self.clock()
        due = now + timedelta(seconds=retry.delay)
        async with self.sessionmaker() as session:
            for index, row in enumerate(batch):
                self._claimed_at.pop(row.id, None)
                # Only the row that failed counts an attempt; those behind it just keep their place.
                await rows.release(session, row_id=row.id, owner=self.owner, now=now, due_at=due,
                                   error=str(retry) if index == 0 else row_error_behind(batch[0]),
                                   count_attempt=count and index == 0)
            await session.commit()
        self.report.outcomes["retry"] += 1
        log.info("outbox: row %s back to pending for %.0f s (%s)", batch[0].id, retry.delay, retry)

    async def _unreachable(self, row: OutboxRow, reason: str) -> None:
        self._unreachable_known[(row.channel, row.address)] = reason
        async with self.sessionmaker() as session:
            await rows.mark_unreachable(session, channel=row.channel, address=row.address,
                                        recipient_kind=row.recipient_kind, recipient_id=row.recipient_id,
                                        reason=reason, now=self.clock())
            await session.commit()

    async def _move_chat(self, row: OutboxRow, chat_id: int) -> None:
        async with self.sessionmaker() as session:
            await session.execute(text("UPDATE outbox SET chat_id = :new WHERE chat_id = :old AND status IN "
                                       "('pending', 'sending')"), {"new": chat_id, "old": row.chat_id})
            await session.commit()


_DUE_COUNT = text(
    "SELECT COUNT(*) FROM outbox WHERE channel IN :channels AND ((status = 'pending' AND due_at <= :now) "
    "OR (status = 'sending' AND claimed_by = :owner))"
).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("channels", expanding=True))


def row_error_behind(first: OutboxRow) -> str:
    return f"waiting behind row {first.id} of the same chat"


_DROP_EXPIRED = text(
    "UPDATE outbox SET status = 'dropped', last_error = 'expired before it could be sent', updated_at = :now "
    "WHERE status IN ('pending', 'no_gateway') AND expires_at IS NOT NULL AND expires_at < :now"
).bindparams(bindparam("now", type_=UTCDateTime()))


def from_settings(settings: Any, sessionmaker: async_sessionmaker[AsyncSession], bot: Bot | None, i18n: I18n,
                  clock: Clock, **options: Any) -> OutboxDispatcher:
    """The production dispatcher: every message key registered, the SMS gateway from SMS_URL."""
    from bot.domain.playbook import default_playbook
    from pushes import catalog
    from pushes.sms import gateway_from_url

    catalog.load()
    chosen: dict[str, Any] = {"rate_per_second": settings.outbox_rate_per_second,
                              "poll_seconds": settings.outbox_poll_seconds,
                              "quiet_hours": default_playbook().schedule.quiet_hours} | options
    return OutboxDispatcher(sessionmaker, bot, i18n, tz=settings.tz, clock=clock,
                            sms=gateway_from_url(settings.sms_url), sms_signature=settings.sms_signature, **chosen)
