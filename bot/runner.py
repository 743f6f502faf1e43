"""Running the bot: against Telegram with BOT_TOKEN, else against the built-in local Bot API sandbox."""

from __future__ import annotations

import logging

from bot.app import build_bot, build_dispatcher, open_storage, polling
from bot.config import Settings
from bot.scheduler import start_scheduler
from bot.services.clock import system_clock

log = logging.getLogger(__name__)

SANDBOX_TOKEN = "100000001:SANDBOX-fieldbot-local-token"
SANDBOX_USERNAME = "fieldbot_sandbox_bot"


async def run_bot(settings: Settings) -> None:
    storage = await open_storage(settings)
    sandbox = None
    try:
        if settings.bot_token:
            bot = build_bot(settings, settings.bot_token)
        else:
            from sandbox.botapi import LocalBotAPI

            sandbox = LocalBotAPI(port=settings.sandbox_port)
            await sandbox.start()
            sandbox.add_bot(token=SANDBOX_TOKEN, username=SANDBOX_USERNAME, first_name="fieldbot")
            bot = build_bot(settings, SANDBOX_TOKEN, api_base=sandbox.base_url)
            print(
                f"fieldbot is running against the local sandbox at {sandbox.base_url} (no BOT_TOKEN set).\n"
                f"  say something:  curl -s -X POST {sandbox.base_url}/sandbox/{SANDBOX_TOKEN}/send "
                "-H 'content-type: application/json' "
                "-d '{\"user_id\": 1, \"first_name\": \"Test\", \"language_code\": \"zh-hans\", "
                "\"text\": \"/start\"}'\n"
                f"  read the chat:  curl -s {sandbox.base_url}/sandbox/{SANDBOX_TOKEN}/chat/1\n"
                "  invite someone: .venv/bin/fieldbot invite --role sales_rep --org <unit code>\n"
                "Stop with Ctrl+C.",
                flush=True,
            )
        dispatcher = build_dispatcher(settings, storage.sessionmaker)
        scheduler = start_scheduler(storage.sessionmaker, bot, dispatcher["i18n_core"], system_clock, settings.tz,
                                    settings.approval_watch_minutes)
        try:
            await polling(dispatcher, bot, settings)
        finally:
            scheduler.shutdown(wait=False)
    finally:
        if sandbox is not None:
            await sandbox.stop()
        await storage.engine.dispose()
