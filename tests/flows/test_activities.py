"""Marketing activities end to end through the local Bot API server: request → three-level approval in chat →
results → evaluation, edits before submitting, /activities and /activity N, and who may see what."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import select

from bot.domain.playbook import default_playbook
from bot.i18n import make_i18n
from bot.services.activities import ActivityService
from storage.models import Activity, ActivityDecision, ActivityLead, ActivityReceipt, AuditLog, Customer, OrgUnit
from storage.uow import UnitOfWork
from tests.conftest import People
from tests.support.harness import BotUnderTest, Chat, text_of
from ui.activities import money

I18N = make_i18n("zh_CN")
FUTURE = "2030-12-05 14:00"
LOCALES = {"zh-hans": "zh_CN", "en": "en"}


def t(message: str, language_code: str) -> str:
    """A text as the bot shows it in the chat's language."""
    return I18N.gettext(message, locale=LOCALES[language_code])


def pb(kind: str, code: str, language_code: str) -> str:
    return default_playbook().label(kind, code, LOCALES[language_code])


def last_answer(runner: BotUnderTest) -> str:
    """The text of the latest callback answer (the toast or alert a tap got)."""
    calls = [c for c in runner.api.calls if c.method == "answerCallbackQuery" and c.ok]
    return str(calls[-1].params.get("text", "")) if calls else ""


@dataclass
class Cast:
    requester: Chat
    specialist: Chat  # mkt-hebei activity_specialist
    marketing: Chat  # mkt-hebei marketing_manager
    region: Chat  # north region_manager
    marcom: Chat  # north marcom_manager
    hq: Chat  # hq_staff
    lang: str


async def cast(people: People, lang: str, requester_phone: str = "13912340001") -> Cast:
    return Cast(
        requester=await people.onboarded("dealer_marketing_manager", "dlr-shijiazhuang", requester_phone,
                                         language_code=lang, first_name="Requester"),
        specialist=await people.onboarded("activity_specialist", "mkt-hebei", "13800000010", language_code=lang),
        marketing=await people.onboarded("marketing_manager", "mkt-hebei", "13800000007", language_code=lang),
        region=await people.onboarded("region_manager", "north", "13800000003", language_code=lang),
        marcom=await people.onboarded("marcom_manager", "north", "13800000005", language_code=lang),
        hq=await people.onboarded("hq_staff", "hq", "13800000002", language_code=lang),
        lang=lang,
    )


async def fill_request(chat: Chat, lang: str, *, activity_type: str = "launch_event", line: str = "vt",
                       series: str = "vt_tractor_new_5", attendance: str = "60",
                       budget: str = "Venue 3000\nGifts 2,500\nCatering 20000") -> list[dict[str, Any]]:
    """Walks the request conversation up to the summary; returns the bot's messages."""
    out = await chat.send(t("🎪 Request activity", lang))
    out += await chat.tap(pb("activity_types", activity_type, lang))
    out += await chat.tap(pb("product_lines", line, lang))
    out += await chat.tap(pb("series", series, lang))
    out += await chat.send(FUTURE)
    out += await chat.send("Zhengding")
    out += await chat.send("No. 8 Hengshan Road")
    out += await chat.tap(pb("natures", "individual_business", lang))
    out += await chat.tap("✓ " + pb("natures", "individual_business", lang))  # toggled off again
    out += await chat.tap(pb("natures", "individual_business", lang))
    out += await chat.tap(pb("natures", "unit", lang))
    out += await chat.tap(t("Done", lang))
    out += await chat.send(attendance)
    out += await chat.send(budget)
    out += await chat.send("Launch of the new 5-series tractor for fleets")
    return out


async def activity_rows(runner: BotUnderTest) -> list[Activity]:
    async with runner.sessionmaker() as session:
        return list((await session.execute(select(Activity).order_by(Activity.id))).scalars())


