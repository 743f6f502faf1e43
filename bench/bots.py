"""The two bots `make bench` compares, each run in a process of its own until SIGINT.

    python -m bench.bots echo --api http://127.0.0.1:18999
    python -m bench.bots fieldbot --api http://127.0.0.1:18999 --database-url sqlite+aiosqlite:///x.sqlite3

`echo` is aiogram's own echo bot: one handler, one sendMessage per update, polling as aiogram does by default
(updates as tasks), bounded by the same number in flight as fieldbot. `fieldbot` is the production assembly
(app/assembly.py: storage, dispatcher, bot, logging as `fieldbot run` sets it up) polling the same server, with
its durable intake (`--intake on`, as `fieldbot run`) or with aiogram's own polling and per-user lock (`off`).
"""

from __future__ import annotations

import argparse
import asyncio

TOKEN = "4242:BENCH-token"


def has_intake() -> bool:
    """Whether this build has the durable intake, so that "intake on/off" can be compared."""
    import importlib.util

    try:
        return importlib.util.find_spec("app.intake") is not None
    except ModuleNotFoundError:
        return False


async def run_echo(api: str, in_flight: int) -> None:
    from aiogram import Bot, Dispatcher, Router
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message

    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api)))
    await dispatcher.start_polling(bot, handle_as_tasks=True, tasks_concurrency_limit=in_flight,
                                   polling_timeout=1)


async def run_fieldbot(api: str, database_url: str, in_flight: int, intake: bool) -> None:
    from app import assembly as app
    from bot.config import load_settings
    from bot.logs import setup_logging

    settings = load_settings(bot_token=TOKEN, database_url=database_url, telegram_api_base=api,
                             max_updates_in_flight=in_flight, _env_file=None)
    setup_logging(settings.log_level)
    storage = await app.open_storage(settings)
    try:
        dispatcher = app.build_dispatcher(settings, storage.sessionmaker)
        bot = app.build_bot(settings, TOKEN)
        if intake:  # production: `fieldbot run`
            await app.serve(app.build_intake(settings, dispatcher, bot, storage.engine), bot, settings)
        else:
            # aiogram's own polling (acknowledged before handled) with its per-user lock in place of the intake's
            # ordering: what the intake costs is the difference.
            from aiogram.fsm.storage.memory import SimpleEventIsolation

            dispatcher.fsm.events_isolation = SimpleEventIsolation()
            await dispatcher.start_polling(bot, handle_as_tasks=True, tasks_concurrency_limit=in_flight,
                                           polling_timeout=1, allowed_updates=dispatcher.resolve_used_update_types())
    finally:
        await storage.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("echo", "fieldbot"))
    parser.add_argument("--api", required=True)
    parser.add_argument("--database-url")
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--intake", choices=("on", "off", "none"), default="none")
    args = parser.parse_args()
    try:
        if args.kind == "echo":
            asyncio.run(run_echo(args.api, args.in_flight))
        else:
            asyncio.run(run_fieldbot(args.api, args.database_url, args.in_flight, args.intake == "on"))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
