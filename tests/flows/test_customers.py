"""Customer archive by chat: create, wrong and duplicate phones, edit, /find within scope, forged callbacks."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import select

from bot.domain.playbook import default_playbook
from conversations.customer_card import CustomerPick
from storage.models import Customer, OrgUnit, Staff
from tests.conftest import People
from tests.support.harness import BotUnderTest, Chat, text_of
from ui.customers import CustomerAction

LOCALES = {"zh-hans": "zh_CN", "en": "en"}


def pb_label(kind: str, code: str, language_code: str) -> str:
    return default_playbook().label(kind, code, LOCALES[language_code])


def latest_with(chat: Chat, callback_data: str) -> dict[str, Any]:
    """The bot's latest message in this chat whose inline keyboard has this callback data."""
    for message in reversed(chat.runner.api.sent_messages(chat.id)):
        rows = message.get("reply_markup", {}).get("inline_keyboard", [])
        if any(button.get("callback_data") == callback_data for row in rows for button in row):
            return message
    raise LookupError(f"no button {callback_data!r}; latest: {chat.inline_buttons()}")


async def tap_data(chat: Chat, callback_data: str) -> list[dict[str, Any]]:
    return await chat.press(latest_with(chat, callback_data), callback_data)


async def pick(chat: Chat, field: str, code: str) -> list[dict[str, Any]]:
    return await tap_data(chat, CustomerPick(field=field, code=code).pack())


async def create_customer(chat: Chat, name: str, phone: str, *, start: str = "/newcustomer",
                          vehicle_type: str = "dump", industry: str = "coal", stage: str = "collect"
                          ) -> list[dict[str, Any]]:
    """Runs the whole flow with valid answers; returns every reply."""
    replies = await chat.send(start) if start else []
    replies += await chat.send(name)
    replies += await chat.send(phone)
    for field, code in (("nature", "individual_business"), ("level", "gold"), ("sales_mode", "distribution"),
                        ("vehicle_type", vehicle_type), ("industry", industry), ("source", "mine")):
        replies += await pick(chat, field, code)
    replies += await chat.send("5")
    replies += await tap_data(chat, latest_province_default(chat))
    replies += await chat.send("Xinji")
    replies += await pick(chat, "stage", stage)
    replies += await pick(chat, "confirm", "submit")
    return replies


async def delivered_twice(chat: Chat, push: Callable[[], int]) -> list[dict[str, Any]]:
    """Telegram delivers the very same update twice (a webhook retry, a reconnect): the same payload, the same
    callback query id, queued again right behind the first. Returns the bot's replies to both."""
    seen = len(chat.runner.api.sent_messages(chat.id))
    first = push()
    [update] = [u for u in chat.user.bot.queue if u["update_id"] == first]
    again = chat.runner.api.push_update(copy.deepcopy({k: v for k, v in update.items() if k != "update_id"}),
                                        token=chat.user.bot.token)
    await chat.runner.processed(first)
    await chat.runner.processed(again)
    return chat.runner.api.sent_messages(chat.id)[seen:]


async def tap_delivered_twice(chat: Chat, callback_data: str) -> list[dict[str, Any]]:
    message = latest_with(chat, callback_data)
    return await delivered_twice(chat, lambda: chat.user.press(message, callback_data))


def latest_province_default(chat: Chat) -> str:
    """The first province button (the dealer's own province)."""
    return chat.inline_buttons()[0][1] or ""


async def customers_named(runner: BotUnderTest, name: str) -> list[Customer]:
    async with runner.sessionmaker() as session:
        return list((await session.execute(select(Customer).where(Customer.name == name))).scalars())


async def staff_of(runner: BotUnderTest, chat: Chat) -> Staff:
    async with runner.sessionmaker() as session:
        return (await session.execute(select(Staff).where(Staff.tg_user_id == chat.id))).scalar_one()


async def unit(runner: BotUnderTest, code: str) -> OrgUnit:
    async with runner.sessionmaker() as session:
        return (await session.execute(select(OrgUnit).where(OrgUnit.code == code))).scalar_one()


