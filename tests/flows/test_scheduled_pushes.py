"""The scheduled pushes under a controlled clock (time-machine): each fires once, at the right local time, in the
recipient's language, to the right person, over the local Bot API or through a fake SMS gateway; quiet hours,
the frequency cap and opt-outs hold."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import text

from bot.domain.playbook import default_playbook
from bot.services.clock import system_clock
from bot.services.customer_reach import CustomerReachService
from pushes.reach import Booking
from pushes.schedule import add_daily_jobs, run_all, run_job
from pushes.sms import RecordingSmsGateway
from storage.models import Customer, ServiceBooking, Visit
from storage.repositories import outbox as rows
from storage.uow import UnitOfWork
from tests.conftest import People
from tests.support.harness import BotUnderTest, Chat, text_of
from tests.support.pushes import deliver_pushes, outbox_rows

SHANGHAI = ZoneInfo("Asia/Shanghai")
TEMPLATES = {"greeting": "SMS_900001", "maintenance": "SMS_900002", "appointment": "SMS_900003"}


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def travel() -> Iterator[time_machine.Coordinates]:
    """Moves the wall clock (and so the project's system_clock) to a moment; ticks on from there."""
    traveller = time_machine.travel(local(2026, 1, 1, 12), tick=True)
    coordinates = traveller.start()
    yield coordinates
    traveller.stop()


def move(travel: time_machine.Coordinates, moment: datetime) -> None:
    travel.move_to(moment)


@pytest.fixture
def sms(running_bot: BotUnderTest) -> RecordingSmsGateway:
    running_bot.settings.sms_templates = dict(TEMPLATES)
    running_bot.settings.sms_signature = "Brand"
    return RecordingSmsGateway()


async def dealer_and_owner(runner: BotUnderTest, owner_phone: str = "+8613800000016") -> tuple[int, int, str]:
    async with UnitOfWork(runner.sessionmaker) as uow:
        owner = await uow.staff.by_phone(owner_phone)
        assert owner is not None
        unit = await uow.org.get(owner.org_unit_id)
        assert unit is not None
        return owner.id, unit.id, unit.path  # type: ignore[return-value]


async def add_customer(runner: BotUnderTest, name: str, phone: str | None, *, chat: Chat | None = None,
                       locale: str | None = None, **fields: object) -> int:
    owner_id, unit_id, path = await dealer_and_owner(runner)
    async with UnitOfWork(runner.sessionmaker) as uow:
        customer = await uow.customers.add(Customer(
            name=name, phone=phone, nature="individual", owner_staff_id=owner_id, dealer_unit_id=unit_id,
            org_path=path, stage="maintain", tg_user_id=chat.id if chat else None, locale=locale, **fields))
        await uow.commit()
        return customer.id  # type: ignore[return-value]


async def job(runner: BotUnderTest, name: str) -> object:
    return await run_job(name, runner.sessionmaker, system_clock, runner.settings.tz)


async def test_spring_festival_greeting_once_at_local_time_in_each_language(
        people: People, running_bot: BotUnderTest, travel: time_machine.Coordinates, sms: RecordingSmsGateway) -> None:
    zh = people.user("Wang", "zh-hans")
    en = people.user("Smith", "en")
    zh_id = await add_customer(running_bot, "Wang Wu", "+8613912345001", chat=zh, locale="zh_CN")
    en_id = await add_customer(running_bot, "John Smith", "+8613912345002", chat=en, locale="en")
    sms_id = await add_customer(running_bot, "Li Si", "+8613912345003")
    await add_customer(running_bot, "Opted Out", "+8613912345004", sms_opt_out_at=datetime(2026, 1, 1, tzinfo=UTC))
    await add_customer(running_bot, "Stopped", "+8613912345005", chat=people.user("Stop"), reminders_off=True)

    # The eve of Spring Festival 2027 (6 February, by the lunar calendar): nothing.
    move(travel, local(2027, 2, 5, 9, 30))
    await job(running_bot, "greetings")
    assert await outbox_rows(running_bot, "customer.greeting") == []

    # The morning of the festival, before the send time: rows are written, due at 09:30 local.
    move(travel, local(2027, 2, 6, 0, 5))
    await job(running_bot, "greetings")
    await job(running_bot, "greetings")  # a second run (another process, a restart) writes nothing new
    greeting_rows = await outbox_rows(running_bot, "customer.greeting")
    assert sorted((r["recipient_id"], r["channel"]) for r in greeting_rows) == sorted(
        [(zh_id, "telegram"), (en_id, "telegram"), (sms_id, "sms")])
    assert {r["idempotency_key"] for r in greeting_rows} == {
        f"greeting:{cid}:spring_festival:2027" for cid in (zh_id, en_id, sms_id)}
    assert {r["due_at"] for r in greeting_rows} == {local(2027, 2, 6, 9, 30).astimezone(UTC)}

    assert await deliver_pushes(running_bot, sms=sms) == 0  # not yet due
    move(travel, local(2027, 2, 6, 9, 31))
    assert await deliver_pushes(running_bot, sms=sms) == 3
    assert await deliver_pushes(running_bot, sms=sms) == 0  # sent once
    assert text_of(running_bot.api.sent_messages(zh.id)) == \
        "春节快乐！石家庄恒通商用车祝您和家人身体健康，出车平安！"  # i18n-ok
    assert "Happy Spring Festival! 石家庄恒通商用车 wishes you" in text_of(  # i18n-ok
        running_bot.api.sent_messages(en.id))
    assert sms.sent == [{"phone": "+8613912345003", "template": "SMS_900001",
                         "params": {"festival": "春节", "dealer": "石家庄恒通商用车"},  # i18n-ok
                         "signature": "Brand"}]


async def test_maintenance_reminder_button_books_and_quiet_hours_hold(
        people: People, running_bot: BotUnderTest, travel: time_machine.Coordinates, sms: RecordingSmsGateway) -> None:
    rule = default_playbook().schedule.maintenance
    owner = people.user("Zhao", "zh-hans")
    purchase = date(2026, 3, 20)
    linked = await add_customer(running_bot, "Zhao Liu", "+8613912345011", chat=owner, locale="zh_CN",
                                purchase_date=purchase)
    by_sms = await add_customer(running_bot, "Qian Qi", "+8613912345012", purchase_date=purchase)
    first_service = date(2026, 4, 20)
    reminder_day = first_service - timedelta(days=rule.remind_days_before)

    # The job runs late in the evening (after a restart at night): the reminder waits for 09:00 next morning.
    move(travel, local(reminder_day.year, reminder_day.month, reminder_day.day, 21, 0))
    await job(running_bot, "maintenance")
    found = await outbox_rows(running_bot, "customer.maintenance")
    assert sorted((r["recipient_id"], r["idempotency_key"]) for r in found) == sorted(
        [(linked, f"maint:{linked}:1"), (by_sms, f"maint:{by_sms}:1")])
    next_morning = reminder_day + timedelta(days=1)
    assert {r["due_at"] for r in found} == {
        local(next_morning.year, next_morning.month, next_morning.day, 9).astimezone(UTC)}
    assert all(r["expires_at"] is None for r in found)  # service reminders don't expire

    move(travel, local(next_morning.year, next_morning.month, next_morning.day, 8, 59))
    assert await deliver_pushes(running_bot, sms=sms) == 0
    move(travel, local(next_morning.year, next_morning.month, next_morning.day, 9, 1))
    # The next day's run (and a catch-up) finds the same service number: nothing new.
    await job(running_bot, "maintenance")
    assert len(await outbox_rows(running_bot, "customer.maintenance")) == 2
    assert await deliver_pushes(running_bot, sms=sms) == 2
    reminder = text_of(running_bot.api.sent_messages(owner.id))
    assert "第1次保养" in reminder and "2026年4月20日" in reminder
    assert sms.sent[0]["template"] == "SMS_900002"
    assert sms.sent[0]["params"] == {"n": "1", "day": "4月20日", "dealer": "石家庄恒通商用车"}  # i18n-ok

    # The reminder's button books the service.
    assert owner.inline_buttons() == [("📅 预约保养", Booking(customer=linked, kind="maintenance").pack())]
    days = await owner.tap("📅 预约保养")
    assert "保养：请选择日期" in text_of(days)


async def test_frequency_cap_and_sms_opt_out(people: People, running_bot: BotUnderTest,
                                             travel: time_machine.Coordinates, sms: RecordingSmsGateway) -> None:
    cap = default_playbook().schedule.frequency_cap
    busy = await add_customer(running_bot, "Busy", "+8613912345021")
    quitter = await add_customer(running_bot, "Quitter", "+8613912345022")
    festival = local(2026, 10, 1, 9, 30)
    move(travel, festival - timedelta(hours=2))
    # The busy customer already had `cap.pushes` pushes within the last days.
    async with running_bot.sessionmaker() as session:
        now = datetime.now(UTC)
        await rows.insert_many(session, [rows.row_values(
            recipient_kind="customer", recipient_id=busy, chat_id=None, phone="+8613912345021", channel="sms",
            locale=None, key="customer.maintenance", params={"n": i}, idempotency_key=f"earlier:{i}",
            due_at=now - timedelta(days=1, hours=i), expires_at=None, now=now) for i in range(cap.pushes)])
        await session.execute(text("UPDATE outbox SET status = 'sent', sent_at = due_at "
                                   "WHERE idempotency_key LIKE 'earlier:%'"))
        await session.commit()
    # An inbound TD opts the other one out before the greeting.
    async with UnitOfWork(running_bot.sessionmaker) as uow:
        assert await CustomerReachService(uow, system_clock, SHANGHAI).sms_opt_out("139 1234 5022") == 1
        await uow.commit()
    await job(running_bot, "greetings")
    keys = {r["idempotency_key"] for r in await outbox_rows(running_bot, "customer.greeting")}
    # Over the cap, a greeting would only fit after its day: dropped. Opted out: nothing.
    assert f"greeting:{busy}:national_day:2026" not in keys
    assert f"greeting:{quitter}:national_day:2026" not in keys

    # A service reminder over the cap waits until the cap allows it, then goes in the sending window.
    async with running_bot.sessionmaker() as session:
        await session.execute(text("UPDATE customer SET purchase_date = :day WHERE id = :id"),
                              {"day": date(2026, 9, 4), "id": busy})  # first service 4 Oct, reminded 1 Oct
        await session.commit()
    await job(running_bot, "maintenance")
    [capped] = [r for r in await outbox_rows(running_bot, "customer.maintenance")
                if r["idempotency_key"] == f"maint:{busy}:1"]
    assert capped["due_at"] > datetime.now(UTC) + timedelta(days=5)
    due_local = capped["due_at"].astimezone(SHANGHAI)
    assert 9 <= due_local.hour < 20

    # The opted-out customer's pending SMS rows were dropped and none are sent.
    move(travel, festival + timedelta(days=10))
    await deliver_pushes(running_bot, sms=sms)
    assert all(sent["phone"] != "+8613912345022" for sent in sms.sent)


async def test_staff_morning_replacement_and_appointment_reminders(
        people: People, running_bot: BotUnderTest, travel: time_machine.Coordinates, sms: RecordingSmsGateway) -> None:
    move(travel, local(2026, 2, 1, 7, 0))
    salesperson = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13800000016", language_code="en")
    customer_chat = people.user("Sun", "zh-hans")
    due_today = await add_customer(running_bot, "Due Today", "+8613912345031", next_follow_up=date(2026, 2, 1))
    overdue = await add_customer(running_bot, "Late One", "+8613912345032", next_follow_up=date(2026, 1, 20))
    old_fleet = await add_customer(running_bot, "Old Fleet", "+8613912345033", purchase_date=date(2024, 8, 15),
                                   fleet_size=6, chat=customer_chat, locale="zh_CN")
    quiet = await add_customer(running_bot, "Quiet One", "+8613912345034")
    owner_id, unit_id, path = await dealer_and_owner(running_bot)
    async with running_bot.sessionmaker() as session:
        await session.execute(text("UPDATE customer SET created_at = :old"),
                              {"old": "2025-11-01 00:00:00.000000"})
        session.add(Visit(client_token="v1", customer_id=old_fleet, staff_id=owner_id, dealer_unit_id=unit_id,
                          org_path=path, visit_kind="phone", outcome="positive", stage_after="maintain",
                          visited_at=datetime(2026, 1, 25, tzinfo=UTC)))
        session.add(ServiceBooking(client_token="b1", customer_id=old_fleet, dealer_unit_id=unit_id, org_path=path,
                                   kind="repair", slot_at=local(2026, 2, 2, 14).astimezone(UTC)))
        await session.commit()

    reports = await run_all(running_bot.sessionmaker, system_clock, running_bot.settings.tz)
    assert {r.job for r in reports} == {"staff_morning", "replacement", "greetings", "maintenance", "appointments"}
    await run_all(running_bot.sessionmaker, system_clock, running_bot.settings.tz)  # again: nothing doubles
    assert len(await outbox_rows(running_bot, "staff.morning")) == 1
    assert len(await outbox_rows(running_bot, "staff.replacement")) == 1
    assert len(await outbox_rows(running_bot, "customer.appointment")) == 1

    move(travel, local(2026, 2, 1, 8, 31))
    await deliver_pushes(running_bot, sms=sms)
    morning = text_of(running_bot.api.sent_messages(salesperson.id)[-1:])
    assert morning.startswith("☀️ Good morning! Your customers for February 1, 2026:")
    assert f"Follow-ups due today (1):\n• Due Today /customer {due_today}" in morning
    assert f"Overdue follow-ups (1):\n• Late One /customer {overdue}" in morning
    # Visited a week ago: not untouched. Created three months ago and never visited: untouched.
    assert (f"No contact for 30 days or more (1): revisit them or hand them over:\n• Quiet One /customer {quiet}"
            in morning)
    assert "Old Fleet" not in morning
    # The replacement nudge goes at 09:00: bought August 2024, 18 months old when the March season opens.
    move(travel, local(2026, 2, 1, 9, 1))
    await deliver_pushes(running_bot, sms=sms)
    nudge = text_of(running_bot.api.sent_messages(salesperson.id)[-1:])
    assert "buying season opens on March 1, 2026" in nudge
    assert f"• Old Fleet (#{old_fleet}), bought Aug 15, 2024, 6 trucks" in nudge
    assert "Due Today" not in nudge
    # The appointment reminder waits for 10:00, then reaches the customer in Chinese.
    assert running_bot.api.sent_messages(customer_chat.id) == []
    move(travel, local(2026, 2, 1, 10, 1))
    await deliver_pushes(running_bot, sms=sms)
    assert "明天（2026年2月2日）14:00到石家庄恒通商用车维修" in text_of(  # i18n-ok
        running_bot.api.sent_messages(customer_chat.id))


async def test_daily_jobs_registered_at_local_times(running_bot: BotUnderTest) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    scheduler = AsyncIOScheduler(timezone=SHANGHAI)
    ids = add_daily_jobs(scheduler, running_bot.sessionmaker, system_clock, SHANGHAI, catch_up=False)
    scheduler.start(paused=True)
    try:
        schedule = default_playbook().schedule
        expected = {"daily:staff_morning": schedule.staff_morning.send_at,
                    "daily:greetings": schedule.greetings.send_at,
                    "daily:maintenance": schedule.maintenance.send_at,
                    "daily:replacement": schedule.replacement.send_at,
                    "daily:appointments": schedule.appointments.remind_at}
        assert set(ids) == set(expected)
        after = local(2027, 2, 5, 23, 0)
        for job_id, at in expected.items():
            trigger = scheduler.get_job(job_id).trigger
            fire = trigger.get_next_fire_time(None, after)
            assert fire.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") == f"2027-02-06 {at}"
    finally:
        scheduler.shutdown(wait=False)
