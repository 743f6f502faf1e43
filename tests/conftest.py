"""Shared fixtures: a fresh database, the local Bot API server, and the real bot running against both."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

import app  # noqa: F401  (first: aiogram's types then build on first use, as in fieldbot; app/deferred_models.py)
from bot.config import Settings, load_settings
from bot.services.clock import system_clock
from bot.services.onboarding import OnboardingService
from bot.services.org_import import OrgImporter
from sandbox.botapi import LocalBotAPI
from storage.uow import UnitOfWork
from tests.support.harness import BOT_USERNAME, TOKEN, BotUnderTest, Chat
from tests.support.services import REDIS, require

DEMO_ORG = Path(__file__).resolve().parents[1] / "bot" / "data" / "demo_org.yaml"
# Random start: Redis keeps conversation state across test runs, so ids must not repeat between runs.
_user_ids = itertools.count(random.randrange(10**6, 10**12))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'fieldbot.sqlite3'}"


@pytest.fixture
def redis_url() -> str:
    """Redis as a fresh start leaves it: an empty script cache (what broke aiogram's lock release, issue 7).

    A plain (not async) fixture, so a test may ask for it with request.getfixturevalue() while its loop runs."""
    require("Redis", REDIS)
    from redis import Redis

    url = f"redis://{REDIS[0]}:{REDIS[1]}/0"
    with Redis.from_url(url) as client:
        client.script_flush()
    return url


@pytest.fixture
async def api() -> AsyncIterator[LocalBotAPI]:
    server = LocalBotAPI()
    await server.start()
    server.add_bot(token=TOKEN, username=BOT_USERNAME, first_name="fieldbot")
    yield server
    await server.stop()


@pytest.fixture
def settings(api: LocalBotAPI, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in ("BOT_TOKEN", "DATABASE_URL", "TELEGRAM_API_BASE", "REDIS_URL", "DEFAULT_LOCALE", "TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    return load_settings(bot_token=TOKEN, database_url=sqlite_url, telegram_api_base=api.base_url,
                         bot_username=BOT_USERNAME, _env_file=None)


@pytest.fixture
async def running_bot(api: LocalBotAPI, settings: Settings) -> AsyncIterator[BotUnderTest]:
    runner = BotUnderTest(api, settings)
    await runner.start()
    async with UnitOfWork(runner.sessionmaker) as uow:
        await OrgImporter(uow).import_file(DEMO_ORG)
        await uow.commit()
    yield runner
    await runner.stop()


class People:
    """Makes Telegram users and invites for them."""

    def __init__(self, runner: BotUnderTest) -> None:
        self.runner = runner

    def user(self, first_name: str = "Test", language_code: str | None = "zh-hans") -> Chat:
        fake = self.runner.api.user(user_id=next(_user_ids), first_name=first_name, language_code=language_code)
        return Chat(self.runner, fake)

    async def invite(self, role: str, org: str, *, phone: str | None = None,
                     ttl: timedelta = timedelta(hours=72)) -> str:
        async with UnitOfWork(self.runner.sessionmaker) as uow:
            issued = await OnboardingService(uow, system_clock).issue_invite(role, org, ttl, phone=phone)
            await uow.commit()
        return issued.code

    async def onboarded(self, role: str, org: str, phone: str, *, language_code: str = "zh-hans",
                        first_name: str = "Test") -> Chat:
        chat = self.user(first_name, language_code)
        code = await self.invite(role, org)
        await chat.send(f"/start {code}")
        await chat.share_contact(phone, first_name=first_name)
        return chat


@pytest.fixture
def people(running_bot: BotUnderTest) -> People:
    return People(running_bot)
