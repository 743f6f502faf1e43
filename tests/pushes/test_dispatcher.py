"""The dispatcher against a Bot API that enforces Telegram's limits and fails a share of calls."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from pushes.outbox import Recipient, enqueue
from pushes.sms import RecordingSmsGateway
from tests.pushes.support import rig


async def test_every_message_arrives_once_through_429s_and_500s_and_no_chat_gets_two_within_a_second(
        sqlite_url: str) -> None:
    async with rig(sqlite_url) as r:
        r.api.fault_429_share, r.api.fault_500_share = 0.35, 0.15
        chats = r.chats(12)
        expected = await r.enqueue_notes(chats, per_chat=3)
        report = await r.dispatcher().drain(within_s=120)
        delivered = r.delivered()
        assert sorted(delivered) == sorted(expected), "every message arrived"
        assert set(delivered.values()) == {1}, "and none twice"
        timing = r.api.timing()
        assert timing.injected_429 > 0 and timing.injected_500 > 0, "the faults really happened"
        assert timing.rejected_429 == 0, "the dispatcher itself never went over a limit"
        assert timing.min_gap_same_chat_s is not None and timing.min_gap_same_chat_s >= 1.0
        assert await r.statuses() == {"sent": 36}
        assert report.outcomes["sent"] == 36


async def test_one_chat_gets_its_messages_in_order_a_second_apart(sqlite_url: str) -> None:
    async with rig(sqlite_url) as r:
        [chat] = r.chats(1)
        expected = await r.enqueue_notes([chat], per_chat=4)
        await r.dispatcher().drain(within_s=60)
        assert [m["text"] for m in r.api.sent_messages(chat)] == expected
        assert r.api.timing().min_gap_same_chat_s >= 1.0


async def test_blocked_chat_is_marked_unreachable_and_nothing_more_is_tried(sqlite_url: str) -> None:
    async with rig(sqlite_url) as r:
        blocked, fine = r.chats(2)
        r.api.user(blocked).block()
        await r.enqueue_notes([blocked, fine], per_chat=2)
        await r.dispatcher().drain(within_s=60)
        assert await r.statuses() == {"sent": 2, "unreachable": 2}
        tries = [c for c in r.api.calls if c.method == "sendMessage" and c.chat_id == blocked]
        assert len(tries) == 1, "after the first refusal the second row is not even tried"
        async with r.sessionmaker() as session:
            reason = (await session.execute(text(
                "SELECT reason FROM unreachable_recipient WHERE address = :a"), {"a": str(blocked)})).scalar_one()
        assert "blocked" in reason
        # Someone unknown to Telegram (chat not found) is unreachable too.
        async with r.sessionmaker() as session:
            await enqueue(session, key="test.note", params={"n": "ghost"},
                          recipient=Recipient.staff(None, chat_id=999_999_999), idempotency_key="ghost")
            await session.commit()
        await r.dispatcher().drain(within_s=30)
        assert (await r.statuses())["unreachable"] == 3


async def test_downtime_late_rows_are_sent_once_unless_expired(sqlite_url: str) -> None:
    """After the bot was down, due rows go out on start: a service reminder still, a greeting a day late not."""
    async with rig(sqlite_url) as r:
        reminder_chat, greeting_chat = r.chats(2)
        yesterday = datetime.now(UTC) - timedelta(days=1, hours=2)
        async with r.sessionmaker() as session:
            await enqueue(session, key="test.note", params={"n": "reminder"},
                          recipient=Recipient.staff(None, chat_id=reminder_chat), idempotency_key="reminder",
                          due_at=yesterday, now=yesterday)
            await enqueue(session, key="test.note", params={"n": "greeting"},
                          recipient=Recipient.staff(None, chat_id=greeting_chat), idempotency_key="greeting",
                          due_at=yesterday, expires_at=yesterday + timedelta(days=1), now=yesterday)
            await enqueue(session, key="test.note", params={"n": "stale", "obsolete": True},
                          recipient=Recipient.staff(None, chat_id=greeting_chat), idempotency_key="stale",
                          due_at=yesterday, now=yesterday)
            await session.commit()
        dispatcher = r.dispatcher(poll_seconds=0.2)
        dispatcher.start()
        await r.api.wait_for_call(lambda call: call.method == "sendMessage" and call.ok, timeout=10)
        await asyncio.sleep(0.5)
        await dispatcher.stop()
        # A second start (another restart) sends nothing again.
        await r.dispatcher().drain(within_s=10)
        assert r.delivered() == {"note reminder [zh_CN]": 1}
        async with r.sessionmaker() as session:
            result = await session.execute(text("SELECT idempotency_key, status, last_error FROM outbox "
                                                "ORDER BY idempotency_key"))
            rows = {key: (status, error) for key, status, error in result}
        assert rows["reminder"][0] == "sent"
        assert rows["greeting"] == ("dropped", "expired before it could be sent")
        assert rows["stale"] == ("dropped", "no longer applies")


async def test_enqueue_wakes_the_dispatcher_after_commit(sqlite_url: str) -> None:
    async with rig(sqlite_url) as r:
        [chat] = r.chats(1)
        dispatcher = r.dispatcher(poll_seconds=600)  # it would not poll again within this test
        dispatcher.start()
        await asyncio.sleep(0.3)
        async with r.sessionmaker() as session:
            await enqueue(session, key="test.note", params={"n": "now"},
                          recipient=Recipient.staff(None, chat_id=chat, locale="en"), idempotency_key="now")
            await asyncio.sleep(0.3)
            assert r.delivered() == {}, "nothing is sent before the commit"
            await session.commit()
        await r.api.wait_for_call(lambda call: call.method == "sendMessage" and call.ok, timeout=5)
        await dispatcher.stop()
        assert r.delivered() == {"note now [en]": 1}


async def test_sms_waits_without_a_gateway_and_goes_out_with_one(sqlite_url: str) -> None:
    from collections.abc import Mapping
    from typing import Any

    from pushes.outbox import RenderContext, SmsContent, sms_template

    @sms_template("test.sms")
    def sms(params: Mapping[str, Any], ctx: RenderContext) -> SmsContent:
        return SmsContent("service_due", {"date": params["date"]})

    async with rig(sqlite_url) as r:
        async with r.sessionmaker() as session:
            await enqueue(session, key="test.sms", params={"date": "12-24"}, channel="sms",
                          recipient=Recipient.customer(3, phone="+8613800138000"), idempotency_key="sms:3")
            await session.commit()
        await r.dispatcher().drain(within_s=10)
        assert await r.statuses() == {"no_gateway": 1}
        gateway = RecordingSmsGateway()
        await r.dispatcher(sms=gateway, sms_signature="【示例】", sms_codes={"service_due": "SMS_0042"}  # i18n-ok
                           ).drain(within_s=10)
        assert gateway.sent == [{"phone": "+8613800138000", "template": "SMS_0042", "params": {"date": "12-24"},
                                 "signature": "【示例】"}]  # i18n-ok
        assert await r.statuses() == {"sent": 1}
