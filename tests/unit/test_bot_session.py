"""The bot's transport (app/bot_session.py): calls as JSON, uploads as forms, errors as aiogram raises them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import ClientDecodeError, TelegramBadRequest, TelegramRetryAfter, TelegramServerError
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup
from aiohttp import web

from app.bot_session import JsonBodySession
from sandbox.botapi import LocalBotAPI
from tests.support.web_server import serving

TOKEN = "123456:TEST"
MARKUP = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="保存", callback_data="save:1")]])


@pytest.fixture
async def api() -> AsyncIterator[LocalBotAPI]:
    server = LocalBotAPI()
    server.add_bot(token=TOKEN, username="fieldbot_test_bot", first_name="fieldbot")
    await server.start()
    server.user(1001, "王强")
    yield server
    await server.stop()


@pytest.fixture
async def bot(api: LocalBotAPI) -> AsyncIterator[Bot]:
    bot = Bot(TOKEN, session=JsonBodySession(api=TelegramAPIServer.from_base(api.base_url)),
              default=DefaultBotProperties(parse_mode="HTML"))
    yield bot
    await bot.session.close()


async def test_a_message_with_a_keyboard_arrives_and_comes_back_as_a_message(api: LocalBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(1001, "客户 <b>张三</b> 已保存", reply_markup=MARKUP)
    # The bot-wide parse_mode applied (the bold tag is markup, not text) and the keyboard is the one sent.
    assert sent.text == "客户 张三 已保存" and sent.chat.id == 1001 and sent.message_id > 0
    call = api.calls[-1]
    assert call.method == "sendMessage" and call.ok
    assert call.params["reply_markup"] == {"inline_keyboard": [[{"text": "保存", "callback_data": "save:1"}]]}
    edited = await bot.edit_message_text("已修改", chat_id=1001, message_id=sent.message_id)
    assert not isinstance(edited, bool) and edited.text == "已修改"
    assert api.last_message(1001)["text"] == "已修改"  # type: ignore[index]


async def test_a_file_still_goes_as_an_upload(api: LocalBotAPI, bot: Bot) -> None:
    sent = await bot.send_document(1001, BufferedInputFile(b"PK\x03\x04 sheet", filename="拜访.xlsx"),
                                   caption="导出")
    assert sent.document is not None and sent.document.file_name == "拜访.xlsx" and sent.caption == "导出"


async def test_telegram_errors_are_aiograms_exceptions(api: LocalBotAPI, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(1001, "x" * 5000)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(999_999, "hi")
    api.faults.rate_limit_share = 1.0
    api.faults.retry_after = 3
    with pytest.raises(TelegramRetryAfter) as limited:
        await bot.send_message(1001, "hi")
    assert limited.value.retry_after == 3
    api.faults.off()
    api.faults.server_error_share = 1.0
    with pytest.raises(TelegramServerError):
        await bot.send_message(1001, "hi")


async def test_an_answer_that_is_not_the_bot_apis_json_is_a_decode_error(api: LocalBotAPI, bot: Bot) -> None:
    api.answer_raw("setMyCommands", 200, "<html>proxy says hello</html>")
    with pytest.raises(ClientDecodeError, match="Failed to decode object"):
        await bot.set_my_commands([])
    api.answer_raw("sendMessage", 200, '{"ok": true, "result": {"unexpected": 1}}', "application/json")
    with pytest.raises(ClientDecodeError, match="Failed to deserialize object"):
        await bot.send_message(1001, "hi")


async def test_the_body_is_one_json_object_with_nested_objects_and_numbers_as_numbers() -> None:
    """What the wire carries: the real Bot API reads nested objects from a JSON body, not JSON inside strings."""
    seen: list[tuple[str, Any]] = []

    async def method(request: web.Request) -> web.Response:
        seen.append((request.content_type, await request.json()))
        return web.json_response({"ok": True, "result": {
            "message_id": 5, "date": 1_700_000_000, "chat": {"id": 1001, "type": "private"}, "text": "hi"}})

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", method)
    async with serving(app) as port:
        bot = Bot(TOKEN, session=JsonBodySession(api=TelegramAPIServer.from_base(f"http://127.0.0.1:{port}")),
                  default=DefaultBotProperties(parse_mode="HTML"))
        try:
            sent = await bot.send_message(1001, "hi", reply_markup=MARKUP, disable_notification=True)
        finally:
            await bot.session.close()
    assert sent.message_id == 5
    content_type, body = seen[0]
    assert content_type == "application/json"
    assert body["chat_id"] == 1001 and body["text"] == "hi" and body["parse_mode"] == "HTML"
    assert body["disable_notification"] is True
    assert body["reply_markup"] == {"inline_keyboard": [[{"text": "保存", "callback_data": "save:1"}]]}
    assert not any(value is None for value in body.values())


def aiograms_body(session: JsonBodySession, bot: Bot, method: Any) -> dict[str, Any]:
    """The JSON aiogram's own walk over the dumped values makes of a call (what plain_body must equal)."""
    files: dict[str, Any] = {}
    body = session.walked_fields(method, bot, files)
    assert not files
    return body


@pytest.mark.parametrize("defaults", [DefaultBotProperties(), DefaultBotProperties(parse_mode="HTML",
                                                                                   protect_content=True)])
def test_a_plain_call_is_written_as_aiograms_walk_would_write_it(defaults: DefaultBotProperties) -> None:
    from aiogram.enums import ChatAction
    from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendChatAction, SendMessage, SetMyCommands
    from aiogram.types import BotCommand, KeyboardButton, ReplyKeyboardMarkup

    from app.bot_session import plain_body

    session = JsonBodySession()
    bot = Bot(TOKEN, session=session, default=defaults)
    keyboard = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="取消")]], resize_keyboard=True)
    calls = [SendMessage(chat_id=1001, text="请输入手机号码", reply_markup=keyboard),
             SendMessage(chat_id="@channel", text="hi", reply_markup=MARKUP, disable_notification=True),
             EditMessageText(chat_id=1001, message_id=7, text="已修改", reply_markup=MARKUP),
             AnswerCallbackQuery(callback_query_id="42", text="好", show_alert=True),
             SendChatAction(chat_id=1001, action=ChatAction.TYPING),
             SetMyCommands(commands=[BotCommand(command="menu", description="主菜单")], language_code="zh")]
    for call in calls:
        written = plain_body(call, bot)
        assert written is not None, type(call).__name__
        assert json.loads(written) == aiograms_body(session, bot, call), type(call).__name__
    # A field left to the bot's defaults: their value where they have one, else not written at all.
    first = json.loads(plain_body(calls[0], bot) or "{}")
    assert first.get("parse_mode") == defaults.parse_mode and first.get("protect_content") == defaults.protect_content
    # A call with a file is not plain: aiogram's walk builds its form.
    from aiogram.methods import SendDocument

    assert plain_body(SendDocument(chat_id=1001, document=BufferedInputFile(b"x", filename="a.txt")), bot) is None
