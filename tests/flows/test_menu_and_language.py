"""After onboarding: the role-aware menu, /help, profile, the manager's organisation view, /language, commands."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import select

from sandbox.botapi import LocalBotAPI
from storage.models import Staff
from tests.conftest import People
from tests.support.harness import BotUnderTest, text_of


async def test_sales_rep_menu_profile_and_help(people: People) -> None:
    chat = await people.onboarded("sales_rep", "dlr-jinan", "13955550001", language_code="en", first_name="Liu")
    assert chat.reply_keyboard() is not None
    assert "🏢 My organisation" not in (chat.reply_keyboard() or [])
    profile = text_of(await chat.send("👤 My profile"))
    assert "Name: Liu" in profile and "Role: Sales consultant" in profile
    assert "客户营销部 › 华北大区 › 山东市场部 › 济南鲁运重卡" in profile  # i18n-ok: demo unit names
    assert "Phone: +8613955550001" in profile
    help_text = text_of(await chat.send("/help"))
    assert "/language — switch language" in help_text and "/team" not in help_text
    assert "/visit — report a customer visit" in help_text and "/sale — report a sale" in help_text
    refused = text_of(await chat.send("/team"))
    assert refused == "Your role doesn't allow this."


async def test_manager_sees_own_subtree_with_masked_phones(people: People) -> None:
    chat = await people.onboarded("marketing_manager", "mkt-hebei", "13800000007", language_code="zh-hans")
    assert "🏢 我的组织" in (chat.reply_keyboard() or [])
    overview = text_of(await chat.send("🏢 我的组织"))
    assert "河北市场部" in overview and "石家庄恒通商用车" in overview and "唐山远航汽车销售" in overview  # i18n-ok
    assert "济南鲁运重卡" not in overview and "华北大区" not in overview  # i18n-ok: outside the subtree
    assert "138****0016" in overview and "13800000016" not in overview
    assert "✓ 郑敏" in overview  # i18n-ok: the manager is registered now
    help_text = text_of(await chat.send("/help"))
    assert "/team — 查看您所辖组织的人员和单位" in help_text and "/visit" not in help_text
    assert "/activities — 我的行销活动及待我审批的活动" in help_text


async def test_language_switch_is_stored_and_redraws_the_menu(people: People, running_bot: BotUnderTest) -> None:
    chat = await people.onboarded("sales_rep", "dlr-kunming", "13955550002", language_code="zh-hans")
    ask = await chat.send("🌐 语言")
    assert text_of(ask) == "请选择语言："
    assert [label for label, _ in chat.inline_buttons()] == ["简体中文", "English"]  # i18n-ok: language names
    switched = await chat.tap("English")
    assert text_of(switched) == "Language set to English."
    assert "👤 My profile" in (chat.reply_keyboard() or [])
    assert text_of(await chat.send("/cancel")) == "There is nothing to cancel."
    back = await chat.tap("简体中文")  # i18n-ok: the button label
    assert text_of(back) == "语言已切换为简体中文。"
    async with running_bot.sessionmaker() as session:
        staff = (await session.execute(select(Staff).where(Staff.tg_user_id == chat.id))).scalar_one()
    assert staff.locale == "zh_CN"


async def test_forged_language_callback_is_refused(people: People, running_bot: BotUnderTest) -> None:
    chat = await people.onboarded("sales_rep", "dlr-kunming", "13955550003", language_code="en")
    await chat.send("/language")
    message = running_bot.api.last_message(chat.id)
    assert message is not None
    update_id = chat.user.press(message, "lang:fr")
    await running_bot.processed(update_id)
    answers = [c.params.get("text") for c in running_bot.api.calls if c.method == "answerCallbackQuery"]
    assert answers == ["Unknown language."]
    async with running_bot.sessionmaker() as session:
        staff = (await session.execute(select(Staff).where(Staff.tg_user_id == chat.id))).scalar_one()
    assert staff.locale == "en"


async def test_unknown_text_and_stale_button(people: People, running_bot: BotUnderTest) -> None:
    chat = await people.onboarded("sales_rep", "dlr-kunming", "13955550004", language_code="en")
    assert text_of(await chat.send("hello?")) == "Sorry, I didn't understand that. Please use the menu below or /help."
    message = running_bot.api.last_message(chat.id)
    assert message is not None
    await running_bot.processed(chat.user.press(message, "something:old"))
    texts = [c.params.get("text") for c in running_bot.api.calls if c.method == "answerCallbackQuery"]
    assert "This button is no longer active." in texts


async def test_stranger_button_tap_gets_refusal(people: People, running_bot: BotUnderTest) -> None:
    stranger = people.user("Eve", "en")
    await stranger.send("hi")
    refusal = running_bot.api.last_message(stranger.id)
    assert refusal is not None
    update_id = stranger.user.press(refusal, "lang:en")  # a forged tap: no such button was ever sent
    await running_bot.processed(update_id)
    taps = [c.params for c in running_bot.api.calls if c.method == "answerCallbackQuery"]
    assert len(taps) == 1
    answer = taps[0]
    assert "only for the truck dealer network" in answer["text"] and answer["show_alert"] is True


async def test_commands_are_registered_per_language(api: LocalBotAPI, running_bot: BotUnderTest) -> None:
    calls = [c for c in api.calls if c.method == "setMyCommands"]
    by_language = {c.params.get("language_code"): c.params["commands"] for c in calls}
    assert set(by_language) == {"zh", "en", None}
    assert {"command": "language", "description": "切换语言"} in by_language["zh"]
    assert {"command": "language", "description": "Switch language"} in by_language["en"]
    assert by_language[None] == by_language["zh"]


async def test_failing_set_my_commands_is_logged_not_fatal(api: LocalBotAPI, settings, caplog: pytest.LogCaptureFixture,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    original = api.call

    async def refuse(token, method_name, raw, uploads=None):  # type: ignore[no-untyped-def]
        if method_name.lower() == "setmycommands":
            return 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        return await original(token, method_name, raw, uploads)

    monkeypatch.setattr(api, "call", refuse)
    runner = BotUnderTest(api, settings)
    with caplog.at_level(logging.WARNING):
        await runner.start()
    try:
        assert "setMyCommands failed" in caplog.text
        chat = People(runner).user("Eve", "en")
        assert "only for the truck dealer network" in text_of(await chat.send("hi"))
    finally:
        await runner.stop()


@pytest.mark.parametrize("status, body, content_type", [
    (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),  # a proxy in front of the Bot API
    (404, "404 page not found", "text/plain"),  # a Bot API server without the method
])
async def test_set_my_commands_answered_without_telegram_json_is_logged_not_fatal(
        api: LocalBotAPI, settings, caplog: pytest.LogCaptureFixture, status: int, body: str,
        content_type: str) -> None:
    api.answer_raw("setMyCommands", status, body, content_type)
    runner = BotUnderTest(api, settings)
    with caplog.at_level(logging.WARNING):
        await runner.start()
    try:
        assert "setMyCommands failed" in caplog.text
        assert [c.status for c in api.calls if c.method == "setMyCommands"] == [status]
        chat = People(runner).user("Eve", "en")
        assert "only for the truck dealer network" in text_of(await chat.send("hi"))
    finally:
        await runner.stop()
