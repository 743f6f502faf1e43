"""The same onboarding, restart included, on PostgreSQL with conversation state in Redis (the scale-out set-up)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.config import load_settings
from bot.services.org_import import OrgImporter
from sandbox.botapi import LocalBotAPI
from storage import migrate
from storage.engine import make_engine
from storage.models import Staff
from storage.uow import UnitOfWork
from tests.conftest import DEMO_ORG, People
from tests.support.databases import fresh_postgres
from tests.support.harness import BOT_USERNAME, TOKEN, BotUnderTest, text_of


@pytest.mark.parametrize("with_redis", [False, True], ids=["postgres", "postgres+redis"])
async def test_onboarding_with_restart(api: LocalBotAPI, with_redis: bool, request: pytest.FixtureRequest) -> None:
    redis_url = request.getfixturevalue("redis_url") if with_redis else None
    async with fresh_postgres() as url:
        engine = make_engine(url)
        await migrate.upgrade(engine)
        await engine.dispose()
        settings = load_settings(bot_token=TOKEN, database_url=url, telegram_api_base=api.base_url,
                                 bot_username=BOT_USERNAME, redis_url=redis_url, _env_file=None)
        runner = BotUnderTest(api, settings)
        await runner.start()
        try:
            async with UnitOfWork(runner.sessionmaker) as uow:
                await OrgImporter(uow).import_file(DEMO_ORG)
                await uow.commit()
            people = People(runner)
            chat = people.user("Qin", "en")
            code = await people.invite("dealer_gm", "dlr-jinan")
            assert "Welcome to fieldbot" in text_of(await chat.send(f"/start {code}"))
            await runner.restart()
            done = await chat.share_contact("13800000018", first_name="Qin")
            assert "registered as General manager / brand manager at 济南鲁运重卡" in text_of(done)  # i18n-ok
            async with runner.sessionmaker() as session:
                staff = (await session.execute(select(Staff).where(Staff.tg_user_id == chat.id))).scalar_one()
            assert staff.phone == "+8613800000018" and staff.name == "秦亮"  # i18n-ok: demo record kept
        finally:
            await runner.stop()