async def decisions(runner: BotUnderTest, activity_id: int) -> list[ActivityDecision]:
    async with runner.sessionmaker() as session:
        query = select(ActivityDecision).where(ActivityDecision.activity_id == activity_id)
        return list((await session.execute(query.order_by(ActivityDecision.id))).scalars())


async def submitted(c: Cast, runner: BotUnderTest, **kwargs: Any) -> Activity:
    await fill_request(c.requester, c.lang, **kwargs)
    await c.requester.tap(t("📨 Submit", c.lang))
    return (await activity_rows(runner))[-1]


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_request_three_levels_results_evaluation(people: People, running_bot: BotUnderTest,
                                                       lang: str) -> None:
    c = await cast(people, lang)
    summary = text_of(await fill_request(c.requester, lang))
    # The KPI is derived from the type and shown as soon as the type is chosen, and again in the summary.
    assert t("{type} counts toward: {kpi}.\nWhich product line is it for?", lang).format(
        type=pb("activity_types", "launch_event", lang), kpi=pb("kpis", "promotion", lang)) in summary
    assert t("Counts toward: {kpi}", lang).format(kpi=pb("kpis", "promotion", lang)) in summary
    assert "No. 8 Hengshan Road" in summary and "25,500.00" in summary

    done = text_of(await c.requester.tap(t("📨 Submit", lang)))
    assert t("📨 Activity #{id} is submitted. Approval: {levels}. You will be told about each decision.",
             lang).split("#")[0] in done
    [activity] = await activity_rows(running_bot)
    assert (activity.state, activity.chain, activity.step_index, activity.kpi) == \
        ("pending", "market,region,hq", 0, "promotion")
    assert activity.budget_fen == 2_550_000 and activity.expected_attendance == 60
    assert json.loads(activity.budget_lines) == [["Venue", 300000], ["Gifts", 250000], ["Catering", 2000000]]
    assert activity.starts_at == datetime(2030, 12, 5, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai
    assert activity.natures == "individual_business,unit"

    # Both market approvers get the card, in their language, the requester's phone masked.
    for approver in (c.specialist, c.marketing):
        card = c.specialist.texts()[-1] if approver is c.specialist else c.marketing.texts()[-1]
        assert f"#{activity.id}" in card and "+86139****0001" in card and "13912340001" not in card
        assert [label for label, _ in approver.inline_buttons()] == \
            [t("✅ Approve", lang), t("❌ Reject", lang), t("✏️ Ask for changes", lang)]
    assert not c.region.inline_buttons()  # the region waits its turn
    if lang == "zh-hans":
        assert "您有一条行销活动申请待审批" in c.specialist.texts()[-1]  # i18n-ok

    old_card = running_bot.api.sent_messages(c.marketing.id)[-1]
    old_approve = c.marketing.inline_buttons()[0][1]
    await c.specialist.tap(t("✅ Approve", lang))
    assert t("✅ Activity #{id} was approved by {level} ({name}). It now waits for {next}.", lang).format(
        id=activity.id, level=t("Market department", lang), name="陈静",  # i18n-ok: demo name
        next=t("Region", lang)) in c.requester.texts()[-1]
    # The other market approver's button is stale now: it says so and changes nothing.
    await c.marketing.press(old_card, old_approve or "")
    assert last_answer(running_bot) == t("This request has already been decided. Nothing was changed.", lang)
    assert len(await decisions(running_bot, activity.id or 0)) == 1

    assert not c.hq.inline_buttons()  # HQ waits its turn too
    await c.region.tap(t("✅ Approve", lang))
    assert f"#{activity.id}" in c.hq.texts()[-1] and "13912340001" not in c.hq.texts()[-1]
    assert c.hq.inline_buttons()[0][0] == t("✅ Approve", lang)
    await c.hq.tap(t("✅ Approve", lang))
    final = c.requester.texts()[-1]
    assert t("🎉 Activity #{id} is fully approved ({level}, {name}). After the activity, report its results with "
             "the button below.", lang).format(id=activity.id, level=t("Headquarters", lang),
                                                 name="钱丽") == final  # i18n-ok: demo name
    [row] = await activity_rows(running_bot)
    assert (row.state, row.version) == ("approved", 4)
    trail = await decisions(running_bot, activity.id or 0)
    assert [(d.level, d.decision) for d in trail] == [("market", "approve"), ("region", "approve"),
                                                        ("hq", "approve")]

    # A known customer of the dealer, to see a lead linked to it.
    async with UnitOfWork(running_bot.sessionmaker) as uow:
        dealer = await uow.org.by_code("dlr-shijiazhuang")
        assert dealer is not None and dealer.id is not None
        await uow.customers.add(Customer(name="Fleet Boss", phone="+8613955550001", nature="unit",
                                         owner_staff_id=row.requester_staff_id, dealer_unit_id=dealer.id,
                                         org_path=dealer.path))
        await uow.commit()

    await c.requester.tap(t("📝 Report results", lang))
    await c.requester.send("58")
    await c.requester.send("12")
    await c.requester.send("13955550001\n13955550002")
    await c.requester.send("3")
    await c.requester.send("24,800")
    await c.requester.send_photo()
    await c.requester.send_photo()
    summary = text_of(await c.requester.tap(t("Done", lang)))
    assert "+86139****0001" in summary and "24,800.00" in summary
    await c.requester.tap(t("📨 Submit", lang))
    assert t("Thank you: the results of activity #{id} are in and it now counts toward the quarter.",
             lang).format(id=activity.id) in c.requester.texts()[-1]

    # The market reviewers get it with the score buttons; one scores it and comments.
    assert t("Activity #{id} has been held and its results reported. Please evaluate it.", lang).format(
        id=activity.id) in c.specialist.texts()[-1]
    await c.specialist.tap("4⭐")
    await c.specialist.send("Good turnout, follow up the fleets")
    assert t("⭐ Activity #{id} was evaluated by {name}: {score}/5.", lang).format(
        id=activity.id, name="陈静", score=4) in c.requester.texts()[-1]  # i18n-ok: demo name

    [row] = await activity_rows(running_bot)
    assert (row.state, row.score, row.evaluation_comment) == ("evaluated", 4, "Good turnout, follow up the fleets")
    assert (row.result_attendance, row.result_leads, row.result_orders, row.actual_expenses_fen) == \
        (58, 12, 3, 2_480_000)
    async with running_bot.sessionmaker() as session:
        receipts = (await session.execute(select(ActivityReceipt))).scalars().all()
        leads = (await session.execute(select(ActivityLead).order_by(ActivityLead.id))).scalars().all()
        audit = [(a.action, a.actor_staff_id) for a in (await session.execute(
            select(AuditLog).where(AuditLog.subject == f"activity:{activity.id}").order_by(AuditLog.id))).scalars()]
    assert len(receipts) == 2
    assert [lead.phone for lead in leads] == ["+8613955550001", "+8613955550002"]
    assert leads[0].customer_id is not None and leads[1].customer_id is None
    assert [action for action, _ in audit] == ["activity.submitted", "activity.approve", "activity.approve",
                                               "activity.approve", "activity.results", "activity.evaluated"]
    assert all(actor is not None for _, actor in audit)

    # It counts toward the quarter's product-promotion number, for the dealer and every level above it.
    async with UnitOfWork(running_bot.sessionmaker) as uow:
        service = ActivityService(uow, running_bot.clock, running_bot.settings.tz)
        for code in ("dlr-shijiazhuang", "mkt-hebei", "north", "hq"):
            unit = await uow.org.by_code(code)
            assert isinstance(unit, OrgUnit)
            assert await service.quarter_counts(unit, 2030, 4) == {"promotion": 1, "relationship": 0}
        other = await uow.org.by_code("mkt-shandong")
        assert isinstance(other, OrgUnit)
        assert await service.quarter_counts(other, 2030, 4) == {"promotion": 0, "relationship": 0}

    # The history, for the requester.
    history = text_of(await c.requester.send(f"/activity {activity.id}"))
    assert t("History:", lang) in history and "Good turnout" in history
    assert history.count(t("approved", lang)) >= 3


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
async def test_edit_before_submitting(people: People, running_bot: BotUnderTest, lang: str) -> None:
    requester = await people.onboarded("dealer_gm", "dlr-tangshan", "13912340002", language_code=lang)
    await fill_request(requester, lang, activity_type="thank_you_meeting", line="tx", series="tx_tractor_gtl",
                       attendance="30", budget="Hall 5000")
    await requester.tap("✏️ " + t("Attendance", lang))
    summary = text_of(await requester.send("45"))
    assert t("Expected attendance: {count}", lang).format(count=45) in summary  # straight back to the summary
    await requester.tap("✏️ " + t("Budget", lang))
    await requester.send("Hall 5000\nDinner 30000")
    await requester.tap(t("📨 Submit", lang))
    [row] = await activity_rows(running_bot)
    assert (row.expected_attendance, row.budget_fen, row.kpi, row.chain) == (45, 3_500_000, "relationship",
                                                                             "market,region")
    # A second tap on Submit finds no flow: the same single row.
    await requester.tap(t("📨 Submit", lang))
    assert last_answer(running_bot) == t("This button is no longer active.", lang)
    assert len(await activity_rows(running_bot)) == 1


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_bad_answers_reask(people: People, running_bot: BotUnderTest, lang: str) -> None:
    requester = await people.onboarded("dealer_gm", "dlr-tangshan", "13912340003", language_code=lang)
    await requester.send(t("🎪 Request activity", lang))
    await requester.tap(pb("activity_types", "roadshow", lang))
    await requester.tap(pb("product_lines", "tx", lang))
    await requester.tap(pb("series", "tx_tractor_gtl", lang))
    bad_date = t("Please send the date and time like 2026-12-05 14:00.", lang)
    for unparseable in ("next friday", "2030-02-30 10:00", "2030-12-05"):
        assert text_of(await requester.send(unparseable)) == bad_date
    assert text_of(await requester.send("2020-01-01 10:00")) == t("The activity must start in the future.", lang)
    assert text_of(await requester.send(FUTURE)) == t("In which county-level city?", lang)
    await requester.send("Luannan")
    await requester.send("Depot")
    assert await _tap_done_alert(requester, running_bot, lang) == \
        t("Please choose at least one customer nature.", lang)
    await requester.tap(pb("natures", "individual", lang))
    await requester.tap(t("Done", lang))
    bad_count = t("Please send the expected attendance as a whole number, e.g. 40.", lang)
    for wrong in ("many", "0", "-1", "12.5", "1000001"):
        assert text_of(await requester.send(wrong)) == bad_count, wrong
    await requester.send("20")
    bad_budget = t("I couldn't read that. Please send one item per line, a name then an amount, e.g. “Venue 3000”.",
                   lang)
    for wrong in ("lots of money", "Venue abc", "Venue 12.345", "3000"):
        assert text_of(await requester.send(wrong)) == bad_budget, wrong
    described = text_of(await requester.send("Venue 3000\nGifts 1.2万"))  # i18n-ok: the unit people type
    assert described == t("Describe the activity: programme, invited customers, goals.", lang)
    summary = text_of(await requester.send("Roadshow at the depot"))
    assert t("Expected attendance: {count}", lang).format(count=20) in summary and "15,000.00" in summary
    assert await activity_rows(running_bot) == []  # nothing is stored before Submit


async def test_request_survives_a_restart_midway(people: People, running_bot: BotUnderTest) -> None:
    """Both languages in one bot: the answers live in the durable FSM storage, not in memory."""
    for lang, phone in (("zh-hans", "13912340021"), ("en", "13912340022")):
        requester = await people.onboarded("dealer_gm", "dlr-tangshan", phone, language_code=lang)
        await requester.send(t("🎪 Request activity", lang))
        await requester.tap(pb("activity_types", "roadshow", lang))
        await requester.tap(pb("product_lines", "tx", lang))
        await requester.tap(pb("series", "tx_tractor_gtl", lang))
        await requester.send(FUTURE)
        await running_bot.restart()
        assert text_of(await requester.send("Luannan")) == t("At which address (venue)?", lang)
        await requester.send("Depot")
        await running_bot.restart()
        await requester.tap(pb("natures", "individual", lang))  # the nature buttons drawn before still work
        await requester.tap(t("Done", lang))
        await requester.send("20")
        await requester.send("Venue 3000")
        summary = text_of(await requester.send("Roadshow"))
        assert t("Where: {city}, {address}", lang).format(city="Luannan", address="Depot") in summary
        await running_bot.restart()
        done = text_of(await requester.tap(t("📨 Submit", lang)))  # the summary's button from before the restart
        assert t("📨 Activity #{id} is submitted. Approval: {levels}. You will be told about each decision.",
                 lang).split("#")[0] in done
    rows = await activity_rows(running_bot)
    assert [(r.city, r.address, r.expected_attendance, r.budget_fen, r.state) for r in rows] == \
        [("Luannan", "Depot", 20, 300_000, "pending")] * 2


async def delivered_twice(chat: Chat, push: Callable[[], int]) -> list[dict[str, Any]]:
    """Telegram delivers the very same update twice (a webhook retry, a reconnect): the same payload and callback
    query id queued again right behind the first. Returns the bot's replies to both."""
    seen = len(chat.runner.api.sent_messages(chat.id))
    first = push()
    [update] = [u for u in chat.user.bot.queue if u["update_id"] == first]
    again = chat.runner.api.push_update(copy.deepcopy({k: v for k, v in update.items() if k != "update_id"}),
                                        token=chat.user.bot.token)
    assert again != first
    await chat.runner.processed(first)
    await chat.runner.processed(again)
    return chat.runner.api.sent_messages(chat.id)[seen:]


async def tap_delivered_twice(chat: Chat, label: str) -> list[dict[str, Any]]:
    """Taps the button labelled `label` on the latest message that has it; the update arrives twice."""
    for message in reversed(chat.runner.api.sent_messages(chat.id)):
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if button.get("text") == label:
                    return await delivered_twice(chat, lambda m=message, b=button: chat.user.press(
                        m, b["callback_data"]))
    raise LookupError(label)


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_submit_delivered_twice_files_one_request(people: People, running_bot: BotUnderTest,
                                                        lang: str) -> None:
    c = await cast(people, lang)
    await fill_request(c.requester, lang)
    before = {chat.id: len(chat.texts()) for chat in (c.specialist, c.marketing)}
    replies = await tap_delivered_twice(c.requester, t("📨 Submit", lang))
    [activity] = await activity_rows(running_bot)
    submitted_text = t("📨 Activity #{id} is submitted. Approval: {levels}. You will be told about each decision.",
                       lang).format(id=activity.id, levels=" → ".join(
                           t(level, lang) for level in ("Market department", "Region", "Headquarters")))
    assert [m.get("text") for m in replies] == [submitted_text]  # the second delivery says nothing more
    assert (activity.state, activity.version) == ("pending", 1)
    for approver in (c.specialist, c.marketing):  # each market approver got the card once
        assert len(approver.texts()) == before[approver.id] + 1
    async with running_bot.sessionmaker() as session:
        audit = (await session.execute(select(AuditLog).where(AuditLog.action == "activity.submitted"))).all()
    assert len(audit) == 1


async def _tap_done_alert(chat: Chat, runner: BotUnderTest, lang: str) -> str:
    await chat.tap(t("Done", lang))
    return last_answer(runner)


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_lists_and_scope(people: People, running_bot: BotUnderTest, lang: str) -> None:
    c = await cast(people, lang)
    activity = await submitted(c, running_bot)
    mine = text_of(await c.requester.send("/activities"))
    assert t("My requests:", lang) in mine and f"#{activity.id}" in mine and t("Waiting for approval", lang) in mine
    assert t("Waiting for you:", lang) not in mine
    # pending doesn't count toward the quarter; the counts are joined with the translated list separator
    held = t("{kpi} {count}", lang).format(kpi=pb("kpis", "promotion", lang), count=0)
    assert held + t(", ", lang) in mine
    if lang == "zh-hans":
        assert f"{pb('kpis', 'promotion', lang)}0次、" in mine  # i18n-ok
    waiting = text_of(await c.specialist.send(t("📋 Activities", lang)))
    assert t("Waiting for you:", lang) in waiting and f"#{activity.id}" in waiting
    assert f"#{activity.id}" not in text_of(await c.region.send("/activities"))  # not its turn yet
    shown = text_of(await c.region.send(f"/activity {activity.id}"))
    assert "Zhengding" in shown and not c.region.inline_buttons()
    shown = text_of(await c.specialist.send(f"/activity {activity.id}"))
    assert "Zhengding" in shown and c.specialist.inline_buttons()[0][0] == t("✅ Approve", lang)

    not_found = t("Activity request not found.", lang)
    for outsider in (
        await people.onboarded("marketing_manager", "mkt-shandong", "13800000011", language_code=lang),
        await people.onboarded("region_manager", "southwest", "13800000006", language_code=lang),
        await people.onboarded("dealer_gm", "dlr-tangshan", "13912340009", language_code=lang),
    ):
        assert text_of(await outsider.send(f"/activity {activity.id}")) == not_found
        listing = text_of(await outsider.send("/activities"))
        assert f"#{activity.id}" not in listing and "Zhengding" not in listing
    assert text_of(await c.requester.send("/activity 999")) == not_found


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_only_dealer_staff_request(people: People, lang: str) -> None:
    manager = await people.onboarded("marketing_manager", "mkt-hebei", "13800000007", language_code=lang)
    menu = manager.reply_keyboard() or []
    assert t("🎪 Request activity", lang) not in menu and "🎪 Request activity" not in menu
    assert t("📋 Activities", lang) in menu
    refused = t("Your role doesn't allow this.", lang)
    assert text_of(await manager.send("/activity_new")) == refused
    assert text_of(await manager.send(t("🎪 Request activity", lang))) == refused  # typed, not in the menu
    if lang == "zh-hans":
        assert refused != "Your role doesn't allow this."  # really translated


async def test_menu_tap_mid_flow_is_not_taken_as_an_answer(people: People, running_bot: BotUnderTest) -> None:
    requester = await people.onboarded("dealer_gm", "dlr-tangshan", "13912340004", language_code="en")
    await requester.send(t("🎪 Request activity", "en"))
    await requester.tap(pb("activity_types", "roadshow", "en"))
    await requester.tap(pb("product_lines", "tx", "en"))
    await requester.tap(pb("series", "tx_tractor_gtl", "en"))
    await requester.send(FUTURE)
    listing = text_of(await requester.send("📋 Activities"))
    assert "No activities for you yet." in listing
    asked = text_of(await requester.send("Luannan"))  # the city step is still waiting
    assert "At which address" in asked
    reply = text_of(await requester.send("/cancel"))
    assert reply == "Cancelled."
    assert await activity_rows(running_bot) == []


async def approved_roadshow(people: People, runner: BotUnderTest, lang: str, phone: str) -> tuple[Chat, Activity]:
    """A roadshow (market approval only) requested by a new dealer marketing manager and approved."""
    requester = await people.onboarded("dealer_marketing_manager", "dlr-shijiazhuang", phone, language_code=lang)
    marketing = await people.onboarded("marketing_manager", "mkt-hebei", "13800000007", language_code=lang)
    await fill_request(requester, lang, activity_type="roadshow", attendance="20", budget="Venue 3000")
    await requester.tap(t("📨 Submit", lang))
    await marketing.tap(t("✅ Approve", lang))
    activity = (await activity_rows(runner))[-1]
    assert (activity.state, activity.chain) == ("approved", "market")
    return requester, activity


def results_summary(lang: str, activity_id: int, attendance: int, leads: int, phones: str, orders: int,
                    expenses_fen: int, receipts: int) -> str:
    return t("Results of activity #{id}:\nAttendance: {attendance}\nLeads: {leads} (phones: {phones})\n"
             "Orders: {orders}\nActual expenses: {spent}\nReceipt photos: {receipts}", lang).format(
        id=activity_id, attendance=attendance, leads=leads, phones=phones, orders=orders,
        spent=money(expenses_fen, LOCALES[lang]), receipts=receipts)


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_results_bad_answers_are_asked_again_with_the_reason(people: People, running_bot: BotUnderTest,
                                                                   lang: str) -> None:
    requester, activity = await approved_roadshow(people, running_bot, lang, "13912340031")
    assert activity.id is not None
    asked = text_of(await requester.tap(t("📝 Report results", lang)))
    assert asked == t("Results of activity #{id}. How many people attended?", lang).format(id=activity.id)
    whole = t("Please send a whole number, e.g. 35.", lang)
    wrong_counts = ("abc", "-1", "2.5", "²", "100001", "9" * 30)
    for wrong in wrong_counts:
        assert text_of(await requester.send(wrong)) == whole, wrong
    assert text_of(await requester.send("58")) == t("How many leads (interested customers) were collected?", lang)
    for wrong in wrong_counts:
        assert text_of(await requester.send(wrong)) == whole, wrong
    phones_asked = t("Send the leads' phone numbers, one per line, to link them to customer records, or tap Skip.",
                     lang)
    assert text_of(await requester.send("12")) == phones_asked
    bad_phone = t("“{line}” is not a valid phone number. Please send the list again.", lang)
    for wrong, line in (("13955550001\n12345", "12345"), ("call me", "call me"),
                        ("13955550001\n\n  1395555000x  ", "1395555000x")):
        assert text_of(await requester.send(wrong)) == bad_phone.format(line=line), wrong
    orders_asked = t("How many orders were signed?", lang)
    assert text_of(await requester.send("13955550001\n\n139 5555 0002\n13955550001")) == orders_asked
    for wrong in wrong_counts:
        assert text_of(await requester.send(wrong)) == whole, wrong
    assert text_of(await requester.send("３")) == t("What were the actual expenses in yuan? e.g. 11800", lang)
    amount = t("Please send an amount in yuan, e.g. 11800.", lang)
    for wrong in ("abc", "-1", "12.345", "1" + "0" * 30):
        assert text_of(await requester.send(wrong)) == amount, wrong
    assert text_of(await requester.send("24,800")) == \
        t("Send photos of the receipts, then tap Done. Received so far: {count}.", lang).format(count=0)
    await requester.tap(t("Done", lang))
    assert last_answer(running_bot) == t("Please send at least one receipt photo.", lang)
    await requester.send_photo()
    summary = text_of(await requester.tap(t("Done", lang)))
    assert summary == results_summary(lang, activity.id, 58, 12, "+86139****0001, +86139****0002", 3, 2_480_000, 1)
    await requester.tap(t("📨 Submit", lang))
    [row] = await activity_rows(running_bot)
    assert (row.state, row.result_attendance, row.result_leads, row.result_orders, row.actual_expenses_fen) == \
        ("completed", 58, 12, 3, 2_480_000)
    async with running_bot.sessionmaker() as session:
        leads = (await session.execute(select(ActivityLead).order_by(ActivityLead.id))).scalars().all()
    assert [lead.phone for lead in leads] == ["+8613955550001", "+8613955550002"]


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_results_survive_a_restart_at_every_step(people: People, running_bot: BotUnderTest,
                                                       lang: str) -> None:
    requester, activity = await approved_roadshow(people, running_bot, lang, "13912340032")
    assert activity.id is not None
    await requester.tap(t("📝 Report results", lang))
    await running_bot.restart()
    assert text_of(await requester.send("40")) == t("How many leads (interested customers) were collected?", lang)
    await running_bot.restart()
    # The same step after a restart: a bad answer gets the same reason, a good one moves on.
    assert text_of(await requester.send("2.5")) == t("Please send a whole number, e.g. 35.", lang)
    await requester.send("9")
    await running_bot.restart()
    await requester.tap(t("Skip", lang))  # the Skip button drawn before the restart
    await running_bot.restart()
    assert text_of(await requester.tap(t("⬅️ Back", lang))) == t(
        "Send the leads' phone numbers, one per line, to link them to customer records, or tap Skip.", lang)
    await requester.send("13955550003")
    await requester.send("2")
    await running_bot.restart()
    await requester.send("11800")
    await requester.send_photo()
    await running_bot.restart()
    assert text_of(await requester.send_photo()) == \
        t("Send photos of the receipts, then tap Done. Received so far: {count}.", lang).format(count=2)
    await running_bot.restart()
    summary = text_of(await requester.tap(t("Done", lang)))
    assert summary == results_summary(lang, activity.id, 40, 9, "+86139****0003", 2, 1_180_000, 2)
    await running_bot.restart()
    done = text_of(await requester.tap(t("📨 Submit", lang)))  # the summary's button from before the restart
    assert t("Thank you: the results of activity #{id} are in and it now counts toward the quarter.",
             lang).format(id=activity.id) == done
    [row] = await activity_rows(running_bot)
    assert (row.state, row.result_attendance, row.result_leads, row.result_orders, row.actual_expenses_fen) == \
        ("completed", 40, 9, 2, 1_180_000)
    async with running_bot.sessionmaker() as session:
        receipts = (await session.execute(select(ActivityReceipt))).scalars().all()
        leads = (await session.execute(select(ActivityLead))).scalars().all()
    assert len(receipts) == 2 and [lead.phone for lead in leads] == ["+8613955550003"]


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_blank_city_and_address_are_refused_at_their_step(people: People, running_bot: BotUnderTest,
                                                                lang: str) -> None:
    requester = await people.onboarded("dealer_gm", "dlr-tangshan", "13912340033", language_code=lang)
    await requester.send(t("🎪 Request activity", lang))
    await requester.tap(pb("activity_types", "roadshow", lang))
    await requester.tap(pb("product_lines", "tx", lang))
    await requester.tap(pb("series", "tx_tractor_gtl", lang))
    await requester.send(FUTURE)
    blank_city = t("The city can't be blank. Please send the name of the county-level city.", lang)
    blank_address = t("The address can't be blank. Please send the address of the venue.", lang)
    blanks = ("   ", "\u3000\u3000", " \t \n ")
    for blank in blanks:
        assert text_of(await requester.send(blank)) == blank_city, repr(blank)
    assert text_of(await requester.send("  Luannan ")) == t("At which address (venue)?", lang)
    for blank in blanks:
        assert text_of(await requester.send(blank)) == blank_address, repr(blank)
    assert text_of(await requester.send("Depot")) == \
        t("Which customers is it for? Tap all that apply, then Done.", lang)
    await requester.tap(pb("natures", "individual", lang))
    await requester.tap(t("Done", lang))
    await requester.send("20")
    await requester.send("Venue 3000")
    await requester.send("Roadshow")
    # Editing from the summary refuses a blank answer the same way, and keeps the old one.
    await requester.tap("✏️ " + t("City", lang))
    assert text_of(await requester.send("   ")) == blank_city
    summary = text_of(await requester.send("Leting"))
    assert t("Where: {city}, {address}", lang).format(city="Leting", address="Depot") in summary
    await requester.tap("✏️ " + t("Address", lang))
    assert text_of(await requester.send("\u3000")) == blank_address
    await requester.send("Square")
    await requester.tap(t("📨 Submit", lang))
    [row] = await activity_rows(running_bot)
    assert (row.city, row.address) == ("Leting", "Square")
