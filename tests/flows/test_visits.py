"""Visit reports by chat: location proof (verified, out of range, none), follow-up dates, Back, /cancel,
double Submit, restart mid-flow, and the next best action."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.domain.fieldwork import distance_m
from conversations.visit_report import VisitPick
from storage.models import Customer, Visit
from tests.conftest import People
from tests.flows.test_activities import LOCALES, t
from tests.flows.test_customers import (
    create_customer,
    customers_named,
    delivered_twice,
    last_alert,
    latest_with,
    pb_label,
    tap_data,
    tap_delivered_twice,
)
from tests.support.harness import BotUnderTest, Chat, text_of
from ui.calendar import CalendarCb
from ui.customers import CustomerAction
from ui.labels import format_day

SHIJIAZHUANG = (38.0428, 114.5149)


def format_day_in(day, language_code: str) -> str:  # type: ignore[no-untyped-def]
    return format_day(day, LOCALES[language_code])


def today_local():  # type: ignore[no-untyped-def]
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


async def vpick(chat: Chat, field: str, value: str = "") -> list[dict]:  # type: ignore[type-arg]
    return await tap_data(chat, VisitPick(field=field, value=value).pack())


def latest_calendar(chat: Chat) -> dict:  # type: ignore[type-arg]
    for message in reversed(chat.runner.api.sent_messages(chat.id)):
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        if any(str(button.get("callback_data", "")).startswith("cal:") for row in rows for button in row):
            return message
    raise LookupError("no calendar shown")


async def visits_of(runner: BotUnderTest, customer_id: int) -> list[Visit]:
    async with runner.sessionmaker() as session:
        query = select(Visit).where(Visit.customer_id == customer_id).order_by(Visit.id)  # type: ignore[arg-type]
        return list((await session.execute(query)).scalars())


async def reload(runner: BotUnderTest, customer_id: int) -> Customer:
    async with runner.sessionmaker() as session:
        customer = await session.get(Customer, customer_id)
        assert customer is not None
        return customer


async def new_rep_with_customer(people: People, runner: BotUnderTest, phone: str, customer_phone: str,
                                language_code: str, org: str = "dlr-shijiazhuang") -> tuple[Chat, Customer]:
    chat = await people.onboarded("sales_rep", org, phone, language_code=language_code)
    name = f"Customer {customer_phone[-4:]}"
    await create_customer(chat, name, customer_phone)
    [customer] = await customers_named(runner, name)
    return chat, customer


async def visit_until_location(chat: Chat, customer: Customer, *, stage: str = "need") -> None:
    await chat.send("/visit")
    await vpick(chat, "cust", str(customer.id))
    await vpick(chat, "kind", "door_visit")
    await vpick(chat, "outcome", "reached_need")
    await vpick(chat, "stage", stage)
    await chat.send("Needs two dump trucks before March")
    await vpick(chat, "day", (today_local() + timedelta(days=3)).isoformat())


@pytest.mark.parametrize("language_code", ["zh-hans", "en"])
async def test_first_location_is_recorded_then_out_of_range_then_verified(people: People, running_bot: BotUnderTest,
                                                                          language_code: str) -> None:
    lang = language_code
    chat, customer = await new_rep_with_customer(people, running_bot, "13900000201", "13912340201", language_code)
    await visit_until_location(chat, customer)
    asked = chat.runner.api.calls_to(chat.id, "sendMessage")[-2].params["reply_markup"]
    assert asked["keyboard"][0][0].get("request_location") is True
    await chat.send_location(*SHIJIAZHUANG)
    await vpick(chat, "photo")
    summary = text_of(await vpick(chat, "submit"))
    # No known location yet: it becomes the customer's location, and the visit says so instead of "verified".
    assert t("📌 Location recorded as the customer's location (not verified: there was no known location to compare "
             "with). Later visits are checked against it.", lang) in summary
    assert t("✅ Location verified: the visit happened at the customer's place.", lang) not in summary
    assert t("Next best action for “{stage}”:", lang).format(stage=pb_label("stages", "need", lang)) in summary
    assert pb_label("actions", "phone_check", language_code) in summary  # individual business at "need"
    assert pb_label("scripts", "phone_follow_up", language_code) in summary

    [first] = await visits_of(running_bot, customer.id)  # type: ignore[arg-type]
    assert (first.location_status, first.lat, first.lon, first.stage_after) == ("recorded", *SHIJIAZHUANG, "need")
    assert first.notes == "Needs two dump trucks before March" and first.live_period is None
    stored = await reload(running_bot, customer.id)  # type: ignore[arg-type]
    assert (stored.known_lat, stored.known_lon, stored.stage) == (*SHIJIAZHUANG, "need")
    assert stored.next_follow_up == today_local() + timedelta(days=3)

    # second visit 50 km north, shared live for 15 minutes: out of range, distance shown; the known location stays
    far = (SHIJIAZHUANG[0] + 0.45, SHIJIAZHUANG[1])
    await visit_until_location(chat, customer, stage="follow_up")
    assert text_of(await chat.send_location(*far, live_period=900)).startswith(t("📍 Live location received.", lang))
    await chat.send_photo()
    result = text_of(await vpick(chat, "submit"))
    distance = f"{distance_m(*SHIJIAZHUANG, *far) / 1000:.1f}"
    assert t("⚠️ Location out of range: {distance} away from the customer's known location.", lang).format(
        distance=t("{km} km", lang).format(km=distance)) in result
    second = (await visits_of(running_bot, customer.id))[-1]  # type: ignore[arg-type]
    assert (second.location_status, second.live_period) == ("out_of_range", 900)
    assert second.distance_m is not None and 49_000 < second.distance_m < 51_000 and second.photo_file_id
    stored = await reload(running_bot, customer.id)  # type: ignore[arg-type]
    assert (stored.known_lat, stored.known_lon, stored.stage) == (*SHIJIAZHUANG, "follow_up")

    # third visit 100 m from the known location: verified
    near = (SHIJIAZHUANG[0] + 0.0009, SHIJIAZHUANG[1])
    await visit_until_location(chat, customer, stage="follow_up")
    await chat.send_location(*near, live_period=600)
    await vpick(chat, "photo")
    assert t("✅ Location verified: the visit happened at the customer's place.", lang) in text_of(
        await vpick(chat, "submit"))
    assert [v.location_status for v in await visits_of(running_bot, customer.id)] == [  # type: ignore[arg-type]
        "recorded", "out_of_range", "verified"]

    # the rep's /today counts the recorded visit apart from the verified one
    today = text_of(await chat.send("/today"))
    assert t("Visits: {visits} ({verified} verified)", lang).format(visits=3, verified=1) in today
    assert t("Visits with the location only recorded (not verified): {count}", lang).format(count=1) in today

    # a manager above sees each visit's verification status (and the live period) on the card, and counts in /team
    manager = await people.onboarded("region_manager", "north", "13800000003", language_code=language_code)
    card = text_of(await manager.send(f"/customer {customer.id}"))
    assert t("📌 location recorded as the customer's (not verified)", lang) in card
    assert t("⚠️ out of range: {distance} away", lang).format(distance=t("{km} km", lang).format(km=distance)) \
        + t(" · live location, {minutes} min", lang).format(minutes=15) in card
    assert t("✅ location verified", lang) + t(" · live location, {minutes} min", lang).format(minutes=10) in card
    team = text_of(await manager.send("/team"))
    for line, count in [("✅ Location verified: {count}", 1), ("📌 Location only recorded (first visit, not verified): "
                                                               "{count}", 1), ("⚠️ Out of range: {count}", 1),
                        ("❔ No location: {count}", 0), ("Visits in the last 30 days: {count}", 3)]:
        assert t(line, lang).format(count=count) in team, line


@pytest.mark.parametrize("language_code", ["zh-hans", "en"])
async def test_forwarded_location_and_photo_are_no_proof(people: People, running_bot: BotUnderTest,
                                                         language_code: str) -> None:
    lang = language_code
    chat, customer = await new_rep_with_customer(people, running_bot, "13900000203", "13912340203", language_code)
    await visit_until_location(chat, customer)
    origin = {"type": "hidden_user", "sender_user_name": "Someone", "date": 1_700_000_000}
    forwarded = text_of(await chat.send_fields(location={"latitude": SHIJIAZHUANG[0],
                                                         "longitude": SHIJIAZHUANG[1]}, forward_origin=origin))
    assert t("That location was forwarded from another chat, so it proves nothing about this visit. Please share "
             "your own location from where you are.", lang) in forwarded
    assert chat.last_markup()["inline_keyboard"]  # type: ignore[index]  # asked again, Skip offered
    await chat.send_location(*SHIJIAZHUANG)
    photo = {"file_id": "forwarded-photo", "file_unique_id": "fwd", "width": 90, "height": 90}
    refused = text_of(await chat.send_fields(photo=[photo], forward_origin=origin))
    assert t("That photo was forwarded from another chat. Please take and send your own photo of this visit, or "
             "tap Skip.", lang) in refused
    await chat.send_photo()
    await vpick(chat, "submit")
    [visit] = await visits_of(running_bot, customer.id)  # type: ignore[arg-type]
    assert visit.photo_file_id != "forwarded-photo" and visit.location_status == "recorded"


@pytest.mark.parametrize("language_code", ["zh-hans", "en"])
async def test_not_reached_keeps_the_stage_and_replans(people: People, running_bot: BotUnderTest,
                                                       language_code: str) -> None:
    lang = language_code
    chat, customer = await new_rep_with_customer(people, running_bot, "13900000204", "13912340204", language_code)
    await chat.send("/visit")
    await vpick(chat, "cust", str(customer.id))
    await vpick(chat, "kind", "phone_revisit")
    notes = text_of(await vpick(chat, "outcome", "not_reached"))  # no stage step: nothing can have changed
    assert notes.startswith(t("Notes on the visit (what the customer said, needs, next steps)? Send text, or Skip.",
                              lang))
    replan = text_of(await vpick(chat, "notes"))
    assert t("Not reached: plan another try. When will you contact the customer again?", lang) in replan
    offered = [label for label, _ in chat.inline_buttons()]
    assert t("In 3 days ({day})", lang).format(day=format_day_in(today_local() + timedelta(days=3), lang)) in offered
    day = today_local() + timedelta(days=3)
    await vpick(chat, "day", day.isoformat())  # a phone revisit: no location step, the photo is next
    summary = text_of(await vpick(chat, "photo"))
    assert t("Stage after: {stage}", lang).format(stage=pb_label("stages", customer.stage, lang)) in summary
    done = text_of(await vpick(chat, "submit"))
    assert t("🔁 Not reached: re-planned, try again on {day}.", lang).format(day=format_day_in(day, lang)) in done
    [visit] = await visits_of(running_bot, customer.id)  # type: ignore[arg-type]
    assert (visit.outcome, visit.stage_after, visit.next_follow_up) == ("not_reached", customer.stage, day)
    stored = await reload(running_bot, customer.id)  # type: ignore[arg-type]
    assert (stored.stage, stored.next_follow_up) == (customer.stage, day)


@pytest.mark.parametrize(("language_code", "expects"), [
    ("zh-hans", "未核实"),  # i18n-ok
    ("en", "not verified"),
])
async def test_visit_without_location_is_unverified(people: People, running_bot: BotUnderTest,
                                                    language_code: str, expects: str) -> None:
    chat, customer = await new_rep_with_customer(people, running_bot, "13900000202", "13912340202", language_code)
    await visit_until_location(chat, customer)
    await vpick(chat, "loc")
    await vpick(chat, "photo")
    assert expects in text_of(await vpick(chat, "submit"))
    [visit] = await visits_of(running_bot, customer.id)  # type: ignore[arg-type]
    assert (visit.location_status, visit.lat, visit.distance_m) == ("unverified", None, None)
    assert (await reload(running_bot, customer.id)).known_lat is None  # type: ignore[arg-type]


@pytest.mark.parametrize(("language_code", "expects"), [
    ("zh-hans", "日期已过"),  # i18n-ok
    ("en", "already passed"),
])
async def test_past_follow_up_is_refused(people: People, running_bot: BotUnderTest, language_code: str,
                                         expects: str) -> None:
    chat, customer = await new_rep_with_customer(people, running_bot, "13900000203", "13912340203", language_code)
    await chat.send("/visit")
    await vpick(chat, "cust", str(customer.id))
    await vpick(chat, "kind", "phone_revisit")
    await vpick(chat, "outcome", "reached_no_need")
    await vpick(chat, "stage", "collect")  # staying put is fine
    await vpick(chat, "notes")
    today = today_local()
    await vpick(chat, "cal")
    calendar = latest_calendar(chat)
    days = {CalendarCb.unpack(data).value: CalendarCb.unpack(data) for _label, data in chat.inline_buttons()
            if data and data.startswith("cal:") and CalendarCb.unpack(data).action == "day"}
    assert today.isoformat() in days
    assert (today - timedelta(days=1)).isoformat() not in days  # shown as a dot, not tappable
    tag = days[today.isoformat()].tag
    yesterday = CalendarCb(flow="visit", tag=tag, action="day", value=(today - timedelta(days=1)).isoformat())
    refused = text_of(await chat.press(calendar, yesterday.pack()))
    assert expects in refused
    # still on the follow-up step: a valid day moves on (phone revisit: no location step)
    await vpick(chat, "day", today.isoformat())
    assert VisitPick(field="photo", value="").pack() in [data for _label, data in chat.inline_buttons()]
    await vpick(chat, "photo")
    await vpick(chat, "submit")
    [visit] = await visits_of(running_bot, customer.id)  # type: ignore[arg-type]
    assert visit.next_follow_up == today and visit.location_status == "unverified"


async def test_stage_move_backwards_is_refused(people: People, running_bot: BotUnderTest) -> None:
    chat, customer = await new_rep_with_customer(people, running_bot, "13900000204", "13912340204", "en")
    await visit_until_location(chat, customer, stage="maintain")
    await vpick(chat, "loc")
    await vpick(chat, "photo")
    await vpick(chat, "submit")
    await chat.send("/visit")
    await vpick(chat, "cust", str(customer.id))
    await vpick(chat, "kind", "door_visit")
    await vpick(chat, "outcome", "reached_need")
    refused = text_of(await vpick(chat, "stage", "need"))
    assert "can't move back" in refused
    assert VisitPick(field="stage", value="repurchase").pack() in [data for _label, data in chat.inline_buttons()]


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_back_cancel_double_submit_and_restart(people: People, running_bot: BotUnderTest, lang: str) -> None:
    chat, customer = await new_rep_with_customer(people, running_bot, "13900000205", "13912340205", lang)
    kind_asked = t("Visit to {name}. What kind of visit?", lang).format(name=customer.name)
    stale = t("This button is no longer active.", lang)
    # Back re-asks the previous step; /cancel drops the report
    await chat.send("/visit")
    await vpick(chat, "cust", str(customer.id))
    await vpick(chat, "kind", "door_visit")
    assert text_of(await chat.tap(t("⬅️ Back", lang))) == kind_asked
    assert text_of(await chat.send("/cancel")) == t("Cancelled.", lang)
    assert await vpick(chat, "kind", "door_visit") == []
    assert last_alert(chat) == stale
    assert text_of(await chat.send("/cancel")) == t("There is nothing to cancel.", lang)
    assert await visits_of(running_bot, customer.id) == []  # type: ignore[arg-type]

    # restart mid-flow: the answers so far survive
    await tap_data(chat, CustomerAction(action="visit", id=customer.id).pack())  # type: ignore[arg-type]
    await vpick(chat, "kind", "door_display")
    await running_bot.restart()
    await vpick(chat, "outcome", "ordered")
    await vpick(chat, "stage", "purchase")
    await chat.send("Signed for 3 trucks")
    await vpick(chat, "day", (today_local() + timedelta(weeks=1)).isoformat())
    not_a_location = await chat.send("hello")  # not a location: the reason, then asked again
    assert not_a_location[0]["text"] == t("Please send your location with the button below, or tap Skip.", lang)
    await chat.send_location(*SHIJIAZHUANG)
    summary = await vpick(chat, "photo")
    submit = VisitPick(field="submit", value="").pack()
    message = latest_with(chat, submit)
    assert text_of(summary).startswith(t("Please check the visit report:", lang))
    assert t("Notes: {notes}", lang).format(notes="Signed for 3 trucks") in text_of(summary)
    saved = text_of(await chat.press(message, submit))
    assert saved.startswith(t("Visit to {name} saved.", lang).format(name=customer.name))
    assert last_alert(chat) == t("Visit saved.", lang)
    assert await chat.press(message, submit) == []  # a double tap: no second report
    assert last_alert(chat) == stale
    [visit] = await visits_of(running_bot, customer.id)  # type: ignore[arg-type]
    assert (visit.visit_kind, visit.outcome, visit.stage_after, visit.location_status) == (
        "door_display", "ordered", "purchase", "recorded")  # the customer's first location: recorded
    assert (await reload(running_bot, customer.id)).stage == "purchase"  # type: ignore[arg-type]
    async with running_bot.sessionmaker() as session:
        assert len((await session.execute(select(Visit))).all()) == 1


async def test_visit_with_a_new_customer(people: People, running_bot: BotUnderTest) -> None:
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13900000206", language_code="en")
    await chat.send("/visit")
    await vpick(chat, "new")
    await create_customer(chat, "Walk In", "13912340206", start="")
    assert "What kind of visit?" in chat.texts()[-1]
    [customer] = await customers_named(running_bot, "Walk In")
    await vpick(chat, "kind", "store_test_drive")
    await vpick(chat, "outcome", "reached_need")
    await vpick(chat, "stage", "follow_up")
    await vpick(chat, "notes")
    await vpick(chat, "day", today_local().isoformat())
    await vpick(chat, "photo")
    await vpick(chat, "submit")
    assert len(await visits_of(running_bot, customer.id)) == 1  # type: ignore[arg-type]


async def test_search_on_customer_step(people: People, running_bot: BotUnderTest) -> None:
    chat, customer = await new_rep_with_customer(people, running_bot, "13900000207", "13912340207", "en")
    await chat.send("/visit")
    assert "No customer matches" in text_of(await chat.send("nobody-like-this"))
    await chat.send("0207")
    assert VisitPick(field="cust", value=str(customer.id)).pack() in [d for _l, d in chat.inline_buttons()]
    # a forged customer id of another dealer reads as not found
    _other, foreign = await new_rep_with_customer(people, running_bot, "13900000208", "13912340208", "en",
                                                  org="dlr-jinan")
    await chat.press(latest_with(chat, VisitPick(field="cust", value=str(customer.id)).pack()),
                     VisitPick(field="cust", value=str(foreign.id)).pack())
    assert "not found" in last_alert(chat)


@pytest.mark.parametrize(("language_code", "texts"), [
    ("zh-hans", {"tap": "请点击按钮选择", "location": "请用下方按钮发送位置", "back": "⬅️ 返回"}),  # i18n-ok
    ("en", {"tap": "Please choose one of the buttons", "location": "Please send your location", "back": "⬅️ Back"}),
])
async def test_restart_invalid_answers_and_submit_delivered_twice(people: People, running_bot: BotUnderTest,
                                                                  language_code: str, texts: dict[str, str]) -> None:
    chat, customer = await new_rep_with_customer(people, running_bot, "13900000209", "13912340209", language_code)
    await chat.send("/visit")
    await vpick(chat, "cust", str(customer.id))
    # text where a button is expected: the reason, then the same step again
    assert texts["tap"] in text_of(await chat.send("door visit"))
    # Back goes to the customer step (its buttons again); picking the customer again moves on
    await chat.tap(texts["back"])
    assert VisitPick(field="cust", value=str(customer.id)).pack() in [d for _l, d in chat.inline_buttons()]
    await vpick(chat, "cust", str(customer.id))
    await running_bot.restart()
    await vpick(chat, "kind", "door_visit")
    await vpick(chat, "outcome", "reached_need")
    await vpick(chat, "stage", "need")
    await chat.send("Wants a quote")
    await vpick(chat, "day", (today_local() + timedelta(days=3)).isoformat())
    assert texts["location"] in text_of(await chat.send("here"))
    # the location message arrives twice: one answer, the flow moves on once
    await delivered_twice(chat, lambda: chat.user.send_location(*SHIJIAZHUANG))
    await vpick(chat, "photo")
    await running_bot.restart()
    replies = await tap_delivered_twice(chat, VisitPick(field="submit", value="").pack())
    assert pb_label("actions", "phone_check", language_code) in text_of(replies)
    assert text_of(replies).count(pb_label("actions", "phone_check", language_code)) == 1
    [visit] = await visits_of(running_bot, customer.id)  # type: ignore[arg-type]
    assert (visit.location_status, visit.notes, visit.stage_after) == ("recorded", "Wants a quote", "need")
