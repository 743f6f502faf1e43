"""Quiet hours at send time: a customer row claimed while the window was open but reached after it closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from bot.domain.playbook import default_playbook
from pushes.outbox import Recipient, enqueue
from storage.repositories import outbox as rows
from tests.pushes.support import TZ, rig


async def test_a_customer_row_reached_after_the_window_closed_waits_for_the_morning_uncounted(
        sqlite_url: str) -> None:
    window = default_playbook().schedule.quiet_hours
    assert window.send_until == "20:00" and window.send_from == "09:00"  # the moments below assume it
    clock = [datetime(2026, 3, 2, 19, 59, 50, tzinfo=TZ).astimezone(UTC)]
    async with rig(sqlite_url) as r:
        customer_chat, staff_chat = r.chats(2)
        async with r.sessionmaker() as session:
            for n in (1, 2, 3):
                await enqueue(session, key="test.note", params={"n": f"c{n}"}, idempotency_key=f"c{n}",
                              recipient=Recipient.customer(None, chat_id=customer_chat, locale="en"),
                              now=clock[0], expires_at=clock[0] + timedelta(minutes=30) if n == 2 else None)
            await enqueue(session, key="test.note", params={"n": "s"}, idempotency_key="s",
                          recipient=Recipient.staff(None, chat_id=staff_chat, locale="en"), now=clock[0])
            await session.commit()

        def window_closes(method: str, params: dict[str, Any]) -> None:  # the customer's first send ends after 20:00
            if int(params["chat_id"]) == customer_chat:
                clock[0] = datetime(2026, 3, 2, 20, 0, 5, tzinfo=TZ).astimezone(UTC)

        r.api.after_send.append(window_closes)
        dispatcher = r.dispatcher(clock=lambda: clock[0], quiet_hours=window)
        # drain returns at once: rows given back behind a held one leave the in-flight count too (they once
        # stayed in it, so drain waited out within_s and the dispatcher's room to claim shrank for good).
        report = await dispatcher.drain(within_s=30)
        texts = sorted(m["text"] for chat in (customer_chat, staff_chat) for m in r.api.sent_messages(chat))
        # The staff note goes whenever its lane gets to it; the customer's next rows are reached after 20:00.
        assert texts == ["note c1 [en]", "note s [en]"] and report.outcomes["sent"] == 2
        async with r.sessionmaker() as session:
            held = (await session.execute(text(
                "SELECT idempotency_key, status, due_at, attempts FROM outbox WHERE status = 'pending' "
                "ORDER BY idempotency_key"))).all()
            dropped = (await session.execute(text(
                "SELECT idempotency_key, last_error FROM outbox WHERE status = 'dropped'"))).all()
        morning = datetime(2026, 3, 3, 9, 0, tzinfo=TZ).astimezone(UTC)
        assert held and all(status == rows.PENDING and attempts == 0 for _key, status, _due, attempts in held)
        assert all(morning <= datetime.fromisoformat(str(due)).replace(tzinfo=UTC) < morning + timedelta(seconds=5)
                   for _key, _status, due, _attempts in held)
        assert [key for key, *_ in held] == ["c3"]
        assert dropped == [("c2", rows.QUIET_HOURS_EXPIRED)]  # it would have expired before the morning

        # 09:00 the next morning: the rest goes, each once, in order; the expired one never.
        clock[0] = morning + timedelta(seconds=10)
        r.api.after_send.remove(window_closes)
        await r.dispatcher(clock=lambda: clock[0], quiet_hours=window).drain(within_s=30)
        assert [m["text"] for m in r.api.sent_messages(customer_chat)] == [f"note c{n} [en]" for n in (1, 3)]
