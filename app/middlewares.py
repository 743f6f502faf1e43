"""Per-update plumbing: one unit of work per update, the sender's staff record and unit, and the services.

The order matters (app/assembly.py): UpdateSessionMiddleware opens the update's unit of work before aiogram's FSM
middleware reads the conversation state, so that read, the handler's writes and the new state share one transaction
and one commit; DatabaseMiddleware runs inside the FSM middleware (and its per-user lock) and commits there.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.types import TelegramObject, User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.services.clock import Clock
from bot.services.registry import build_services
from pushes import outbox
from storage.fsm import DatabaseStorage, update_unit
from storage.inbox import Claim, Inbox, current_claim
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)


class UpdateSessionMiddleware(BaseMiddleware):
    """Opens the update's unit of work and makes it the FSM storage's; rolls back and closes it when the update
    ends. Its first statement reads the sender and, when the conversation state is in the database, their
    conversation row with it: one query, where the FSM middleware and DatabaseMiddleware would make two."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], fsm: FSMContextMiddleware | None = None
                 ) -> None:
        self.sessionmaker = sessionmaker
        self.fsm = fsm

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        async with UnitOfWork(self.sessionmaker) as uow:
            data["uow"] = uow
            token = update_unit.set(uow)
            try:
                user: User | None = data.get("event_from_user")
                if user is not None:
                    await uow.sender(user.id, self.conversation_key(data))
                return await handler(event, data)
            finally:
                update_unit.reset(token)

    def conversation_key(self, data: dict[str, Any]) -> str | None:
        """The fsm_record key the FSM middleware will read for this update, when the state is in the database."""
        if self.fsm is None or not isinstance(self.fsm.storage, DatabaseStorage):
            return None
        context = self.fsm.resolve_event_context(data["bot"], data)
        return self.fsm.storage.record_key(context.key) if context is not None else None


class DatabaseMiddleware(BaseMiddleware):
    """Reads the sender, hands the handler its services, and commits the update's unit of work when the handler
    succeeds (it rolls back when it fails).

    The update's inbox row is marked done in that same commit. A reply that still failed after the retries
    (app/telegram.py) does not roll back what the handler wrote: the writes commit and the reply is sent later.
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.clock = clock

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        uow: UnitOfWork | None = data.get("uow")
        if uow is None:  # a dispatcher without UpdateSessionMiddleware: open the unit of work here
            return await UpdateSessionMiddleware(self.sessionmaker)(
                lambda event, data: self(handler, event, data), event, data)
        user: User | None = data.get("event_from_user")
        claim = current_claim.get()
        sender = await uow.sender(user.id) if user else None  # read with the unit (UpdateSessionMiddleware)
        staff = sender.staff if sender else None
        data["staff"] = staff
        # A plain value for the error handler's language (it runs after the update's session is gone).
        data["staff_locale"] = staff.locale if staff is not None else None
        # Not staff: maybe a customer who linked their account (they get a few commands, nothing else).
        linked, unreachable = await uow.customers.linked_sender(user.id) \
            if staff is None and user is not None else (None, False)
        data["linked_customer"] = linked
        data["customer_locale"] = linked.locale if linked is not None else None
        # The sender's own org unit: every scope check starts from its path.
        data["unit"] = sender.unit if sender else None
        if user is not None and (unreachable or (sender is not None and sender.unreachable)):
            # They had blocked the bot and write to it again: pushes reach them again, from this update's
            # commit on. One DELETE, only then (the sender query said so). The dispatchers' caches follow: each
            # claim re-reads the marks of the addresses it claimed.
            await outbox.mark_reachable(uow.session, channel=outbox.TELEGRAM, address=user.id)
            who = f"staff {staff.id}" if staff is not None else f"customer {linked.id if linked else '-'}"
            log.info("%s writes to the bot again: their Telegram address is reachable again", who)
        data["settings"] = self.settings
        data["clock"] = self.clock
        data.update(build_services(uow, self.clock, self.settings))
        try:
            result = await handler(event, data)
        except (TelegramRetryAfter, TelegramServerError, TelegramNetworkError):
            if claim is None or not claim.failed_sends:
                raise
            log.warning("update %s: a reply failed after retries; the writes commit, it is sent later",
                        claim.update_id)
            result = None
        # The update's done mark goes with its writes and the COMMIT, in one trip to the database.
        done = (Inbox.done_step(claim),) if claim is not None else ()
        await uow.commit(*done)
        if claim is not None:
            claim.completed = True
            if claim.deferred_state:  # Redis: the update is STATE_PENDING until Redis has its state
                await write_deferred_state(data.get("fsm_storage"), claim, uow)
        return result


async def write_deferred_state(storage: object, claim: Claim, uow: UnitOfWork) -> None:
    """After the commit: the state the update left goes to Redis, then its inbox row turns DONE. If Redis fails or
    the process dies in between, the row stays STATE_PENDING, its claim runs out, and the intake writes the state
    kept in the row (app/intake.py) before the sender's next update runs."""
    flush = getattr(storage, "flush", None)
    if flush is None:
        return
    try:
        await flush(claim)
        await Inbox.state_written(await uow.connection(), claim)
        await uow.commit()
    except Exception as error:  # noqa: BLE001 - the update committed: what fails here is retried, not apologised for
        log.warning("update %s: its conversation state is written later (%s)", claim.update_id,
                    type(error).__name__)
