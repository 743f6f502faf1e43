"""App assembly: storage, dispatcher, bot; and running it against Telegram or the local sandbox."""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import ClientDecodeError, TelegramAPIError
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import DisabledEventIsolation
from aiogram.types import BotCommand
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.bot_session import JsonBodySession
from app.deferred_state import DeferredStateStorage
from app.intake import Intake
from app.middlewares import DatabaseMiddleware, UpdateSessionMiddleware
from app.outgoing import BoundTexts
from app.routers import make_routers
from app.state_index import StateIndexedDispatcher
from app.telegram import ResilientCalls
from bot.config import SUPPORTED_LOCALES, Settings
from bot.domain.playbook import default_playbook
from bot.i18n import N_, LocaleMiddleware, make_i18n
from bot.services.clock import Clock, system_clock
from storage import migrate
from storage.engine import make_engine, make_sessionmaker
from storage.fsm import DatabaseStorage

log = logging.getLogger(__name__)

COMMANDS = (
    ("menu", N_("Main menu")),
    ("today", N_("Follow-ups due today")),
    ("visit", N_("Report a customer visit")),
    ("find", N_("Find a customer")),
    ("sale", N_("Report a sale")),
    ("activities", N_("Marketing activities")),
    ("targets", N_("The quarter against target")),
    ("digest", N_("Today's digest with its chart")),
    ("coverage", N_("Stations and leaders per county-level city")),
    ("export", N_("An Excel workbook of a period")),
    ("help", N_("What I can do")),
    ("language", N_("Switch language")),
    ("cancel", N_("Stop what you are doing")),
)
# Telegram matches a client's language by its two-letter code.
COMMAND_LANGUAGE_CODES = {"zh_CN": "zh", "en": "en"}


@dataclass
class Storage:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]


async def open_storage(settings: Settings) -> Storage:
    """Migrates the embedded SQLite database itself; refuses an un-migrated PostgreSQL one."""
    engine = make_engine(settings.database_url, busy_timeout_s=settings.sqlite_busy_timeout_s)
    if settings.is_sqlite:
        await migrate.upgrade(engine)
    else:
        await migrate.ensure_migrated(engine)
    return Storage(engine, make_sessionmaker(engine))


def fsm_backends(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
                 ) -> tuple[BaseStorage, BaseEventIsolation]:
    """Durable conversation state: Redis when configured (several workers), else the database.

    No events isolation: the intake (app/intake.py) already runs one update per user at a time, in order, across
    processes; aiogram's Redis lock (60 s, not first-come-first-served) reordered users and locked them out."""
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        return DeferredStateStorage(RedisStorage.from_url(settings.redis_url)), DisabledEventIsolation()
    return DatabaseStorage(sessionmaker), DisabledEventIsolation()


def build_dispatcher(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], *,
                     clock: Clock = system_clock, i18n: I18n | None = None,
                     observers: Sequence[BaseMiddleware] = ()) -> Dispatcher:
    """The production dispatcher. `observers` wrap every update outermost (tests and benchmarks use them
    to know when an update is fully handled, commit included)."""
    default_playbook()  # checked at start: a broken playbook stops here, naming its line and key
    storage, isolation = fsm_backends(settings, sessionmaker)
    # aiogram's FSM middleware is registered by hand (disable_fsm only skips that registration) so that the update's
    # session opens before it reads the state: one session, one state read and one commit per update.
    dispatcher = StateIndexedDispatcher(storage=storage, events_isolation=isolation, disable_fsm=True)
    i18n = i18n or make_i18n(settings.default_locale)
    for observer in observers:
        dispatcher.update.outer_middleware(observer)
    dispatcher.update.outer_middleware(UpdateSessionMiddleware(sessionmaker, dispatcher.fsm))
    dispatcher.update.outer_middleware(dispatcher.fsm)
    dispatcher.update.outer_middleware(DatabaseMiddleware(sessionmaker, settings, clock))
    LocaleMiddleware(i18n).setup(dispatcher)
    dispatcher.include_routers(*make_routers())
    dispatcher.startup.register(register_commands)
    dispatcher["i18n_core"] = i18n
    return dispatcher


def build_bot(settings: Settings, token: str, api_base: str | None = None) -> Bot:
    """A bot whose calls retry 429 (after retry_after), 5xx and timeouts (app/telegram.py)."""
    base = api_base or settings.telegram_api_base
    session = JsonBodySession(api=TelegramAPIServer.from_base(base)) if base else JsonBodySession()
    session.middleware(BoundTexts())
    session.middleware(ResilientCalls())
    return Bot(token=token, session=session)


def resilient_calls(bot: Bot) -> ResilientCalls | None:
    return next((m for m in (bot.session.middleware[i] for i in range(len(bot.session.middleware)))
                 if isinstance(m, ResilientCalls)), None)


def build_intake(settings: Settings, dispatcher: Dispatcher, bot: Bot, engine: AsyncEngine) -> Intake:
    return Intake(dispatcher, bot, engine, max_in_flight=settings.max_updates_in_flight,
                  claim_ttl_s=settings.intake_claim_ttl_s, max_attempts=settings.intake_max_attempts,
                  retry_s=settings.intake_retry_s, calls=resilient_calls(bot))


async def register_commands(bot: Bot, i18n_core: I18n) -> None:
    """Command lists per language; a failure is logged and never stops the bot. Besides Telegram's own errors
    (network ones included), aiogram raises ClientDecodeError for an answer that is not the Bot API's JSON: a
    proxy's error page, a Bot API server without the method."""
    try:
        for locale in SUPPORTED_LOCALES:
            commands = [BotCommand(command=name, description=i18n_core.gettext(text, locale=locale))
                        for name, text in COMMANDS]
            await bot.set_my_commands(commands, language_code=COMMAND_LANGUAGE_CODES[locale])
            if locale == i18n_core.default_locale:
                await bot.set_my_commands(commands)
    except (TelegramAPIError, ClientDecodeError) as error:
        # A decode error carries the whole body it could not read: keep the line short.
        log.warning("setMyCommands failed, the command menu may be stale: %s: %.200s", type(error).__name__, error)


GC_YOUNG_THRESHOLD = 20_000


def settle_garbage_collector() -> None:
    """Once start-up is over. What start-up made (modules, catalogs, routers, the ORM's mappers) lives as long as
    the process, and each full collection walked it all again; frozen, it is never walked. An update's garbage is
    freed by reference counting, not the collector, so it runs a young collection every 20,000 allocations instead
    of every 700. Together they took the collector from ~7 % of the bot's time under load to almost nothing
    (docs/BENCHMARKS.md)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


async def serve(intake: Intake, bot: Bot, settings: Settings, webhook_url: str | None = None) -> None:
    """Runs the intake until cancelled: our own getUpdates loop, or the webhook server when a URL is given."""
    await intake.start()
    settle_garbage_collector()
    try:
        if webhook_url:
            from app.webhook import serve_webhook

            await serve_webhook(intake, bot, settings, webhook_url)
        else:
            await bot.delete_webhook(drop_pending_updates=False)
            await intake.poll()
    finally:
        await intake.stop()
        await bot.session.close()
