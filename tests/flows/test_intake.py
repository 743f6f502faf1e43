"""The update intake in-process: stored before acknowledged, redeliveries ignored, always answered (findings 4, 5,
9 of issue 7), retried and parked, the webhook's secret, and `fieldbot inbox`."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading

import pytest
from aiohttp import ClientSession
from sqlalchemy import text
from sqlmodel import func, select

from app.inbox_report import describe
from app.webhook import SECRET_HEADER, serve_webhook
from bot.config import Settings
from sandbox.botapi import LocalBotAPI
from storage.inbox import PARKED, Inbox
from storage.models import Customer
from tests.conftest import People
from tests.flows.test_customers import create_customer, latest_province_default, pick, tap_data
from tests.support.harness import BotUnderTest, text_of

RETRY_APOLOGY = "Sorry, something went wrong on our side. What you sent is kept, and I will try it again"
PARKED_APOLOGY = "Sorry, I still could not handle your last message"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Quick retries and a short busy timeout, so failures settle within a test's patience.
    return settings.model_copy(update={"intake_retry_s": 0.1, "sqlite_busy_timeout_s": 0.5,
                                       "intake_claim_ttl_s": 2.0})


async def inbox_rows(runner: BotUnderTest) -> dict[int, dict]:
    assert runner.storage is not None
    rows = await Inbox(runner.storage.engine).listing(None, 10_000)
    return {int(row["update_id"]): row for row in rows}


async def test_update_is_stored_before_it_is_confirmed(running_bot: BotUnderTest, people: People) -> None:
    """The getUpdates that confirms an update (its offset past it) comes only once the update is in the inbox."""
    chat = people.user("Wu", "en")
    seen_at_confirm: list[bool] = []
    update_id = 0

    def at_confirm(name: str, params: dict) -> None:
        if name == "getUpdates" and update_id and int(params.get("offset", 0)) > update_id and not seen_at_confirm:
            path = running_bot.settings.sqlite_path
            with sqlite3.connect(path) as connection:
                found = connection.execute("SELECT COUNT(*) FROM inbox WHERE update_id = ?", (update_id,)).fetchone()
            seen_at_confirm.append(found[0] == 1)

    running_bot.api.faults.hooks.append(at_confirm)
    update_id = chat.user.send_text("/start")
    await running_bot.processed(update_id)
    await running_bot.api.wait_for_call(
        lambda call: call.method == "getUpdates" and int(call.params.get("offset", 0)) > update_id)
    assert seen_at_confirm == [True]


async def test_polling_survives_getupdates_failing_and_handles_what_came_meanwhile(running_bot: BotUnderTest,
                                                                                     people: People) -> None:
    """getUpdates answered by a proxy's error page, then 429 and 500 (the intake reads getUpdates itself, as
    Telegram's JSON): the bot keeps polling, and the message sent meanwhile is answered once."""
    api = running_bot.api
    chat = people.user("Lu", "en")
    api.answer_raw("getUpdates", 502, "<html><body><h1>502 Bad Gateway</h1></body></html>")
    update_id = chat.user.send_text("/start")
    await api.wait_for_call(lambda call: call.method == "getUpdates" and call.status == 502)
    del api.raw_answers["getupdates"]
    api.faults.methods = {"getUpdates"}
    api.faults.rate_limit_share = api.faults.server_error_share = 0.5
    await api.wait_for_call(lambda call: call.method == "getUpdates" and not call.ok
                            and "Internal Server Error" in (call.error or ""), timeout=15)
    await api.wait_for_call(lambda call: call.method == "getUpdates" and not call.ok
                            and "Too Many Requests" in (call.error or ""), timeout=15)
    api.faults.off()
    await running_bot.processed(update_id)
    assert "only for the truck dealer network" in chat.texts()[-1]
    assert len(chat.texts()) == 1
    assert (await inbox_rows(running_bot))[update_id]["status"] == 1


