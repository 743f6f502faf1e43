"""Rules checked when a push is sent, not only when it is written (issue 8, "pushes that are never lost"):

- quiet hours: a customer row that fell due while the bot was down overnight is not sent at night; it goes once
  when the sending window opens, or is dropped when it expires first. Staff pushes have no window.
- reachability: someone who had blocked the bot and writes to it again gets pushes again (the earlier rows,
  marked unreachable then, stay so).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import text

from app.operators import outbox_report
from bot.domain.playbook import default_playbook
from bot.services.push_rows import CustomerAddress, CustomerPush, PushWriter, StaffAddress
from pushes.outbox import Recipient, enqueue
from storage.repositories import outbox as rows
from storage.uow import UnitOfWork
from tests.conftest import People
from tests.flows.test_scheduled_pushes import SHANGHAI, add_customer, local
from tests.pushes import support  # noqa: F401  (registers the "test.note" push)
from tests.support.harness import BotUnderTest, Chat, text_of
from tests.support.pushes import deliver_pushes, outbox_rows


@pytest.fixture
def travel() -> Iterator[time_machine.Coordinates]:
    traveller = time_machine.travel(local(2026, 1, 5, 12), tick=True)
    coordinates = traveller.start()
    yield coordinates
    traveller.stop()


async def settled(runner: BotUnderTest) -> None:
    """The running bot's own dispatcher (as in production) has sent everything it may send now."""
    assert runner.outbox is not None
    assert await runner.outbox.settled(within_s=15)


async def staff_address(runner: BotUnderTest, phone: str) -> StaffAddress:
    async with UnitOfWork(runner.sessionmaker) as uow:
        staff = await uow.staff.by_phone(phone)
        assert staff is not None and staff.id is not None and staff.tg_user_id is not None
        return StaffAddress(staff.id, staff.tg_user_id, staff.locale)


def customer(customer_id: int, chat: Chat, locale: str) -> CustomerAddress:
    return CustomerAddress(customer_id, chat.id, None, locale, reminders_off=False, sms_opted_out=False)


async def test_customer_rows_due_before_a_night_down_wait_for_the_window_staff_rows_go(
        people: People, running_bot: BotUnderTest, travel: time_machine.Coordinates) -> None:
    window = default_playbook().schedule.quiet_hours
    opens_hour, opens_minute = (int(part) for part in window.send_from.split(":"))
    staff_chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13800000016", language_code="en")
    staff = await staff_address(running_bot, "+8613800000016")
    zh, en = people.user("Wang", "zh-hans"), people.user("Smith", "en")
    zh_id = await add_customer(running_bot, "Wang Wu", "+8613912345101", chat=zh, locale="zh_CN")
    en_id = await add_customer(running_bot, "John Smith", "+8613912345102", chat=en, locale="en")

    # At noon: reminders due 19:50 (inside the window, so written as they are), a greeting that means nothing
    # after 05:00 the next morning, and a note to the salesperson, due at the same time.
    evening = local(2026, 1, 5, 19, 50).astimezone(UTC)
    async with UnitOfWork(running_bot.sessionmaker) as uow:
        writer = PushWriter(uow.session, datetime.now(UTC))
        reminders = [CustomerPush(customer(cid, chat, locale), "customer.maintenance",
                                  {"n": 1, "day": "2026-01-20", "customer": cid}, f"maint:{cid}:1", evening)
                     for cid, chat, locale in ((zh_id, zh, "zh_CN"), (en_id, en, "en"))]
        greeting = CustomerPush(customer(en_id, en, "en"), "customer.greeting",
                                {"festival": "spring_festival", "dealer": "Hengtong"}, f"greeting:{en_id}:x",
                                evening, expires_at=local(2026, 1, 6, 5).astimezone(UTC))
        outcome = await writer.to_customers([*reminders, greeting], default_playbook().schedule, SHANGHAI)
        assert (outcome.queued, outcome.deferred) == (3, 0)
        writer.to_staff(staff, "test.note", {"n": "evening"}, "note:evening", due_at=evening)
        await writer.flush()
        await uow.commit()
    await settled(running_bot)
    assert running_bot.api.sent_messages(zh.id) == running_bot.api.sent_messages(en.id) == []

    # The bot was down from before 19:50 until 02:00: at 02:00 only the salesperson's note goes.
    travel.move_to(local(2026, 1, 6, 2, 0))
    await settled(running_bot)
    assert await deliver_pushes(running_bot) == 0  # `fieldbot outbox --send` holds them too
    assert "note evening [en]" in text_of(running_bot.api.sent_messages(staff_chat.id))
    assert running_bot.api.sent_messages(zh.id) == running_bot.api.sent_messages(en.id) == []
    opens = local(2026, 1, 6, opens_hour, opens_minute).astimezone(UTC)
    held = await outbox_rows(running_bot, "customer.maintenance")
    assert [(r["status"], r["due_at"], r["attempts"]) for r in held] == [("pending", opens, 0)] * 2
    [dropped] = await outbox_rows(running_bot, "customer.greeting")
    assert (dropped["status"], dropped["last_error"]) == ("dropped", rows.QUIET_HOURS_EXPIRED)

    # After the greeting's expiry, a minute before the window opens: still nothing.
    travel.move_to(opens - timedelta(minutes=1))
    await settled(running_bot)
    assert running_bot.api.sent_messages(zh.id) == running_bot.api.sent_messages(en.id) == []

    # When it opens: each reminder once, in the customer's language; the greeting never.
    travel.move_to(opens + timedelta(seconds=5))
    await settled(running_bot)
    assert await deliver_pushes(running_bot) == 0
    assert len(running_bot.api.sent_messages(zh.id)) == len(running_bot.api.sent_messages(en.id)) == 1
    assert "第1次保养" in text_of(running_bot.api.sent_messages(zh.id))
    english = text_of(running_bot.api.sent_messages(en.id))
    assert "service" in english.lower() and "Spring" not in english
    assert {r["status"] for r in await outbox_rows(running_bot, "customer.maintenance")} == {"sent"}


