"""Webhook mode: Telegram POSTs each update here; it is stored before the 200 that acknowledges it.

Every request must carry the secret given to setWebhook in X-Telegram-Bot-Api-Secret-Token: anything else gets
401 and nothing is stored. A database failure answers 500, so Telegram delivers the update again later.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot
from aiohttp import web

from app.intake import DATABASE_TROUBLE, Intake
from bot.config import Settings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_app(intake: Intake, secret: str, path: str) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return web.Response(status=401, text="unauthorized")
        try:
            update: Any = await request.json()
        except ValueError:
            return web.Response(status=400, text="not JSON")
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return web.Response(status=400, text="not an update")
        try:
            await intake.store([update])
        except DATABASE_TROUBLE as error:
            log.warning("could not store update %s (%s): Telegram will deliver it again", update["update_id"],
                        type(error).__name__)
            return web.Response(status=500, text="try again")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post(path, receive)
    return app


async def serve_webhook(intake: Intake, bot: Bot, settings: Settings, url: str) -> None:
    """Listens on WEBHOOK_HOST:WEBHOOK_PORT at the URL's path and tells Telegram the URL; runs until cancelled."""
    secret = settings.webhook_secret or secrets.token_urlsafe(32)
    path = urlsplit(url).path or "/"
    runner = web.AppRunner(webhook_app(intake, secret, path), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.webhook_host, settings.webhook_port).start()
        await bot.set_webhook(url, secret_token=secret,
                              allowed_updates=intake.dispatcher.resolve_used_update_types(),
                              max_connections=min(100, settings.max_updates_in_flight))
        log.info("receiving updates at %s", url)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
