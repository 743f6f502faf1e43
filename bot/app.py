"""App assembly: storage, dispatcher, bot; and running it against Telegram or the local sandbox."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.types import BotCommand
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import SUPPORTED_LOCALES, Settings
from bot.domain.playbook import default_playbook
from bot.i18n import N_, LocaleMiddleware, make_i18n
from bot.middlewares import DatabaseMiddleware
from bot.services.clock import Clock, system_clock
from handlers import make_routers
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
    engine = make_engine(settings.database_url)
    if settings.is_sqlite:
        await migrate.upgrade(engine)
    else:
        await migrate.ensure_migrated(engine)
    return Storage(engine, make_sessionmaker(engine))


def fsm_backends(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
                 ) -> tuple[BaseStorage, BaseEventIsolation]:
    """Durable conversation state: Redis when configured (several workers), else the database."""
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage

        redis_storage = RedisStorage.from_url(settings.redis_url)
        return redis_storage, RedisEventIsolation(redis=redis_storage.redis)
    return DatabaseStorage(sessionmaker), SimpleEventIsolation()


def build_dispatcher(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], *,
                     clock: Clock = system_clock, i18n: I18n | None = None,
                     observers: Sequence[BaseMiddleware] = ()) -> Dispatcher:
    """The production dispatcher. `observers` wrap every update outermost (tests and benchmarks use them
    to know when an update is fully handled, commit included)."""
    default_playbook()  # checked at start: a broken playbook stops here, naming its line and key
    storage, isolation = fsm_backends(settings, sessionmaker)
    # One update per user at a time, in order: without isolation a fast user's steps race each other.
    dispatcher = Dispatcher(storage=storage, events_isolation=isolation)
    i18n = i18n or make_i18n(settings.default_locale)
    for observer in observers:
        dispatcher.update.outer_middleware(observer)
    dispatcher.update.outer_middleware(DatabaseMiddleware(sessionmaker, settings, clock))
    LocaleMiddleware(i18n).setup(dispatcher)
    dispatcher.include_routers(*make_routers())
    dispatcher.startup.register(register_commands)
    dispatcher["i18n_core"] = i18n
    return dispatcher


def build_bot(settings: Settings, token: str, api_base: str | None = None) -> Bot:
    base = api_base or settings.telegram_api_base
    session = AiohttpSession(api=TelegramAPIServer.from_base(base)) if base else AiohttpSession()
    return Bot(token=token, session=session)


async def register_commands(bot: Bot, i18n_core: I18n) -> None:
    """Command lists per language; a failure is logged and never stops the bot."""
    try:
        for locale in SUPPORTED_LOCALES:
            commands = [BotCommand(command=name, description=i18n_core.gettext(text, locale=locale))
                        for name, text in COMMANDS]
            await bot.set_my_commands(commands, language_code=COMMAND_LANGUAGE_CODES[locale])
            if locale == i18n_core.default_locale:
                await bot.set_my_commands(commands)
    except TelegramAPIError as error:
        log.warning("setMyCommands failed, the command menu may be stale: %s", error)


async def polling(dispatcher: Dispatcher, bot: Bot, settings: Settings) -> None:
    await dispatcher.start_polling(
        bot, handle_as_tasks=True, tasks_concurrency_limit=settings.max_updates_in_flight,
        allowed_updates=dispatcher.resolve_used_update_types(), close_bot_session=True)
