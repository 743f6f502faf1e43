"""The chat page's JSON endpoints on the local Bot API server: history, unread counts, the change feed, files the
bot sends (kept byte for byte), the command menu as Telegram resolves it, the clock hook; and the offset clock."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import ClientSession, FormData

from app.sandbox_mode import next_festival, next_morning, quarter_end
from bot.services.clock import OffsetClock
from sandbox.botapi import ApiError, LocalBotAPI, format_text
from tests.unit.test_localapi import INLINE, TOKEN, Client

ALICE, BOB = 3001, 3002
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGNgYGAAAAAEAAH2FzhVAAAAAElFTkSuQmCC")
SHANGHAI = ZoneInfo("Asia/Shanghai")


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


@pytest.fixture
def tg(api: LocalBotAPI, http: ClientSession) -> Client:
    return Client(api, http)


def personas(api: LocalBotAPI) -> None:
    api.page.set_personas([
        {"user_id": ALICE, "first_name": "Alice", "kind": "staff", "group": {"en": "Dealer"}, "title": {"en": "Rep"}},
        {"user_id": BOB, "first_name": "Bob", "kind": "staff", "group": {"en": "Market"}, "title": {"en": "GM"}},
    ])


async def get(http: ClientSession, url: str) -> Any:
    async with http.get(url) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_history_unread_and_the_change_feed(api: LocalBotAPI, tg: Client, http: ClientSession) -> None:
    personas(api)
    base = f"{api.base_url}/sandbox/{TOKEN}"
    info = await get(http, f"{api.base_url}/sandbox/info")
    assert [p["user_id"] for p in info["personas"]] == [ALICE, BOB] and info["token"] == TOKEN
    assert info["unread"] == {str(ALICE): 0, str(BOB): 0} and info["clock"] is None

    # A long poll waiting on the feed returns as soon as the bot pushes to Bob.
    waiting = asyncio.create_task(get(http, f"{base}/events?since={info['version']}"))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    status, _ = await tg("sendMessage", chat_id=BOB, text="<b>Approve</b> #7?", parse_mode="HTML",
                         reply_markup=INLINE)
    assert status == 200
    event = await asyncio.wait_for(waiting, 2)
    assert event["changed"] == [BOB] and event["unread"] == {str(ALICE): 0, str(BOB): 1}

    history = await get(http, f"{base}/history/{BOB}?read=1")
    [message] = history["messages"]
    assert message["from_bot"] and message["text"] == "Approve #7?"
    assert message["entities"] == [{"type": "bold", "offset": 0, "length": 7}]
    assert message["inline_keyboard"][0][0] == {"text": "Yes", "callback_data": "yes"}
    assert (await get(http, f"{api.base_url}/sandbox/info"))["unread"][str(BOB)] == 0  # read now

    # A tap on the button: the callback answer shows up in the feed under the query id the press returned.
    async with http.post(f"{base}/press", json={"user_id": BOB, "message_id": message["id"], "data": "yes",
                                                 "language_code": "en"}) as resp:
        pressed = await resp.json()
    [update] = (await tg("getUpdates"))[1]["result"]
    assert update["callback_query"]["id"] == pressed["query_id"]
    assert update["callback_query"]["from"]["language_code"] == "en"
    since = (await get(http, f"{api.base_url}/sandbox/info"))["version"]
    await tg("answerCallbackQuery", callback_query_id=pressed["query_id"], text="Approved", show_alert=True)
    event = await get(http, f"{base}/events?since={since}")
    assert event["answers"] == [{"query_id": pressed["query_id"], "text": "Approved", "show_alert": True}]

    # An edit is drawn as edited; a reply keyboard comes with the history.
    await tg("editMessageText", chat_id=BOB, message_id=message["id"], text="Approved #7")
    keyboard = {"keyboard": [[{"text": "Share phone", "request_contact": True}]], "one_time_keyboard": True}
    await tg("sendMessage", chat_id=BOB, text="Your phone?", reply_markup=keyboard)
    history = await get(http, f"{base}/history/{BOB}")
    assert history["messages"][0]["edited"] and history["messages"][0]["text"] == "Approved #7"
    assert history["reply_keyboard"]["rows"] == [[{"text": "Share phone", "request_contact": True}]]
    assert history["reply_keyboard"]["one_time"] is True


async def test_files_the_bot_sends_and_photos_a_person_sends(api: LocalBotAPI, tg: Client,
                                                             http: ClientSession) -> None:
    personas(api)
    base = f"{api.base_url}/sandbox/{TOKEN}"
    workbook = b"PK\x03\x04 an xlsx, byte for byte"
    form = FormData()
    form.add_field("chat_id", str(ALICE))
    form.add_field("document", workbook, filename="visits 2026-12.xlsx",
                   content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert (await tg("sendDocument", form=form))[0] == 200
    chart = FormData()
    chart.add_field("chat_id", str(ALICE))
    chart.add_field("caption", "Visits this week")
    chart.add_field("photo", PNG, filename="chart.png", content_type="image/png")
    assert (await tg("sendPhoto", form=chart))[0] == 200

    document, photo = (await get(http, f"{base}/history/{ALICE}"))["messages"]
    assert document["document"]["file_name"] == "visits 2026-12.xlsx"
    async with http.get(f"{api.base_url}{document['document']['url']}") as resp:
        assert await resp.read() == workbook
        assert resp.content_type.endswith("spreadsheetml.sheet")
        assert "visits%202026-12.xlsx" in resp.headers["Content-Disposition"]
    assert photo["caption"] == "Visits this week"
    async with http.get(f"{api.base_url}{photo['photo']['url']}") as resp:
        assert await resp.read() == PNG and resp.content_type == "image/png"
    # getFile's answer carries no private fields, and the Bot API file download serves the same bytes.
    file_id = api.sent_messages(ALICE, token=TOKEN)[0]["document"]["file_id"]
    status, body = await tg("getFile", file_id=file_id)
    assert status == 200 and set(body["result"]) == {"file_id", "file_unique_id", "file_size", "file_path"}
    async with http.get(f"{api.base_url}/file/bot{TOKEN}/{body['result']['file_path']}") as resp:
        assert await resp.read() == workbook

    # A photo the person sends from the page is stored and served the same way.
    payload = {"user_id": ALICE, "first_name": "Alice", "photo": {"data": base64.b64encode(PNG).decode(),
                                                                  "caption": "the site"}}
    async with http.post(f"{base}/send", json=payload) as resp:
        assert resp.status == 200
    sent = (await get(http, f"{base}/history/{ALICE}"))["messages"][-1]
    assert not sent["from_bot"] and sent["caption"] == "the site"
    async with http.get(f"{api.base_url}{sent['photo']['url']}") as resp:
        assert await resp.read() == PNG
    async with http.post(f"{base}/send", json={"user_id": ALICE, "photo": {"data": "%%%"}}) as resp:
        assert resp.status == 400


async def test_command_menu_as_telegram_resolves_it(api: LocalBotAPI, tg: Client, http: ClientSession) -> None:
    base = f"{api.base_url}/sandbox/{TOKEN}"
    assert (await get(http, f"{base}/commands?language_code=en"))["commands"] == []
    await tg("setMyCommands", commands=[{"command": "menu", "description": "Main menu"}])
    await tg("setMyCommands", commands=[{"command": "menu", "description": "Zhu caidan"}], language_code="zh")
    await tg("setMyCommands", commands=[{"command": "admin", "description": "Admin"}],
             scope={"type": "chat", "chat_id": ALICE})
    assert (await get(http, f"{base}/commands?language_code=zh-hans"))["commands"][0]["description"] == "Zhu caidan"
    assert (await get(http, f"{base}/commands?language_code=de"))["commands"][0]["description"] == "Main menu"
    assert (await get(http, f"{base}/commands?language_code=en&user_id={ALICE}"))["commands"][0]["command"] == \
        "admin"


async def test_clock_hook_and_the_page_itself(api: LocalBotAPI, http: ClientSession) -> None:
    async with http.get(f"{api.base_url}/sandbox/clock") as resp:
        assert resp.status == 404  # no app shell registered a clock

    class Control:
        def __init__(self) -> None:
            self.targets: list[str] = []

        async def state(self) -> dict[str, Any]:
            return {"now": "2026-12-02T08:00:00+08:00", "tz": "Asia/Shanghai", "targets": []}

        async def advance(self, target: str) -> dict[str, Any]:
            if target == "nonsense":
                raise ValueError("unknown target")
            self.targets.append(target)
            return {**await self.state(), "ran": ["approval_watch"]}

    control = Control()
    api.page.clock = control
    async with http.post(f"{api.base_url}/sandbox/clock", json={"target": "quarter_end"}) as resp:
        assert (await resp.json())["ran"] == ["approval_watch"] and control.targets == ["quarter_end"]
    async with http.post(f"{api.base_url}/sandbox/clock", json={"target": "nonsense"}) as resp:
        assert resp.status == 400
    async with http.get(f"{api.base_url}/") as resp:
        page = await resp.text()
        assert resp.status == 200 and '<script src="/web/app.js">' in page
    for asset in ("app.js", "i18n.js", "style.css"):
        async with http.get(f"{api.base_url}/web/{asset}") as resp:
            assert resp.status == 200
            assert "http://" not in (text := await resp.text()) and "https://" not in text  # nothing fetched


def test_offset_clock_only_moves_forward() -> None:
    base = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)
    clock = OffsetClock(lambda: base)
    assert clock() == base
    later = clock.advance_to(datetime(2026, 12, 3, 0, 0, tzinfo=UTC))
    assert later == clock() == datetime(2026, 12, 3, 0, 0, tzinfo=UTC)
    clock.advance_to(base)  # backwards: ignored
    assert clock() == later


def test_clock_targets() -> None:
    at = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)  # 05:00 on 2 December in Shanghai
    assert next_morning(at, SHANGHAI) == datetime(2026, 12, 3, 8, 0, tzinfo=SHANGHAI)
    assert quarter_end(at, SHANGHAI) == datetime(2026, 12, 31, 8, 0, tzinfo=SHANGHAI)
    after = datetime(2026, 12, 31, 9, 0, tzinfo=SHANGHAI)
    assert quarter_end(after, SHANGHAI) == datetime(2027, 3, 31, 8, 0, tzinfo=SHANGHAI)
    assert quarter_end(datetime(2026, 2, 1, tzinfo=SHANGHAI), SHANGHAI) == datetime(2026, 3, 31, 8, 0,
                                                                                   tzinfo=SHANGHAI)
    day, names = next_festival(at, SHANGHAI)
    assert day == datetime(2027, 1, 1, 8, 0, tzinfo=SHANGHAI) and names["en"] == "New Year's Day"
    day, names = next_festival(datetime(2027, 1, 2, tzinfo=SHANGHAI), SHANGHAI)
    assert day.date().month in (1, 2) and "New Year" in names["en"]  # the lunar new year (its eve first)


@pytest.mark.parametrize(("text", "mode", "plain", "entities"), [
    ("*bold* _it_ `code` [site](http://example.org)", "Markdown", "bold it code site",
     [("bold", 0, 4), ("italic", 5, 2), ("code", 8, 4), ("text_link", 13, 4)]),
    ("*bold _nested_* __u__ ~s~ ||sp|| 3\\.5\\!", "MarkdownV2", "bold nested u s sp 3.5!",
     [("bold", 0, 11), ("italic", 5, 6), ("underline", 12, 1), ("strikethrough", 14, 1), ("spoiler", 16, 2)]),
    ("```python\nprint(1)\n```", "MarkdownV2", "print(1)\n", [("pre", 0, 9)]),
    ("😀 *x*", "Markdown", "😀 x", [("bold", 3, 1)]),  # offsets in UTF-16 units: the emoji counts 2
])
def test_markdown_becomes_entities(text: str, mode: str, plain: str, entities: list[tuple[str, int, int]]) -> None:
    got_text, got = format_text(text, mode, None)
    assert got_text == plain
    assert [(e["type"], e["offset"], e["length"]) for e in got] == entities
    if mode == "MarkdownV2" and "```" in text:
        assert got[0]["language"] == "python"


@pytest.mark.parametrize(("text", "mode", "error"), [
    ("price 3.5", "MarkdownV2", "Character '.' is reserved"),
    ("*open", "Markdown", "Can't find end of the entity starting at byte offset 0"),
    ("a_b", "Markdown", "byte offset 1"),
])
def test_markdown_telegram_refuses(text: str, mode: str, error: str) -> None:
    with pytest.raises(ApiError) as refused:
        format_text(text, mode, None)
    assert error in refused.value.description and refused.value.status == 400
