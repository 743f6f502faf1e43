"""What is due for whom on a given day: greetings, service reminders, replacement nudges, staff mornings.

Pure functions over dates and the playbook's `schedule` section; the services turn them into outbox rows.
Every date here is a local calendar date in the configured TIMEZONE; `local_moment` turns a rule's clock time
into the aware instant the outbox row is due.
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

from bot.domain.playbook import (
    FrequencyCap,
    GreetingRule,
    MaintenanceRule,
    QuietHours,
    ReplacementRule,
)


def clock_time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def local_moment(day: date, at: str, tz: ZoneInfo) -> datetime:
    """The aware UTC instant of a local clock time on a local day."""
    return datetime.combine(day, clock_time(at), tzinfo=tz).astimezone(UTC)


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


# --- Months ------------------------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clipped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def months_back(target: date, months: int) -> list[date]:
    """Every day d with add_months(d, months) == target: one, or several when the target is a month's last day."""
    start = add_months(target.replace(day=1), -months)
    last = calendar.monthrange(start.year, start.month)[1]
    if target.day == calendar.monthrange(target.year, target.month)[1]:
        return [start.replace(day=d) for d in range(min(target.day, last), last + 1)]
    return [start.replace(day=target.day)] if target.day <= last else []


def whole_months_between(earlier: date, later: date) -> int:
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    return months - 1 if add_months(earlier, months) > later else months


# --- Holiday greetings -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _china_holidays(year: int) -> tuple[tuple[date, str], ...]:
    # English names: stable keys to match the playbook on, whatever the display language.
    calendar_year = holidays.country_holidays("CN", years=year, language="en_US")
    return tuple(sorted(calendar_year.items()))


def festival_dates(year: int, rule: GreetingRule) -> dict[str, date]:
    """The first day of each playbook festival in a year, dated by the `holidays` package (lunar ones included)."""
    found: dict[str, date] = {}
    for festival in rule.festivals:
        days = [day for day, name in _china_holidays(year) if name == festival.holiday]
        if days:
            found[festival.code] = min(days)
    return found


def festivals_on(day: date, rule: GreetingRule) -> list[str]:
    """The festivals whose greeting day is `day`."""
    return [code for code, when in festival_dates(day.year, rule).items() if when == day]


def greeting_key(customer_id: int, festival: str, year: int) -> str:
    return f"greeting:{customer_id}:{festival}:{year}"


# --- Maintenance ---------------------------------------------------------------------------------------------


def service_date(purchase: date, n: int, rule: MaintenanceRule) -> date:
    """The day service number n (1-based) falls due."""
    return add_months(purchase, rule.first_after_months + (n - 1) * rule.every_months)


def reminder_day(purchase: date, n: int, rule: MaintenanceRule) -> date:
    return service_date(purchase, n, rule) - timedelta(days=rule.remind_days_before)


def maintenance_due(purchase: date, today: date, rule: MaintenanceRule) -> list[int]:
    """Service numbers whose reminder day is today or fell within the catch-up window (never before purchase)."""
    earliest = today - timedelta(days=rule.catch_up_days)
    return [n for n in range(1, rule.services + 1)
            if earliest <= reminder_day(purchase, n, rule) <= today and service_date(purchase, n, rule) > purchase]


def purchase_dates_due(today: date, rule: MaintenanceRule) -> dict[date, int]:
    """Purchase date → service number, for every purchase whose reminder falls in the window ending today.

    The set-based inverse of `maintenance_due`: the service asks the database for customers bought on these days
    instead of walking every customer.
    """
    wanted: dict[date, int] = {}
    for back in range(rule.catch_up_days + 1):
        reminder = today - timedelta(days=back)
        due = reminder + timedelta(days=rule.remind_days_before)
        for n in range(1, rule.services + 1):
            offset = rule.first_after_months + (n - 1) * rule.every_months
            for purchase in months_back(due, offset):
                if due > purchase:
                    wanted.setdefault(purchase, n)
    return wanted


def maintenance_key(customer_id: int, n: int) -> str:
    return f"maint:{customer_id}:{n}"


# --- Replacement ------------------------------------------------------------------------------------------


def buying_seasons(rule: ReplacementRule) -> list[int]:
    """First months of each run of consecutive buying months (March and September for March-July, Sept-Nov)."""
    months = sorted(set(rule.buying_months))
    return [m for m in months if (m - 2) % 12 + 1 not in months] or months[:1]


def season_ahead(today: date, rule: ReplacementRule) -> date | None:
    """The opening day of a buying season starting within lead_days from today (today included), if any."""
    for year in (today.year, today.year + 1):
        for month in buying_seasons(rule):
            opens = date(year, month, 1)
            if today <= opens <= today + timedelta(days=rule.lead_days):
                return opens
    return None


def in_replacement_cycle(purchase: date, season: date, rule: ReplacementRule) -> bool:
    """The fleet is 1.5-3 years old (by the playbook) when the season opens."""
    return rule.cycle_from_months <= whole_months_between(purchase, season) < rule.cycle_to_months


def replacement_purchase_window(season: date, rule: ReplacementRule) -> tuple[date, date]:
    """Purchase dates (inclusive) whose fleet is in the replacement cycle when the season opens."""
    latest = add_months(season, -rule.cycle_from_months)
    earliest = add_months(season, -rule.cycle_to_months) + timedelta(days=1)
    return earliest, latest


def replacement_key(customer_id: int, season: date) -> str:
    return f"replace:{customer_id}:{season.isoformat()}"


# --- Staff mornings ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowUp:
    customer_id: int
    name: str
    due: date


def split_follow_ups(items: Iterable[FollowUp], today: date) -> tuple[list[FollowUp], list[FollowUp]]:
    """(due today, overdue oldest first)."""
    items = list(items)
    today_items = [i for i in items if i.due == today]
    overdue = sorted((i for i in items if i.due < today), key=lambda i: i.due)
    return today_items, overdue


def untouched_since(today: date, untouched_days: int) -> date:
    """Customers whose last contact is before this day count as untouched."""
    return today - timedelta(days=untouched_days)


def morning_key(staff_id: int, day: date) -> str:
    return f"morning:{staff_id}:{day.isoformat()}"


# --- When a customer may be messaged ------------------------------------------------------------------------


def within_quiet_hours(moment: datetime, window: QuietHours, tz: ZoneInfo) -> datetime:
    """The first instant at or after `moment` inside the sending window (a night push waits for the morning)."""
    local = moment.astimezone(tz)
    opens, closes = clock_time(window.send_from), clock_time(window.send_until)
    if local.time() < opens:
        local = datetime.combine(local.date(), opens, tzinfo=tz)
    elif local.time() >= closes:
        local = datetime.combine(local.date() + timedelta(days=1), opens, tzinfo=tz)
    return local.astimezone(UTC)


def cap_allows(recent: Sequence[datetime], moment: datetime, cap: FrequencyCap) -> bool:
    """True when fewer than `cap.pushes` pushes went to the customer in the `cap.days` days before `moment`."""
    since = moment - timedelta(days=cap.days)
    return sum(1 for sent in recent if since < sent <= moment) < cap.pushes


def cap_reopens(recent: Sequence[datetime], moment: datetime, cap: FrequencyCap) -> datetime:
    """The earliest instant at or after `moment` when one more push fits under the cap."""
    window = sorted(sent for sent in recent if sent > moment - timedelta(days=cap.days))
    if len(window) < cap.pushes:
        return moment
    # The push that must age out of the window before another fits.
    return window[len(window) - cap.pushes] + timedelta(days=cap.days, seconds=1)
