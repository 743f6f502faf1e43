"""/today: follow-ups due today and overdue with a working "Report visit" button, and the quarter's numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from storage.models import Customer, InfoStation, OpinionLeader, Sale, Staff
from tests.conftest import People
from tests.flows.test_customers import create_customer, customers_named, tap_data
from tests.flows.test_visits import SHIJIAZHUANG, today_local, vpick
from tests.support.harness import BotUnderTest, text_of
from ui.customers import CustomerAction


async def seed_other_work(runner: BotUnderTest, staff: Staff, customer: Customer) -> None:
    """Rows the other field-work features would store: a sale of 7 trucks, a leader, a station; and old work."""
    now = datetime.now(UTC)
    common = {"dealer_unit_id": customer.dealer_unit_id, "org_path": customer.org_path}
    async with runner.sessionmaker() as session:
        session.add(Sale(client_token="sale-1", customer_id=customer.id, staff_id=staff.id, product_line="tx",
                         series="s", vehicle_type="dump", trucks=7, ceremony_tier="simple", sold_on=today_local(),
                         **common))
        session.add(Sale(client_token="sale-old", customer_id=customer.id, staff_id=staff.id, product_line="tx",
                         series="s", vehicle_type="dump", trucks=100, ceremony_tier="grand",
                         sold_on=today_local() - timedelta(days=400), **common))
        session.add(OpinionLeader(client_token="leader-1", name="L", phone="+8613912349999", city="Xinji",
                                  maintainer_staff_id=staff.id, created_at=now, **common))
        session.add(InfoStation(client_token="station-1", name="S", kind="parking_lot", city="Xinji",
                                created_by_staff_id=staff.id, created_at=now, **common))
        await session.commit()


@pytest.mark.parametrize(("language_code", "expects"), [
    ("zh-hans", ["今日", "待跟进客户（2）", "已逾期", "客户拜访：1次（已核实0次）", "售车：7台",  # i18n-ok
                 "仅记录位置（未核实）的拜访：1次",  # i18n-ok: the customer's first location is only recorded
                 "用户意见领袖：1人", "信息站：1家", "新增客户：2个"]),  # i18n-ok
    ("en", ["Today", "Follow-ups due (2)", "(overdue)", "Visits: 1 (0 verified)", "Trucks sold: 7",
            "Visits with the location only recorded (not verified): 1",
            "Opinion leaders: 1", "Information stations: 1", "New customers: 2"]),
])
async def test_today_lists_due_follow_ups_and_numbers(people: People, running_bot: BotUnderTest,
                                                      language_code: str, expects: list[str]) -> None:
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13900000301", language_code=language_code)
    await create_customer(chat, "Due Today", "13912340301")
    await create_customer(chat, "Overdue One", "13912340302")
    [due] = await customers_named(running_bot, "Due Today")
    [overdue] = await customers_named(running_bot, "Overdue One")
    # a visit on "Due Today" sets its follow-up to today
    await chat.send("/visit")
    await vpick(chat, "cust", str(due.id))
    await vpick(chat, "kind", "door_visit")
    await vpick(chat, "outcome", "reached_need")
    await vpick(chat, "stage", "need")
    await vpick(chat, "notes")
    await vpick(chat, "day", today_local().isoformat())
    await chat.send_location(*SHIJIAZHUANG)
    await vpick(chat, "photo")
    await vpick(chat, "submit")
    async with running_bot.sessionmaker() as session:
        record = await session.get(Customer, overdue.id)
        assert record is not None
        record.next_follow_up = today_local() - timedelta(days=2)
        staff = (await session.execute(select(Staff).where(Staff.tg_user_id == chat.id))).scalar_one()
        await session.commit()
    await seed_other_work(running_bot, staff, due)
    # someone else's due customer is not mine
    other = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13900000302", language_code=language_code)
    await create_customer(other, "Not Mine", "13912340303")

    today = text_of(await chat.send("/today"))
    for fragment in expects:
        assert fragment in today
    assert "Due Today" in today and "Overdue One" in today and "Not Mine" not in today
    assert today.index("Overdue One") < today.index("Due Today")
    if language_code.startswith("zh"):
        # the joined follow-up line is a message of its own, in Chinese punctuation
        line = next(row for row in today.splitlines() if "Overdue One" in row)
        assert line.startswith("• Overdue One，") and "：" in line and line.endswith("（已逾期）"), line  # i18n-ok
        assert "," not in line and ":" not in line, line
    buttons = [data for _label, data in chat.inline_buttons()]
    visit_due = CustomerAction(action="visit", id=due.id).pack()  # type: ignore[arg-type]
    assert visit_due in buttons

    started = text_of(await tap_data(chat, visit_due))
    assert "Due Today" in started
    await vpick(chat, "kind", "phone_revisit")  # the report runs on from the button


async def test_today_with_nothing_due(people: People, running_bot: BotUnderTest) -> None:
    chat = await people.onboarded("sales_rep", "dlr-kunming", "13900000303", language_code="en")
    text = text_of(await chat.send("/today"))
    assert "No follow-ups due" in text and "Visits: 0 (0 verified)" in text and "New customers: 0" in text
