"""Approving in chat: rejection, send back and resubmit, reminders and escalation, and every tap that must
change nothing (stale, repeated, forged, replayed, someone else's)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from aiogram import Bot
from sqlalchemy import text
from sqlmodel import select

from app import runner
from app.intake import Intake
from app.scheduler import Background, start_scheduler
from bot.config import Settings
from pushes.approval_watch import approval_watch
from storage.models import Activity, AuditLog
from tests.conftest import People
from tests.flows.test_activities import (
    LOCALES,
    activity_rows,
    cast,
    decisions,
    last_answer,
    submitted,
    t,
    tap_delivered_twice,
)
from tests.flows.test_scheduled_pushes import SHANGHAI
from tests.support.harness import BotUnderTest, text_of
from ui.activities import ApprovalCb, stamp


async def audit_of(runner: BotUnderTest, activity_id: int) -> list[AuditLog]:
    async with runner.sessionmaker() as session:
        query = select(AuditLog).where(AuditLog.subject == f"activity:{activity_id}").order_by(AuditLog.id)
        return list((await session.execute(query)).scalars())


async def row(runner: BotUnderTest, activity_id: int) -> Activity:
    async with runner.sessionmaker() as session:
        found = await session.get(Activity, activity_id)
        assert found is not None
        return found


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_rejection_needs_a_comment_and_tells_the_requester(people: People, running_bot: BotUnderTest,
                                                                 lang: str) -> None:
    c = await cast(people, lang)
    activity = await submitted(c, running_bot)
    assert activity.id is not None
    asked = text_of(await c.marketing.tap(t("❌ Reject", lang)))
    assert t("Why is activity #{id} rejected? Please write a comment for the requester.", lang).format(
        id=activity.id) in asked
    assert (await row(running_bot, activity.id)).state == "pending"  # nothing decided before the comment
    reply = text_of(await c.marketing.send("Budget far too high for a county launch"))
    assert t("You rejected activity #{id}. The requester has been told.", lang).format(id=activity.id) in reply
    told = c.requester.texts()[-1]
    assert t("❌ Activity #{id} was rejected by {level} ({name}): {comment}", lang).format(
        id=activity.id, level=t("Market department", lang), name="郑敏",  # i18n-ok: demo name
        comment="Budget far too high for a county launch") == told
    stored = await row(running_bot, activity.id)
    assert (stored.state, stored.version) == ("rejected", 2)
    [decision] = await decisions(running_bot, activity.id)
    assert (decision.decision, decision.level, decision.comment) == \
        ("reject", "market", "Budget far too high for a county launch")
    entry = (await audit_of(running_bot, activity.id))[-1]
    assert entry.action == "activity.reject" and entry.actor_staff_id == decision.actor_staff_id
    assert "Budget far too high" in entry.detail and entry.at is not None
    # The other approver's card is stale now.
    await c.specialist.tap(t("✅ Approve", lang))
    assert last_answer(running_bot) == t("This request has already been decided. Nothing was changed.", lang)
    assert (await row(running_bot, activity.id)).state == "rejected"


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
async def test_send_back_edit_and_resubmit_restarts_the_chain(people: People, running_bot: BotUnderTest,
                                                              lang: str) -> None:
    c = await cast(people, lang)
    activity = await submitted(c, running_bot)
    assert activity.id is not None
    await c.specialist.tap(t("✅ Approve", lang))
    await c.region.tap(t("✏️ Ask for changes", lang))
    await c.region.send("Split the catering into its own event")
    told = c.requester.texts()[-1]
    assert "Split the catering into its own event" in told
    stored = await row(running_bot, activity.id)
    assert (stored.state, stored.step_index, stored.version) == ("changes_requested", 1, 3)

    await c.requester.tap(t("✏️ Edit and resubmit", lang))
    await c.requester.tap("✏️ " + t("Budget", lang))
    summary = text_of(await c.requester.send("Venue 3000\nGifts 2,500"))
    assert "5,500.00" in summary
    old_market_card = running_bot.api.sent_messages(c.marketing.id)[-1]
    await c.requester.tap(t("📨 Submit", lang))
    stored = await row(running_bot, activity.id)
    assert (stored.state, stored.step_index, stored.version, stored.budget_fen) == ("pending", 0, 4, 550_000)
    assert stored.chain == "market,region,hq"  # a launch event still climbs to HQ
    # The chain starts again at the market department with fresh buttons; old ones are stale.
    assert f"#{activity.id}" in c.marketing.texts()[-1]
    old_data = ApprovalCb(id=activity.id, v=1, d="a").pack()
    await c.marketing.press(old_market_card, old_data)
    assert last_answer(running_bot) == t("This request has already been decided. Nothing was changed.", lang)
    await c.marketing.tap(t("✅ Approve", lang))
    stored = await row(running_bot, activity.id)
    assert (stored.state, stored.step_index, stored.version) == ("pending", 1, 5)
    actions = [entry.action for entry in await audit_of(running_bot, activity.id)]
    assert actions == ["activity.submitted", "activity.approve", "activity.request_changes",
                       "activity.resubmitted", "activity.approve"]
    # The Edit button of the send-back notice is stale after resubmitting.
    await c.requester.tap(t("✏️ Edit and resubmit", lang))
    assert last_answer(running_bot) == t("This request is not waiting for changes.", lang)


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
async def test_forged_stale_duplicate_and_foreign_taps_change_nothing(people: People, running_bot: BotUnderTest,
                                                                      lang: str) -> None:
    c = await cast(people, lang)
    activity = await submitted(c, running_bot)
    assert activity.id is not None
    shandong = await people.onboarded("marketing_manager", "mkt-shandong", "13800000011", language_code=lang)
    southwest = await people.onboarded("region_manager", "southwest", "13800000006", language_code=lang)
    approve_v1 = ApprovalCb(id=activity.id, v=1, d="a").pack()

    async def forged(chat, data: str) -> str:  # type: ignore[no-untyped-def]
        await chat.press(running_bot.api.sent_messages(chat.id)[-1], data)
        return last_answer(running_bot)

    not_found = t("Activity request not found.", lang)
    assert await forged(shandong, approve_v1) == not_found  # a sibling market department
    assert await forged(southwest, approve_v1) == not_found  # another region
    assert await forged(c.region, approve_v1) == t("It is not your turn to decide on this request.", lang)
    assert await forged(c.requester, approve_v1) == t("Your role doesn't allow this.", lang)
    assert await forged(c.marketing, ApprovalCb(id=activity.id, v=7, d="a").pack()) == \
        t("This request has already been decided. Nothing was changed.", lang)  # a version never drawn
    assert await forged(c.marketing, ApprovalCb(id=activity.id, v=1, d="x").pack()) == \
        t("This button is no longer active.", lang)
    assert await forged(c.marketing, "apv:not-a-number") == t("This button is no longer active.", lang)
    assert await forged(c.marketing, ApprovalCb(id=999, v=1, d="a").pack()) == not_found
    assert (await row(running_bot, activity.id)).version == 1
    assert await decisions(running_bot, activity.id) == []

    card = running_bot.api.sent_messages(c.specialist.id)[-1]
    await c.specialist.press(card, approve_v1)
    assert (await row(running_bot, activity.id)).step_index == 1
    await c.specialist.press(card, approve_v1)  # the second tap of the same button
    assert last_answer(running_bot) == t("This request has already been decided. Nothing was changed.", lang)
    await c.marketing.press(running_bot.api.sent_messages(c.marketing.id)[-1], approve_v1)  # a replay
    assert last_answer(running_bot) == t("This request has already been decided. Nothing was changed.", lang)
    stored = await row(running_bot, activity.id)
    assert (stored.step_index, stored.version) == (1, 2)
    assert len(await decisions(running_bot, activity.id)) == 1
    # The region's card is for version 2; the other region manager in the wrong region can't use it either.
    approve_v2 = ApprovalCb(id=activity.id, v=2, d="a").pack()
    assert await forged(southwest, approve_v2) == not_found
    assert await forged(c.specialist, approve_v2) == t("It is not your turn to decide on this request.", lang)
    # A rejection tapped by the right approver but answered after someone else decided changes nothing.
    await c.region.tap(t("❌ Reject", lang))
    await c.marcom.tap(t("✅ Approve", lang))
    reply = text_of(await c.region.send("too late"))
    assert t("This request has already been decided. Nothing was changed.", lang) in reply
    stored = await row(running_bot, activity.id)
    assert (stored.state, stored.step_index) == ("pending", 2)
    assert [d.decision for d in await decisions(running_bot, activity.id)] == ["approve", "approve"]


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_reminder_then_escalation(people: People, running_bot: BotUnderTest, lang: str) -> None:
    c = await cast(people, lang)
    activity = await submitted(c, running_bot)
    assert activity.id is not None and activity.step_started_at is not None
    bot = running_bot.bot
    assert bot is not None
    start = activity.step_started_at

    report = await approval_watch(running_bot.sessionmaker, lambda: start + timedelta(hours=23))
    await running_bot.pushes_sent()
    assert (report.reminded, report.escalated) == (0, 0)

    before = len(c.region.texts())
    report = await approval_watch(running_bot.sessionmaker, lambda: start + timedelta(hours=25))
    await running_bot.pushes_sent()
    assert (report.reminded, report.escalated, report.messages) == (1, 0, 2)
    for approver in (c.specialist, c.marketing):
        assert t("⏰ Reminder: this activity request has been waiting for your decision for {hours} hours.",
                 lang).format(hours=25) in approver.texts()[-1]
        assert approver.inline_buttons()[0][0] == t("✅ Approve", lang)
    assert len(c.region.texts()) == before
    stored = await row(running_bot, activity.id)
    assert stored.reminded_at is not None and stored.escalated_at is None

    report = await approval_watch(running_bot.sessionmaker, lambda: start + timedelta(hours=26))
    await running_bot.pushes_sent()
    assert report.messages == 0  # one reminder per step

    report = await approval_watch(running_bot.sessionmaker, lambda: start + timedelta(hours=49))
    await running_bot.pushes_sent()
    assert (report.reminded, report.escalated) == (0, 1)
    for upper in (c.region, c.marcom):
        assert t("⚠️ Escalated to you: this activity request has been waiting at {level} for {hours} hours. "
                 "Please follow up with them.", lang).format(level=t("Market department", lang), hours=49) \
            in upper.texts()[-1]
    if lang == "zh-hans":
        assert "已上报给您" in c.region.texts()[-1]  # i18n-ok
    stored = await row(running_bot, activity.id)
    assert stored.escalated_at == start + timedelta(hours=49)
    actions = [entry.action for entry in await audit_of(running_bot, activity.id)]
    assert actions[-2:] == ["activity.remind", "activity.escalate"]

    report = await approval_watch(running_bot.sessionmaker, lambda: start + timedelta(hours=80))
    await running_bot.pushes_sent()
    assert report.messages == 0  # escalated once

    # Deciding starts the next step's clock afresh: the region is not overdue at once.
    await c.specialist.tap(t("✅ Approve", lang))
    report = await approval_watch(running_bot.sessionmaker, lambda: start + timedelta(hours=23))
    await running_bot.pushes_sent()
    assert report.messages == 0
    [stored] = await activity_rows(running_bot)
    assert (stored.step_index, stored.reminded_at, stored.escalated_at) == (1, None, None)


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_watch_asks_for_results_after_the_activity(people: People, running_bot: BotUnderTest,
                                                         lang: str) -> None:
    c = await cast(people, lang)
    activity = await submitted(c, running_bot, activity_type="roadshow", attendance="20", budget="Venue 3000")
    assert activity.chain == "market" and activity.id is not None
    await c.marketing.tap(t("✅ Approve", lang))
    assert (await row(running_bot, activity.id)).state == "approved"
    bot = running_bot.bot
    assert bot is not None
    after = activity.starts_at + timedelta(hours=3)
    report = await approval_watch(running_bot.sessionmaker, lambda: after)
    await running_bot.pushes_sent()
    assert (report.results_asked, report.messages) == (1, 1)
    assert c.requester.texts()[-1] == t("Activity #{id} has taken place. Please report its results: attendance, "
                                        "leads, orders and the actual expenses with receipt photos.",
                                        lang).format(id=activity.id)
    assert c.requester.inline_buttons() == [(t("📝 Report results", lang), f"ares:{activity.id}")]
    report = await approval_watch(running_bot.sessionmaker, lambda: after)
    await running_bot.pushes_sent()
    assert report.results_asked == 0


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_comment_step_survives_a_restart(people: People, running_bot: BotUnderTest, lang: str) -> None:
    c = await cast(people, lang)
    activity = await submitted(c, running_bot)
    assert activity.id is not None
    await c.marketing.tap(t("✏️ Ask for changes", lang))
    await running_bot.restart()
    reply = text_of(await c.marketing.send("Move it to a weekend"))
    assert t("You sent activity #{id} back for changes. The requester has been told.", lang).format(
        id=activity.id) in reply
    assert "Move it to a weekend" in c.requester.texts()[-1]
    assert c.requester.inline_buttons() == [(t("✏️ Edit and resubmit", lang), f"aedit:{activity.id}:2")]
    stored = await row(running_bot, activity.id)
    assert (stored.state, stored.version) == ("changes_requested", 2)
    [decision] = await decisions(running_bot, activity.id)
    assert (decision.decision, decision.comment) == ("request_changes", "Move it to a weekend")

    # The requester's edit flow survives a restart too, and the resubmission restarts the chain.
    await c.requester.tap(t("✏️ Edit and resubmit", lang))
    await running_bot.restart()
    await c.requester.tap(t("📨 Submit", lang))
    stored = await row(running_bot, activity.id)
    assert (stored.state, stored.step_index, stored.version) == ("pending", 0, 3)


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_approve_delivered_twice_decides_once(people: People, running_bot: BotUnderTest, lang: str) -> None:
    c = await cast(people, lang)
    activity = await submitted(c, running_bot)
    assert activity.id is not None
    told_before, region_before = len(c.requester.texts()), len(c.region.texts())
    replies = await tap_delivered_twice(c.marketing, t("✅ Approve", lang))
    assert [m.get("text") for m in replies] == [t("You approved activity #{id}.", lang).format(id=activity.id)]
    stored = await row(running_bot, activity.id)
    assert (stored.state, stored.step_index, stored.version) == ("pending", 1, 2)
    assert len(await decisions(running_bot, activity.id)) == 1
    assert [e.action for e in await audit_of(running_bot, activity.id)] == ["activity.submitted", "activity.approve"]
    assert len(c.requester.texts()) == told_before + 1  # told once
    assert len(c.region.texts()) == region_before + 1  # the next level got one card

    # A Reject tap delivered twice asks for the comment once; the comment then decides once.
    replies = await tap_delivered_twice(c.region, t("❌ Reject", lang))
    asked = t("Why is activity #{id} rejected? Please write a comment for the requester.", lang).format(
        id=activity.id)
    # The second delivery may ask again (nothing is decided before the comment), but says nothing else.
    assert asked in [m.get("text") for m in replies] and {m.get("text") for m in replies} == {asked}
    assert (await row(running_bot, activity.id)).version == 2
    await c.region.send("No budget left this quarter")
    stored = await row(running_bot, activity.id)
    assert (stored.state, stored.version) == ("rejected", 3)
    assert [d.decision for d in await decisions(running_bot, activity.id)] == ["approve", "reject"]


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_escalation_reaches_the_level_above_and_shows_in_the_history(people: People, running_bot: BotUnderTest,
                                                                           lang: str) -> None:
    c = await cast(people, lang)
    activity = await submitted(c, running_bot)
    assert activity.id is not None and activity.step_started_at is not None
    bot = running_bot.bot
    assert bot is not None
    at = activity.step_started_at + timedelta(hours=50)
    await approval_watch(running_bot.sessionmaker, lambda: at)
    await running_bot.pushes_sent()
    escalated = t("⚠️ Escalated to you: this activity request has been waiting at {level} for {hours} hours. "
                  "Please follow up with them.", lang).format(level=t("Market department", lang), hours=50)
    for upper in (c.region, c.marcom):
        assert upper.texts()[-1].startswith(escalated) and f"#{activity.id}" in upper.texts()[-1]
        assert "13912340001" not in upper.texts()[-1]
    assert all(f"#{activity.id}" not in text for text in c.hq.texts())  # only one level up

    line = t("{when} escalated to {upper}: no decision at {level} for {hours} hours", lang).format(
        when=stamp(at, running_bot.settings.tz, LOCALES[lang]), upper=t("Region", lang),
        level=t("Market department", lang), hours=50)
    for viewer in (c.requester, c.region, c.marketing):
        shown = text_of(await viewer.send(f"/activity {activity.id}"))
        assert t("History:", lang) in shown and line in shown
    # Decisions and escalations share the history, ordered by time (the watch ran on a clock 50 hours ahead).
    await c.marketing.tap(t("✅ Approve", lang))
    history = text_of(await c.requester.send(f"/activity {activity.id}")).split(t("History:", lang))[1]
    entries = [entry.strip() for entry in history.strip().splitlines()]
    assert len(entries) == 2 and entries[1] == line
    approved = t("{when} {level}: {decision} by {name}", lang).format(
        when="", level=t("Market department", lang), decision=t("approved", lang), name="郑敏")  # i18n-ok: demo
    assert entries[0].endswith(approved.strip())


async def test_watch_goes_on_past_an_activity_that_fails(people: People, running_bot: BotUnderTest) -> None:
    c = await cast(people, "en")
    broken = await submitted(c, running_bot, activity_type="roadshow", attendance="20", budget="Venue 3000")
    fine = await submitted(c, running_bot, activity_type="roadshow", attendance="20", budget="Venue 4000")
    assert broken.id is not None and fine.id is not None and fine.step_started_at is not None
    async with running_bot.sessionmaker() as session:  # a row no card can be drawn for
        stored = await session.get(Activity, broken.id)
        assert stored is not None
        stored.natures = "no_such_nature"
        await session.commit()
    bot = running_bot.bot
    assert bot is not None
    before = len(c.marketing.texts())
    at = fine.step_started_at + timedelta(hours=25)
    report = await approval_watch(running_bot.sessionmaker, lambda: at)
    await running_bot.pushes_sent()
    assert (report.reminded, report.messages) == (2, 4)  # both due, two approvers each; the broken one can't be drawn
    new = c.marketing.texts()[before:]
    assert len(new) == 1 and f"#{fine.id}" in new[0] and new[0].startswith("⏰ Reminder")
    assert (await row(running_bot, fine.id)).reminded_at is not None
    async with running_bot.sessionmaker() as session:  # the broken card's rows failed, with the reason kept
        failed = (await session.execute(text(
            "SELECT COUNT(*) FROM outbox WHERE status = 'failed' AND params LIKE :id"),
            {"id": f'%"activity_id": {broken.id},%'})).scalar_one()
    assert failed == 2


async def test_the_running_scheduler_sends_the_reminder(people: People, running_bot: BotUnderTest) -> None:
    """The watch run by APScheduler itself, not called by the test: its job body was once an object with an async
    __call__, which APScheduler ran in a thread, making a coroutine nobody awaited. No reminder, digest or greeting
    was ever sent by a running bot, and every test that called the job bodies directly passed."""
    c = await cast(people, "en")
    activity = await submitted(c, running_bot)
    assert activity.id is not None and activity.step_started_at is not None
    later = activity.step_started_at + timedelta(hours=25)
    scheduler = start_scheduler(running_bot.sessionmaker, lambda: later, SHANGHAI, every_minutes=60)
    try:
        scheduler.modify_job("approval_watch", next_run_time=datetime.now(SHANGHAI))
        for _ in range(200):
            if (await row(running_bot, activity.id)).reminded_at is not None:
                break
            await asyncio.sleep(0.05)
        await running_bot.pushes_sent()
    finally:
        scheduler.shutdown(wait=False)
    assert (await row(running_bot, activity.id)).reminded_at is not None
    for approver in (c.specialist, c.marketing):
        assert t("⏰ Reminder: this activity request has been waiting for your decision for {hours} hours.",
                 "en").format(hours=25) in approver.texts()[-1]


async def test_running_the_bot_starts_the_approval_watch(settings: Settings,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Background] = []
    seen: dict[str, object] = {}

    class Spy(Background):
        def start(self) -> None:
            super().start()
            started.append(self)

    async def fake_serve(intake: Intake, bot: Bot, _settings: Settings, _webhook_url: str | None) -> None:
        [background] = started
        job = background.scheduler.get_job("approval_watch")
        seen.update(running=background.scheduler.running, func=job.func.__wrapped__ if job else None,
                    interval=job.trigger.interval if job else None)
        await bot.session.close()

    monkeypatch.setattr(runner, "Background", Spy)
    monkeypatch.setattr(runner, "serve", fake_serve)
    await runner.run_bot(settings)
    assert seen == {"running": True, "func": approval_watch,
                    "interval": timedelta(minutes=settings.approval_watch_minutes)}
    assert not started[0].scheduler.running  # stopped with the bot


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_forged_edit_results_and_score_taps_change_nothing(people: People, running_bot: BotUnderTest,
                                                                 lang: str) -> None:
    c = await cast(people, lang)
    activity = await submitted(c, running_bot, activity_type="roadshow", attendance="20", budget="Venue 3000")
    assert activity.id is not None and activity.chain == "market"
    other_dealer = await people.onboarded("dealer_gm", "dlr-tangshan", "13912340031", language_code=lang)
    shandong = await people.onboarded("marketing_manager", "mkt-shandong", "13800000011", language_code=lang)
    not_found = t("Activity request not found.", lang)

    async def forged(chat, data: str) -> str:  # type: ignore[no-untyped-def]
        await chat.press(running_bot.api.sent_messages(chat.id)[-1], data)
        return last_answer(running_bot)

    await c.marketing.tap(t("✏️ Ask for changes", lang))
    await c.marketing.send("Add the address of the depot")
    edit = f"aedit:{activity.id}:2"
    assert await forged(other_dealer, edit) == not_found
    assert await forged(c.marketing, edit) == not_found  # not the requester's own request
    assert await forged(c.requester, f"aedit:{activity.id}:1") == \
        t("This request has already been decided. Nothing was changed.", lang)
    await c.requester.tap(t("✏️ Edit and resubmit", lang))
    await c.requester.tap(t("📨 Submit", lang))
    await c.marketing.tap(t("✅ Approve", lang))
    assert (await row(running_bot, activity.id)).state == "approved"

    results = f"ares:{activity.id}"
    assert await forged(other_dealer, results) == not_found
    assert await forged(c.marketing, results) == not_found
    score = f"aev:{activity.id}:5"
    not_yet = t("This activity has no results to evaluate, or it was evaluated already.", lang)
    assert await forged(c.specialist, score) == not_yet  # nothing reported yet
    await c.requester.tap(t("📝 Report results", lang))
    await c.requester.send("18")
    await c.requester.send("4")
    await c.requester.tap(t("Skip", lang))
    await c.requester.send("1")
    assert text_of(await c.requester.send("abc")) == t("Please send an amount in yuan, e.g. 11800.", lang)
    await c.requester.send("2800")
    await c.requester.send_photo()
    await c.requester.tap(t("Done", lang))
    await c.requester.tap(t("📨 Submit", lang))
    assert (await row(running_bot, activity.id)).state == "completed"
    assert await forged(c.requester, results) == t("Results can be reported once, for an approved activity.", lang)

    assert await forged(c.requester, score) == t("Your role doesn't allow this.", lang)  # their own activity
    assert await forged(shandong, score) == not_found
    assert await forged(c.region, score) == t("Your role doesn't allow this.", lang)  # not in this chain
    assert await forged(c.specialist, f"aev:{activity.id}:9") == t("This button is no longer active.", lang)
    stored = await row(running_bot, activity.id)
    assert (stored.state, stored.score, stored.evaluated_at) == ("completed", None, None)

    await c.specialist.tap("5⭐")
    await c.specialist.tap(t("Skip", lang))
    assert await forged(c.marketing, f"aev:{activity.id}:1") == not_yet  # a second reviewer, too late
    stored = await row(running_bot, activity.id)
    assert (stored.state, stored.score, stored.evaluation_comment) == ("evaluated", 5, None)
    assert [e.action for e in await audit_of(running_bot, activity.id)].count("activity.evaluated") == 1
