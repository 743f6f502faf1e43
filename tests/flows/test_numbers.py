"""/targets, /coverage, /digest and /export driven over the local Bot API as managers would, in both languages,
each scoped to the asker's own part of the tree."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.config import Settings
from bot.services.numbers import NumbersService
from bot.services.org_import import OrgImporter
from pushes.charts import cjk_font_family
from sandbox.botapi import LocalBotAPI
from storage.uow import UnitOfWork
from tests.conftest import DEMO_ORG, People
from tests.support.harness import BotUnderTest, text_of
from tests.support.numbers_fixture import NOW, PLAN, seed


@pytest.fixture
async def numbers_bot(api: LocalBotAPI, settings: Settings) -> AsyncIterator[BotUnderTest]:
    """The bot on 2026-11-15 over the hand-computed world (tests/support/numbers_fixture.py)."""
    cjk_font_family()  # loaded once per process, as the runner does at start (16 MB of font, seconds on a busy CI)
    runner = BotUnderTest(api, settings, clock=lambda: NOW)
    await runner.start()
    async with UnitOfWork(runner.sessionmaker) as uow:
        await OrgImporter(uow).import_file(DEMO_ORG)
        await uow.commit()
    await seed(runner.sessionmaker)
    async with UnitOfWork(runner.sessionmaker) as uow:
        await NumbersService(uow, lambda: NOW, settings).import_plan(2026, PLAN)
        await uow.commit()
    yield runner
    await runner.stop()


@pytest.fixture
def managers(numbers_bot: BotUnderTest) -> People:
    return People(numbers_bot)


@pytest.mark.parametrize(("language_code", "expects", "absent"), [
    ("zh-hans", ["华北大区：2026年第4季度目标完成情况", "本季度还剩46天",  # i18n-ok
                 "客户拜访：8/12，完成67%，季度时间已过50%",  # i18n-ok
                 "进度落后的单位（1个）", "山东市场部"], ["河北市场部：", "云南市场部"]),  # i18n-ok
    ("en", ["华北大区: Q4 2026 against target", "46 days left",  # i18n-ok
            "Customer visits: 8/12, 67% done, 50% of the quarter gone", "Behind the quarter's pace (1):",
            "山东市场部"], ["河北市场部:", "云南市场部"]),  # i18n-ok
])
async def test_region_manager_sees_the_region_against_target(managers: People, language_code: str,
                                                             expects: list[str], absent: list[str]) -> None:
    chat = await managers.onboarded("region_manager", "north", "13900000901", language_code=language_code)
    reply = text_of(await chat.send("/targets"))
    for fragment in expects:
        assert fragment in reply
    for fragment in absent:
        assert fragment not in reply


@pytest.mark.parametrize(("language_code", "expects"), [
    ("zh-hans", ["共6个县级城市，5个未达最低标准",  # i18n-ok
                 "石家庄恒通商用车，晋州市：信息站0/2家，意见领袖0/3人（还需信息站2家、意见领袖3人）"]),  # i18n-ok
    ("en", ["coverage of 6 county-level cities, 5 below the minimum",
            "石家庄恒通商用车, 晋州市: stations 0/2, leaders 0/3 (needs 2 more stations, 3 more leaders)"]),  # i18n-ok
])
async def test_coverage_lists_the_market_departments_gaps(managers: People, language_code: str,
                                                          expects: list[str]) -> None:
    chat = await managers.onboarded("marketing_manager", "mkt-hebei", "13900000902", language_code=language_code)
    reply = text_of(await chat.send("/coverage"))
    for fragment in expects:
        assert fragment in reply
    assert "嵩明县" not in reply and "新乐市" not in reply  # another region's city; a city that is covered  # i18n-ok


@pytest.mark.parametrize(("language_code", "expects"), [
    ("zh-hans", ["每日简报", "拜访：5次（已核实2次，零距离接触3次）", "逾期未跟进客户：1个", "李*",  # i18n-ok
                 "+86139****0002"]),
    ("en", ["Daily digest", "Visits: 5 (2 verified, 3 face to face)", "Overdue follow-ups: 1", "李*",  # i18n-ok
            "+86139****0002"]),
])
async def test_dealer_gm_gets_the_digest_with_its_chart(managers: People, numbers_bot: BotUnderTest,
                                                        language_code: str, expects: list[str]) -> None:
    chat = await managers.onboarded("dealer_gm", "dlr-shijiazhuang", "13900000903", language_code=language_code)
    messages = await chat.send("/digest")
    assert "photo" in messages[0]  # the chart first
    calls = [c for c in numbers_bot.api.calls_to(chat.id) if c.method == "sendPhoto"]
    assert calls and calls[-1].ok
    reply = text_of(messages)
    for fragment in expects:
        assert fragment in reply
    assert "李四" not in reply and "13900000002" not in reply  # i18n-ok


@pytest.mark.parametrize(("language_code", "button", "caption"), [
    ("zh-hans", "本季度", "拜访10次，客户2个，行销活动2项"),  # i18n-ok
    ("en", "This quarter", "10 visits, 2 customers, 2 activities"),
])
async def test_export_sends_a_workbook_of_the_scope(managers: People, language_code: str, button: str,
                                                    caption: str) -> None:
    chat = await managers.onboarded("marketing_manager", "mkt-hebei", "13900000904", language_code=language_code)
    await chat.send("/export")
    messages = await chat.tap(button)
    [document] = [m for m in messages if "document" in m]
    assert document["document"]["file_name"] == "fieldbot-mkt-hebei-20261001-20261115.xlsx"
    assert document["document"]["file_size"] > 2000
    assert caption in document["caption"]


async def test_export_with_typed_dates_and_bad_input(managers: People) -> None:
    chat = await managers.onboarded("region_manager", "southwest", "13900000905", language_code="en")
    messages = await chat.send("/export 2026-11-01 2026-11-30")
    [document] = [m for m in messages if "document" in m]
    assert "1 visits" in document["caption"]  # Kunming's canvassing visit only
    assert "That date doesn't exist" in text_of(await chat.send("/export 2026-02-30 2026-03-01"))
    assert "must be on or after" in text_of(await chat.send("/export 2026-12-01 2026-11-01"))
    reply = text_of(await chat.send("/export next week"))
    assert "/export 2026-10-01 2026-12-31" in reply


@pytest.mark.parametrize(("language_code", "refusal"), [
    ("zh-hans", "仅供管理人员使用"),  # i18n-ok
    ("en", "Targets, digests and exports are for managers"),
])
async def test_salespeople_get_their_own_numbers_elsewhere(managers: People, language_code: str,
                                                           refusal: str) -> None:
    chat = await managers.onboarded("sales_rep", "dlr-shijiazhuang", "13900000906", language_code=language_code)
    for command in ("/targets", "/coverage", "/digest", "/export"):
        assert refusal in text_of(await chat.send(command))
