"""Field-work rules as plain functions over plain values; reference data comes from the playbook."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from bot.domain.errors import DomainError
from bot.domain.playbook import CeremonyTier, CustomerNature, Playbook, QuarterTarget, Stage

__all__ = [
    "CeremonyTier",
    "CoverageGap",
    "CustomerNature",
    "FieldworkError",
    "LocationCheck",
    "LocationStatus",
    "NextAction",
    "Stage",
    "can_move_stage",
    "ceremony_checklist",
    "ceremony_tier",
    "coverage_gaps",
    "coverage_minimums",
    "distance_m",
    "follow_up_choices",
    "next_best_action",
    "quarter_bounds",
    "quarter_of",
    "quarter_target",
    "referral_reward_multiplier",
    "stage_after_sale",
    "validate_follow_up",
    "verify_visit_location",
]

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius
FOLLOW_UP_MAX_YEARS_AHEAD = 1

_TIER_BY_NATURE = {
    CustomerNature.INDIVIDUAL: CeremonyTier.SIMPLE,
    CustomerNature.INDIVIDUAL_BUSINESS: CeremonyTier.MODERATE,
    CustomerNature.UNIT: CeremonyTier.GRAND,
}
_STAGE_ORDER = list(Stage)
_TIER_ORDER = [CeremonyTier.SIMPLE, CeremonyTier.MODERATE, CeremonyTier.GRAND]


class FieldworkError(DomainError):
    """A field-work rule refused a value; `code` is translated into a user message by the services."""


class LocationStatus(StrEnum):
    VERIFIED = "verified"  # within the radius of the customer's known location
    OUT_OF_RANGE = "out_of_range"
    # The customer had no known location: the reported one became it. Nothing was checked, so it counts apart.
    RECORDED = "recorded"
    UNVERIFIED = "unverified"  # no location sent


@dataclass(frozen=True)
class LocationCheck:
    status: LocationStatus
    distance_m: float | None
    # The customer had no known location: the reported one should be stored as the customer's location.
    becomes_known: bool = False


@dataclass(frozen=True)
class CoverageGap:
    city: str
    stations_missing: int
    leaders_missing: int


@dataclass(frozen=True)
class NextAction:
    actions: list[str]
    script: str | None


def ceremony_tier(trucks: int, nature: CustomerNature | str) -> CeremonyTier:
    """Delivery-ceremony size: the larger of the nature's tier and the truck count's tier.

    A bigger order never earns a smaller ceremony: a unit buying 6 trucks keeps the grand ceremony its nature
    gives it, while an individual buying 51 trucks gets the grand one its count gives it.
    """
    if trucks < 1:
        raise ValueError(f"a delivery has at least one truck, got {trucks}")
    by_nature = _TIER_BY_NATURE[CustomerNature(nature)]
    if trucks > 50:
        by_count = CeremonyTier.GRAND
    elif trucks > 20:
        by_count = CeremonyTier.MODERATE
    elif trucks > 5:
        by_count = CeremonyTier.SIMPLE
    else:
        return by_nature
    return max(by_nature, by_count, key=_TIER_ORDER.index)


def ceremony_checklist(tier: CeremonyTier | str, playbook: Playbook) -> list[str]:
    """Checklist item codes for a ceremony tier, in the playbook's order."""
    return list(playbook.ceremony_tier(CeremonyTier(tier)).checklist)


def coverage_minimums(province_code: str, playbook: Playbook) -> tuple[int, int]:
    """(information stations, opinion leaders) each county-level city of the province needs at least."""
    region_class = playbook.region_class(province_code)
    return region_class.stations_per_city, region_class.leaders_per_city