async def test_every_update_delivered_twice_is_handled_once(running_bot: BotUnderTest, people: People) -> None:
    running_bot.api.faults.deliver_twice = True
    chat = await people.onboarded("sales_rep", "dlr-jinan", "13800000031", language_code="en")
    await create_customer(chat, "Twice Logistics", "13912340031")
    replies_before = len(chat.texts())
    await asyncio.sleep(0.3)  # let the second deliveries arrive and be recognised
    assert running_bot.api.faults.injected["redelivered"] >= 10
    assert len(chat.texts()) == replies_before  # nothing answered twice
    async with running_bot.sessionmaker() as session:
        count = (await session.execute(select(func.count()).select_from(Customer)
                                       .where(Customer.name == "Twice Logistics"))).scalar_one()
    assert count == 1
    rows = await inbox_rows(running_bot)
    assert {row["status"] for row in rows.values()} == {1}


async def test_apology_reaches_an_onboarded_user_in_their_language(running_bot: BotUnderTest, people: People,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 4: after the rollback `staff` is detached; the apology must still come, in the stored language, and
    the callback spinner must stop."""
    chat = await people.onboarded("sales_rep", "dlr-jinan", "13800000032", language_code="en")
    chat.user.user["language_code"] = "zh-hans"  # the client says Chinese, the staff record says English
    await chat.send("/language")
    from storage.repositories import AuditRepository

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("audit store down")

    monkeypatch.setattr(AuditRepository, "record", broken)
    message = chat.runner.api.sent_messages(chat.id)[-1]
    data = next(data for label, data in chat.inline_buttons() if data and data.endswith("en"))
    update_id = chat.user.press(message, data)
    await running_bot.processed(update_id)
    texts = chat.texts()
    assert any(RETRY_APOLOGY in t for t in texts) and any(PARKED_APOLOGY in t for t in texts)
    assert sum(RETRY_APOLOGY in t for t in texts) == 1  # said once, not once per attempt
    [press] = [u for u in running_bot.api.calls if u.method == "answerCallbackQuery" and u.ok]
    assert press.params["callback_query_id"]
    rows = await inbox_rows(running_bot)
    assert rows[update_id]["status"] == PARKED and "RuntimeError" in rows[update_id]["error"]
    assert running_bot.tracker.outcomes[update_id] == ["retry", "retry", "parked"]
    # The user is not blocked: the next update runs.
    monkeypatch.undo()
    assert text_of(await chat.send("/menu"))


async def test_rate_limited_reply_to_submit_keeps_the_submission(running_bot: BotUnderTest, people: People) -> None:
    """Finding 5: a 429 on the reply to Submit is waited out (retry_after) instead of rolling the customer back."""
    chat = await people.onboarded("sales_rep", "dlr-jinan", "13800000033", language_code="en")
    await chat.send("/newcustomer")
    await chat.send("Patient Haulage")
    await chat.send("13912340033")
    for field, code in (("nature", "individual_business"), ("level", "gold"), ("sales_mode", "distribution"),
                        ("vehicle_type", "dump"), ("industry", "coal"), ("source", "mine")):
        await pick(chat, field, code)
    await chat.send("5")
    await tap_data(chat, latest_province_default(chat))
    await chat.send("Xinji")
    await pick(chat, "stage", "collect")
    faults = running_bot.api.faults
    faults.retry_after = 1
    faults.rate_limit_share = 1.0

    def once(name: str, params: dict) -> None:
        if faults.injected["429"] >= 1:
            faults.rate_limit_share = 0.0

    faults.hooks.append(once)
    replies = await pick(chat, "confirm", "submit")
    assert faults.injected["429"] == 1
    assert replies, "the confirmation arrived after retry_after"
    refused = [c for c in running_bot.api.calls_to(chat.id, "sendMessage") if c.status == 429]
    assert refused and refused[-1].params["text"] in [reply["text"] for reply in replies]
    async with running_bot.sessionmaker() as session:
        names = (await session.execute(select(Customer.name))).scalars().all()
    assert names.count("Patient Haulage") == 1


async def test_reply_that_keeps_failing_is_sent_after_commit(running_bot: BotUnderTest, people: People) -> None:
    """A reply refused past the retries: the submission commits anyway and the reply is sent later, once."""
    chat = await people.onboarded("sales_rep", "dlr-jinan", "13800000035", language_code="en")
    faults = running_bot.api.faults
    faults.retry_after = 60  # longer than the bot waits in a handler
    faults.rate_limit_share = 1.0
    update_id = chat.user.send_text("/help")
    await running_bot.processed(update_id)
    rows = await inbox_rows(running_bot)
    assert rows[update_id]["status"] == 1 and json.loads(rows[update_id]["pending_reply"])
    [refused] = [c for c in running_bot.api.calls_to(chat.id, "sendMessage") if c.status == 429]
    faults.rate_limit_share = 0.0
    sent = await running_bot.api.wait_for_call(lambda call: call.method == "sendMessage" and call.ok
                                               and call.chat_id == chat.id and call.at > refused.at, timeout=5)
    assert sent.params["text"] == refused.params["text"]
    await asyncio.sleep(1.5)
    rows = await inbox_rows(running_bot)
    assert rows[update_id]["pending_reply"] is None
    assert [c.params["text"] for c in running_bot.api.calls_to(chat.id, "sendMessage")
            if c.ok].count(refused.params["text"]) == 1


async def test_locked_database_apologises_and_retries(running_bot: BotUnderTest, people: People) -> None:
    """Finding 9: SQLite busy past its timeout inside an update: the user is told, and the update is handled again
    once the lock is gone. Its reply went out before the apology, so the retry sends it again: the chat ends with
    the answer, not with "I will try it again" (the fault run found a user left below an apology, his prompt's
    buttons above it). The lock is taken while the handler runs, so the transaction's first write (here the done
    mark) waits for it, as an INSERT of a submission would."""
    chat = await people.onboarded("sales_rep", "dlr-jinan", "13800000036", language_code="en")
    path = running_bot.settings.sqlite_path
    locked = threading.Event()
    release = threading.Event()

    def hold_lock() -> None:
        connection = sqlite3.connect(path, timeout=5)
        connection.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(10)
        connection.rollback()
        connection.close()

    holder = threading.Thread(target=hold_lock)

    def lock_during_reply(name: str, params: dict) -> None:
        if name == "sendMessage" and params.get("chat_id") == chat.id and not holder.is_alive() and not locked.is_set():
            holder.start()
            locked.wait(5)

    running_bot.api.faults.hooks.append(lock_during_reply)
    try:
        update_id = chat.user.send_text("/help")
        await running_bot.api.wait_for_call(
            lambda call: call.method == "sendMessage" and call.chat_id == chat.id
            and RETRY_APOLOGY in call.params.get("text", ""), timeout=10)
        await asyncio.sleep(1.0)
    finally:
        release.set()
        await asyncio.to_thread(holder.join)
    await running_bot.processed(update_id)
    rows = await inbox_rows(running_bot)
    assert rows[update_id]["status"] == 1 and rows[update_id]["attempts"] >= 2
    texts = chat.texts()
    help_text = texts[-3]
    assert RETRY_APOLOGY in texts[-2] and texts[-1] == help_text and texts.count(help_text) == 2
    assert sum(RETRY_APOLOGY in t for t in texts) == 1
    assert text_of(await chat.send("/menu"))  # and the user goes on


async def test_inbox_lists_parked_updates_masked(running_bot: BotUnderTest) -> None:
    assert running_bot.storage is not None
    inbox = Inbox(running_bot.storage.engine)
    await inbox.store([{"update_id": 990001, "message": {"message_id": 1, "date": 0, "text": "call 13912345678",
                                                         "chat": {"id": 5, "type": "private"},
                                                         "from": {"id": 5, "is_bot": False, "first_name": "X"}}}])
    async with running_bot.storage.engine.begin() as connection:
        await connection.execute(text("UPDATE inbox SET status = 2, attempts = 3, "
                                      "error = 'ValueError: bad +8613912345678' WHERE update_id = 990001"))
    [row] = await inbox.listing(PARKED)
    line = describe(row)
    assert "#990001 parked user 5" in line and "ValueError" in line
    assert "13912345678" not in line and "2345678" not in line


async def test_webhook_checks_the_secret_and_stores_before_answering(api: LocalBotAPI, settings: Settings,
                                                                     unused_tcp_port: int) -> None:
    settings = settings.model_copy(update={"webhook_host": "127.0.0.1", "webhook_port": unused_tcp_port,
                                           "webhook_secret": "s3cret-token_for-tests"})
    runner = BotUnderTest(api, settings)
    await runner.start()
    await runner._stop_polling()  # webhook mode instead
    assert runner.intake is not None and runner.bot is not None
    url = f"http://127.0.0.1:{unused_tcp_port}/tg/hook"
    server = asyncio.create_task(serve_webhook(runner.intake, runner.bot, settings, url))
    try:
        await api.wait_for_call(lambda call: call.method == "setWebhook")
        await asyncio.sleep(0.2)
        user = api.user(424242, "Hook", language_code="en")
        update_id = user.send_text("/start")
        await runner.processed(update_id)
        assert api.sent_messages(user.id)
        forged = {"update_id": 777001, "message": {"message_id": 9, "date": 0, "text": "/start",
                                                   "chat": {"id": 9, "type": "private"},
                                                   "from": {"id": 9, "is_bot": False, "first_name": "F"}}}
        async with ClientSession() as http:
            for headers in ({}, {SECRET_HEADER: "wrong"}):
                async with http.post(url, data=json.dumps(forged), headers={**headers,
                                     "content-type": "application/json"}) as response:
                    assert response.status == 401
        rows = await inbox_rows(runner)
        assert 777001 not in rows and rows[update_id]["status"] == 1
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
        await runner.stop()


async def test_answer_classes_are_built_once(running_bot: BotUnderTest, people: People,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """aiogram reads each answer as `Response[Message]`; pydantic holds that class only weakly, so a garbage
    collection between two replies made the second rebuild its class and schema (a quarter of the bot's CPU)."""
    import gc

    from pydantic._internal import _generics

    chat = await people.onboarded("sales_rep", "dlr-jinan", "13800000037", language_code="en")
    assert text_of(await chat.send("/help"))
    built: list[str] = []
    original = _generics.create_generic_submodel

    def counting(name: str, *args: object) -> object:
        built.append(name)
        return original(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(_generics, "create_generic_submodel", counting)
    for _ in range(2):
        gc.collect()
        assert text_of(await chat.send("/help"))
    assert built == []


async def test_a_claim_lost_at_the_done_mark_loses_no_submission(running_bot: BotUnderTest, people: People,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The intake's own claim ran out while Submit was handled (the database held locked past the renewals), and
    the re-claim's new token reached the handler only after its done mark had missed: ClaimLost, the writes roll
    back. The error handler used to swallow it, so the intake marked the update done without them: the customer
    was never stored and the user told nothing (found by the SQLite fault run). Now the update is handled again."""
    chat = await people.onboarded("sales_rep", "dlr-jinan", "13800000038", language_code="en")
    await chat.send("/newcustomer")
    await chat.send("Claimed Twice Haulage")
    await chat.send("13912340038")
    for field, code in (("nature", "individual_business"), ("level", "gold"), ("sales_mode", "distribution"),
                        ("vehicle_type", "dump"), ("industry", "coal"), ("source", "mine")):
        await pick(chat, field, code)
    await chat.send("5")
    await tap_data(chat, latest_province_default(chat))
    await chat.send("Xinji")
    await pick(chat, "stage", "collect")
    original = Inbox.done_step
    missed: list[int] = []

    def late_token(claim):  # type: ignore[no-untyped-def]
        if missed:
            return original(claim)
        missed.append(claim.update_id)
        token, claim.token = claim.token, "taken-over"  # as the database sees it: another token holds the row
        try:
            return original(claim)
        finally:
            claim.token = token  # the claim loop hands the running handler the new token a moment later

    monkeypatch.setattr(Inbox, "done_step", staticmethod(late_token))
    replies = await pick(chat, "confirm", "submit")
    assert missed, "the done mark missed once"
    assert replies and not any(RETRY_APOLOGY in reply.get("text", "") for reply in replies)
    assert running_bot.tracker.outcomes[missed[0]][-1] == "done"
    async with running_bot.sessionmaker() as session:
        names = (await session.execute(select(Customer.name))).scalars().all()
    assert names.count("Claimed Twice Haulage") == 1