@pytest.mark.parametrize(("language_code", "expects"), [
    ("zh-hans", ["客户名称", "请核对客户信息", "客户档案已保存", "新集"]),  # i18n-ok
    ("en", ["customer's name", "Please check the customer record", "Customer saved.", "Xinji"]),
])
async def test_create_customer_happy_path(people: People, running_bot: BotUnderTest, language_code: str,
                                          expects: list[str]) -> None:
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13900000101", language_code=language_code)
    replies = await create_customer(chat, "Wang Wu", "139 1234 0001")
    transcript = text_of(replies)
    for fragment in expects[:3]:
        assert fragment in transcript
    assert pb_label("industries", "coal", language_code) in transcript
    assert pb_label("natures", "individual_business", language_code) in transcript

    [customer] = await customers_named(running_bot, "Wang Wu")
    staff = await staff_of(running_bot, chat)
    dealer = await unit(running_bot, "dlr-shijiazhuang")
    assert customer.phone == "+8613912340001"
    assert (customer.owner_staff_id, customer.dealer_unit_id, customer.org_path) == (staff.id, dealer.id, dealer.path)
    assert (customer.nature, customer.level, customer.vehicle_type, customer.industry, customer.source) == (
        "individual_business", "gold", "dump", "coal", "mine")
    assert (customer.fleet_size, customer.province, customer.city, customer.stage) == (5, "hebei", "Xinji", "collect")
    # the card follows, with its buttons
    labels = [data for _label, data in chat.inline_buttons()]
    assert CustomerAction(action="visit", id=customer.id).pack() in labels
    assert CustomerAction(action="edit", id=customer.id).pack() in labels


def last_alert(chat: Chat) -> str:
    answers = chat.runner.api.calls_to(chat.id, "answerCallbackQuery")
    return str(answers[-1].params.get("text") or "") if answers else ""


@pytest.mark.parametrize(("language_code", "reason"), [
    ("zh-hans", "手机号"),  # i18n-ok
    ("en", "doesn't look valid"),
])
async def test_wrong_phone_is_asked_again(people: People, running_bot: BotUnderTest, language_code: str,
                                          reason: str) -> None:
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13900000102", language_code=language_code)
    await chat.send("/newcustomer")
    await chat.send("Li Si")
    refused = text_of(await chat.send("12345"))
    assert reason in refused
    accepted = await chat.send("13912340002")
    assert pb_label("natures", "unit", language_code) in [label for label, _data in chat.inline_buttons()]
    assert accepted


@pytest.mark.parametrize(("language_code", "expects"), [
    ("zh-hans", "已在本店建档（客户："),  # i18n-ok
    ("en", "is already on file at your dealer"),
])
async def test_duplicate_phone_offers_existing_record(people: People, running_bot: BotUnderTest, language_code: str,
                                                      expects: str) -> None:
    first = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13900000103", language_code=language_code)
    await create_customer(first, "Zhang San", "13912340003")
    colleague = await people.onboarded("info_admin", "dlr-shijiazhuang", "13900000104",
                                       language_code=language_code)
    await colleague.send("/newcustomer")
    await colleague.send("Zhang San Co")
    offer = text_of(await colleague.send("+86 139-1234-0003"))
    assert expects in offer and "Zhang San" in offer
    [existing] = await customers_named(running_bot, "Zhang San")
    card = text_of(await pick(colleague, "dup", "use"))
    assert f"#{existing.id}" in card
    assert await customers_named(running_bot, "Zhang San Co") == []

    # another dealer may keep the same phone for its own customer
    other = await people.onboarded("sales_rep", "dlr-tangshan", "13900000105", language_code=language_code)
    await create_customer(other, "Zhang San Tangshan", "13912340003")
    assert len(await customers_named(running_bot, "Zhang San Tangshan")) == 1

    # "Enter another phone" goes back to the phone step
    await colleague.send("/newcustomer")
    await colleague.send("Zhang Jr")
    await colleague.send("13912340003")
    await pick(colleague, "dup", "other")
    await colleague.send("13912340033")
    assert pb_label("natures", "unit", language_code) in [label for label, _data in colleague.inline_buttons()]


