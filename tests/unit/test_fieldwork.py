from datetime import date
from decimal import Decimal

import pytest

from bot.domain.errors import DomainError
from bot.domain.fieldwork import (
    CeremonyTier,
    CoverageGap,
    CustomerNature,
    FieldworkError,
    LocationCheck,
    LocationStatus,
    NextAction,
    Stage,
    can_move_stage,
    ceremony_checklist,
    ceremony_tier,
    coverage_gaps,
    coverage_minimums,
    distance_m,
    follow_up_choices,
    next_best_action,
    quarter_bounds,
    quarter_of,
    quarter_target,
    referral_reward_multiplier,
    stage_after_sale,
    validate_follow_up,
    verify_visit_location,
)
from bot.domain.playbook import Playbook, default_playbook

TIANANMEN = (39.9087, 116.3975)


@pytest.fixture(scope="module")
def playbook() -> Playbook:
    return default_playbook()


# --- delivery ceremony ------------------------------------------------------------------------------

BY_NATURE = {"individual": "simple", "individual_business": "moderate", "unit": "grand"}
TIER_ORDER = ["simple", "moderate", "grand"]


@pytest.mark.parametrize("nature", BY_NATURE)
@pytest.mark.parametrize(
    ("trucks", "by_count"),
    [(1, None), (5, None), (6, "simple"), (20, "simple"), (21, "moderate"), (50, "moderate"), (51, "grand")],
)
def test_ceremony_tier_is_the_larger_of_nature_and_count(trucks: int, by_count: str | None, nature: str) -> None:
    expected = BY_NATURE[nature] if by_count is None else max(BY_NATURE[nature], by_count, key=TIER_ORDER.index)
    assert ceremony_tier(trucks, nature) == expected


@pytest.mark.parametrize(
    ("trucks", "nature", "tier"),
    [(3, "unit", "grand"), (6, "unit", "grand"), (30, "unit", "grand"),  # the unit never drops below grand
     (6, "individual_business", "moderate"), (21, "individual_business", "moderate"),
     (51, "individual_business", "grand"), (6, "individual", "simple"), (21, "individual", "moderate")],
)
def test_ceremony_tier_examples(trucks: int, nature: str, tier: str) -> None:
    assert ceremony_tier(trucks, nature) == tier


@pytest.mark.parametrize("nature", BY_NATURE)
def test_ceremony_tier_never_falls_as_the_order_grows(nature: str) -> None:
    tiers = [TIER_ORDER.index(ceremony_tier(n, nature)) for n in range(1, 120)]
    assert tiers == sorted(tiers)


def test_ceremony_tier_accepts_enums_and_returns_enum() -> None:
    tier = ceremony_tier(3, CustomerNature.UNIT)
    assert tier is CeremonyTier.GRAND
    assert tier == "grand"


@pytest.mark.parametrize("trucks", [0, -1])
def test_ceremony_tier_needs_a_truck(trucks: int) -> None:
    with pytest.raises(ValueError):
        ceremony_tier(trucks, "unit")


def test_ceremony_tier_unknown_nature() -> None:
    with pytest.raises(ValueError):
        ceremony_tier(30, "company")


def test_ceremony_checklist(playbook: Playbook) -> None:
    assert ceremony_checklist("grand", playbook) == [
        "at_hotel", "salesperson_attends", "manager_attends", "service_policy", "group_photo", "see_off",
    ]  # fmt: skip
    assert ceremony_checklist(CeremonyTier.MODERATE, playbook)[0] == "at_dealer_4s_store"
    assert playbook.label("ceremony_checklist_items", "group_photo", "en").startswith("Group photo")


# --- coverage ---------------------------------------------------------------------------------------


def test_coverage_minimums_a_vs_b(playbook: Playbook) -> None:
    assert coverage_minimums("shandong", playbook) == (2, 3)
    assert coverage_minimums("shaanxi", playbook) == (2, 3)
    assert coverage_minimums("sichuan", playbook) == (1, 2)
    assert coverage_minimums("nei_menggu", playbook) == (1, 2)


def test_coverage_gaps_class_a(playbook: Playbook) -> None:
    counts = {"zouping": (2, 3), "huimin": (1, 3), "yangxin": (0, 1), "wudi": (5, 9)}
    assert coverage_gaps("shandong", counts, playbook) == [
        CoverageGap("huimin", stations_missing=1, leaders_missing=0),
        CoverageGap("yangxin", stations_missing=2, leaders_missing=2),
    ]


