"""Pure rules of marketing-activity approval: the chain, the request state machine, overdue steps, results.

Everything here works on plain values. Refusals raise `ApprovalError` with a stable code; services translate
codes into user text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.domain.errors import DomainError
from bot.domain.org import ROLE_KIND, OrgKind, in_subtree

ORG_KINDS: tuple[str, ...] = tuple(kind.value for kind in OrgKind)
# The org module owns which role sits at which level; this is the same table grouped by level.
ROLES_BY_KIND: Mapping[str, tuple[str, ...]] = {
    kind: tuple(role for role, role_kind in ROLE_KIND.items() if role_kind == kind) for kind in ORG_KINDS
}
APPROVAL_LEVELS: tuple[str, ...] = ("market", "region", "hq")
ACTIVITY_TYPES: tuple[str, ...] = (
    "roadshow",
    "promotion_meeting",
    "launch_event",
    "exhibition",
    "test_drive",
    "fixed_point_display",
    "door_display",
    "thank_you_meeting",
    "customer_trip",
    "factory_visit",
    "delivery_ceremony",
    "driver_training",
    "customer_contest",
    "wall_advertising",
)
KPI_CATEGORIES: tuple[str, ...] = ("promotion", "relationship")

RequestStatus = Literal[
    "draft", "pending", "changes_requested", "rejected", "approved", "completed", "evaluated"
]
REQUEST_STATES: tuple[str, ...] = (
    "draft",
    "pending",
    "changes_requested",
    "rejected",
    "approved",
    "completed",
    "evaluated",
)
Decision = Literal["approve", "reject", "request_changes"]
DECISIONS: tuple[str, ...] = ("approve", "reject", "request_changes")
OverdueAction = Literal["none", "remind", "escalate"]
KpiCategory = Literal["promotion", "relationship"]

DEFAULT_RULES_PATH = Path(__file__).with_name("approval_rules.yaml")
FEN_PER_YUAN = 100


class ApprovalError(DomainError):
    """A refused approval action; `code` is stable and services map it to user text."""

    def __init__(self, code: str, field: str | None = None) -> None:
        params: dict[str, object] = {} if field is None else {"field": field}
        super().__init__(code, **params)
        self.args = (code if field is None else f"{code}: {field}",)
        self.field = field


class ApprovalRulesError(ValueError):
    """The approval rules file is missing keys or holds bad values; the message names the key."""


# --- configuration -----------------------------------------------------------------------------------------


class LevelRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    approver_roles: tuple[str, ...] = Field(min_length=1)


class ChainRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    region_budget_over_fen: int = Field(default=2_000_000, ge=0)
    region_attendance_over: int = Field(default=50, ge=0)
    top_level_by_activity_type: dict[str, str] = Field(default_factory=lambda: {"launch_event": "hq"})

    @field_validator("top_level_by_activity_type")
    @classmethod
    def _known_types_and_levels(cls, value: dict[str, str]) -> dict[str, str]:
        for activity_type, level in value.items():
            if activity_type not in ACTIVITY_TYPES:
                raise ValueError(f"unknown activity type {activity_type!r}")
            if level not in APPROVAL_LEVELS:
                raise ValueError(f"{activity_type}: unknown level {level!r}")
        return value


class TimingRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    remind_after_hours: float = Field(default=24, gt=0)
    escalate_after_hours: float = Field(default=48, gt=0)

    @model_validator(mode="after")
    def _escalation_after_reminder(self) -> TimingRules:
        if self.escalate_after_hours <= self.remind_after_hours:
            raise ValueError("escalate_after_hours must be greater than remind_after_hours")
        return self


class ApprovalRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    levels: dict[str, LevelRules]
    chain: ChainRules = Field(default_factory=ChainRules)
    timing: TimingRules = Field(default_factory=TimingRules)
    kpi_category_by_activity_type: dict[str, KpiCategory]

    @field_validator("levels")
    @classmethod
    def _every_level_with_its_own_roles(cls, value: dict[str, LevelRules]) -> dict[str, LevelRules]:
        if set(value) != set(APPROVAL_LEVELS):
            raise ValueError(f"levels must be exactly {list(APPROVAL_LEVELS)}, got {list(value)}")
        for level, level_rules in value.items():
            for role in level_rules.approver_roles:
                if role not in ROLES_BY_KIND[level]:
                    raise ValueError(f"{level}.approver_roles: {role!r} is not a {level} role")
        return value

    @field_validator("kpi_category_by_activity_type")
    @classmethod
    def _every_activity_type_once(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(ACTIVITY_TYPES))
        missing = sorted(set(ACTIVITY_TYPES) - set(value))
        if unknown:
            raise ValueError(f"unknown activity types {unknown}")
        if missing:
            raise ValueError(f"missing activity types {missing}")
        return value


def _describe_validation_error(error: ValidationError) -> str:
    problems = []
    for detail in error.errors():
        key = ".".join(str(part) for part in detail["loc"]) or "(top level)"
        problems.append(f"{key}: {detail['msg']}")
    return "; ".join(problems)


def load_approval_rules(path: Path | str | None = None) -> ApprovalRules:
    """Reads and validates the rules file; a broken file raises ApprovalRulesError naming the bad key."""
    rules_path = Path(path) if path is not None else DEFAULT_RULES_PATH
    try:
        raw: Any = yaml.safe_load(rules_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ApprovalRulesError(f"{rules_path}: not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise ApprovalRulesError(f"{rules_path}: expected a mapping at the top level")
    try:
        return ApprovalRules.model_validate(raw)
    except ValidationError as error:
        raise ApprovalRulesError(f"{rules_path}: {_describe_validation_error(error)}") from error


@cache
def default_approval_rules() -> ApprovalRules:
    return load_approval_rules()


# --- the chain ---------------------------------------------------------------------------------------------


def approval_chain(
    activity_type: str, budget_fen: int, expected_attendance: int, rules: ApprovalRules
) -> tuple[str, ...]:
    """Levels that must approve, bottom-up; every level up to the highest one any rule asks for."""
    if activity_type not in ACTIVITY_TYPES:
        raise ApprovalError("unknown_activity_type")
    if not _is_non_negative_int(budget_fen):
        raise ApprovalError("bad_amount", "budget_fen")
    if not _is_non_negative_int(expected_attendance):
        raise ApprovalError("bad_count", "expected_attendance")
    top_rank = 0
    over_budget = budget_fen > rules.chain.region_budget_over_fen
    over_attendance = expected_attendance > rules.chain.region_attendance_over
    if over_budget or over_attendance:
        top_rank = APPROVAL_LEVELS.index("region")
    type_top_level = rules.chain.top_level_by_activity_type.get(activity_type)
    if type_top_level is not None:
        top_rank = max(top_rank, APPROVAL_LEVELS.index(type_top_level))
    return APPROVAL_LEVELS[: top_rank + 1]


def who_can_act(chain_level: str, rules: ApprovalRules) -> frozenset[str]:
    """Roles that may decide at a chain level."""
    if chain_level not in rules.levels:
        raise ApprovalError("unknown_level")
    return frozenset(rules.levels[chain_level].approver_roles)


def approver_unit_path(
    requester_path: str, level: str, paths_by_kind: Mapping[str, Iterable[str]]
) -> str | None:
    """The requester's ancestor-or-self org unit of the given kind, or None when the tree has none."""
    candidates = [path for path in paths_by_kind.get(level, ()) if in_subtree(requester_path, path)]
    # Paths are unique per unit, so more than one match only happens with bad data; the nearest wins.
    return max(candidates, key=len, default=None)


