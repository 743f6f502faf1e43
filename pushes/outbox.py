"""Writing pushes: `enqueue` in the caller's transaction, and the registry of what each message key says.

A push is a row, not a send. The code that causes it (a decision, a scheduled job) calls `enqueue` with the
session it is about to commit; the dispatcher (pushes/dispatcher.py) sends the row after that commit, renders it
then, in the recipient's language, and retries it through Telegram's errors. The same idempotency key is
written once, so a job that runs twice or a redelivered update never sends twice.

Adding a push (see docs/ARCHITECTURE.md, "Pushes"):

    # pushes/greetings.py
    from pushes.outbox import Rendered, RenderContext, renderer, sms_template, SmsContent

    @renderer("greeting.holiday")
    def holiday(params: dict, ctx: RenderContext) -> Rendered:
        return Rendered(_("Happy {festival}!").format(festival=...))   # gettext is in ctx.locale here

    @sms_template("greeting.holiday")
    def holiday_sms(params: dict, ctx: RenderContext) -> SmsContent:
        return SmsContent("holiday", {"festival": ...})

    # where the event happens, before its commit:
    await enqueue(session, key="greeting.holiday", params={...}, recipient=Recipient.customer(id, chat_id=...),
                  idempotency_key=f"greeting:{customer_id}:{year}:spring", expires_at=due + timedelta(days=1))

and import the module in pushes/catalog.py so its keys are registered before the dispatcher starts.
"""

from __future__ import annotations

import inspect
import threading
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal, TypeAlias
from zoneinfo import ZoneInfo

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session

from storage.repositories import outbox as rows
from storage.types import utcnow

TELEGRAM: Final = "telegram"
SMS: Final = "sms"
Channel: TypeAlias = Literal["telegram", "sms"]


# --- Who a push goes to --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Recipient:
    """A staff member or a customer, and the address the channel needs (chat id or phone)."""

    kind: Literal["staff", "customer"]
    id: int | None
    chat_id: int | None = None
    phone: str | None = None
    locale: str | None = None  # used when the recipient's stored language can't be read at send time

    @classmethod
    def staff(cls, staff_id: int | None, *, chat_id: int | None, locale: str | None = None) -> Recipient:
        return cls("staff", staff_id, chat_id=chat_id, locale=locale)

    @classmethod
    def customer(cls, customer_id: int | None, *, chat_id: int | None = None, phone: str | None = None,
                 locale: str | None = None) -> Recipient:
        return cls("customer", customer_id, chat_id=chat_id, phone=phone, locale=locale)


# --- What a push says ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Attachment:
    """A file sent with the message (caption = the text, at most 1024 characters)."""

    data: bytes
    filename: str
    kind: Literal["document", "photo"] = "document"


@dataclass(frozen=True)
class Rendered:
    """A Telegram message: text, optional inline keyboard, optional attachment."""

    text: str
    reply_markup: Any = None  # aiogram InlineKeyboardMarkup (kept untyped: pushes render, aiogram sends)
    attachment: Attachment | None = None


@dataclass(frozen=True)
class SmsContent:
    """An SMS is a registered template plus parameters, never free text (Chinese providers' rule).

    `template` is our key; configuration maps it to the provider's template code."""

    template: str
    params: Mapping[str, str]


@dataclass
class RenderContext:
    """What a renderer may use at send time. gettext is already switched to `locale`."""

    locale: str
    tz: ZoneInfo
    now: datetime
    row_id: int
    recipient_kind: str
    recipient_id: int | None
    # An open UnitOfWork for reading current data (the activity's state now, a digest's numbers).
    uow: Callable[[], AbstractAsyncContextManager[Any]]
    stored_attachment: bytes | None = None
    stored_attachment_name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# A renderer returns None when the push no longer makes sense (the request was decided meanwhile): dropped.
Renderer: TypeAlias = Callable[[Mapping[str, Any], RenderContext], "Rendered | None | Awaitable[Rendered | None]"]
SmsRenderer: TypeAlias = Callable[[Mapping[str, Any], RenderContext],
                                  "SmsContent | None | Awaitable[SmsContent | None]"]

_renderers: dict[str, Renderer] = {}
_sms_renderers: dict[str, SmsRenderer] = {}


def renderer(key: str) -> Callable[[Renderer], Renderer]:
    """Registers the Telegram text of a message key (one function per key, in a pushes/ module)."""

    def register(function: Renderer) -> Renderer:
        if key in _renderers and _renderers[key] is not function:
            raise ValueError(f"message key {key!r} already has a renderer")
        _renderers[key] = function
        return function

    return register


def sms_template(key: str) -> Callable[[SmsRenderer], SmsRenderer]:
    """Registers the SMS form of a message key: its template and parameters."""

    def register(function: SmsRenderer) -> SmsRenderer:
        if key in _sms_renderers and _sms_renderers[key] is not function:
            raise ValueError(f"message key {key!r} already has an SMS template")
        _sms_renderers[key] = function
        return function

    return register


