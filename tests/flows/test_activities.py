"""Marketing activities end to end through the local Bot API server: request → three-level approval in chat →
results → evaluation, edits before submitting, /activities and /activity N, and who may see what."""

from __future__ import annotations

import json
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
        assert "有一项行销活动等待您审批" in c.specialist.texts()[-1]  # i18n-ok

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

    await c.region.tap(t("✅ Approve", lang))
    assert not c.hq.inline_buttons() or f"#{activity.id}" in c.hq.texts()[-1]
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


async def test_bad_answers_reask(people: People, running_bot: BotUnderTest) -> None:
    requester = await people.onboarded("dealer_gm", "dlr-tangshan", "13912340003", language_code="en")
    await requester.send(t("🎪 Request activity", "en"))
    await requester.tap(pb("activity_types", "roadshow", "en"))
    await requester.tap(pb("product_lines", "tx", "en"))
    await requester.tap(pb("series", "tx_tractor_gtl", "en"))
    assert "2026-12-05 14:00" in text_of(await requester.send("next friday"))
    assert "must start in the future" in text_of(await requester.send("2020-01-01 10:00"))
    await requester.send(FUTURE)
    await requester.send("Luannan")
    await requester.send("Depot")
    assert "at least one" in (await _tap_done_alert(requester, running_bot))
    await requester.tap(pb("natures", "individual", "en"))
    await requester.tap("Done")
    assert "whole number" in text_of(await requester.send("many"))
    await requester.send("20")
    assert "one item per line" in text_of(await requester.send("lots of money"))


async def _tap_done_alert(chat: Chat, runner: BotUnderTest) -> str:
    await chat.tap("Done")
    return last_answer(runner)


async def test_lists_and_scope(people: People, running_bot: BotUnderTest) -> None:
    c = await cast(people, "en")
    activity = await submitted(c, running_bot)
    mine = text_of(await c.requester.send("/activities"))
    assert "My requests:" in mine and f"#{activity.id}" in mine and "Waiting for approval" in mine
    assert "Held this quarter" in mine and "Product promotion activities 0" in mine  # pending doesn't count
    waiting = text_of(await c.specialist.send(t("📋 Activities", "en")))
    assert "Waiting for you:" in waiting and f"#{activity.id}" in waiting
    assert f"#{activity.id}" not in text_of(await c.region.send("/activities"))  # not its turn yet
    shown = text_of(await c.region.send(f"/activity {activity.id}"))
    assert "Zhengding" in shown and not c.region.inline_buttons()

    for outsider in (
        await people.onboarded("marketing_manager", "mkt-shandong", "13800000011", language_code="en"),
        await people.onboarded("region_manager", "southwest", "13800000006", language_code="en"),
        await people.onboarded("dealer_gm", "dlr-tangshan", "13912340009", language_code="en"),
    ):
        assert text_of(await outsider.send(f"/activity {activity.id}")) == "Activity request not found."
        assert f"#{activity.id}" not in text_of(await outsider.send("/activities"))
    assert text_of(await c.requester.send("/activity 999")) == "Activity request not found."


async def test_only_dealer_staff_request(people: People) -> None:
    manager = await people.onboarded("marketing_manager", "mkt-hebei", "13800000007", language_code="en")
    assert "🎪 Request activity" not in (manager.reply_keyboard() or [])
    assert "📋 Activities" in (manager.reply_keyboard() or [])
    assert text_of(await manager.send("/activity_new")) == "Your role doesn't allow this."


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
