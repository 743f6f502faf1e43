"""Running the bot: against Telegram with BOT_TOKEN, else against the built-in local Bot API sandbox."""

from __future__ import annotations

import logging

from app.assembly import build_bot, build_dispatcher, build_intake, open_storage, serve
from app.sandbox_mode import SANDBOX_TOKEN, SANDBOX_USERNAME, SandboxApp
from app.scheduler import Background
from bot.config import Settings
from bot.services.clock import system_clock

log = logging.getLogger(__name__)

__all__ = ["SANDBOX_TOKEN", "SANDBOX_USERNAME", "run_bot", "sandbox_banner"]


def sandbox_banner(app: SandboxApp) -> str:
    base = app.api.base_url
    return (
        f"fieldbot is running against the local sandbox (no BOT_TOKEN set).\n"
        f"  open the chat page:  {app.page_url}\n"
        f"  or script it:        curl -s -X POST {base}/sandbox/{SANDBOX_TOKEN}/send "
        "-H 'content-type: application/json' "
        "-d '{\"user_id\": 7000000016, \"language_code\": \"zh-hans\", \"text\": \"/menu\"}'\n"
        f"                       curl -s {base}/sandbox/{SANDBOX_TOKEN}/history/7000000016\n"
        "  (every endpoint is in the README, section \"The sandbox\")\n"
        "Stop with Ctrl+C."
    )


async def run_bot(settings: Settings, webhook_url: str | None = None) -> None:
    storage = await open_storage(settings)
    try:
        if settings.bot_token:
            bot = build_bot(settings, settings.bot_token)
            dispatcher = build_dispatcher(settings, storage.sessionmaker)
            background = Background(settings, storage.sessionmaker, bot, dispatcher["i18n_core"], system_clock)
            background.start()
            try:
                await serve(build_intake(settings, dispatcher, bot, storage.engine), bot, settings, webhook_url)
            finally:
                await background.stop()
            return
        # The sandbox: demo personas already onboarded, and a clock the page can move forward.
        app = SandboxApp(settings, storage)
        await app.start()
        try:
            print(sandbox_banner(app), flush=True)
            await app.serve(webhook_url)
        finally:
            await app.stop()
    finally:
        await storage.engine.dispose()