def test_coverage_gaps_class_b_same_counts_pass(playbook: Playbook) -> None:
    assert coverage_gaps("sichuan", {"pixian": (1, 2)}, playbook) == []
    assert coverage_gaps("sichuan", {"pixian": (1, 1)}, playbook) == [CoverageGap("pixian", 0, 1)]


def test_coverage_of_unknown_province(playbook: Playbook) -> None:
    with pytest.raises(KeyError):
        coverage_minimums("taiwan_strait", playbook)


# --- location ---------------------------------------------------------------------------------------


def test_distance_of_one_degree_of_latitude() -> None:
    assert distance_m(39.0, 116.0, 40.0, 116.0) == pytest.approx(111_195, rel=1e-3)
    assert distance_m(*TIANANMEN, *TIANANMEN) == 0


def test_distance_rejects_impossible_coordinates() -> None:
    with pytest.raises(ValueError):
        distance_m(91, 0, 0, 0)


def test_point_100_m_away_is_within_300_m() -> None:
    reported = (TIANANMEN[0] + 100 / 111_195, TIANANMEN[1])
    check = verify_visit_location(TIANANMEN, reported, radius_m=300)
    assert check.status is LocationStatus.VERIFIED
    assert check.distance_m == pytest.approx(100, abs=1)
    assert not check.becomes_known


def test_point_50_km_away_is_out_of_range() -> None:
    reported = (TIANANMEN[0] + 50_000 / 111_195, TIANANMEN[1])
    check = verify_visit_location(TIANANMEN, reported, radius_m=300)
    assert check.status == "out_of_range"
    assert check.distance_m == pytest.approx(50_000, rel=1e-3)


def test_point_exactly_on_the_radius_is_verified() -> None:
    reported = (TIANANMEN[0] + 0.001, TIANANMEN[1])
    radius_m = distance_m(*TIANANMEN, *reported)
    assert verify_visit_location(TIANANMEN, reported, radius_m).status == "verified"


def test_first_location_becomes_known_and_is_recorded_not_verified() -> None:
    assert verify_visit_location(None, TIANANMEN, 300) == LocationCheck(
        LocationStatus.RECORDED, None, becomes_known=True
    )


def test_no_reported_location_is_unverified() -> None:
    assert verify_visit_location(TIANANMEN, None, 300) == LocationCheck(LocationStatus.UNVERIFIED, None)
    assert verify_visit_location(None, None, 300).status == "unverified"


def test_radius_must_be_positive() -> None:
    with pytest.raises(ValueError):
        verify_visit_location(TIANANMEN, TIANANMEN, 0)


# --- next best action -------------------------------------------------------------------------------


def test_follow_up_actions_by_nature(playbook: Playbook) -> None:
    individual = next_best_action("individual", "follow_up", playbook)
    assert individual.actions == [
        "sms", "exhibition", "roadshow", "store_test_drive", "new_product_seminar", "site_roadshow",
    ]  # fmt: skip
    unit = next_best_action(CustomerNature.UNIT, Stage.FOLLOW_UP, playbook)
    assert "factory_visit" in unit.actions and unit.script == "door_visit"


def test_maintenance_actions_by_nature(playbook: Playbook) -> None:
    assert next_best_action("individual", "maintain", playbook) == NextAction(
        ["phone_revisit", "service_activity", "holiday_sms", "maintenance_reminder", "complaint_handling"],
        "phone_follow_up",
    )
    assert next_best_action("unit", "maintain", playbook).actions[0] == "driver_training"
    assert "parts_reservation" in next_best_action("individual_business", "maintain", playbook).actions


def test_need_stage_uses_the_phone_script(playbook: Playbook) -> None:
    assert next_best_action("individual", "need", playbook).script == "phone_follow_up"


def test_purchase_means_a_delivery_ceremony(playbook: Playbook) -> None:
    for nature in CustomerNature:
        assert next_best_action(nature, "purchase", playbook) == NextAction(["delivery_ceremony"], None)


def test_every_stage_and_nature_has_an_action(playbook: Playbook) -> None:
    for stage in Stage:
        for nature in CustomerNature:
            assert next_best_action(nature, stage, playbook).actions


# --- follow-up dates --------------------------------------------------------------------------------


def test_follow_up_choices() -> None:
    assert follow_up_choices(date(2024, 12, 30)) == [
        ("today", date(2024, 12, 30)),
        ("in_3_days", date(2025, 1, 2)),
        ("in_1_week", date(2025, 1, 6)),
    ]


