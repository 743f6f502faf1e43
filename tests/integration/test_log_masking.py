"""No log line carries personal data: not a traceback, not SQL parameters, not an update aiogram couldn't read."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.config import Settings
from bot.logs import make_handler, mask_personal_data
from sandbox.botapi import LocalBotAPI
from storage.engine import make_engine
from tests.support.harness import BotUnderTest

PHONE, NAME = "+8613912345678", "Wang Secretname"
log = logging.getLogger("fieldbot.test")


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """What the production handler writes, while the test runs."""
    stream = io.StringIO()
    handler = make_handler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def failed_insert(engine: AsyncEngine) -> IntegrityError:
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE customer (name TEXT NOT NULL, phone TEXT UNIQUE)"))
    insert = text("INSERT INTO customer (name, phone) VALUES (:name, :phone)")
    async with engine.begin() as connection:
        await connection.execute(insert, {"name": NAME, "phone": PHONE})
    try:
        async with engine.begin() as connection:
            await connection.execute(insert, {"name": NAME, "phone": PHONE})
    except IntegrityError as error:
        return error
    raise AssertionError("the duplicate phone was accepted")


async def test_a_failed_insert_logs_no_parameters(tmp_path: Path, logged: io.StringIO) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        error = await failed_insert(engine)
    finally:
        await engine.dispose()
    assert PHONE not in str(error) and NAME not in str(error)  # the engine hides them from the exception itself
    try:
        raise RuntimeError("saving the customer failed") from error
    except RuntimeError:
        log.exception("update %s failed", 7)
    output = logged.getvalue()
    assert "IntegrityError" in output and "UNIQUE constraint failed: customer.phone" in output
    assert PHONE not in output and NAME not in output and "39123" not in output


async def test_parameters_are_cut_from_a_traceback_even_when_an_engine_shows_them(tmp_path: Path,
                                                                                 logged: io.StringIO) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")  # parameters not hidden
    try:
        error = await failed_insert(engine)
    finally:
        await engine.dispose()
    assert NAME in str(error)  # what would have been logged
    try:
        raise error
    except IntegrityError:
        log.exception("insert failed")
    output = logged.getvalue()
    assert "[parameters hidden]" in output and "INSERT INTO customer" in output
    assert NAME not in output and PHONE not in output


def test_an_exception_carrying_a_phone_is_masked_in_the_traceback(logged: io.StringIO) -> None:
    def save(phone: str) -> None:
        raise ValueError(f"no staff with phone {phone}")

    try:
        save(PHONE)
    except ValueError:
        log.exception("onboarding failed for %s", PHONE)
    log.warning("stack", stack_info=True, extra={})
    output = logged.getvalue()
    assert "ValueError: no staff with phone +86139****5678" in output
    assert "onboarding failed for +86139****5678" in output and PHONE not in output


def test_telegram_object_dumps_lose_names_and_texts() -> None:
    dumped = ("Message(message_id=5, from_user=User(id=42, first_name='Wang', last_name=\"Li\", username='wli'), "
              "text='call me on 13912345678', contact=Contact(phone_number='+8613912345678'))")
    masked = mask_personal_data(dumped)
    assert "Wang" not in masked and "Li\"" not in masked and "wli" not in masked and "call me" not in masked
    assert "13912345678" not in masked and "message_id=5" in masked and "id=42" in masked
    detail = 'duplicate key value violates unique constraint\nDETAIL:  Key (phone)=(+8613912345678) already exists.'
    assert mask_personal_data(detail).endswith("Key (phone)=(…) already exists.")
    as_json = '{"first_name": "Wang", "text": "hello \\"there\\"", "chat": {"id": 1}}'
    assert mask_personal_data(as_json) == '{"first_name": "…", "text": "…", "chat": {"id": 1}}'


async def test_an_update_aiogram_cannot_read_is_not_logged_whole(api: LocalBotAPI, settings: Settings,
                                                                 logged: io.StringIO) -> None:
    """An update aiogram's parser refuses is stored as it came and parked on its own: it does not come back with every
    getUpdates and hold up everyone else's updates, and nothing of what it held reaches the log or the inbox."""
    runner = BotUnderTest(api, settings)
    await runner.start()
    try:
        # A message without its chat: aiogram's parser refuses the whole batch and pydantic quotes the message.
        bad = api.push_update({"message": {"message_id": 1, "date": 1764547200, "text": f"I am {NAME}, {PHONE}",
                                           "from": {"id": 77, "is_bot": False, "first_name": NAME},
                                           "contact": {"phone_number": PHONE, "first_name": NAME}}})
        stranger = api.user(78, first_name="Next")
        after = stranger.send_text("/start")  # someone else's update, right behind it
        await runner.processed(after)
        assert any(m.get("chat", {}).get("id") == 78 for m in api.sent_messages(78))
        assert runner._task is not None and not runner._task.done()
        assert runner.storage is not None
        async with runner.storage.engine.connect() as connection:
            row = (await connection.execute(text("SELECT status, attempts, error FROM inbox WHERE update_id = :id"),
                                            {"id": bad})).one()
    finally:
        await runner.stop()
    assert row.status == 2 and row.attempts == 1  # parked at once: another attempt reads it no better
    assert "can't read this update" in row.error and "message.chat" in row.error
    assert NAME not in row.error and PHONE not in row.error and "39123" not in row.error
    output = logged.getvalue()
    assert NAME not in output and PHONE not in output and "39123" not in output