def escalation_level(level: str) -> str | None:
    """The level a stuck step is escalated to; None above HQ."""
    if level not in APPROVAL_LEVELS:
        raise ApprovalError("unknown_level")
    rank = APPROVAL_LEVELS.index(level)
    return APPROVAL_LEVELS[rank + 1] if rank + 1 < len(APPROVAL_LEVELS) else None


# --- the request state machine -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestState:
    id: int
    state: RequestStatus
    chain: tuple[str, ...]
    step_index: int
    version: int
    requester_org_path: str
    requester_staff_id: int

    @property
    def current_level(self) -> str | None:
        """The level whose decision is awaited; None unless pending."""
        if self.state != "pending" or not 0 <= self.step_index < len(self.chain):
            return None
        return self.chain[self.step_index]


@dataclass(frozen=True)
class Actor:
    staff_id: int
    role: str
    org_path: str
    org_kind: str


@dataclass(frozen=True)
class DecisionOutcome:
    request: RequestState
    decision: Decision
    decided_level: str
    actor_staff_id: int
    comment: str | None
    decided_at: datetime
    # The level now waiting (its step starts at decided_at); None when the chain is finished or halted.
    next_level: str | None


def new_draft(request_id: int, requester_staff_id: int, requester_org_path: str) -> RequestState:
    return RequestState(
        id=request_id,
        state="draft",
        chain=(),
        step_index=0,
        version=0,
        requester_org_path=requester_org_path,
        requester_staff_id=requester_staff_id,
    )