async def note_to(runner: BotUnderTest, recipient: Recipient, n: str) -> None:
    async with runner.sessionmaker() as session:
        await enqueue(session, key="test.note", params={"n": n}, recipient=recipient, idempotency_key=f"note:{n}")
        await session.commit()


async def unreachable_addresses(runner: BotUnderTest) -> list[str]:
    async with runner.sessionmaker() as session:
        return [r[0] for r in await session.execute(text("SELECT address FROM unreachable_recipient"))]


async def test_staff_who_blocked_the_bot_and_write_again_get_pushes_again(
        people: People, running_bot: BotUnderTest) -> None:
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13800000016", language_code="en")
    staff = await staff_address(running_bot, "+8613800000016")
    recipient = Recipient.staff(staff.id, chat_id=chat.id)
    chat.user.block()
    await note_to(running_bot, recipient, "while-blocked")
    await settled(running_bot)
    await note_to(running_bot, recipient, "also-blocked")  # not even tried: the address is known unreachable
    await settled(running_bot)
    assert await unreachable_addresses(running_bot) == [str(chat.id)]
    assert "unreachable recipients:\n  telegram staff " in await outbox_report(running_bot.sessionmaker)
    tries = [c for c in running_bot.api.calls_to(chat.id, "sendMessage") if "note" in str(c.params.get("text"))]
    assert len(tries) == 1

    # They unblock the bot and open the menu: that update clears the mark.
    chat.user.unblock()
    assert await chat.send("/menu")
    assert await unreachable_addresses(running_bot) == []
    assert "unreachable recipients" not in await outbox_report(running_bot.sessionmaker)

    await note_to(running_bot, recipient, "after")
    await settled(running_bot)
    notes = [m["text"] for m in running_bot.api.sent_messages(chat.id) if m.get("text", "").startswith("note ")]
    assert notes == ["note after [en]"]  # the rows due while they were blocked are not resurrected
    statuses = {r["idempotency_key"]: r["status"] for r in await outbox_rows(running_bot, "test.note")}
    assert statuses == {"note:while-blocked": "unreachable", "note:also-blocked": "unreachable",
                        "note:after": "sent"}


async def test_a_linked_customer_who_blocked_the_bot_is_reachable_after_writing_again(
        people: People, running_bot: BotUnderTest, travel: time_machine.Coordinates) -> None:
    owner = people.user("Zhao", "en")
    customer_id = await add_customer(running_bot, "Zhao Liu", "+8613912345111", chat=owner, locale="en")
    recipient = Recipient.customer(customer_id, chat_id=owner.id)
    owner.user.block()
    await note_to(running_bot, recipient, "blocked")
    await settled(running_bot)
    assert await unreachable_addresses(running_bot) == [str(owner.id)]

    owner.user.unblock()
    assert "Reminders are on" in text_of(await owner.send("/start"))  # any update of theirs would do
    assert await unreachable_addresses(running_bot) == []
    await note_to(running_bot, recipient, "back")
    await settled(running_bot)
    notes = [m["text"] for m in running_bot.api.sent_messages(owner.id) if m.get("text", "").startswith("note ")]
    assert notes == ["note back [en]"]


async def test_a_sender_who_never_blocked_costs_no_extra_statement(people: People, running_bot: BotUnderTest
                                                                  ) -> None:
    """The reachability check rides on the sender query: no DELETE unless the sender was marked unreachable."""
    from tests.flows.test_fast_path import counting

    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13800000016", language_code="en")
    with counting(running_bot) as counts:
        await chat.send("/menu")
    statements = [sql.lower() for t in counts.handler_transactions() for sql in t]
    assert not any("unreachable_recipient" in sql and sql.lstrip().startswith("delete") for sql in statements)
    assert sum("exists" in sql and "unreachable_recipient" in sql for sql in statements) == 1


async def test_linking_clears_an_old_mark_on_the_account(people: People, running_bot: BotUnderTest) -> None:
    """Someone not linked now (so the per-update check has no record to go by) whose account was marked
    unreachable under an earlier record: linking it again is them talking to the bot, so the mark goes."""
    from tests.flows.test_customer_reach import CUSTOMER_PHONE, link_code
    from tests.flows.test_customer_reach import add_customer as add_unlinked

    salesperson = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13800000016")
    customer = await add_unlinked(running_bot, "+8613800000016")
    owner = people.user("Wang", "en")
    async with running_bot.sessionmaker() as session:
        await rows.mark_unreachable(session, channel="telegram", address=str(owner.id), recipient_kind="customer",
                                    recipient_id=None, reason="Forbidden: bot was blocked by the user",
                                    now=datetime.now(UTC))
        await session.commit()
    await owner.send(f"/start {await link_code(salesperson, customer.id)}")  # type: ignore[arg-type]
    assert await unreachable_addresses(running_bot) == [str(owner.id)]  # a stranger so far: nothing to go by
    assert "Done!" in text_of(await owner.share_contact(CUSTOMER_PHONE))
    assert await unreachable_addresses(running_bot) == []
