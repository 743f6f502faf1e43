"""Information stations: registration with a shared location and with the location skipped, wrong input re-asked,
Back, restart and double Submit."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.domain.playbook import default_playbook
from storage.models import InfoStation, OrgUnit
from tests.conftest import People
from tests.flows.test_customers import delivered_twice, tap_delivered_twice
from tests.support.harness import BotUnderTest, Chat, text_of

TEXTS = {
    "zh_CN": {"lang": "zh-hans", "kind": "配件店", "skip": "跳过位置", "submit": "✅ 提交",  # i18n-ok
              "done": "信息站", "asks_name": "信息站名称", "bad_phone": "电话号码格式不正确",  # i18n-ok
              "use_buttons": "请点击按钮选择", "menu": "📡 新增信息站"},  # i18n-ok
    "en": {"lang": "en", "kind": "Parts shop", "skip": "Skip location", "submit": "✅ Submit",
           "done": "Information station No.", "asks_name": "station's name",
           "bad_phone": "phone number doesn't look valid", "use_buttons": "Please choose one of the buttons",
           "menu": "📡 New information station"},
}


async def stations(runner: BotUnderTest) -> list[InfoStation]:
    async with runner.sessionmaker() as session:
        return list((await session.execute(select(InfoStation).order_by(InfoStation.id))).scalars())


async def up_to_location(chat: Chat, texts: dict[str, str]) -> None:
    assert texts["asks_name"] in text_of(await chat.send(texts["menu"]))
    await chat.send("Jinxing Parts")
    assert texts["use_buttons"] in text_of(await chat.send("a parts shop"))
    await chat.tap(texts["kind"])
    await chat.send("Liu Wei")
    assert texts["bad_phone"] in text_of(await chat.send("555"))
    await chat.send("0311 8765 4321")
    await chat.send("Gaocheng")


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
async def test_station_with_location(people: People, running_bot: BotUnderTest, locale: str) -> None:
    texts = TEXTS[locale]
    chat = await people.onboarded("info_admin", "dlr-shijiazhuang", "13911113301", language_code=texts["lang"])
    await up_to_location(chat, texts)
    sent = [c.params.get("reply_markup") or {} for c in running_bot.api.calls_to(chat.id) if c.method == "sendMessage"]
    assert any(button.get("request_location") for markup in sent[-2:] for row in markup.get("keyboard", [])
               for button in row)
    summary = text_of(await chat.send_location(38.0428, 114.5149))
    assert "Jinxing Parts" in summary and "38.04280, 114.51490" in summary and "+8631187654321" in summary
    done = text_of(await chat.tap(texts["submit"]))
    assert texts["done"] in done and "Jinxing Parts" in done
    [station] = await stations(running_bot)
    async with running_bot.sessionmaker() as session:
        unit = (await session.execute(select(OrgUnit).where(OrgUnit.code == "dlr-shijiazhuang"))).scalar_one()
    assert (station.name, station.kind, station.contact_name, station.phone, station.city) == (
        "Jinxing Parts", "parts_shop", "Liu Wei", "+8631187654321", "Gaocheng")
    assert (station.lat, station.lon) == (pytest.approx(38.0428), pytest.approx(114.5149))
    assert (station.dealer_unit_id, station.org_path, station.province) == (unit.id, unit.path, "hebei")


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
async def test_station_skipping_location(people: People, running_bot: BotUnderTest, locale: str) -> None:
    texts = TEXTS[locale]
    chat = await people.onboarded("sales_rep", "dlr-kunming", "13911113302", language_code=texts["lang"])
    await up_to_location(chat, texts)
    await chat.tap(texts["skip"])
    await chat.tap(texts["submit"])
    [station] = await stations(running_bot)
    assert (station.lat, station.lon, station.province, station.kind) == (None, None, "yunnan", "parts_shop")


@pytest.mark.parametrize(("locale", "back"), [("zh_CN", "⬅️ 返回"), ("en", "⬅️ Back")])  # i18n-ok
async def test_back_restart_and_double_submit(people: People, running_bot: BotUnderTest, locale: str,
                                              back: str) -> None:
    texts = TEXTS[locale]
    chat = await people.onboarded("sales_rep", "dlr-jinan", "13911113303", language_code=texts["lang"])
    await chat.send("/newstation")
    await chat.send("Wrong name")
    assert texts["asks_name"] in text_of(await chat.tap(back))
    await chat.send("Lutong Logistics")
    await chat.tap(default_playbook().label("station_kinds", "logistics_company", locale))
    await running_bot.restart()
    await chat.send("Ma Li")
    await chat.send("13700007777")
    await chat.send("Zhangqiu")
    await chat.tap(texts["skip"])
    confirm = running_bot.api.sent_messages(chat.id)[-1]
    submit = dict(chat.inline_buttons())[texts["submit"]]
    assert submit is not None
    await chat.press(confirm, submit)
    await chat.press(confirm, submit)
    [station] = await stations(running_bot)
    assert (station.name, station.kind, station.city) == ("Lutong Logistics", "logistics_company", "Zhangqiu")


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
async def test_submit_delivered_twice_stores_one_station(people: People, running_bot: BotUnderTest,
                                                         locale: str) -> None:
    texts = TEXTS[locale]
    chat = await people.onboarded("sales_rep", "dlr-kunming", "13911113304", language_code=texts["lang"])
    await up_to_location(chat, texts)
    await delivered_twice(chat, lambda: chat.user.send_location(25.04, 102.71))
    submit = dict(chat.inline_buttons())[texts["submit"]]
    assert submit is not None
    done = text_of(await tap_delivered_twice(chat, submit))
    assert done.count(texts["done"]) == 1
    [station] = await stations(running_bot)
    assert (station.name, station.lat, station.lon) == ("Jinxing Parts", 25.04, 102.71)
