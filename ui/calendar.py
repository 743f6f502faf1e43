"""The one month calendar every date step shows (follow-up date, date sold, …).

A month grid with a translated weekday header (Monday first), ‹ › to move months only within the range the step
allows, and days outside that range shown as dots that do nothing. Each button carries the flow's name and a short
tag of its client token, so a tap on a calendar left over from a finished or restarted flow is refused politely
(see `is_current`) instead of changing the new flow.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from babel.dates import format_skeleton, get_day_names

from ui.labels import current_locale

TOKEN_TAG_LENGTH = 8
BLANK = " "
OUT_OF_RANGE = "·"


class CalendarCb(CallbackData, prefix="cal"):
    flow: str  # the flow that drew it, e.g. "visit", "sale"
    tag: str  # the first characters of that flow's client token
    action: str  # "day", "month" or "noop"
    value: str = ""  # ISO date: the day tapped, or the first day of the month to show


@dataclass(frozen=True)
class DateRange:
    """The days a step accepts, both ends included."""
    first: date
    last: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last

    def clamp_month(self, month: date) -> date:
        """The first day of `month`, moved into the range's months when it lies outside them."""
        month = month.replace(day=1)
        return min(max(month, self.first.replace(day=1)), self.last.replace(day=1))


def token_tag(answers: dict[str, Any]) -> str:
    return str(answers.get("client_token", ""))[:TOKEN_TAG_LENGTH]


def weekday_names(locale: str) -> list[str]:
    """Short weekday names from the locale's CLDR data, Monday first (Babel numbers Monday 0)."""
    names = get_day_names("abbreviated", locale=locale)
    return [names[index] for index in range(7)]


def month_title(month: date) -> str:
    return format_skeleton("yMMMM", month, locale=current_locale())


def month_markup(flow: str, tag: str, month: date, allowed: DateRange,
                 extra_rows: Sequence[Sequence[InlineKeyboardButton]] = ()) -> InlineKeyboardMarkup:
    """One month of `allowed` (clamped into it) as an inline keyboard; `extra_rows` go below (Back / Cancel)."""
    month = allowed.clamp_month(month)

    def button(text: str, action: str = "noop", value: str = "") -> InlineKeyboardButton:
        return InlineKeyboardButton(text=text, callback_data=CalendarCb(flow=flow, tag=tag, action=action,
                                                                        value=value).pack())

    previous = (month - timedelta(days=1)).replace(day=1)
    following = (month + timedelta(days=32)).replace(day=1)
    header = [
        button("‹", "month", previous.isoformat()) if month > allowed.first.replace(day=1) else button(BLANK),
        button(month_title(month)),
        button("›", "month", following.isoformat()) if following <= allowed.last else button(BLANK),
    ]
    rows = [header, [button(name) for name in weekday_names(current_locale())]]
    for week in calendar.Calendar(firstweekday=calendar.MONDAY).monthdatescalendar(month.year, month.month):
        rows.append([
            button(BLANK) if day.month != month.month
            else button(str(day.day), "day", day.isoformat()) if day in allowed
            else button(OUT_OF_RANGE)
            for day in week])
    return InlineKeyboardMarkup(inline_keyboard=[*rows, *(list(row) for row in extra_rows)])


async def is_current(callback: CallbackQuery, callback_data: CalendarCb, state: FSMContext, step: State) -> bool:
    """True when the tapped calendar belongs to the flow now at `step`; otherwise answers the tap and says so."""
    answers = await state.get_data()
    if await state.get_state() == step.state and callback_data.tag and callback_data.tag == token_tag(answers):
        return True
    await callback.answer(_("This calendar is no longer active. Please use the latest message."), show_alert=True)
    return False


def parse_day(callback_data: CalendarCb) -> date | None:
    try:
        return date.fromisoformat(callback_data.value)
    except ValueError:
        return None