def submit(
    request: RequestState,
    chain: tuple[str, ...],
    requester_staff_id: int,
    expected_version: int | None = None,
) -> RequestState:
    """Draft → pending at the first step of the chain computed at submission."""
    if request.state != "draft":
        raise ApprovalError("not_draft")
    _check_requester_and_version(request, requester_staff_id, expected_version)
    return _start_chain(request, chain)


def resubmit(
    request: RequestState,
    requester_staff_id: int,
    chain: tuple[str, ...] | None = None,
    expected_version: int | None = None,
) -> RequestState:
    """Changes requested → pending from step 0; pass a new chain when the edit changed budget or size."""
    if request.state != "changes_requested":
        raise ApprovalError("not_changes_requested")
    _check_requester_and_version(request, requester_staff_id, expected_version)
    return _start_chain(request, request.chain if chain is None else chain)


def apply_decision(
    request: RequestState,
    decision: Decision,
    actor: Actor,
    comment: str | None,
    now: datetime,
    expected_version: int | None = None,
    rules: ApprovalRules | None = None,
) -> DecisionOutcome:
    """Decides the current step; `expected_version` is the version the button was drawn for."""
    rules = rules if rules is not None else default_approval_rules()
    if decision not in DECISIONS:
        raise ApprovalError("unknown_decision")
    if request.state != "pending":
        raise ApprovalError("not_pending")
    if expected_version is not None and expected_version != request.version:
        raise ApprovalError("stale")
    level = request.current_level
    if level is None:
        raise ApprovalError("wrong_step")
    if actor.role not in who_can_act(level, rules):
        approves_elsewhere_in_chain = any(actor.role in who_can_act(other, rules) for other in request.chain)
        raise ApprovalError("wrong_step" if approves_elsewhere_in_chain else "not_an_approver")
    if actor.org_kind != level or not in_subtree(request.requester_org_path, actor.org_path):
        raise ApprovalError("outside_scope")
    if actor.staff_id == request.requester_staff_id:
        raise ApprovalError("own_request")
    clean_comment = comment.strip() if comment is not None and comment.strip() else None
    if decision != "approve" and clean_comment is None:
        raise ApprovalError("comment_required")

    next_level: str | None = None
    if decision == "approve":
        next_step = request.step_index + 1
        if next_step < len(request.chain):
            decided = replace(request, step_index=next_step, version=request.version + 1)
            next_level = request.chain[next_step]
        else:
            decided = replace(request, state="approved", version=request.version + 1)
    elif decision == "reject":
        decided = replace(request, state="rejected", version=request.version + 1)
    else:
        decided = replace(request, state="changes_requested", version=request.version + 1)
    return DecisionOutcome(
        request=decided,
        decision=decision,
        decided_level=level,
        actor_staff_id=actor.staff_id,
        comment=clean_comment,
        decided_at=now,
        next_level=next_level,
    )


def mark_completed(request: RequestState) -> RequestState:
    """Approved → completed once the results are reported."""
    if request.state != "approved":
        raise ApprovalError("not_approved")
    return replace(request, state="completed", version=request.version + 1)


def mark_evaluated(request: RequestState) -> RequestState:
    """Completed → evaluated once the activity has a score."""
    if request.state != "completed":
        raise ApprovalError("not_completed")
    return replace(request, state="evaluated", version=request.version + 1)


def _check_requester_and_version(
    request: RequestState, requester_staff_id: int, expected_version: int | None
) -> None:
    if requester_staff_id != request.requester_staff_id:
        raise ApprovalError("not_requester")
    if expected_version is not None and expected_version != request.version:
        raise ApprovalError("stale")