@pytest.mark.parametrize(("language_code", "texts"), [
    ("zh-hans", {"bad": "大于0的整数", "fleet": "车队规模（台）：12", "saved": "修改已保存。"}),  # i18n-ok
    ("en", {"bad": "as a whole number greater than zero", "fleet": "Fleet size: 12", "saved": "Changes saved."}),
])
async def test_edit_customer_from_card(people: People, running_bot: BotUnderTest, language_code: str,
                                       texts: dict[str, str]) -> None:
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13900000106", language_code=language_code)
    await create_customer(chat, "Edit Me", "13912340006")
    [customer] = await customers_named(running_bot, "Edit Me")
    await tap_data(chat, CustomerAction(action="edit", id=customer.id).pack())  # type: ignore[arg-type]
    await pick(chat, "confirm", "edit")
    await pick(chat, "edit", "fleet_size")
    assert texts["bad"] in text_of(await chat.send("zero"))
    summary = text_of(await chat.send("12"))
    assert texts["fleet"] in summary
    await pick(chat, "confirm", "edit")
    await pick(chat, "edit", "vehicle_type")
    await pick(chat, "vehicle_type", "flatbed")
    industries = [label for label, _data in chat.inline_buttons()]
    assert pb_label("industries", "coke", language_code) in industries
    assert pb_label("industries", "coal", language_code) not in industries
    await pick(chat, "industry", "coke")
    assert texts["saved"] in text_of(await pick(chat, "confirm", "submit"))
    [edited] = await customers_named(running_bot, "Edit Me")
    assert (edited.fleet_size, edited.vehicle_type, edited.industry, edited.id) == (12, "flatbed", "coke", customer.id)


@pytest.mark.parametrize("language_code", ["zh-hans", "en"])
async def test_find_within_scope_only(people: People, running_bot: BotUnderTest, language_code: str) -> None:
    owner = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13900000107", language_code=language_code)
    await create_customer(owner, "Scope Test Fleet", "13912340007")
    [customer] = await customers_named(running_bot, "Scope Test Fleet")
    open_data = CustomerAction(action="open", id=customer.id).pack()  # type: ignore[arg-type]

    found = await owner.send("/find Scope Test")
    assert open_data in [data for _label, data in owner.inline_buttons()]
    assert found and "+8613912340007" in str(owner.inline_buttons())
    by_phone = await owner.send("/find 4000")
    assert by_phone and open_data in [data for _label, data in owner.inline_buttons()]
    # "%" and "_" are characters to find, not wildcards that list every customer
    assert open_data not in str(await owner.send("/find %%"))
    assert open_data not in str(await owner.send("/find __"))

    # the market department above sees it and opens the card
    manager = await people.onboarded("marketing_manager", "mkt-hebei", "13800000007", language_code=language_code)
    await manager.send("/find Scope")
    card_messages = await tap_data(manager, open_data)
    card = text_of(card_messages)
    assert "Scope Test Fleet" in card and "+8613912340007" in card
    assert "reply_markup" not in card_messages[-1]  # managers read the card; the dealer's staff edit it

    # a dealer in another province finds nothing and can't open it with a forged button
    stranger = await people.onboarded("sales_rep", "dlr-jinan", "13900000108", language_code=language_code)
    nothing = text_of(await stranger.send("/find Scope Test"))
    assert "Scope Test Fleet" not in nothing and not stranger.inline_buttons()
    last = stranger.runner.api.sent_messages(stranger.id)[-1]
    forged = text_of(await stranger.press(last, open_data))
    assert "Scope Test Fleet" not in forged and ("not found" in forged or "未找到" in forged)  # i18n-ok
    by_command = text_of(await stranger.send(f"/customer {customer.id}"))
    assert "Scope Test Fleet" not in by_command and ("not found" in by_command or "未找到" in by_command)  # i18n-ok
    await stranger.press(last, CustomerAction(action="visit", id=customer.id).pack())  # type: ignore[arg-type]
    assert "not found" in last_alert(stranger) or "未找到" in last_alert(stranger)  # i18n-ok
    await stranger.press(last, CustomerAction(action="edit", id=customer.id).pack())  # type: ignore[arg-type]
    assert "not found" in last_alert(stranger) or "未找到" in last_alert(stranger)  # i18n-ok
    # an id no database integer can hold is a stale button, not an OverflowError from SQLite (CI's fuzz run)
    for huge in ("1" * 40, str(2**63)):
        await stranger.press(last, f"cust:open:{huge}")
        assert "no longer active" in last_alert(stranger) or "已失效" in last_alert(stranger)  # i18n-ok


@pytest.mark.parametrize(("language_code", "texts"), [
    ("zh-hans", {"back": "⬅️ 返回", "phone": "请输入客户联系电话", "cancelled": "已取消。",  # i18n-ok
                 "stale": "该按钮已失效"}),  # i18n-ok
    ("en", {"back": "⬅️ Back", "phone": "phone number", "cancelled": "Cancelled.", "stale": "no longer active"}),
])
async def test_back_and_cancel_in_customer_flow(people: People, running_bot: BotUnderTest, language_code: str,
                                                texts: dict[str, str]) -> None:
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13900000109", language_code=language_code)
    await chat.send("/newcustomer")
    await chat.send("Back Forth")
    await chat.send("13912340009")
    back = text_of(await chat.tap(texts["back"]))
    assert texts["phone"] in back
    await chat.send("13912340009")
    await pick(chat, "nature", "unit")
    assert texts["cancelled"] in text_of(await chat.send("/cancel"))
    assert await customers_named(running_bot, "Back Forth") == []
    await pick(chat, "level", "gold")
    assert texts["stale"] in last_alert(chat)


