"""Sale reports: ceremony tier and checklist by customer nature and trucks, referral multiplier and the leader's
quarter count, wrong numbers and future dates refused, double Submit, restart, and other dealers' rows refused."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from sqlmodel import select

from bot.domain.playbook import default_playbook
from conversations.sale_report import SaleStep
from storage.models import Customer, OpinionLeader, OrgUnit, Sale, Staff
from storage.uow import UnitOfWork
from tests.conftest import People
from tests.flows.test_customers import tap_delivered_twice
from tests.support.harness import BotUnderTest, Chat, text_of

TEXTS = {
    "zh_CN": {"lang": "zh-hans", "menu": "💰 售车提报", "yesterday": "昨天", "no_referral": "无推荐人",  # i18n-ok
              "submit": "✅ 提交", "bad_trucks": "请输入车辆台数", "simple": "一般交车仪式",  # i18n-ok
              "grand": "隆重交车仪式", "meeting": "可穿插会议同时举行", "hotel": "在具备规模的酒店举行",  # i18n-ok
              "maintain": "关系维系", "another_day": "📅 其他日期", "future": "不能晚于今天",  # i18n-ok
              "not_found": "未找到", "no_match": "/newcustomer", "tx": "TX", "gtl": "TX牵引车 GTL",  # i18n-ok
              "vt": "新VT", "vt_flatbed": "VT 新5系平板车", "today": "今天（{day}）"},  # i18n-ok
    "en": {"lang": "en", "menu": "💰 Report sale", "yesterday": "Yesterday", "no_referral": "No referral",
           "submit": "✅ Submit", "bad_trucks": "number of trucks as a whole number",
           "simple": "Simple delivery ceremony",
           "grand": "Grand delivery ceremony", "meeting": "May be held together with a meeting",
           "hotel": "Held in a hotel of suitable size", "maintain": "Relationship maintenance",
           "another_day": "📅 Another day", "future": "can't be in the future", "not_found": "Not found",
           "no_match": "/newcustomer", "tx": "TX", "gtl": "TX tractor GTL", "vt": "New VT",
           "vt_flatbed": "VT new 5-series flatbed", "today": "Today ({day})"},
}


def shanghai_today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def today_label(locale: str) -> str:
    day = format_date(shanghai_today(), format="medium", locale=locale)
    return TEXTS[locale]["today"].format(day=day)


async def unit_and_staff(runner: BotUnderTest, code: str, chat: Chat) -> tuple[OrgUnit, Staff]:
    async with runner.sessionmaker() as session:
        unit = (await session.execute(select(OrgUnit).where(OrgUnit.code == code))).scalar_one()
        staff = (await session.execute(select(Staff).where(Staff.tg_user_id == chat.id))).scalar_one()
    return unit, staff


async def add_customer(runner: BotUnderTest, unit: OrgUnit, staff: Staff, name: str, nature: str,
                       phone: str, city: str = "Zhengding") -> Customer:
    async with UnitOfWork(runner.sessionmaker) as uow:
        customer = await uow.customers.add(Customer(
            name=name, phone=phone, nature=nature, city=city, stage="follow_up", owner_staff_id=staff.id,
            dealer_unit_id=unit.id, org_path=unit.path))
        await uow.commit()
    return customer


async def add_leader(runner: BotUnderTest, unit: OrgUnit, staff: Staff, name: str, phone: str) -> OpinionLeader:
    async with UnitOfWork(runner.sessionmaker) as uow:
        leader = await uow.leaders.add(OpinionLeader(
            client_token=f"test-{phone}", name=name, phone=phone, province=unit.province, city="Luquan",
            vehicles="flatbeds", fleet_size=30, maintainer_staff_id=staff.id, dealer_unit_id=unit.id,
            org_path=unit.path))
        await uow.commit()
    return leader


async def sales(runner: BotUnderTest) -> list[Sale]:
    async with runner.sessionmaker() as session:
        return list((await session.execute(select(Sale).order_by(Sale.id))).scalars())


async def customer_row(runner: BotUnderTest, customer_id: int) -> Customer:
    async with runner.sessionmaker() as session:
        customer = await session.get(Customer, customer_id)
        assert customer is not None
        return customer


def last_alert(runner: BotUnderTest) -> str:
    answers = [c for c in runner.api.calls if c.method == "answerCallbackQuery"]
    return answers[-1].params.get("text", "") if answers else ""


async def dealer_chat(people: People, running_bot: BotUnderTest, locale: str, phone: str,
                      org: str = "dlr-shijiazhuang") -> tuple[Chat, OrgUnit, Staff]:
    chat = await people.onboarded("sales_rep", org, phone, language_code=TEXTS[locale]["lang"])
    unit, staff = await unit_and_staff(running_bot, org, chat)
    return chat, unit, staff


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
async def test_individual_three_trucks_simple_ceremony(people: People, running_bot: BotUnderTest,
                                                       locale: str) -> None:
    texts = TEXTS[locale]
    chat, unit, staff = await dealer_chat(people, running_bot, locale, "13911114401")
    customer = await add_customer(running_bot, unit, staff, "Zhang San", "individual", "13600001111")

    await chat.send(texts["menu"])
    await chat.tap("Zhang San · Zhengding")
    await chat.tap(texts["tx"])
    await chat.tap(texts["gtl"])
    for wrong in ("abc", "0", "1.5"):
        assert texts["bad_trucks"] in text_of(await chat.send(wrong))
    await chat.send("3")
    await chat.tap(texts["no_referral"])
    summary = text_of(await chat.tap(texts["yesterday"]))
    assert "Zhang San" in summary and texts["gtl"] in summary
    done = text_of(await chat.tap(texts["submit"]))
    assert texts["simple"] in done and texts["meeting"] in done and texts["maintain"] in done

    [sale] = await sales(running_bot)
    yesterday = shanghai_today() - timedelta(days=1)
    assert (sale.customer_id, sale.product_line, sale.series, sale.vehicle_type, sale.trucks) == (
        customer.id, "tx", "tx_tractor_gtl", "tractor", 3)
    assert (sale.leader_id, sale.ceremony_tier, sale.sold_on, sale.staff_id) == (None, "simple", yesterday, staff.id)
    assert (sale.dealer_unit_id, sale.org_path) == (unit.id, unit.path)
    stored = await customer_row(running_bot, customer.id)  # type: ignore[arg-type]
    assert (stored.stage, stored.purchase_date) == ("maintain", yesterday)


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
async def test_unit_sixty_trucks_grand_ceremony_with_calendar(people: People, running_bot: BotUnderTest,
                                                              locale: str) -> None:
    texts = TEXTS[locale]
    chat, unit, staff = await dealer_chat(people, running_bot, locale, "13911114402")
    customer = await add_customer(running_bot, unit, staff, "Hengtong Logistics Group", "unit", "13600002222")

    await chat.send("/sale")
    missing = text_of(await chat.send("Nobody Such"))
    assert texts["no_match"] in missing
    found = await chat.send("Hengtong")
    assert "Hengtong Logistics Group · Zhengding" in [label for label, _ in chat.inline_buttons()], found
    await chat.tap("Hengtong Logistics Group · Zhengding")
    await chat.tap(texts["vt"])
    await chat.tap("VT 9M自卸车" if locale == "zh_CN" else "VT 9M dump truck")  # i18n-ok
    await chat.send("60")
    await chat.tap(texts["no_referral"])
    await chat.tap(texts["another_day"])
    labels = [label for label, _ in chat.inline_buttons()]
    today = shanghai_today()
    assert str(today.day) in labels and (today.day == 1 or "1" in labels)
    tomorrow = today + timedelta(days=1)
    if tomorrow.month == today.month:
        assert str(tomorrow.day) not in labels  # days after today are not offered
    await chat.tap("1")
    done = text_of(await chat.tap(texts["submit"]))
    assert texts["grand"] in done and texts["hotel"] in done

    [sale] = await sales(running_bot)
    assert (sale.trucks, sale.ceremony_tier, sale.vehicle_type, sale.sold_on) == (
        60, "grand", "dump", today.replace(day=1))
    stored = await customer_row(running_bot, customer.id)  # type: ignore[arg-type]
    assert (stored.stage, stored.purchase_date) == ("maintain", today.replace(day=1))


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
async def test_unit_buying_more_trucks_never_gets_a_smaller_ceremony(people: People, running_bot: BotUnderTest,
                                                                     locale: str) -> None:
    texts = TEXTS[locale]
    chat, unit, staff = await dealer_chat(people, running_bot, locale, "13911114409")
    await add_customer(running_bot, unit, staff, "Jicheng Transport Co", "unit", "13600009999")
    for trucks in ("3", "6"):  # 3 trucks: grand by nature; 6 trucks must not fall to simple
        await chat.send("/sale")
        await chat.tap("Jicheng Transport Co · Zhengding")
        await chat.tap(texts["tx"])
        await chat.tap(texts["gtl"])
        await chat.send(trucks)
        await chat.tap(texts["no_referral"])
        await chat.tap(texts["yesterday"])
        done = text_of(await chat.tap(texts["submit"]))
        assert texts["grand"] in done and texts["hotel"] in done and texts["simple"] not in done, done
    assert [(sale.trucks, sale.ceremony_tier) for sale in await sales(running_bot)] == [(3, "grand"), (6, "grand")]


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
async def test_flatbed_referral_counts_for_the_leader(people: People, running_bot: BotUnderTest, locale: str) -> None:
    texts = TEXTS[locale]
    chat, unit, staff = await dealer_chat(people, running_bot, locale, "13911114403")
    await add_customer(running_bot, unit, staff, "Li Si", "individual_business", "13600003333")
    leader = await add_leader(running_bot, unit, staff, "Old Zhou", "13700008888")

    await chat.send("/sale")
    await chat.tap("Li Si · Zhengding")
    await chat.tap(texts["vt"])
    await chat.tap(texts["vt_flatbed"])
    await chat.send("10")
    await chat.tap("⭐ Old Zhou · Luquan")
    await chat.tap(today_label(locale))
    done = text_of(await chat.tap(texts["submit"]))
    assert "Old Zhou" in done and "1.3" in done and "13" in done

    [sale] = await sales(running_bot)
    assert (sale.leader_id, sale.reward_multiplier, sale.vehicle_type) == (leader.id, "1.3", "flatbed")
    assert sale.ceremony_tier == "moderate"  # 6 to 20 trucks count as simple, but the nature's moderate is larger

    # A tractor referral counts at the normal rate: 10 × 1.3 + 2 × 1.0 = 15 this quarter.
    await chat.send("/sale")
    await chat.tap("Li Si · Zhengding")
    await chat.tap(texts["tx"])
    await chat.tap(texts["gtl"])
    await chat.send("2")
    await chat.tap("⭐ Old Zhou · Luquan")
    await chat.tap(today_label(locale))
    await chat.tap(texts["submit"])
    first, second = await sales(running_bot)
    assert (second.reward_multiplier, second.ceremony_tier) == ("1.0", "moderate")  # 5 or fewer: by nature
    card = text_of(await chat.send(f"/leader {leader.id}"))
    assert "15" in card and "12" in card and "Li Si" in card
    listed = text_of(await chat.send("/leaders"))
    assert "Old Zhou" in listed


@pytest.mark.parametrize(("locale", "asks_day", "stale"), [
    ("zh_CN", "售车日期", "该按钮已失效。"),  # i18n-ok
    ("en", "When was it sold?", "This button is no longer active."),
])
async def test_future_date_refused_and_double_submit(people: People, running_bot: BotUnderTest, locale: str,
                                                     asks_day: str, stale: str) -> None:
    texts = TEXTS[locale]
    chat, unit, staff = await dealer_chat(people, running_bot, locale, "13911114404")
    await add_customer(running_bot, unit, staff, "Wang Wu", "individual", "13600004444")
    await chat.send("/sale")
    await chat.tap("Wang Wu · Zhengding")
    await chat.tap(texts["tx"])
    await chat.tap(default_playbook().label("series", "tx_flatbed_3", locale))
    await chat.send("1")
    await chat.tap(texts["no_referral"])
    asking = running_bot.api.sent_messages(chat.id)[-1]
    tomorrow = shanghai_today() + timedelta(days=1)
    refused = text_of(await chat.press(asking, SaleStep(step="day", value=tomorrow.isoformat()).pack()))
    assert texts["future"] in refused and asks_day in refused
    summary = text_of(await chat.tap(texts["yesterday"]))
    assert "Wang Wu" in summary
    confirm = running_bot.api.sent_messages(chat.id)[-1]
    submit = dict(chat.inline_buttons())[texts["submit"]]
    assert submit is not None
    await chat.press(confirm, submit)
    await chat.press(confirm, submit)
    assert last_alert(running_bot) == stale
    assert len(await sales(running_bot)) == 1


async def test_restart_mid_flow_resumes(people: People, running_bot: BotUnderTest) -> None:
    chat, unit, staff = await dealer_chat(people, running_bot, "zh_CN", "13911114405")
    customer = await add_customer(running_bot, unit, staff, "Zhao Liu", "individual", "13600005555")
    await chat.send("/sale")
    await chat.tap("Zhao Liu · Zhengding")
    await chat.tap("TX")
    await running_bot.restart()
    await chat.tap(TEXTS["zh_CN"]["gtl"])
    await chat.send("2")
    await running_bot.restart()
    await chat.tap("⬅️ 返回")  # i18n-ok
    await chat.send("4")
    await chat.tap(TEXTS["zh_CN"]["no_referral"])
    await chat.tap(TEXTS["zh_CN"]["yesterday"])
    await chat.tap(TEXTS["zh_CN"]["submit"])
    [sale] = await sales(running_bot)
    assert (sale.customer_id, sale.trucks, sale.series) == (customer.id, 4, "tx_tractor_gtl")


async def test_other_dealers_rows_are_refused(people: People, running_bot: BotUnderTest) -> None:
    chat, unit, staff = await dealer_chat(people, running_bot, "en", "13911114406")
    other_chat, other_unit, other_staff = await dealer_chat(people, running_bot, "en", "13911114407", "dlr-jinan")
    foreign_customer = await add_customer(running_bot, other_unit, other_staff, "Far Away", "unit", "13600006666")
    foreign_leader = await add_leader(running_bot, other_unit, other_staff, "Far Leader", "13700009999")
    await add_customer(running_bot, unit, staff, "Near By", "unit", "13600007777")

    await chat.send("/sale")
    assert "Far Away" not in text_of(await chat.send("Far"))
    asking = running_bot.api.sent_messages(chat.id)[-1]
    assert await chat.press(asking, SaleStep(step="customer", value=str(foreign_customer.id)).pack()) == []
    assert "Not found" in last_alert(running_bot)
    assert await chat.press(asking, SaleStep(step="customer", value="9" * 40).pack()) == []
    assert "Not found" in last_alert(running_bot)
    await chat.send("Near")
    await chat.tap("Near By · Zhengding")
    await chat.tap("TX")
    await chat.tap("TX tractor GTL")
    await chat.send("3")
    assert "Far Leader" not in [label for label, _ in chat.inline_buttons()]
    asking = running_bot.api.sent_messages(chat.id)[-1]
    assert await chat.press(asking, SaleStep(step="leader", value=str(foreign_leader.id)).pack()) == []
    assert "Not found" in last_alert(running_bot)
    # ids too large for a database integer are not found either (SQLite raised OverflowError on them)
    for huge in ("1" * 40, str(2**63), "-1", "١٢"):
        assert await chat.press(asking, SaleStep(step="leader", value=huge).pack()) == []
        assert "Not found" in last_alert(running_bot)
    assert await sales(running_bot) == []


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
async def test_submit_delivered_twice_stores_one_sale(people: People, running_bot: BotUnderTest, locale: str) -> None:
    texts = TEXTS[locale]
    chat, unit, staff = await dealer_chat(people, running_bot, locale, "13911114408")
    customer = await add_customer(running_bot, unit, staff, "Twice Fleet", "individual", "13600008888")
    await chat.send("/sale")
    await chat.tap("Twice Fleet · Zhengding")
    await chat.tap(texts["tx"])
    await chat.tap(texts["gtl"])
    await chat.send("2")
    await chat.tap(texts["no_referral"])
    await chat.tap(texts["yesterday"])
    submit = dict(chat.inline_buttons())[texts["submit"]]
    assert submit is not None
    done = text_of(await tap_delivered_twice(chat, submit))
    assert done.count(texts["simple"]) == 1
    [sale] = await sales(running_bot)
    assert (sale.customer_id, sale.trucks) == (customer.id, 2)
