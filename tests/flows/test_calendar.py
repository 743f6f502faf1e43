"""The one calendar of every date step (follow-up date of a visit, date of a sale), in both languages: weekday
header Monday first, months reachable only as far as the step allows, days outside the range not tappable, a past
follow-up refused, and a tap on an old calendar message refused politely without changing anything."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from bot.domain.fieldwork import latest_follow_up
from bot.services.sales import SOLD_ON_DAYS_BACK
from tests.conftest import People
from tests.flows.test_activities import t
from tests.flows.test_customers import last_alert, tap_data
from tests.flows.test_sales import TEXTS as SALE_TEXTS
from tests.flows.test_sales import add_customer, dealer_chat, sales, shanghai_today
from tests.flows.test_visits import format_day_in, new_rep_with_customer, today_local, visits_of, vpick
from tests.support.harness import BotUnderTest, Chat, text_of
from ui.calendar import CalendarCb

WEEKDAYS = {
    "zh-hans": ["周一", "周二", "周三", "周四", "周五", "周六", "周日"],  # i18n-ok
    "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
}
STALE = {"zh-hans": "此日历已失效", "en": "This calendar is no longer active"}  # i18n-ok


def calendar_message(chat: Chat) -> dict[str, Any]:
    """The bot's latest message that shows a calendar."""
    for message in reversed(chat.runner.api.sent_messages(chat.id)):
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        if any(str(button.get("callback_data", "")).startswith("cal:") for row in rows for button in row):
            return message
    raise LookupError("no calendar shown")


def grid(message: dict[str, Any]) -> list[list[tuple[str, CalendarCb]]]:
    """The calendar rows of a message: (label, unpacked callback data); Back / Cancel rows left out."""
    rows = message["reply_markup"]["inline_keyboard"]
    return [[(b["text"], CalendarCb.unpack(b["callback_data"])) for b in row] for row in rows
            if all(str(b.get("callback_data", "")).startswith("cal:") for b in row)]


def tappable_days(message: dict[str, Any]) -> set[date]:
    return {date.fromisoformat(data.value) for row in grid(message)[2:] for _label, data in row
            if data.action == "day"}


def _first_day(message: dict[str, Any]) -> date:
    """The month on show, from its day buttons (tappable or not) and the arrows around it."""
    header = grid(message)[0]
    previous, following = header[0][1], header[2][1]
    if following.action == "month":
        shown = date.fromisoformat(following.value) - timedelta(days=1)
    else:
        assert previous.action == "month", "a calendar with no way to move"
        shown = date.fromisoformat(previous.value) + timedelta(days=32)
    return shown.replace(day=1)


async def press_arrow(chat: Chat, index: int) -> dict[str, Any]:
    """Taps ‹ (0) or › (2) on the latest calendar; returns the calendar as edited in place."""
    message = calendar_message(chat)
    label, data = grid(message)[0][index]
    assert data.action == "month", f"{label!r} can't be tapped"
    assert await chat.press(message, data.pack()) == []  # edited in place, nothing new sent
    return calendar_message(chat)