@pytest.mark.parametrize(("language_code", "menu", "prompt"), [
    ("zh-hans", "🔍 查找客户", "手机号的一部分"),  # i18n-ok
    ("en", "🔍 Find customer", "part of the customer's name"),
])
async def test_find_from_the_menu(people: People, running_bot: BotUnderTest, language_code: str, menu: str,
                                  prompt: str) -> None:
    chat = await people.onboarded("dealer_gm", "dlr-shijiazhuang", "13800000013", language_code=language_code)
    assert menu in (chat.reply_keyboard() or [])
    await create_customer(chat, "Menu Search", "13912340110")
    [customer] = await customers_named(running_bot, "Menu Search")
    assert prompt in text_of(await chat.send(menu))
    await chat.send("0110")
    assert CustomerAction(action="open", id=customer.id).pack() in [  # type: ignore[arg-type]
        data for _label, data in chat.inline_buttons()]
    # the search is over: the next text is not a search
    assert CustomerAction(action="open", id=customer.id).pack() not in str(await chat.send("0110"))  # type: ignore[arg-type]


@pytest.mark.parametrize(("language_code", "saved"), [
    ("zh-hans", "客户档案已保存。"),  # i18n-ok
    ("en", "Customer saved."),
])
async def test_restart_mid_flow_and_submit_delivered_twice(people: People, running_bot: BotUnderTest,
                                                           language_code: str, saved: str) -> None:
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13900000111", language_code=language_code)
    await chat.send("/newcustomer")
    await chat.send("Restart Fleet")
    await chat.send("13912340111")
    await running_bot.restart()  # the answers so far survive: the nature buttons still work
    await pick(chat, "nature", "unit")
    for field, code in (("level", "silver"), ("sales_mode", "direct"), ("vehicle_type", "tractor"),
                        ("industry", "equipment")):
        await pick(chat, field, code)
    await running_bot.restart()
    await pick(chat, "source", latest_source(chat))
    await chat.send("40")
    await tap_data(chat, latest_province_default(chat))
    await chat.send("Gaocheng")
    await pick(chat, "stage", "need")
    replies = text_of(await tap_delivered_twice(chat, CustomerPick(field="confirm", code="submit").pack()))
    assert replies.count(saved) == 1
    [customer] = await customers_named(running_bot, "Restart Fleet")
    assert (customer.phone, customer.nature, customer.level, customer.sales_mode, customer.vehicle_type,
            customer.industry, customer.fleet_size, customer.city, customer.stage) == (
        "+8613912340111", "unit", "silver", "direct", "tractor", "equipment", 40, "Gaocheng", "need")


def latest_source(chat: Chat) -> str:
    """The code of the first information source offered."""
    data = next(data for _label, data in chat.inline_buttons() if data and data.startswith("cc:source:"))
    return CustomerPick.unpack(data).code


@pytest.mark.parametrize(("language_code", "reason"), [
    ("zh-hans", "请点击按钮选择"),  # i18n-ok
    ("en", "Please choose one of the buttons"),
])
async def test_invalid_answers_are_asked_again_with_a_reason(people: People, running_bot: BotUnderTest,
                                                             language_code: str, reason: str) -> None:
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13900000112", language_code=language_code)
    await chat.send("/newcustomer")
    await chat.send("Picky Fleet")
    await chat.send("13912340112")
    # text where a button is expected: the reason, then the same buttons again
    again = await chat.send("unit please")
    assert reason in text_of(again)
    assert pb_label("natures", "unit", language_code) in [label for label, _data in chat.inline_buttons()]
    # a choice the step does not offer (a forged button) is refused and stores nothing
    await pick(chat, "nature", "unit")
    await pick(chat, "level", "gold")
    await pick(chat, "sales_mode", "distribution")
    await pick(chat, "vehicle_type", "flatbed")
    message = latest_with(chat, CustomerPick(field="industry", code="coke").pack())
    await chat.press(message, CustomerPick(field="industry", code="coal").pack())  # coal is not a flatbed industry
    assert last_alert(chat)
    await chat.send("/cancel")
    assert await customers_named(running_bot, "Picky Fleet") == []