@pytest.mark.parametrize("day", [date(2024, 5, 10), date(2024, 5, 11), date(2025, 5, 10)])
def test_follow_up_today_to_one_year_is_fine(day: date) -> None:
    validate_follow_up(day, today=date(2024, 5, 10))


def test_follow_up_in_the_past() -> None:
    with pytest.raises(FieldworkError) as caught:
        validate_follow_up(date(2024, 5, 9), today=date(2024, 5, 10))
    assert caught.value.code == "follow_up_in_past"
    assert isinstance(caught.value, DomainError)


def test_follow_up_too_far() -> None:
    with pytest.raises(FieldworkError) as caught:
        validate_follow_up(date(2025, 5, 11), today=date(2024, 5, 10))
    assert caught.value.code == "follow_up_too_far"


def test_follow_up_limit_from_leap_day() -> None:
    validate_follow_up(date(2025, 2, 28), today=date(2024, 2, 29))
    with pytest.raises(FieldworkError):
        validate_follow_up(date(2025, 3, 1), today=date(2024, 2, 29))


# --- quarters ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "quarter"),
    [
        (date(2024, 1, 1), 1),
        (date(2024, 3, 31), 1),
        (date(2024, 4, 1), 2),
        (date(2024, 6, 30), 2),
        (date(2024, 7, 1), 3),
        (date(2024, 9, 30), 3),
        (date(2024, 10, 1), 4),
        (date(2024, 12, 31), 4),
    ],
)
def test_quarter_of(day: date, quarter: int) -> None:
    assert quarter_of(day) == quarter


def test_quarter_bounds() -> None:
    assert quarter_bounds(2024, 1) == (date(2024, 1, 1), date(2024, 3, 31))
    assert quarter_bounds(2024, 2) == (date(2024, 4, 1), date(2024, 6, 30))
    assert quarter_bounds(2024, 3) == (date(2024, 7, 1), date(2024, 9, 30))
    assert quarter_bounds(2024, 4) == (date(2024, 10, 1), date(2024, 12, 31))
    with pytest.raises(ValueError):
        quarter_bounds(2024, 5)


def test_quarter_bounds_and_quarter_of_agree() -> None:
    for quarter in (1, 2, 3, 4):
        first, last = quarter_bounds(2023, quarter)
        assert quarter_of(first) == quarter_of(last) == quarter


def test_quarter_target(playbook: Playbook) -> None:
    assert quarter_target("promotion", 1, playbook) == Decimal(1100)
    assert quarter_target("relationship", 4, playbook) == Decimal(900)
    assert quarter_target("organisation_contribution", 4, playbook) == Decimal("11.5")
    assert quarter_target("information_stations", 3, playbook) == "optimise"
    assert quarter_target("trainers_dealer", 4, playbook) is None
    with pytest.raises(ValueError):
        quarter_target("promotion", 0, playbook)
    with pytest.raises(KeyError):
        quarter_target("happiness", 1, playbook)


# --- referral rewards -------------------------------------------------------------------------------


def test_referral_reward_multiplier(playbook: Playbook) -> None:
    assert referral_reward_multiplier("flatbed", playbook) == Decimal("1.3")
    assert referral_reward_multiplier("tractor", playbook) == Decimal("1.0")
    with pytest.raises(KeyError):
        referral_reward_multiplier("bicycle", playbook)


# --- stages -----------------------------------------------------------------------------------------


def test_stage_after_sale() -> None:
    assert stage_after_sale() is Stage.MAINTAIN


@pytest.mark.parametrize(
    ("from_stage", "to_stage"),
    [
        ("collect", "need"),
        ("need", "follow_up"),
        ("follow_up", "purchase"),
        ("purchase", "maintain"),
        ("maintain", "repurchase"),
        ("repurchase", "follow_up"),
        ("repurchase", "purchase"),
        ("collect", "purchase"),
        ("collect", "maintain"),
    ],
)
def test_allowed_stage_moves(from_stage: str, to_stage: str) -> None:
    assert can_move_stage(from_stage, to_stage)


@pytest.mark.parametrize(
    ("from_stage", "to_stage"),
    [
        ("need", "collect"),
        ("purchase", "follow_up"),
        ("maintain", "follow_up"),
        ("maintain", "purchase"),
        ("repurchase", "collect"),
        ("repurchase", "maintain"),
        ("follow_up", "follow_up"),
    ],
)
def test_refused_stage_moves(from_stage: str, to_stage: str) -> None:
    assert not can_move_stage(from_stage, to_stage)


def test_unknown_stage() -> None:
    with pytest.raises(ValueError):
        can_move_stage("collect", "celebrate")