async def follow_up_step(chat: Chat, customer_id: int) -> None:
    await chat.send("/visit")
    await vpick(chat, "cust", str(customer_id))
    await vpick(chat, "kind", "phone_revisit")
    await vpick(chat, "outcome", "reached_no_need")
    await vpick(chat, "stage", "collect")
    await vpick(chat, "notes")


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_follow_up_calendar_header_months_ahead_to_a_year_and_past_day_refused(
        people: People, running_bot: BotUnderTest, lang: str) -> None:
    chat, customer = await new_rep_with_customer(people, running_bot, "13900000801", "13912340801", lang)
    await follow_up_step(chat, customer.id)  # type: ignore[arg-type]
    offered = [label for label, _ in chat.inline_buttons()]
    in_3_days = t("In 3 days ({day})", lang).format(day=format_day_in(today_local() + timedelta(days=3), lang))
    assert in_3_days in offered  # the quick buttons stay beside the calendar
    shown = text_of(await vpick(chat, "cal"))
    assert t("Choose the follow-up day:", lang) in shown
    today = today_local()
    calendar = calendar_message(chat)
    assert [label for label, _ in grid(calendar)[1]] == WEEKDAYS[lang]
    assert grid(calendar)[0][0][1].action == "noop"  # no month before this one
    assert today in tappable_days(calendar)
    assert all(day >= today for day in tappable_days(calendar))

    # A past day (built by hand: the calendar shows it as a dot) is refused and the step asked again.
    tag = grid(calendar)[0][1][1].tag
    yesterday = CalendarCb(flow="visit", tag=tag, action="day", value=(today - timedelta(days=1)).isoformat())
    refused = text_of(await chat.press(calendar, yesterday.pack()))
    assert t("That date has already passed. Choose today or a later day.", lang) in refused

    # Months ahead up to the one a year away, and not past it.
    last = latest_follow_up(today)
    months = (last.year - today.year) * 12 + last.month - today.month
    for _ in range(months):
        calendar = await press_arrow(chat, 2)
    assert _first_day(calendar) == last.replace(day=1)
    assert grid(calendar)[0][2][1].action == "noop"  # › is blank at the limit
    assert max(tappable_days(calendar)) == last
    assert last + timedelta(days=1) not in tappable_days(calendar)
    calendar = await press_arrow(chat, 0)  # and back again
    assert _first_day(calendar) == (last.replace(day=1) - timedelta(days=1)).replace(day=1)

    # A day far ahead is taken: a phone revisit goes on to the photo.
    chosen = max(tappable_days(calendar))
    day = CalendarCb(flow="visit", tag=tag, action="day", value=chosen.isoformat())
    await chat.press(calendar, day.pack())
    await vpick(chat, "photo")
    await vpick(chat, "submit")
    [visit] = await visits_of(running_bot, customer.id)  # type: ignore[arg-type]
    assert visit.next_follow_up == chosen


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_old_follow_up_calendar_is_refused_after_a_restart(people: People, running_bot: BotUnderTest,
                                                                 lang: str) -> None:
    chat, customer = await new_rep_with_customer(people, running_bot, "13900000802", "13912340802", lang)
    await follow_up_step(chat, customer.id)  # type: ignore[arg-type]
    await vpick(chat, "cal")
    old = calendar_message(chat)
    old_day = next(data for row in grid(old)[2:] for _label, data in row if data.action == "day")
    old_month = grid(old)[0][2][1]

    # Restarted: the new flow is at the same step, with a new calendar.
    await follow_up_step(chat, customer.id)  # type: ignore[arg-type]
    await vpick(chat, "cal")
    for stale in (old_day, old_month):
        assert await chat.press(old, stale.pack()) == []
        assert STALE[lang] in last_alert(chat)
    assert await visits_of(running_bot, customer.id) == []  # type: ignore[arg-type]
    # The new flow still waits for its own follow-up day, on its own calendar.
    new = calendar_message(chat)
    assert new["message_id"] != old["message_id"]
    new_day = min(tappable_days(new))
    tag = grid(new)[0][1][1].tag
    assert tag != old_day.tag
    await chat.press(new, CalendarCb(flow="visit", tag=tag, action="day", value=new_day.isoformat()).pack())
    await vpick(chat, "photo")
    await vpick(chat, "submit")
    [visit] = await visits_of(running_bot, customer.id)  # type: ignore[arg-type]
    assert visit.next_follow_up == new_day

    # Finished: the old calendars are refused too, and nothing more is stored.
    assert await chat.press(new, CalendarCb(flow="visit", tag=tag, action="day", value=new_day.isoformat()
                                            ).pack()) == []
    assert STALE[lang] in last_alert(chat)
    assert len(await visits_of(running_bot, customer.id)) == 1  # type: ignore[arg-type]


@pytest.mark.parametrize(("lang", "locale"), [("zh-hans", "zh_CN"), ("en", "en")])
async def test_sale_calendar_back_a_year_never_after_today_and_old_calendar_refused(
        people: People, running_bot: BotUnderTest, lang: str, locale: str) -> None:
    texts = SALE_TEXTS[locale]
    chat, unit, staff = await dealer_chat(people, running_bot, locale, "13911114801")
    await add_customer(running_bot, unit, staff, "Zhao Liu", "individual", "13600008801")
    await chat.send("/sale")
    await chat.tap("Zhao Liu · Zhengding")
    await chat.tap(texts["vt"])
    await chat.tap(texts["vt_flatbed"])
    await chat.send("2")
    await chat.tap(texts["no_referral"])
    await chat.tap(texts["another_day"])
    today = shanghai_today()
    calendar = calendar_message(chat)
    assert [label for label, _ in grid(calendar)[1]] == WEEKDAYS[lang]
    assert grid(calendar)[0][2][1].action == "noop"  # no month after this one
    assert max(tappable_days(calendar)) == today  # no day after today

    first = today - timedelta(days=SOLD_ON_DAYS_BACK)
    months = (today.year - first.year) * 12 + today.month - first.month
    for _ in range(months):
        calendar = await press_arrow(chat, 0)
    assert _first_day(calendar) == first.replace(day=1)
    assert grid(calendar)[0][0][1].action == "noop"  # ‹ is blank at the limit
    assert min(tappable_days(calendar)) == first
    calendar = await press_arrow(chat, 2)
    chosen = min(tappable_days(calendar))
    tag = grid(calendar)[0][1][1].tag
    summary = text_of(await chat.press(calendar, CalendarCb(flow="sale", tag=tag, action="day",
                                                            value=chosen.isoformat()).pack()))
    assert "Zhao Liu" in summary
    await tap_data(chat, dict(chat.inline_buttons())[texts["submit"]] or "")
    [sale] = await sales(running_bot)
    assert sale.sold_on == chosen

    # The flow is over: its calendar answers politely and changes nothing.
    assert await chat.press(calendar, CalendarCb(flow="sale", tag=tag, action="day",
                                                 value=today.isoformat()).pack()) == []
    assert STALE[lang] in last_alert(chat)
    [sale] = await sales(running_bot)
    assert sale.sold_on == chosen