def registered_keys() -> dict[str, tuple[bool, bool]]:
    """key → (has a Telegram renderer, has an SMS template)."""
    keys = set(_renderers) | set(_sms_renderers)
    return {key: (key in _renderers, key in _sms_renderers) for key in sorted(keys)}


async def render(key: str, params: Mapping[str, Any], ctx: RenderContext) -> Rendered | None:
    function = _renderers.get(key)
    if function is None:
        raise LookupError(f"no renderer for message key {key!r}")
    result = function(params, ctx)
    return await result if inspect.isawaitable(result) else result


async def render_sms(key: str, params: Mapping[str, Any], ctx: RenderContext) -> SmsContent | None:
    function = _sms_renderers.get(key)
    if function is None:
        raise LookupError(f"no SMS template for message key {key!r}")
    result = function(params, ctx)
    return await result if inspect.isawaitable(result) else result


# --- Writing ------------------------------------------------------------------------------------------------

async def enqueue(session: AsyncSession | AsyncConnection, *, key: str, params: Mapping[str, Any],
                  recipient: Recipient, idempotency_key: str, channel: Channel = TELEGRAM,
                  due_at: datetime | None = None, expires_at: datetime | None = None,
                  attachment: bytes | None = None, attachment_name: str | None = None,
                  now: datetime | None = None) -> bool:
    """Writes one push in the caller's transaction; True if new, False if the idempotency key exists.

    Nothing is sent here: the row becomes visible to the dispatcher when the caller commits, and the
    dispatcher is woken right after that commit. `params` must be JSON-serialisable (ids, not objects: the
    renderer reads current data at send time). `expires_at`: past it the row is dropped, not sent.
    """
    if channel == TELEGRAM and recipient.chat_id is None:
        raise ValueError("a Telegram push needs the recipient's chat id")
    if channel == SMS and not recipient.phone:
        raise ValueError("an SMS push needs the recipient's phone")
    now = now or utcnow()
    values = rows.row_values(
        recipient_kind=recipient.kind, recipient_id=recipient.id, chat_id=recipient.chat_id,
        phone=recipient.phone, channel=channel, locale=recipient.locale, key=key, params=params,
        idempotency_key=idempotency_key, due_at=due_at or now, expires_at=expires_at, now=now,
        attachment=attachment, attachment_name=attachment_name)
    created = await rows.insert(session, values)
    if created:
        _flag(session)
    return created


async def enqueue_many(session: AsyncSession | AsyncConnection, values: Sequence[Mapping[str, Any]]) -> None:
    """Bulk form for scheduled fan-outs: `values` built with storage.repositories.outbox.row_values."""
    await rows.insert_many(session, values)
    if values:
        _flag(session)


# --- Waking the dispatcher after a commit --------------------------------------------------------------------
# The dispatcher also polls, so a missed wake only delays a push by one poll interval.

_FLAG = "fieldbot.outbox.enqueued"
_listeners: weakref.WeakSet[Any] = weakref.WeakSet()
_listeners_lock = threading.Lock()


def _flag(session: AsyncSession | AsyncConnection) -> None:
    target = session.sync_session if isinstance(session, AsyncSession) else session.sync_connection
    if target is not None:
        target.info[_FLAG] = True


def add_wake_listener(listener: Any) -> None:
    """`listener.wake()` is called after every commit that enqueued something (any session, this process)."""
    with _listeners_lock:
        _listeners.add(listener)


def remove_wake_listener(listener: Any) -> None:
    with _listeners_lock:
        _listeners.discard(listener)


def _wake_all() -> None:
    with _listeners_lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener.wake()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_FLAG, False):
        _wake_all()


@event.listens_for(Engine, "commit")
def _after_connection_commit(connection: Connection) -> None:
    # enqueue on a bare connection (bulk jobs): the flag sits on that connection until its commit.
    if connection.info.pop(_FLAG, False):
        _wake_all()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_FLAG, None)


def default_expiry(due_at: datetime, *, within: timedelta) -> datetime:
    """A push that means nothing later than `within` after it was due (a greeting: one day)."""
    return due_at + within


async def mark_reachable(session: AsyncSession, *, channel: Channel, address: str | int) -> bool:
    """Someone who blocked the bot (or whose number bounced) is back: pushes go to them again."""
    return await rows.mark_reachable(session, channel=channel, address=str(address))


async def unreachable_reason(session: AsyncSession, *, channel: Channel, address: str | int) -> str | None:
    """Why an address gets nothing (for a card: "blocked the bot on …"); None when it is reachable."""
    return await rows.unreachable_reason(session, channel=channel, address=str(address))
