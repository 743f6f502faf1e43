"""Opinion leaders: registration (happy path, duplicate phone, wrong phone, double Submit, restart), and who may
see them with /leaders, /leader N and the list's buttons."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from handlers.leaders import LeaderOpen
from storage.models import OpinionLeader, OrgUnit, Staff
from tests.conftest import People
from tests.flows.test_customers import tap_delivered_twice
from tests.support.harness import BotUnderTest, Chat, text_of

TEXTS = {
    "zh_CN": {"lang": "zh-hans", "province": "✅ 河北", "submit": "✅ 提交", "asks_name": "意见领袖的姓名",  # i18n-ok
              "done": "意见领袖登记成功", "bad_int": "请输入大于0的整数", "bad_phone": "电话号码格式不正确",  # i18n-ok
              "duplicate": "已登记为本店的用户意见领袖", "menu": "⭐ 新增意见领袖", "not_found": "未找到"},  # i18n-ok
    "en": {"lang": "en", "province": "✅ Hebei", "submit": "✅ Submit", "asks_name": "opinion leader's name",
           "done": "Opinion leader registered", "bad_int": "whole number greater than zero",
           "bad_phone": "phone number doesn't look valid", "duplicate": "already belongs to an opinion leader",
           "menu": "⭐ New opinion leader", "not_found": "Not found"},
}


async def leaders(runner: BotUnderTest) -> list[OpinionLeader]:
    async with runner.sessionmaker() as session:
        return list((await session.execute(select(OpinionLeader).order_by(OpinionLeader.id))).scalars())


def last_alert(runner: BotUnderTest) -> str:
    answers = [c for c in runner.api.calls if c.method == "answerCallbackQuery"]
    return answers[-1].params.get("text", "") if answers else ""


async def register_leader(chat: Chat, texts: dict[str, str], phone: str, *, name: str = "Wang Lei",
                          fleet: str = "12") -> list[dict[str, Any]]:
    await chat.send("/newleader")
    await chat.send(name)
    await chat.send(phone)
    await chat.tap(texts["province"])
    await chat.send("Zhengding")
    await chat.send("TX tractors, 2 dump trucks")
    await chat.send(fleet)
    return await chat.tap(texts["submit"])


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
async def test_register_leader_happy_path(people: People, running_bot: BotUnderTest, locale: str) -> None:
    texts = TEXTS[locale]
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13911112201", language_code=texts["lang"])
    assert texts["menu"] in (chat.reply_keyboard() or [])
    assert texts["asks_name"] in text_of(await chat.send(texts["menu"]))
    await chat.send("Wang Lei")
    await chat.send("137 0000 1111")
    province = await chat.tap(texts["province"])
    assert "Zhengding" not in text_of(province)
    await chat.send("Zhengding")
    await chat.send("TX tractors, 2 dump trucks")
    for wrong in ("abc", "0", "-3", "2.5"):
        assert texts["bad_int"] in text_of(await chat.send(wrong))
    summary = text_of(await chat.send("12"))
    assert "Wang Lei" in summary and "+8613700001111" in summary and "Zhengding" in summary
    done = await chat.tap(texts["submit"])
    assert texts["done"] in text_of(done)
    [leader] = await leaders(running_bot)
    assert (leader.name, leader.phone, leader.province, leader.city, leader.fleet_size) == (
        "Wang Lei", "+8613700001111", "hebei", "Zhengding", 12)
    assert leader.vehicles == "TX tractors, 2 dump trucks"
    async with running_bot.sessionmaker() as session:
        unit = (await session.execute(select(OrgUnit).where(OrgUnit.code == "dlr-shijiazhuang"))).scalar_one()
        staff = (await session.execute(select(Staff).where(Staff.tg_user_id == chat.id))).scalar_one()
    assert (leader.dealer_unit_id, leader.org_path, leader.maintainer_staff_id) == (unit.id, unit.path, staff.id)


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
async def test_duplicate_and_wrong_phone(people: People, running_bot: BotUnderTest, locale: str) -> None:
    texts = TEXTS[locale]
    chat = await people.onboarded("info_admin", "dlr-shijiazhuang", "13911112202", language_code=texts["lang"])
    await register_leader(chat, texts, "13700002222")
    await chat.send("/newleader")
    await chat.send("Someone Else")
    assert texts["bad_phone"] in text_of(await chat.send("12345"))
    duplicate = text_of(await chat.send("+86 137-0000-2222"))
    assert texts["duplicate"] in duplicate and "Wang Lei" in duplicate
    assert len(await leaders(running_bot)) == 1
    # The flow is over: the next text is not taken as an answer.
    assert "Zhengding" not in text_of(await chat.send("Zhengding"))
    # The same phone at another dealer is another dealer's leader.
    other = await people.onboarded("sales_rep", "dlr-tangshan", "13911112203", language_code=texts["lang"])
    assert texts["done"] in text_of(await register_leader(other, texts, "13700002222"))
    assert len(await leaders(running_bot)) == 2


async def test_double_submit_stores_one_row(people: People, running_bot: BotUnderTest) -> None:
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13911112204", language_code="en")
    await chat.send("/newleader")
    await chat.send("Li Qiang")
    await chat.send("13700003333")
    await chat.tap("✅ Hebei")
    await chat.send("Luquan")
    await chat.send("VT flatbeds")
    await chat.send("4")
    confirm = running_bot.api.sent_messages(chat.id)[-1]
    submit_data = dict(chat.inline_buttons())["✅ Submit"]
    assert submit_data is not None
    await chat.press(confirm, submit_data)
    await chat.press(confirm, submit_data)
    assert last_alert(running_bot) == "This button is no longer active."
    assert len(await leaders(running_bot)) == 1


@pytest.mark.parametrize(("locale", "back", "province"), [
    ("zh_CN", "⬅️ 返回", "所在省份"),  # i18n-ok
    ("en", "⬅️ Back", "Province"),
])
async def test_restart_mid_flow_and_back(people: People, running_bot: BotUnderTest, locale: str, back: str,
                                         province: str) -> None:
    texts = TEXTS[locale]
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13911112205", language_code=texts["lang"])
    await chat.send("/newleader")
    await chat.send("Zhao Gang")
    await chat.send("13700004444")
    await running_bot.restart()
    await chat.tap(texts["province"])
    assert province in text_of(await chat.tap(back))
    await chat.tap(texts["province"])
    await chat.send("Xinle")
    await chat.send("Tractors")
    await running_bot.restart()
    await chat.send("7")
    assert texts["done"] in text_of(await chat.tap(texts["submit"]))
    [leader] = await leaders(running_bot)
    assert (leader.name, leader.city, leader.fleet_size) == ("Zhao Gang", "Xinle", 7)


async def test_cancel_stores_nothing(people: People, running_bot: BotUnderTest) -> None:
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13911112206", language_code="en")
    await chat.send("/newleader")
    await chat.send("Qian Jun")
    assert text_of(await chat.send("/cancel")) == "Cancelled."
    assert "didn't understand" in text_of(await chat.send("13700005555"))
    assert await leaders(running_bot) == []


async def test_non_dealer_cannot_register(people: People) -> None:
    manager = await people.onboarded("marketing_manager", "mkt-hebei", "13800000007", language_code="en")
    assert "Only dealer staff" in text_of(await manager.send("/newleader"))


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
async def test_scope_of_leaders(people: People, running_bot: BotUnderTest, locale: str) -> None:
    texts = TEXTS[locale]
    owner = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13911112207", language_code=texts["lang"])
    await register_leader(owner, texts, "13700006666", name="Sun Hai")
    [leader] = await leaders(running_bot)

    card = text_of(await owner.send(f"/leader {leader.id}"))
    assert "Sun Hai" in card and "+8613700006666" in card

    # A manager above the dealer sees the leader in the list and opens it with its button.
    manager = await people.onboarded("marketing_manager", "mkt-hebei", "13800000007", language_code=texts["lang"])
    listed = text_of(await manager.send("/leaders"))
    assert "Sun Hai" in listed
    assert "Sun Hai" in text_of(await manager.tap(f"{leader.id}. Sun Hai"))

    # Another dealer's staff and another market's manager can't see or open it, not even with a forged button.
    stranger = await people.onboarded("sales_rep", "dlr-jinan", "13911112208", language_code=texts["lang"])
    assert "Sun Hai" not in text_of(await stranger.send("/leaders"))
    refused = text_of(await stranger.send(f"/leader {leader.id}"))
    assert texts["not_found"] in refused and "Sun Hai" not in refused
    some_message = running_bot.api.sent_messages(stranger.id)[-1]
    forged = await stranger.press(some_message, LeaderOpen(leader_id=leader.id).pack())  # type: ignore[arg-type]
    assert forged == []
    assert texts["not_found"] in last_alert(running_bot)
    other_manager = await people.onboarded("marketing_manager", "mkt-shandong", "13800000011",
                                           language_code=texts["lang"])
    assert "Sun Hai" not in text_of(await other_manager.send("/leaders"))


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
async def test_submit_delivered_twice_stores_one_leader(people: People, running_bot: BotUnderTest,
                                                        locale: str) -> None:
    texts = TEXTS[locale]
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13911112209", language_code=texts["lang"])
    await chat.send("/newleader")
    await chat.send("Twice Leader")
    await chat.send("13700008888")
    await chat.tap(texts["province"])
    await chat.send("Luancheng")
    await chat.send("Dump trucks")
    await chat.send("6")
    submit = dict(chat.inline_buttons())[texts["submit"]]
    assert submit is not None
    done = text_of(await tap_delivered_twice(chat, submit))
    assert done.count(texts["done"]) == 1
    [leader] = await leaders(running_bot)
    assert (leader.name, leader.fleet_size) == ("Twice Leader", 6)
