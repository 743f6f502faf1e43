"""Tests for the local Bot API server (sandbox/botapi.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiohttp import ClientSession, FormData, web

from sandbox.botapi import Call, LocalBotAPI
from tests.support.web_server import serving

TOKEN = "123456:TEST"
INLINE = {"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"},
                               {"text": "No", "callback_data": "no"}]]}


@pytest.fixture
async def api() -> AsyncIterator[LocalBotAPI]:
    server = LocalBotAPI()
    server.add_bot(token=TOKEN, username="fieldbot_test_bot", first_name="fieldbot")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session


class Client:
    def __init__(self, api: LocalBotAPI, http: ClientSession) -> None:
        self.api, self.http = api, http

    async def __call__(self, method: str, token: str = TOKEN, *, json_body: dict[str, Any] | None = None,
                       form: Any = None, **params: Any) -> tuple[int, dict[str, Any]]:
        url = f"{self.api.base_url}/bot{token}/{method}"
        if json_body is not None:
            kwargs: dict[str, Any] = {"json": json_body}
        elif form is not None:
            kwargs = {"data": form}
        else:  # urlencoded, with complex values JSON-encoded as aiogram does
            kwargs = {"data": {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}}
        async with self.http.post(url, **kwargs) as resp:
            return resp.status, await resp.json()


@pytest.fixture
def tg(api: LocalBotAPI, http: ClientSession) -> Client:
    return Client(api, http)


def assert_error(reply: tuple[int, dict[str, Any]], status: int, description: str) -> None:
    code, body = reply
    assert (code, body["ok"], body["error_code"]) == (status, False, status), body
    assert body["description"] == description, body["description"]


# ---- basics and validation ------------------------------------------------------------------------------
async def test_get_me_and_unauthorized(tg: Client) -> None:
    code, body = await tg("getMe")
    assert code == 200 and body["result"]["username"] == "fieldbot_test_bot"
    assert body["result"]["is_bot"] is True and body["result"]["id"] == 123456
    assert_error(await tg("getMe", token="999:NOPE"), 401, "Unauthorized")


async def test_get_request_and_case_insensitive_method(api: LocalBotAPI, http: ClientSession) -> None:
    api.user(1001, "Alice")
    query = {"chat_id": "1001", "text": "hi"}
    async with http.get(f"{api.base_url}/bot{TOKEN}/SENDMESSAGE", params=query) as r:
        body = await r.json()
    assert body["ok"] and body["result"]["text"] == "hi"
    assert api.calls[-1].method == "sendMessage"


async def test_unknown_method(tg: Client) -> None:
    assert_error(await tg("sendTelepathy", chat_id=1), 404, "Not Found")


async def test_unknown_parameter_is_named(api: LocalBotAPI, tg: Client) -> None:
    api.user(1001, "Alice")
    reply = await tg("sendMessage", chat_id=1001, text="x", colour="red")
    assert_error(reply, 400, 'Bad Request: unknown parameter "colour"')


async def test_missing_required_parameters(api: LocalBotAPI, tg: Client) -> None:
    api.user(1001, "Alice")
    assert_error(await tg("sendMessage", chat_id=1001), 400, "Bad Request: message text is empty")
    assert_error(await tg("sendMessage", text="x"), 400, "Bad Request: chat_id is empty")
    assert_error(await tg("sendLocation", chat_id=1001, latitude=1.0), 400,
                 'Bad Request: parameter "longitude" is required')


async def test_too_long_text_and_caption(api: LocalBotAPI, tg: Client) -> None:
    api.user(1001, "Alice")
    reply = await tg("sendMessage", chat_id=1001, text="x" * 4097)
    assert_error(reply, 400, "Bad Request: message is too long")
    assert (await tg("sendMessage", chat_id=1001, text="x" * 4096))[0] == 200
    # The limit applies after entity parsing: markup does not count.
    reply = await tg("sendMessage", chat_id=1001, text="<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    assert reply[0] == 200
    reply = await tg("sendPhoto", chat_id=1001, photo="https://example.com/a.jpg", caption="c" * 1025)
    assert_error(reply, 400, "Bad Request: message caption is too long")


async def test_callback_data_over_64_bytes(api: LocalBotAPI, tg: Client) -> None:
    api.user(1001, "Alice")
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "é" * 33}]]}  # 66 bytes, 33 characters
    assert_error(await tg("sendMessage", chat_id=1001, text="x", reply_markup=markup), 400,
                 "Bad Request: BUTTON_DATA_INVALID")


@pytest.mark.parametrize("markup", [
    "{not json",
    [[{"text": "a"}]],
    {"buttons": []},
    {"inline_keyboard": [{"text": "a", "callback_data": "a"}]},
    {"keyboard": [[{"request_contact": True}]]},
    {"inline_keyboard": [[{"callback_data": "a"}]]},
    {"remove_keyboard": False},
])
async def test_malformed_reply_markup(api: LocalBotAPI, tg: Client, markup: Any) -> None:
    api.user(1001, "Alice")
    reply = await tg("sendMessage", chat_id=1001, text="x", reply_markup=markup)
    assert_error(reply, 400, "Bad Request: can't parse reply keyboard markup JSON object")


async def test_reply_keyboard_not_allowed_on_edit(api: LocalBotAPI, tg: Client) -> None:
    api.user(1001, "Alice")
    await tg("sendMessage", chat_id=1001, text="x")
    reply = await tg("editMessageReplyMarkup", chat_id=1001, message_id=1, reply_markup={"keyboard": [["a"]]})
    assert_error(reply, 400, "Bad Request: can't parse reply keyboard markup JSON object")


async def test_chat_not_found(tg: Client) -> None:
    assert_error(await tg("sendMessage", chat_id=4242, text="x"), 400, "Bad Request: chat not found")
    assert_error(await tg("getChat", chat_id="@nobody"), 400, "Bad Request: chat not found")


async def test_missing_message_for_edit_and_delete(api: LocalBotAPI, tg: Client) -> None:
    api.user(1001, "Alice")
    assert_error(await tg("editMessageText", chat_id=1001, message_id=77, text="x"), 400,
                 "Bad Request: message to edit not found")
    assert_error(await tg("editMessageReplyMarkup", chat_id=1001, message_id=77, reply_markup=INLINE), 400,
                 "Bad Request: message to edit not found")
    assert_error(await tg("deleteMessage", chat_id=1001, message_id=77), 400,
                 "Bad Request: message to delete not found")


async def test_answer_unknown_callback_query(tg: Client) -> None:
    assert_error(await tg("answerCallbackQuery", callback_query_id="nope"), 400,
                 "Bad Request: query is too old and response timeout expired or query ID is invalid")


async def test_blocked_user_is_forbidden(api: LocalBotAPI, tg: Client) -> None:
    api.user(1001, "Alice").block()
    reply = await tg("sendMessage", chat_id=1001, text="x")
    assert_error(reply, 403, "Forbidden: bot was blocked by the user")


async def test_bad_html_is_rejected(api: LocalBotAPI, tg: Client) -> None:
    api.user(1001, "Alice")
    code, body = await tg("sendMessage", chat_id=1001, text="a <blink>b</blink>", parse_mode="HTML")
    assert code == 400 and body["description"].startswith("Bad Request: can't parse entities: Unsupported")


# ---- decoding and results --------------------------------------------------------------------------------
async def test_string_values_stay_strings_and_integers_are_decoded(api: LocalBotAPI, tg: Client) -> None:
    api.user(1001, "Alice")
    code, body = await tg("sendMessage", chat_id="1001", text="123")
    assert code == 200 and body["result"]["text"] == "123"
    assert api.calls[-1].params == {"chat_id": 1001, "text": "123"} and api.calls[-1].chat_id == 1001


async def test_json_body_is_accepted(api: LocalBotAPI, tg: Client) -> None:
    api.user(1001, "Alice", username="alice")
    code, body = await tg("sendMessage", json_body={"chat_id": "@alice", "text": 5, "reply_markup": INLINE})
    assert code == 200 and body["result"]["text"] == "5"
    assert body["result"]["reply_markup"] == INLINE and api.calls[-1].chat_id == 1001


async def test_send_message_result(api: LocalBotAPI, tg: Client) -> None:
    alice = api.user(1001, "Alice")
    alice.send_text("hello")  # the user's message takes message_id 1 in the shared private chat
    code, body = await tg("sendMessage", chat_id=1001, text="<b>Hi</b> 👋 <i>there</i>", parse_mode="HTML",
                          reply_markup={"keyboard": [[{"text": "Share", "request_contact": True}]]})
    message = body["result"]
    assert message["message_id"] == 2 and message["from"]["id"] == 123456
    assert message["chat"] == {"id": 1001, "type": "private", "first_name": "Alice"}
    assert message["text"] == "Hi 👋 there" and abs(message["date"] - time.time()) < 5
    assert message["entities"] == [{"type": "bold", "offset": 0, "length": 2},
                                   {"type": "italic", "offset": 6, "length": 5}]
    assert "reply_markup" not in message  # Telegram echoes inline keyboards only
    assert alice.reply_keyboard() == ["Share"]
    await tg("sendMessage", chat_id=1001, text="bye", reply_markup={"remove_keyboard": True})
    assert alice.reply_keyboard() is None


async def test_media_messages_and_files(api: LocalBotAPI, tg: Client, http: ClientSession) -> None:
    api.user(1001, "Alice")
    form = FormData()
    form.add_field("chat_id", "1001")
    form.add_field("photo", "attach://abc")
    form.add_field("caption", "a photo")
    form.add_field("abc", b"\xff" * 4000, filename="p.jpg", content_type="image/jpeg")
    code, body = await tg("sendPhoto", form=form)
    assert code == 200, body
    photo = body["result"]["photo"]
    assert [p["width"] for p in photo] == [90, 320, 1280] and body["result"]["caption"] == "a photo"
    assert all(p["file_id"] and p["file_unique_id"] for p in photo) and photo[-1]["file_size"] == 4000
    assert api.calls[-1].params["photo"]["size"] == 4000

    code, body = await tg("getFile", file_id=photo[-1]["file_id"])
    assert code == 200 and body["result"]["file_path"]
    async with http.get(f"{api.base_url}/file/bot{TOKEN}/{body['result']['file_path']}") as resp:
        assert resp.status == 200 and len(await resp.read()) == 4000
    assert_error(await tg("getFile", file_id="zzz"), 400, "Bad Request: invalid file_id")

    form = FormData()
    form.add_field("chat_id", "1001")
    form.add_field("document", b"%PDF", filename="report.pdf", content_type="application/pdf")
    code, body = await tg("sendDocument", form=form)
    assert body["result"]["document"]["file_name"] == "report.pdf"
    assert body["result"]["document"]["file_size"] == 4

    _, body = await tg("sendLocation", chat_id=1001, latitude=31.23, longitude=121.47)
    assert body["result"]["location"] == {"latitude": 31.23, "longitude": 121.47}
    _, body = await tg("sendContact", chat_id=1001, phone_number="+8613800138000", first_name="Bob")
    assert body["result"]["contact"] == {"phone_number": "+8613800138000", "first_name": "Bob"}
    assert (await tg("sendChatAction", chat_id=1001, action="typing"))[1]["result"] is True
    _, body = await tg("sendVenue", chat_id=1001, latitude=1.0, longitude=2.0, title="t", address="a")
    assert body["result"]["message_id"] == 5  # generic send* fallback still returns a Message


async def test_edits_and_delete(api: LocalBotAPI, tg: Client) -> None:
    api.user(1001, "Alice")
    await tg("sendMessage", chat_id=1001, text="v1", reply_markup=INLINE)
    _, body = await tg("editMessageText", chat_id=1001, message_id=1, text="v2", reply_markup=INLINE)
    assert body["result"]["text"] == "v2" and body["result"]["reply_markup"] == INLINE
    assert "edit_date" in body["result"]
    assert_error(await tg("editMessageText", chat_id=1001, message_id=1, text="v2", reply_markup=INLINE), 400,
                 "Bad Request: message is not modified: specified new message content and reply markup are "
                 "exactly the same as a current content and reply markup of the message")
    _, body = await tg("editMessageReplyMarkup", chat_id=1001, message_id=1)
    assert "reply_markup" not in body["result"]
    assert api.last_message(1001)["text"] == "v2"

    await tg("sendPhoto", chat_id=1001, photo="https://example.com/a.jpg", caption="old")
    _, body = await tg("editMessageCaption", chat_id=1001, message_id=2, caption="new")
    assert body["result"]["caption"] == "new"
    assert (await tg("deleteMessage", chat_id=1001, message_id=1))[1]["result"] is True
    assert [m["message_id"] for m in api.sent_messages(1001)] == [2]


async def test_commands_menu_button_and_get_chat(api: LocalBotAPI, tg: Client) -> None:
    api.user(1001, "Alice", username="alice")
    commands = [{"command": "start", "description": "Start"}]
    assert (await tg("setMyCommands", commands=commands, language_code="zh"))[1]["result"] is True
    assert (await tg("getMyCommands", language_code="zh"))[1]["result"] == commands
    assert (await tg("getMyCommands"))[1]["result"] == []
    assert (await tg("deleteMyCommands", language_code="zh"))[1]["result"] is True
    assert (await tg("getMyCommands", language_code="zh"))[1]["result"] == []
    code, _ = await tg("setMyCommands", commands=[{"command": "start"}])
    assert code == 400  # description is required in BotCommand
    assert (await tg("setChatMenuButton", chat_id=1001, menu_button={"type": "commands"}))[0] == 200
    _, body = await tg("getChat", chat_id=1001)
    assert body["result"]["id"] == 1001 and body["result"]["username"] == "alice"
    assert (await tg("setChatPhoto", form={"chat_id": "1001", "photo": "attach://x"}))[0] == 400
    assert (await tg("leaveChat", chat_id=1001))[1]["result"] is True  # generic fallback


# ---- updates ----------------------------------------------------------------------------------------------
async def test_long_poll_wakes_up_on_new_update(api: LocalBotAPI, tg: Client) -> None:
    alice = api.user(1001, "Alice", language_code="zh-hans")
    started = time.monotonic()
    poll = asyncio.create_task(tg("getUpdates", timeout=10))
    await asyncio.sleep(0.1)
    update_id = alice.send_text("/start CODE")
    code, body = await poll
    assert time.monotonic() - started < 2
    [update] = body["result"]
    assert update["update_id"] == update_id
    message = update["message"]
    assert message["text"] == "/start CODE" and message["from"]["language_code"] == "zh-hans"
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]


async def test_long_poll_times_out_empty(tg: Client) -> None:
    started = time.monotonic()
    _, body = await tg("getUpdates", timeout=1)
    assert body["result"] == [] and time.monotonic() - started >= 0.9


async def test_offset_acknowledges_updates(api: LocalBotAPI, tg: Client) -> None:
    alice = api.user(1001, "Alice")
    ids = [alice.send_text(t) for t in ("a", "b", "c")]
    _, body = await tg("getUpdates", limit=2)
    assert [u["update_id"] for u in body["result"]] == ids[:2]
    _, body = await tg("getUpdates")
    assert [u["update_id"] for u in body["result"]] == ids  # nothing acknowledged yet
    _, body = await tg("getUpdates", offset=ids[1] + 1)
    assert [u["update_id"] for u in body["result"]] == ids[2:]
    _, body = await tg("getUpdates", offset=ids[2] + 1)
    assert body["result"] == []
    more = [alice.send_text(t) for t in ("d", "e")]
    _, body = await tg("getUpdates", offset=-1)
    assert [u["update_id"] for u in body["result"]] == more[1:]


async def test_allowed_updates_filter(api: LocalBotAPI, tg: Client) -> None:
    alice = api.user(1001, "Alice")
    await tg("sendMessage", chat_id=1001, text="q", reply_markup=INLINE)
    alice.send_text("a")
    pressed = alice.press(1, "yes")
    _, body = await tg("getUpdates", allowed_updates=["callback_query"])
    assert [u["update_id"] for u in body["result"]] == [pressed]


async def test_webhook_delivery(api: LocalBotAPI, tg: Client) -> None:
    received: list[tuple[dict[str, Any], str | None]] = []
    arrived = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        received.append((await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        arrived.set()
        # Telegram executes a method returned in the webhook reply.
        return web.json_response({"method": "sendMessage", "chat_id": 1001, "text": "from webhook reply"})

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with serving(app) as port:
        alice = api.user(1001, "Alice")
        url = f"http://127.0.0.1:{port}/hook"
        assert (await tg("setWebhook", url=url, secret_token="s3cret"))[1]["result"] is True
        assert_error(await tg("getUpdates"), 409, "Conflict: can't use getUpdates method while webhook is "
                                                 "active; use deleteWebhook to delete the webhook first")
        update_id = alice.send_text("hi")
        await asyncio.wait_for(arrived.wait(), 5)
        assert received[0][0]["update_id"] == update_id and received[0][1] == "s3cret"
        call = await api.wait_for_call(lambda c: c.params.get("text") == "from webhook reply")
        assert call.ok
        _, info = await tg("getWebhookInfo")
        assert info["result"]["url"] == url and info["result"]["pending_update_count"] == 0
        assert (await tg("deleteWebhook"))[1]["result"] is True
        alice.send_text("queued")
        _, body = await tg("getUpdates")
        assert body["result"][0]["message"]["text"] == "queued"


# ---- recording and user API --------------------------------------------------------------------------------
async def test_recording_api(api: LocalBotAPI, tg: Client) -> None:
    api.user(1001, "Alice")
    api.user(1002, "Bob")
    await tg("sendMessage", chat_id=1001, text="one")
    await tg("sendMessage", chat_id=1002, text="other")
    await tg("sendMessage", chat_id=1001, text="x" * 5000)
    await tg("sendChatAction", chat_id=1001, action="typing")
    calls = api.calls_to(1001)
    assert [c.method for c in calls] == ["sendMessage", "sendMessage", "sendChatAction"]
    assert isinstance(calls[0], Call) and calls[0].ok and calls[0].result["text"] == "one"
    assert not calls[1].ok and calls[1].error == "Bad Request: message is too long"
    assert [c.params["text"] for c in api.calls_to(1002, "sendmessage")] == ["other"]
    assert [m["text"] for m in api.sent_messages(1001)] == ["one"]
    assert api.last_message(1002)["text"] == "other" and api.last_message(999) is None

    waiter = asyncio.create_task(api.wait_for_call(lambda c: c.method == "sendPhoto"))
    await asyncio.sleep(0)
    await tg("sendPhoto", chat_id=1001, photo="https://example.com/a.jpg")
    assert (await waiter).chat_id == 1001
    assert (await api.wait_for_call(lambda c: c.params.get("text") == "one")).ok  # already recorded
    api.clear_calls()
    assert api.calls == []
    with pytest.raises(TimeoutError, match="recent calls"):
        await api.wait_for_call(lambda c: c.method == "sendVideo", timeout=0.1)


async def test_user_actions(api: LocalBotAPI, tg: Client) -> None:
    alice = api.user(user_id=1001, first_name="Alice", language_code="zh-hans")
    alice.send_contact(phone_number="+8613800138000", first_name="Alice", user_id=alice.id)
    alice.send_contact(phone_number="+8613900000000", first_name="Carol")
    alice.forward_contact(phone_number="+8613700000000", first_name="Dan")
    alice.send_location(latitude=31.23, longitude=121.47, live_period=60, horizontal_accuracy=5.0)
    alice.send_photo(caption="site")
    alice.send_message(text="raw", has_protected_content=True)
    _, body = await tg("getUpdates")
    messages = [u["message"] for u in body["result"]]
    assert messages[0]["contact"]["user_id"] == 1001 and "user_id" not in messages[1]["contact"]
    assert messages[2]["forward_origin"]["type"] == "hidden_user"
    assert messages[3]["location"]["live_period"] == 60
    photo = messages[4]["photo"]
    assert len({p["file_id"] for p in photo}) == 3 and messages[4]["caption"] == "site"
    assert (await tg("getFile", file_id=photo[-1]["file_id"]))[0] == 200
    assert messages[5]["has_protected_content"] is True
    assert [m["message_id"] for m in messages] == [1, 2, 3, 4, 5, 6]

    _, sent = await tg("sendMessage", chat_id=1001, text="Choose", reply_markup=INLINE)
    assert alice.inline_buttons() == [("Yes", "yes"), ("No", "no")]
    update_id = alice.press_button("No")
    with pytest.raises(LookupError, match="Yes"):
        alice.press_button("Maybe")
    with pytest.raises(ValueError):
        alice.press(999, "yes")
    _, body = await tg("getUpdates", offset=update_id)
    query = body["result"][0]["callback_query"]
    assert query["data"] == "no" and query["message"]["message_id"] == sent["result"]["message_id"]
    assert api.callback_answer(query["id"]) is None
    assert (await tg("answerCallbackQuery", callback_query_id=query["id"], text="ok"))[0] == 200
    assert api.callback_answer(query["id"]) == {"callback_query_id": query["id"], "text": "ok"}
    assert api.calls_to(1001, "answerCallbackQuery")[0].ok
    assert_error(await tg("answerCallbackQuery", callback_query_id=query["id"]), 400,
                 "Bad Request: query is too old and response timeout expired or query ID is invalid")
    assert api.push_update({"my_chat_member": {}}) == update_id + 1


async def test_sandbox_endpoints(api: LocalBotAPI, tg: Client, http: ClientSession) -> None:
    payload = {"user_id": 2001, "first_name": "Zed", "language_code": "en", "text": "hello"}
    async with http.post(f"{api.base_url}/sandbox/{TOKEN}/send", json=payload) as resp:
        update_id = (await resp.json())["update_id"]
    _, body = await tg("getUpdates")
    assert body["result"][0]["update_id"] == update_id
    await tg("sendMessage", chat_id=2001, text="welcome", reply_markup=INLINE)
    async with http.get(f"{api.base_url}/sandbox/{TOKEN}/chat/2001") as resp:
        chat = await resp.json()
    assert [m["text"] for m in chat] == ["welcome"]
    press = {"user_id": 2001, "label": "Yes"}
    async with http.post(f"{api.base_url}/sandbox/{TOKEN}/press", json=press) as resp:
        assert (await resp.json())["update_id"] == update_id + 1
    contact = {"user_id": 2001, "first_name": "Zed", "contact": {"phone": "+8613800138000"}}
    async with http.post(f"{api.base_url}/sandbox/{TOKEN}/send", json=contact) as resp:
        assert (await resp.json())["update_id"] == update_id + 2
    where = {"user_id": 2001, "first_name": "Zed", "location": {"latitude": 31.2, "longitude": 121.5}}
    async with http.post(f"{api.base_url}/sandbox/{TOKEN}/send", json=where) as resp:
        assert (await resp.json())["update_id"] == update_id + 3
    _, body = await tg("getUpdates", offset=update_id + 2)
    shared, located = (update["message"] for update in body["result"])
    assert shared["contact"] == {"phone_number": "+8613800138000", "first_name": "Zed", "user_id": 2001}
    assert located["location"] == {"latitude": 31.2, "longitude": 121.5}


# ---- a real aiogram bot ----------------------------------------------------------------------------------
async def test_real_aiogram_bot(api: LocalBotAPI) -> None:
    alice = api.user(1001, "Alice")
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))
    bot = Bot(TOKEN, session=session)
    try:
        me = await bot.get_me()
        assert me.username == "fieldbot_test_bot"
        markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="OK", callback_data="ok")]])
        sent = await bot.send_message(1001, "hello <b>Alice</b>", parse_mode="HTML", reply_markup=markup)
        assert sent.text == "hello Alice" and sent.from_user and sent.from_user.id == me.id
        alice.send_text("hi bot")
        updates = await bot.get_updates(timeout=1)
        assert updates[-1].message and updates[-1].message.text == "hi bot"
        edited = await bot.edit_message_text("edited", chat_id=1001, message_id=sent.message_id)
        assert not isinstance(edited, bool) and edited.text == "edited"
        assert api.last_message(1001)["text"] == "edited"
        with pytest.raises(TelegramBadRequest, match="message is too long"):
            await bot.send_message(1001, "x" * 5000)
        button = InlineKeyboardButton(text="A", callback_data="d" * 65)
        too_long = InlineKeyboardMarkup(inline_keyboard=[[button]])
        with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
            await bot.send_message(1001, "x", reply_markup=too_long)
        await bot.send_location(1001, latitude=31.23, longitude=121.47)
        await bot.send_chat_action(1001, "typing")
        await bot.set_my_commands([])
    finally:
        await bot.session.close()


async def test_aiogram_dispatcher_polling_round_trip(api: LocalBotAPI) -> None:
    alice = api.user(1001, "Alice", language_code="zh-hans")
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
    dp = Dispatcher()

    @dp.message(CommandStart())
    async def start(message: Message) -> None:
        button = InlineKeyboardButton(text="Go", callback_data="go")
        keyboard = InlineKeyboardMarkup(inline_keyboard=[[button]])
        await message.answer("<b>Welcome</b>", parse_mode="HTML", reply_markup=keyboard)

    @dp.callback_query(F.data == "go")
    async def go(query: CallbackQuery) -> None:
        await query.answer("ok")
        assert isinstance(query.message, Message)
        await query.message.edit_text("Gone")

    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=5))
    try:
        alice.send_text("/start REF")
        await api.wait_for_call(lambda c: c.method == "sendMessage")
        assert alice.inline_buttons() == [("Go", "go")]
        alice.press_button("Go")
        await api.wait_for_call(lambda c: c.method == "editMessageText")
        assert api.last_message(1001)["text"] == "Gone"
        methods = [c.method for c in api.calls_to(1001)]
        assert methods == ["sendMessage", "answerCallbackQuery", "editMessageText"]
        assert all(c.ok for c in api.calls)
    finally:
        await dp.stop_polling()
        await polling
        await bot.session.close()