def _start_chain(request: RequestState, chain: tuple[str, ...]) -> RequestState:
    if not chain or chain != APPROVAL_LEVELS[: len(chain)]:
        raise ApprovalError("bad_chain")
    return replace(request, state="pending", chain=tuple(chain), step_index=0, version=request.version + 1)


# --- waiting too long --------------------------------------------------------------------------------------


def overdue_action(
    step_started_at: datetime,
    now: datetime,
    rules: ApprovalRules,
    already_reminded: bool = False,
    already_escalated: bool = False,
) -> OverdueAction:
    """What to do about a step waiting since step_started_at; each action fires once, from its hour on."""
    waited = now - step_started_at
    if already_escalated:
        return "none"
    if waited >= timedelta(hours=rules.timing.escalate_after_hours):
        return "escalate"
    if waited >= timedelta(hours=rules.timing.remind_after_hours) and not already_reminded:
        return "remind"
    return "none"


# --- after the activity ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivityResults:
    attendance: int
    leads: int
    orders: int
    actual_expenses_fen: int


def validate_results(attendance: int, leads: int, orders: int, actual_expenses_fen: int) -> ActivityResults:
    """Every figure must be a non-negative whole number; refusals name the field."""
    for field, value in (
        ("attendance", attendance),
        ("leads", leads),
        ("orders", orders),
    ):
        if not _is_non_negative_int(value):
            raise ApprovalError("bad_count", field)
    if not _is_non_negative_int(actual_expenses_fen):
        raise ApprovalError("bad_amount", "actual_expenses_fen")
    return ActivityResults(attendance, leads, orders, actual_expenses_fen)


def validate_evaluation(score: int, comment: str | None) -> tuple[int, str | None]:
    """Score is a whole number 1–5; the comment is optional and a blank one becomes None."""
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise ApprovalError("bad_score")
    clean_comment = comment.strip() if comment is not None and comment.strip() else None
    return score, clean_comment


def counts_toward(activity_type: str, rules: ApprovalRules | None = None) -> KpiCategory:
    rules = rules if rules is not None else default_approval_rules()
    try:
        return rules.kpi_category_by_activity_type[activity_type]
    except KeyError:
        raise ApprovalError("unknown_activity_type") from None


def counts_for_quarter(state: str) -> bool:
    """Only activities that were approved and then held (results reported) count toward quarterly KPIs."""
    return state in ("completed", "evaluated")


# --- money -------------------------------------------------------------------------------------------------

# No single marketing amount comes near 100 million yuan: above it is a typo (and stays far inside a BIGINT).
MAX_AMOUNT_FEN = 100_000_000 * 100

_MONEY_PATTERN = re.compile(
    r"""
    (?:(?:¥|RMB|CNY)\s*)?
    (?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)
    (?:\s*(?P<wan>万))?  # i18n-ok: the unit people type (ten thousand)
    (?:\s*(?:元|RMB|CNY))?  # i18n-ok: the currency word people type
    """,
    re.VERBOSE | re.IGNORECASE,
)


def parse_money_fen(text: str) -> int:
    """Amount in fen from what people type: "12000", "12,000.50", "1.2万", "¥3000", full-width digits too."""  # i18n-ok
    normalized = unicodedata.normalize("NFKC", text or "").strip()
    match = _MONEY_PATTERN.fullmatch(normalized)
    if match is None:
        raise ApprovalError("bad_amount")
    number = match.group("number").replace(",", "")
    yuan = Decimal(number)
    if match.group("wan"):
        yuan *= 10_000
    fen = yuan * FEN_PER_YUAN
    # Fractions of a fen mean a typo (e.g. "12.345"), not something to round silently.
    if fen != fen.to_integral_value():
        raise ApprovalError("bad_amount")
    if fen > MAX_AMOUNT_FEN:
        raise ApprovalError("bad_amount")
    return int(fen)


@dataclass(frozen=True)
class BudgetLine:
    name: str
    amount_fen: int

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ApprovalError("blank_budget_line")
        if not _is_non_negative_int(self.amount_fen):
            raise ApprovalError("bad_amount", "amount_fen")


def budget_total(lines: Iterable[BudgetLine]) -> int:
    return sum((line.amount_fen for line in lines), 0)


def _is_non_negative_int(value: object) -> bool:
    # bool is an int subclass; True must not pass as an attendance of 1.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
