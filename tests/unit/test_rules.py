"""Foundation rules: phones, invite codes and their throttle, org levels and roles, menus, locale choice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import invites
from bot.domain.errors import DomainError
from bot.domain.menu import menu_entries
from bot.domain.org import ROLE_KIND, OrgKind, can_invite, check_parent, check_role, in_subtree
from bot.domain.phones import mask_phone, mask_phones_in, normalize_phone
from bot.i18n import locale_for_language_code

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("13800138000", "+8613800138000"),
        ("138 0013 8000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("8613800138000", "+8613800138000"),  # as Telegram sends a contact: no '+'
        ("010 6552 9988", "+861065529988"),  # a Beijing landline
        ("+1 650 253 0000", "+16502530000"),
    ],
)
def test_normalize_phone(raw: str, e164: str) -> None:
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize("raw", ["", "12345", "abc", "1380013800", "+86 999 0000 0000"])
def test_normalize_phone_refuses(raw: str) -> None:
    with pytest.raises(DomainError) as caught:
        normalize_phone(raw)
    assert caught.value.code == "bad_phone"


def test_masking() -> None:
    assert mask_phone("+8613800138000") == "+86138****8000"
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone(None) == ""
    assert mask_phones_in("contact 8613800138000 shared by 42") == "contact 86138****8000 shared by 42"
    assert "0013" not in mask_phones_in("call +86 138 0013 8000 now")


def test_codes_are_long_random_and_hashed() -> None:
    codes = {invites.new_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(invites.looks_like_code(code) and len(code) >= 24 for code in codes)
    code = next(iter(codes))
    assert invites.hash_code(code) != code and len(invites.hash_code(code)) == 64
    assert invites.deep_link("fieldbot_bot", code) == f"https://t.me/fieldbot_bot?start={code}"
    assert not invites.looks_like_code("short")
    assert not invites.looks_like_code("has spaces in it and is long enough")


def test_throttle_locks_after_five_failures_in_the_window() -> None:
    throttle = invites.Throttle(0, T0, None)
    for minute in range(4):
        throttle = throttle.after_failure(T0 + timedelta(minutes=minute))
        assert not throttle.is_locked(T0 + timedelta(minutes=minute))
    throttle = throttle.after_failure(T0 + timedelta(minutes=4))
    assert throttle.is_locked(T0 + timedelta(minutes=5))
    assert not throttle.is_locked(T0 + timedelta(minutes=4) + invites.LOCKOUT)


def test_throttle_window_restarts() -> None:
    throttle = invites.Throttle(0, T0, None)
    for minute in range(4):
        throttle = throttle.after_failure(T0 + timedelta(minutes=minute))
    later = T0 + invites.FAILURE_WINDOW + timedelta(minutes=1)
    throttle = throttle.after_failure(later)
    assert throttle.failures == 1 and not throttle.is_locked(later)


def test_org_levels_and_roles() -> None:
    check_parent(OrgKind.HQ, None)
    check_parent(OrgKind.DEALER, OrgKind.MARKET)
    with pytest.raises(ValueError, match="belongs under a market unit"):
        check_parent(OrgKind.DEALER, OrgKind.REGION)
    with pytest.raises(ValueError, match="has no parent"):
        check_parent(OrgKind.HQ, OrgKind.REGION)
    check_role("sales_rep", OrgKind.DEALER)
    with pytest.raises(ValueError, match="belongs to a dealer unit"):
        check_role("sales_rep", OrgKind.REGION)
    with pytest.raises(ValueError, match="unknown role"):
        check_role("janitor", OrgKind.DEALER)
    assert {kind for kind in ROLE_KIND.values()} == set(OrgKind)


def test_scope() -> None:
    assert in_subtree("/1/4/9/", "/1/4/")
    assert in_subtree("/1/4/", "/1/4/")
    assert not in_subtree("/1/41/", "/1/4/")
    assert not in_subtree("/1/4/", "")
    assert can_invite("dealer_gm", "/1/4/9/", "/1/4/9/")
    assert not can_invite("sales_rep", "/1/4/9/", "/1/4/9/")
    assert not can_invite("region_manager", "/1/4/", "/1/5/")


def test_menu_is_role_aware() -> None:
    assert "team" in menu_entries("region_manager")
    assert "team" not in menu_entries("sales_rep")
    assert {"profile", "language", "help"} <= set(menu_entries("sales_rep"))


@pytest.mark.parametrize(
    ("code", "locale"),
    [("zh-hans", "zh_CN"), ("zh-cn", "zh_CN"), ("zh-hant", "zh_CN"), ("zh", "zh_CN"), ("ZH-HANS", "zh_CN"),
     ("en", "en"), ("en-us", "en"), ("ru", "en"), (None, "zh_CN"), ("", "zh_CN")],
)
def test_locale_from_telegram_language_code(code: str | None, locale: str) -> None:
    assert locale_for_language_code(code, "zh_CN") == locale


def test_log_lines_never_carry_phone_numbers() -> None:
    import logging

    from bot.logs import MaskPersonalData

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "contact %s from %s", ("+8613800138000", 42), None)
    assert MaskPersonalData().filter(record) is True
    assert record.getMessage() == "contact +86138****8000 from 42"


def test_closest_codes_and_common_ancestor() -> None:
    from bot.domain.org import closest_codes, common_ancestor_path, unit_id_of

    codes = ["hq", "north", "dlr-shijiazhuang", "dlr-jinan", "dlr-qujing", "dlr-kunming"]
    assert closest_codes("dlr-shijiazuang", codes) == ["dlr-shijiazhuang"]
    assert closest_codes("NRTH", codes) == ["north"]
    assert closest_codes("zzzz", codes) == []
    assert common_ancestor_path("/1/2/5/9/", "/1/2/5/10/") == "/1/2/5/"
    assert common_ancestor_path("/1/2/5/9/", "/1/3/6/11/") == "/1/"
    assert unit_id_of("/1/2/5/") == 5 and unit_id_of("/") is None
