"""The schedule's pure rules: festival dates from the holidays package, service numbers, replacement seasons,
quiet hours and the frequency cap."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain import reminders as r
from bot.domain.playbook import default_playbook
from bot.domain.sms import SmsTemplateMissing, build_sms, is_opt_out

SCHEDULE = default_playbook().schedule
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(("year", "expected"), [
    (2026, {"new_year": date(2026, 1, 1), "spring_festival": date(2026, 2, 17), "dragon_boat": date(2026, 6, 19),
            "mid_autumn": date(2026, 9, 25), "national_day": date(2026, 10, 1)}),
    (2027, {"new_year": date(2027, 1, 1), "spring_festival": date(2027, 2, 6), "dragon_boat": date(2027, 6, 9),
            "mid_autumn": date(2027, 9, 15), "national_day": date(2027, 10, 1)}),
])
def test_festivals_follow_the_lunar_calendar(year: int, expected: dict[str, date]) -> None:
    assert r.festival_dates(year, SCHEDULE.greetings) == expected
    assert r.festivals_on(expected["spring_festival"], SCHEDULE.greetings) == ["spring_festival"]
    # The days after the first day of a holiday get no second greeting.
    assert r.festivals_on(expected["national_day"] + timedelta(days=1), SCHEDULE.greetings) == []


def test_months_clip_to_month_end_and_invert() -> None:
    assert r.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert r.months_back(date(2026, 2, 28), 1) == [date(2026, 1, 28), date(2026, 1, 29), date(2026, 1, 30),
                                                   date(2026, 1, 31)]
    assert r.months_back(date(2026, 3, 15), 2) == [date(2026, 1, 15)]
    assert r.whole_months_between(date(2025, 3, 2), date(2026, 9, 1)) == 17
    assert r.whole_months_between(date(2025, 3, 1), date(2026, 9, 1)) == 18


def test_maintenance_numbers_and_their_set_based_inverse() -> None:
    rule = SCHEDULE.maintenance  # first after 1 month, then every 3; reminded 3 days before
    purchase = date(2026, 1, 10)
    assert r.service_date(purchase, 1, rule) == date(2026, 2, 10)
    assert r.service_date(purchase, 2, rule) == date(2026, 5, 10)
    assert r.maintenance_due(purchase, date(2026, 2, 7), rule) == [1]
    assert r.maintenance_due(purchase, date(2026, 2, 6), rule) == []
    # Still due within the catch-up window after downtime, never after it.
    assert r.maintenance_due(purchase, date(2026, 2, 7) + timedelta(days=rule.catch_up_days), rule) == [1]
    assert r.maintenance_due(purchase, date(2026, 2, 8) + timedelta(days=rule.catch_up_days), rule) == []
    # The inverse finds exactly the purchases the forward rule says are due.
    today = date(2026, 5, 7)
    wanted = r.purchase_dates_due(today, rule)
    for day in (date(2025, 1, 1) + timedelta(days=i) for i in range(600)):
        due = r.maintenance_due(day, today, rule)
        assert (day in wanted) == bool(due), day
        if due:
            assert wanted[day] in due


def test_replacement_nudge_before_the_buying_seasons() -> None:
    rule = SCHEDULE.replacement
    assert r.buying_seasons(rule) == [3, 9]
    assert r.season_ahead(date(2026, 2, 1), rule) == date(2026, 3, 1)
    assert r.season_ahead(date(2026, 1, 20), rule) is None
    assert r.season_ahead(date(2026, 8, 15), rule) == date(2026, 9, 1)
    season = date(2026, 3, 1)
    earliest, latest = r.replacement_purchase_window(season, rule)
    assert latest == date(2024, 9, 1) and earliest == date(2023, 3, 2)
    assert r.in_replacement_cycle(latest, season, rule) and r.in_replacement_cycle(earliest, season, rule)
    assert not r.in_replacement_cycle(latest + timedelta(days=1), season, rule)
    assert not r.in_replacement_cycle(earliest - timedelta(days=1), season, rule)


def test_quiet_hours_move_night_pushes_to_the_morning() -> None:
    window = SCHEDULE.quiet_hours
    at = lambda day, hh, mm: datetime(2026, 12, day, hh, mm, tzinfo=SHANGHAI).astimezone(UTC)  # noqa: E731
    assert r.within_quiet_hours(at(1, 10, 0), window, SHANGHAI) == at(1, 10, 0)
    assert r.within_quiet_hours(at(1, 7, 30), window, SHANGHAI) == at(1, 9, 0)
    assert r.within_quiet_hours(at(1, 20, 0), window, SHANGHAI) == at(2, 9, 0)
    assert r.within_quiet_hours(at(1, 23, 59), window, SHANGHAI) == at(2, 9, 0)


def test_frequency_cap() -> None:
    cap = SCHEDULE.frequency_cap  # 3 in 7 days
    now = datetime(2026, 12, 10, 2, 0, tzinfo=UTC)
    sent = [now - timedelta(days=6), now - timedelta(days=2), now - timedelta(hours=1)]
    assert not r.cap_allows(sent, now, cap)
    assert r.cap_allows(sent[1:], now, cap)
    reopens = r.cap_reopens(sent, now, cap)
    assert reopens == sent[0] + timedelta(days=7, seconds=1)
    assert r.cap_allows(sent, reopens, cap)
    assert r.cap_reopens(sent[1:], now, cap) == now


def test_sms_is_a_template_code_with_parameters() -> None:
    sms = build_sms("+8613900000001", "greeting", {"dealer": "D", "festival": "F"}, {"greeting": "SMS_1001"},
                    "Brand", "Body.", "OPT-OUT")
    assert (sms.template_code, sms.params, sms.text) == ("SMS_1001", {"dealer": "D", "festival": "F"},
                                                         "\u3010Brand\u3011Body.OPT-OUT")
    with pytest.raises(SmsTemplateMissing):
        build_sms("+8613900000001", "unknown", {}, {"greeting": "SMS_1001"}, "Brand", "Body.", "OPT-OUT")
    assert is_opt_out(" td ") and is_opt_out("TD") and not is_opt_out("thanks")


def test_every_sms_template_carries_the_opt_out_line_and_fits_one_sms() -> None:
    from bot.config import load_settings
    from pushes import catalog
    from pushes.outbox import SmsContent, registered_keys
    from pushes.reach import provider_sms

    catalog.load()
    texts = SCHEDULE.sms
    assert texts.opt_out_line == "\u56de\u590dTD\u9000\u8ba2"  # the line every Chinese provider requires
    customer_keys = [key for key, (_, has_sms) in registered_keys().items() if key.startswith("customer.")]
    assert customer_keys and all(registered_keys()[key][1] for key in customer_keys)
    settings = load_settings(sms_templates={"greeting": "SMS_1", "maintenance": "SMS_2", "appointment": "SMS_3"},
                             sms_signature="Brand", _env_file=None)
    longest = {"dealer": "\u77f3" * 10, "festival": "\u4e2d\u79cb\u8282", "n": "12", "day": "12\u670831\u65e5",
               "time": "15:30", "kind": "\u4fdd\u517b"}
    for key, body in texts.templates.items():
        assert body.endswith(texts.opt_out_line), key
        message = provider_sms("+8613900000001", SmsContent(key, longest), settings)
        assert message.template_code == settings.sms_templates[key]
        assert message.text.endswith(texts.opt_out_line) and message.parts == 1, (key, len(message.text))