def coverage_gaps(
    province_code: str, counts_by_city: dict[str, tuple[int, int]], playbook: Playbook
) -> list[CoverageGap]:
    """Cities (given as city -> (stations, leaders)) below the province's minimums, with what is missing."""
    min_stations, min_leaders = coverage_minimums(province_code, playbook)
    gaps = []
    for city, (stations, leaders) in counts_by_city.items():
        if stations < 0 or leaders < 0:
            raise ValueError(f"negative count for {city!r}")
        gap = CoverageGap(city, max(0, min_stations - stations), max(0, min_leaders - leaders))
        if gap.stations_missing or gap.leaders_missing:
            gaps.append(gap)
    return gaps


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two points in degrees (haversine)."""
    _check_point((lat1, lon1))
    _check_point((lat2, lon2))
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi, d_lambda = phi2 - phi1, math.radians(lon2 - lon1)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _check_point(point: tuple[float, float]) -> None:
    lat, lon = point
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"not a coordinate: {point}")


def verify_visit_location(
    known: tuple[float, float] | None, reported: tuple[float, float] | None, radius_m: float
) -> LocationCheck:
    """Whether a visit happened at the customer's known location.

    A first reported location becomes the customer's known location: it is recorded, not verified (there was
    nothing to compare it with), so such visits are counted apart from verified ones.
    """
    if radius_m <= 0:
        raise ValueError(f"radius_m must be positive, got {radius_m}")
    if reported is None:
        return LocationCheck(LocationStatus.UNVERIFIED, None)
    if known is None:
        _check_point(reported)
        return LocationCheck(LocationStatus.RECORDED, None, becomes_known=True)
    distance = distance_m(*known, *reported)
    status = LocationStatus.VERIFIED if distance <= radius_m else LocationStatus.OUT_OF_RANGE
    return LocationCheck(status, distance)


def next_best_action(nature: CustomerNature | str, stage: Stage | str, playbook: Playbook) -> NextAction:
    """Action codes and the script to use for a customer of this nature at this stage."""
    play = playbook.stage(Stage(stage)).plays[CustomerNature(nature)]
    return NextAction(list(play.actions), play.script)


def follow_up_choices(today: date) -> list[tuple[str, date]]:
    """The quick follow-up dates offered: today, in 3 days, in a week."""
    return [
        ("today", today),
        ("in_3_days", today + timedelta(days=3)),
        ("in_1_week", today + timedelta(weeks=1)),
    ]


def latest_follow_up(today: date) -> date:
    """The last day a follow-up may be planned for (the calendar offers no later month)."""
    return _add_years(today, FOLLOW_UP_MAX_YEARS_AHEAD)


def validate_follow_up(day: date, today: date) -> None:
    """Raises FieldworkError for a follow-up date in the past or more than a year ahead."""
    if day < today:
        raise FieldworkError("follow_up_in_past")
    if day > _add_years(today, FOLLOW_UP_MAX_YEARS_AHEAD):
        raise FieldworkError("follow_up_too_far")


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def quarter_of(day: date) -> int:
    """The calendar quarter (1-4) of a date."""
    return (day.month - 1) // 3 + 1


def quarter_bounds(year: int, quarter: int) -> tuple[date, date]:
    """First and last day (both inclusive) of a calendar quarter."""
    _check_quarter(quarter)
    first = date(year, 3 * quarter - 2, 1)
    next_first = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return first, next_first - timedelta(days=1)


def quarter_target(kpi_code: str, quarter: int, playbook: Playbook) -> QuarterTarget:
    """A KPI's target for a quarter: a number, "optimise" (no number) or None (no target)."""
    _check_quarter(quarter)
    return playbook.kpi(kpi_code).quarters[quarter - 1]


def _check_quarter(quarter: int) -> None:
    if quarter not in (1, 2, 3, 4):
        raise ValueError(f"quarter must be 1-4, got {quarter}")


def referral_reward_multiplier(vehicle_type: str, playbook: Playbook) -> Decimal:
    """Factor on the normal opinion-leader referral reward for a sale of this vehicle type."""
    playbook.vehicle_type(vehicle_type)
    rewards = playbook.referral_rewards
    by_type = {m.vehicle_type: m.multiplier for m in rewards.multipliers}
    return by_type.get(vehicle_type, rewards.default_multiplier)


def stage_after_sale() -> Stage:
    """The stage a customer enters once a sale is reported."""
    return Stage.MAINTAIN


def can_move_stage(from_stage: Stage | str, to_stage: Stage | str) -> bool:
    """Whether a customer may move between development stages.

    Any forward move is allowed, skips included: an existing owner found while collecting goes straight to
    maintenance, a walk-in buyer straight to purchase. Backward moves are refused except out of repurchase,
    which re-enters the cycle: to follow-up (a new round of persuasion) or to purchase (a standing customer
    re-orders). A customer in maintenance reaches follow-up only through repurchase, so the reason for the
    new round is recorded. Staying put is not a move.
    """
    current, target = Stage(from_stage), Stage(to_stage)
    if current is Stage.REPURCHASE:
        return target in (Stage.FOLLOW_UP, Stage.PURCHASE)
    return _STAGE_ORDER.index(target) > _STAGE_ORDER.index(current)
