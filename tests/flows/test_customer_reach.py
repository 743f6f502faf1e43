"""A customer reached in Telegram: the salesperson's link, the customer's phone confirmation (wrong phone and
used link refused), /stop and /start, the gate keeping customers out of staff features, and booking a service
appointment, which tells the dealer through the outbox."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlmodel import select

from storage.models import Customer, CustomerLink, OrgUnit, ServiceBooking, Staff
from storage.uow import UnitOfWork
from tests.conftest import People
from tests.support.harness import BotUnderTest, Chat, text_of
from tests.support.pushes import deliver_pushes, outbox_rows
from ui.customers import CustomerAction

CUSTOMER_PHONE = "+8613912345001"


async def add_customer(runner: BotUnderTest, owner_phone: str, *, name: str = "Wang Wu",
                       phone: str | None = CUSTOMER_PHONE, purchase_date: date | None = None) -> Customer:
    async with UnitOfWork(runner.sessionmaker) as uow:
        owner = await uow.staff.by_phone(owner_phone)
        assert owner is not None
        unit = await uow.org.get(owner.org_unit_id)
        assert unit is not None
        customer = await uow.customers.add(Customer(
            name=name, phone=phone, nature="individual", owner_staff_id=owner.id, dealer_unit_id=unit.id,
            org_path=unit.path, purchase_date=purchase_date, stage="maintain"))
        await uow.commit()
        return customer


async def stored(runner: BotUnderTest, customer_id: int) -> Customer:
    async with runner.sessionmaker() as session:
        customer = await session.get(Customer, customer_id)
        assert customer is not None
        return customer


async def link_code(salesperson: Chat, customer_id: int) -> str:
    await salesperson.send(f"/customer {customer_id}")
    assert CustomerAction(action="link", id=customer_id).pack() in [data for _, data in salesperson.inline_buttons()]
    reply = await salesperson.press(salesperson.runner.api.sent_messages(salesperson.id)[-1],
                                    CustomerAction(action="link", id=customer_id).pack())
    match = re.search(r"start=(c-[A-Za-z0-9_-]+)", text_of(reply))
    assert match, text_of(reply)
    return match.group(1)


@pytest.mark.parametrize(("language_code", "expects"), [
    ("zh-hans", {"ask": "请点击下方按钮分享您的手机号", "mismatch": "与经销商登记的联系电话不一致",
                 "done": "石家庄恒通商用车", "used": "已被使用", "stop": "已关闭提醒", "start": "已开启提醒",
                 "help": "/book"}),
    ("en", {"ask": "share your phone number", "mismatch": "not the one your dealer has on file",
            "done": "Done!", "used": "already been used", "stop": "Reminders are off", "start": "Reminders are on",
            "help": "/book"}),
])
async def test_link_confirm_stop_start(people: People, running_bot: BotUnderTest, language_code: str,
                                       expects: dict[str, str]) -> None:
    salesperson = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13800000016")
    customer = await add_customer(running_bot, "+8613800000016")
    code = await link_code(salesperson, customer.id)  # type: ignore[arg-type]
    owner_chat = people.user("Wang", language_code)

    asked = await owner_chat.send(f"/start {code}")
    assert expects["ask"] in text_of(asked) and owner_chat.asks_for_contact()

    # Someone else's phone (the customer's own Telegram shares a different number): refused, nothing linked.
    refused = await owner_chat.share_contact("+86 139 1234 5999")
    assert expects["mismatch"] in text_of(refused)
    assert (await stored(running_bot, customer.id)).tg_user_id is None  # type: ignore[arg-type]

    await owner_chat.send(f"/start {code}")
    done = await owner_chat.share_contact("139 1234 5001")
    assert expects["done"] in text_of(done) and expects["help"] in text_of(done)
    linked = await stored(running_bot, customer.id)  # type: ignore[arg-type]
    assert linked.tg_user_id == owner_chat.id
    assert linked.locale == ("zh_CN" if language_code.startswith("zh") else "en")

    # The link works once.
    stranger = people.user("Li", language_code)
    assert expects["used"] in text_of(await stranger.send(f"/start {code}"))
    async with running_bot.sessionmaker() as session:
        link = (await session.execute(select(CustomerLink))).scalars().one()
    assert link.used_by_tg_user_id == owner_chat.id

    # A linked customer is not staff: staff commands get the customer's help, not customer data.
    for attempt in ("/find Wang", "/today", "/customer 1", "hello"):
        reply = text_of(await owner_chat.send(attempt))
        assert expects["help"] in reply and "Wang Wu" not in reply

    assert expects["stop"] in text_of(await owner_chat.send("/stop"))
    assert (await stored(running_bot, customer.id)).reminders_off is True  # type: ignore[arg-type]
    assert expects["start"] in text_of(await owner_chat.send("/start"))
    assert (await stored(running_bot, customer.id)).reminders_off is False  # type: ignore[arg-type]


async def test_expired_and_unknown_links(people: People, running_bot: BotUnderTest) -> None:
    chat = people.user("Eve", "en")
    assert "not valid" in text_of(await chat.send("/start c-AAAAAAAAAAAAAAAAAAAAAAAA"))
    salesperson = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13800000016", language_code="en")
    customer = await add_customer(running_bot, "+8613800000016")
    first = await link_code(salesperson, customer.id)  # type: ignore[arg-type]
    second = await link_code(salesperson, customer.id)  # type: ignore[arg-type]
    # A new link replaces the earlier one.
    assert "expired" in text_of(await chat.send(f"/start {first}"))
    assert "share your phone number" in text_of(await chat.send(f"/start {second}"))


async def test_booking_tells_the_salesperson_and_the_dealer_manager(people: People,
                                                                    running_bot: BotUnderTest) -> None:
    salesperson = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13800000016")
    manager = await people.onboarded("dealer_marketing_manager", "dlr-shijiazhuang", "13800000014",
                                     language_code="en")
    customer = await add_customer(running_bot, "+8613800000016")
    code = await link_code(salesperson, customer.id)  # type: ignore[arg-type]
    owner_chat = people.user("Wang", "zh-hans")
    await owner_chat.send(f"/start {code}")
    await owner_chat.share_contact(CUSTOMER_PHONE)

    kinds = await owner_chat.send("/book")
    assert "保养" in str(owner_chat.inline_buttons()) and kinds
    days = await owner_chat.tap("保养")
    assert "请选择日期" in text_of(days)
    first_day = owner_chat.inline_buttons()[0][0]
    await owner_chat.tap(first_day)
    booked = await owner_chat.tap("09:00")
    assert "预约成功" in text_of(booked) and "09:00" in text_of(booked)
    async with running_bot.sessionmaker() as session:
        booking = (await session.execute(select(ServiceBooking))).scalars().one()
    assert (booking.customer_id, booking.kind) == (customer.id, "maintenance")

    # A second tap on the same slot books nothing more.
    await owner_chat.tap("09:00")
    async with running_bot.sessionmaker() as session:
        assert len((await session.execute(select(ServiceBooking))).scalars().all()) == 1

    rows = await outbox_rows(running_bot, "staff.booking")
    async with running_bot.sessionmaker() as session:
        staff_ids = {s.tg_user_id: s.id for s in (await session.execute(select(Staff))).scalars()}
    assert sorted(r["chat_id"] for r in rows) == sorted([salesperson.id, manager.id])
    await deliver_pushes(running_bot)
    to_sales = text_of(running_bot.api.sent_messages(salesperson.id)[-1:])
    to_manager = text_of(running_bot.api.sent_messages(manager.id)[-1:])
    assert "Wang Wu" in to_sales and "保养" in to_sales and "09:00" in to_sales
    assert "Wang Wu" in to_manager and "Maintenance" in to_manager
    assert staff_ids  # the staff rows exist; each got one message
    assert len([m for m in running_bot.api.sent_messages(manager.id) if "Wang Wu" in (m.get("text") or "")]) == 1


async def test_customer_link_needs_scope(people: People, running_bot: BotUnderTest) -> None:
    """Callback data is never trusted: a salesperson of another dealer can't get a link for this customer."""
    customer = await add_customer(running_bot, "+8613800000016")
    other = await people.onboarded("sales_rep", "dlr-tangshan", "13800000017", language_code="en")
    await other.send("/menu")
    reply = await other.press(running_bot.api.sent_messages(other.id)[-1],
                              CustomerAction(action="link", id=customer.id).pack())  # type: ignore[arg-type]
    assert "Customer not found" in text_of(reply)
    async with running_bot.sessionmaker() as session:
        assert (await session.execute(select(CustomerLink))).scalars().all() == []
        assert (await session.execute(select(OrgUnit))).scalars().first() is not None
