from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot.domain.approvals import (
    ACTIVITY_TYPES,
    DEFAULT_RULES_PATH,
    Actor,
    ApprovalError,
    ApprovalRules,
    ApprovalRulesError,
    BudgetLine,
    RequestState,
    apply_decision,
    approval_chain,
    approver_unit_path,
    budget_total,
    counts_for_quarter,
    counts_toward,
    default_approval_rules,
    escalation_level,
    load_approval_rules,
    mark_completed,
    mark_evaluated,
    new_draft,
    overdue_action,
    parse_money_fen,
    resubmit,
    submit,
    validate_evaluation,
    validate_results,
    who_can_act,
)

NOW = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)

HQ = "/1/"
REGION = "/1/2/"
MARKET = "/1/2/3/"
DEALER = "/1/2/3/4/"
SIBLING_MARKET = "/1/2/6/"
OTHER_REGION = "/1/5/"

REQUESTER_ID = 100
MARKET_APPROVER = Actor(staff_id=10, role="activity_specialist", org_path=MARKET, org_kind="market")
REGION_APPROVER = Actor(staff_id=20, role="region_manager", org_path=REGION, org_kind="region")
HQ_APPROVER = Actor(staff_id=30, role="hq_staff", org_path=HQ, org_kind="hq")


@pytest.fixture
def rules() -> ApprovalRules:
    return default_approval_rules()


def pending_request(chain: tuple[str, ...] = ("market",), requester_path: str = DEALER) -> RequestState:
    return submit(new_draft(7, REQUESTER_ID, requester_path), chain, REQUESTER_ID)


def refusal_code(call, *args, **kwargs) -> str:
    with pytest.raises(ApprovalError) as caught:
        call(*args, **kwargs)
    return caught.value.code


# --- configuration -----------------------------------------------------------------------------------------


def test_shipped_rules_hold_the_documented_defaults(rules: ApprovalRules) -> None:
    assert rules.chain.region_budget_over_fen == 2_000_000
    assert rules.chain.region_attendance_over == 50
    assert rules.chain.top_level_by_activity_type == {"launch_event": "hq"}
    assert rules.timing.remind_after_hours == 24
    assert rules.timing.escalate_after_hours == 48
    assert set(rules.kpi_category_by_activity_type) == set(ACTIVITY_TYPES)


def test_default_rules_are_loaded_once() -> None:
    assert default_approval_rules() is default_approval_rules()


def write_rules(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    mutate(raw)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_custom_rules_file_is_honoured(tmp_path: Path) -> None:
    path = write_rules(tmp_path, lambda raw: raw["chain"].update(region_budget_over_fen=500_000))
    custom = load_approval_rules(path)
    assert approval_chain("roadshow", 500_001, 10, custom) == ("market", "region")


@pytest.mark.parametrize(
    ("mutate", "named_key"),
    [
        (lambda raw: raw["chain"].update(region_budget_over_fen="lots"), "chain.region_budget_over_fen"),
        (lambda raw: raw["chain"].update(region_attendance_over=-1), "chain.region_attendance_over"),
        (lambda raw: raw.pop("levels"), "levels"),
        (lambda raw: raw["levels"]["market"].update(approver_roles=["region_manager"]), "levels"),
        (lambda raw: raw["levels"].pop("hq"), "levels"),
        (lambda raw: raw["timing"].update(escalate_after_hours=12), "timing"),
        (lambda raw: raw["kpi_category_by_activity_type"].pop("roadshow"), "kpi_category_by_activity_type"),
        (
            lambda raw: raw["kpi_category_by_activity_type"].update(roadshow="fun"),
            "kpi_category_by_activity_type.roadshow",
        ),
        (lambda raw: raw["chain"]["top_level_by_activity_type"].update(exhibition="dealer"), "chain"),
        (lambda raw: raw.update(surprise=1), "surprise"),
    ],
)
def test_broken_rules_file_names_the_key(tmp_path: Path, mutate, named_key: str) -> None:
    path = write_rules(tmp_path, mutate)
    with pytest.raises(ApprovalRulesError, match=named_key.replace(".", r"\.")):
        load_approval_rules(path)


def test_rules_file_that_is_not_yaml_or_not_a_mapping_is_refused(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("levels: [unclosed", encoding="utf-8")
    with pytest.raises(ApprovalRulesError, match="not valid YAML"):
        load_approval_rules(bad_yaml)
    a_list = tmp_path / "list.yaml"
    a_list.write_text("- market\n", encoding="utf-8")
    with pytest.raises(ApprovalRulesError, match="mapping"):
        load_approval_rules(a_list)


# --- the chain ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("activity_type", "budget_fen", "attendance", "expected"),
    [
        ("roadshow", 0, 0, ("market",)),
        ("roadshow", 2_000_000, 50, ("market",)),
        ("roadshow", 2_000_001, 50, ("market", "region")),
        ("roadshow", 2_000_000, 51, ("market", "region")),
        ("delivery_ceremony", 5_000_000, 200, ("market", "region")),
        ("launch_event", 0, 0, ("market", "region", "hq")),
        ("launch_event", 9_000_000, 500, ("market", "region", "hq")),
    ],
)
def test_chain_boundaries(
    rules: ApprovalRules, activity_type: str, budget_fen: int, attendance: int, expected: tuple[str, ...]
) -> None:
    assert approval_chain(activity_type, budget_fen, attendance, rules) == expected


def test_hq_rule_never_skips_the_region(tmp_path: Path) -> None:
    path = write_rules(
        tmp_path, lambda raw: raw["chain"]["top_level_by_activity_type"].update(exhibition="hq")
    )
    assert approval_chain("exhibition", 0, 0, load_approval_rules(path)) == ("market", "region", "hq")


@pytest.mark.parametrize(
    ("activity_type", "budget_fen", "attendance", "code"),
    [
        ("barbecue", 0, 0, "unknown_activity_type"),
        ("roadshow", -1, 0, "bad_amount"),
        ("roadshow", 0, -1, "bad_count"),
        ("roadshow", 0, True, "bad_count"),
    ],
)
def test_chain_refuses_bad_input(rules: ApprovalRules, activity_type, budget_fen, attendance, code) -> None:
    assert refusal_code(approval_chain, activity_type, budget_fen, attendance, rules) == code


def test_who_can_act(rules: ApprovalRules) -> None:
    assert who_can_act("market", rules) == {"marketing_manager", "activity_specialist"}
    assert who_can_act("region", rules) == {"region_manager", "marcom_manager"}
    assert who_can_act("hq", rules) == {"hq_staff", "hq_admin"}
    assert refusal_code(who_can_act, "dealer", rules) == "unknown_level"


def test_approver_unit_path_picks_the_requesters_ancestor_at_that_level() -> None:
    paths_by_kind = {
        "hq": [HQ],
        "region": [OTHER_REGION, REGION],
        "market": [SIBLING_MARKET, MARKET],
    }
    assert approver_unit_path(DEALER, "market", paths_by_kind) == MARKET
    assert approver_unit_path(DEALER, "region", paths_by_kind) == REGION
    assert approver_unit_path(DEALER, "hq", paths_by_kind) == HQ
    assert approver_unit_path(MARKET, "market", paths_by_kind) == MARKET
    assert approver_unit_path("/9/8/", "market", paths_by_kind) is None


def test_escalation_goes_one_level_up_and_stops_at_hq() -> None:
    assert escalation_level("market") == "region"
    assert escalation_level("region") == "hq"
    assert escalation_level("hq") is None
    assert refusal_code(escalation_level, "dealer") == "unknown_level"


# --- the state machine -------------------------------------------------------------------------------------


def test_submit_starts_the_chain_and_bumps_the_version() -> None:
    draft = new_draft(7, REQUESTER_ID, DEALER)
    request = submit(draft, ("market", "region"), REQUESTER_ID)
    assert (request.state, request.step_index, request.version) == ("pending", 0, draft.version + 1)
    assert request.current_level == "market"


def test_full_three_level_approval(rules: ApprovalRules) -> None:
    request = pending_request(("market", "region", "hq"))
    levels_seen = []
    for approver, next_level in ((MARKET_APPROVER, "region"), (REGION_APPROVER, "hq"), (HQ_APPROVER, None)):
        outcome = apply_decision(request, "approve", approver, None, NOW, request.version, rules)
        assert outcome.request.version == request.version + 1
        assert outcome.next_level == next_level
        assert outcome.actor_staff_id == approver.staff_id
        assert outcome.decided_at == NOW
        levels_seen.append(outcome.decided_level)
        request = outcome.request
    assert levels_seen == ["market", "region", "hq"]
    assert request.state == "approved"
    assert request.current_level is None


def test_marketing_manager_and_marcom_manager_may_approve_too(rules: ApprovalRules) -> None:
    request = pending_request(("market", "region"))
    manager = Actor(staff_id=11, role="marketing_manager", org_path=MARKET, org_kind="market")
    marcom = Actor(staff_id=21, role="marcom_manager", org_path=REGION, org_kind="region")
    request = apply_decision(request, "approve", manager, None, NOW, rules=rules).request
    assert apply_decision(request, "approve", marcom, None, NOW, rules=rules).request.state == "approved"


def test_reject_ends_the_request_with_the_comment(rules: ApprovalRules) -> None:
    request = pending_request(("market", "region"))
    outcome = apply_decision(request, "reject", MARKET_APPROVER, "  no budget left  ", NOW, rules=rules)
    assert outcome.request.state == "rejected"
    assert outcome.comment == "no budget left"
    assert outcome.next_level is None
    assert (
        refusal_code(apply_decision, outcome.request, "approve", REGION_APPROVER, None, NOW) == "not_pending"
    )


def test_request_changes_then_resubmit_restarts_the_chain(rules: ApprovalRules) -> None:
    request = pending_request(("market", "region"))
    request = apply_decision(request, "approve", MARKET_APPROVER, None, NOW, rules=rules).request
    outcome = apply_decision(
        request, "request_changes", REGION_APPROVER, "split the budget", NOW, rules=rules
    )
    assert outcome.request.state == "changes_requested"
    resubmitted = resubmit(outcome.request, REQUESTER_ID, expected_version=outcome.request.version)
    assert resubmitted.state == "pending"
    assert resubmitted.step_index == 0
    assert resubmitted.chain == ("market", "region")
    assert resubmitted.version == outcome.request.version + 1
    assert resubmitted.current_level == "market"


def test_resubmit_takes_a_recomputed_chain(rules: ApprovalRules) -> None:
    request = pending_request(("market", "region"))
    changes = apply_decision(request, "request_changes", MARKET_APPROVER, "too expensive", NOW, rules=rules)
    smaller = approval_chain("roadshow", 1_000_000, 20, rules)
    assert resubmit(changes.request, REQUESTER_ID, chain=smaller).chain == ("market",)


def test_stale_button_is_refused(rules: ApprovalRules) -> None:
    request = pending_request(("market", "region"))
    button_version = request.version
    request = apply_decision(request, "approve", MARKET_APPROVER, None, NOW, button_version, rules).request
    assert (
        refusal_code(apply_decision, request, "approve", REGION_APPROVER, None, NOW, button_version)
        == "stale"
    )
    assert apply_decision(request, "approve", REGION_APPROVER, None, NOW, request.version).request.state == (
        "approved"
    )


@pytest.mark.parametrize(
    "state", ["draft", "changes_requested", "rejected", "approved", "completed", "evaluated"]
)
def test_only_pending_requests_can_be_decided(state: str) -> None:
    request = RequestState(7, state, ("market",), 0, 3, DEALER, REQUESTER_ID)
    assert refusal_code(apply_decision, request, "approve", MARKET_APPROVER, None, NOW) == "not_pending"


@pytest.mark.parametrize(
    ("actor", "code"),
    [
        (REGION_APPROVER, "wrong_step"),
        (Actor(staff_id=12, role="trainer", org_path=MARKET, org_kind="market"), "not_an_approver"),
        (Actor(staff_id=13, role="dealer_gm", org_path=DEALER, org_kind="dealer"), "not_an_approver"),
        (HQ_APPROVER, "not_an_approver"),
        (
            Actor(staff_id=14, role="activity_specialist", org_path=SIBLING_MARKET, org_kind="market"),
            "outside_scope",
        ),
        (Actor(staff_id=15, role="activity_specialist", org_path=REGION, org_kind="region"), "outside_scope"),
        (
            Actor(staff_id=REQUESTER_ID, role="activity_specialist", org_path=MARKET, org_kind="market"),
            "own_request",
        ),
    ],
)
def test_refusals_at_the_market_step(rules: ApprovalRules, actor: Actor, code: str) -> None:
    request = pending_request(("market", "region"))
    assert refusal_code(apply_decision, request, "approve", actor, None, NOW, rules=rules) == code


def test_region_step_refuses_another_regions_manager_and_earlier_levels(rules: ApprovalRules) -> None:
    request = pending_request(("market", "region"))
    request = apply_decision(request, "approve", MARKET_APPROVER, None, NOW, rules=rules).request
    stranger = Actor(staff_id=22, role="region_manager", org_path=OTHER_REGION, org_kind="region")
    assert refusal_code(apply_decision, request, "approve", stranger, None, NOW) == "outside_scope"
    another_market_approver = Actor(staff_id=16, role="marketing_manager", org_path=MARKET, org_kind="market")
    assert (
        refusal_code(apply_decision, request, "approve", another_market_approver, None, NOW) == "wrong_step"
    )


def test_market_level_requester_is_approved_by_a_colleague_in_the_same_market(rules: ApprovalRules) -> None:
    request = pending_request(("market",), requester_path=MARKET)
    assert (
        apply_decision(request, "approve", MARKET_APPROVER, None, NOW, rules=rules).request.state
        == "approved"
    )


@pytest.mark.parametrize("decision", ["reject", "request_changes"])
@pytest.mark.parametrize("comment", [None, "", "   \n"])
def test_reject_and_request_changes_need_a_comment(decision: str, comment: str | None) -> None:
    request = pending_request()
    assert (
        refusal_code(apply_decision, request, decision, MARKET_APPROVER, comment, NOW) == "comment_required"
    )


def test_approve_without_comment_is_fine_and_blank_comment_becomes_none() -> None:
    assert apply_decision(pending_request(), "approve", MARKET_APPROVER, "  ", NOW).comment is None


def test_unknown_decision_is_refused() -> None:
    assert (
        refusal_code(apply_decision, pending_request(), "maybe", MARKET_APPROVER, None, NOW)
        == "unknown_decision"
    )


def test_submit_and_resubmit_refusals() -> None:
    draft = new_draft(7, REQUESTER_ID, DEALER)
    assert refusal_code(submit, draft, ("market",), 999) == "not_requester"
    assert refusal_code(submit, draft, ("market",), REQUESTER_ID, expected_version=5) == "stale"
    assert refusal_code(submit, draft, (), REQUESTER_ID) == "bad_chain"
    assert refusal_code(submit, draft, ("region",), REQUESTER_ID) == "bad_chain"
    assert refusal_code(submit, draft, ("market", "hq"), REQUESTER_ID) == "bad_chain"
    pending = submit(draft, ("market",), REQUESTER_ID)
    assert refusal_code(submit, pending, ("market",), REQUESTER_ID) == "not_draft"
    assert refusal_code(resubmit, pending, REQUESTER_ID) == "not_changes_requested"
    changes = apply_decision(pending, "request_changes", MARKET_APPROVER, "add photos", NOW).request
    assert refusal_code(resubmit, changes, 999) == "not_requester"
    assert refusal_code(resubmit, changes, REQUESTER_ID, expected_version=pending.version) == "stale"


def test_results_and_evaluation_move_an_approved_request_on() -> None:
    approved = apply_decision(pending_request(), "approve", MARKET_APPROVER, None, NOW).request
    assert not counts_for_quarter(approved.state)
    completed = mark_completed(approved)
    assert (completed.state, completed.version) == ("completed", approved.version + 1)
    evaluated = mark_evaluated(completed)
    assert (evaluated.state, evaluated.version) == ("evaluated", completed.version + 1)
    assert counts_for_quarter(completed.state) and counts_for_quarter(evaluated.state)
    assert refusal_code(mark_completed, completed) == "not_approved"
    assert refusal_code(mark_evaluated, approved) == "not_completed"


@pytest.mark.parametrize("state", ["draft", "pending", "changes_requested", "rejected", "approved"])
def test_unfinished_or_refused_activities_do_not_count(state: str) -> None:
    assert not counts_for_quarter(state)


# --- waiting too long --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("waited", "reminded", "escalated", "expected"),
    [
        (timedelta(0), False, False, "none"),
        (timedelta(hours=24) - timedelta(seconds=1), False, False, "none"),
        (timedelta(hours=24), False, False, "remind"),
        (timedelta(hours=30), True, False, "none"),
        (timedelta(hours=48) - timedelta(seconds=1), True, False, "none"),
        (timedelta(hours=48), True, False, "escalate"),
        (timedelta(hours=48), False, False, "escalate"),
        (timedelta(hours=100), True, True, "none"),
        (timedelta(hours=30), False, True, "none"),
        (-timedelta(hours=1), False, False, "none"),
    ],
)
def test_overdue_timing_boundaries(
    rules: ApprovalRules, waited: timedelta, reminded: bool, escalated: bool, expected: str
) -> None:
    assert overdue_action(NOW - waited, NOW, rules, reminded, escalated) == expected


# --- after the activity ------------------------------------------------------------------------------------


def test_valid_results_are_returned() -> None:
    results = validate_results(60, 12, 3, 1_850_000)
    assert (results.attendance, results.leads, results.orders, results.actual_expenses_fen) == (
        60,
        12,
        3,
        1_850_000,
    )
    assert validate_results(0, 0, 0, 0).orders == 0


@pytest.mark.parametrize(
    ("figures", "code", "field"),
    [
        ((-1, 0, 0, 0), "bad_count", "attendance"),
        ((10, -2, 0, 0), "bad_count", "leads"),
        ((10, 2, 1.5, 0), "bad_count", "orders"),
        ((10, 2, 1, -100), "bad_amount", "actual_expenses_fen"),
        ((True, 2, 1, 0), "bad_count", "attendance"),
        ((10, 2, 1, "100"), "bad_amount", "actual_expenses_fen"),
    ],
)
def test_bad_results_are_refused_naming_the_field(figures: tuple, code: str, field: str) -> None:
    with pytest.raises(ApprovalError) as caught:
        validate_results(*figures)
    assert (caught.value.code, caught.value.field) == (code, field)


@pytest.mark.parametrize("score", [1, 3, 5])
def test_scores_one_to_five_are_accepted(score: int) -> None:
    assert validate_evaluation(score, " good turnout ") == (score, "good turnout")
    assert validate_evaluation(score, "  ") == (score, None)


@pytest.mark.parametrize("score", [0, 6, -1, 4.5, True, "4"])
def test_other_scores_are_refused(score) -> None:
    assert refusal_code(validate_evaluation, score, None) == "bad_score"


@pytest.mark.parametrize(
    "activity_type",
    ["delivery_ceremony", "thank_you_meeting", "customer_trip", "factory_visit", "driver_training"],
)
def test_relationship_activities(activity_type: str) -> None:
    assert counts_toward(activity_type) == "relationship"


def test_everything_else_is_promotion() -> None:
    relationship = {
        "delivery_ceremony",
        "thank_you_meeting",
        "customer_trip",
        "factory_visit",
        "driver_training",
    }
    for activity_type in set(ACTIVITY_TYPES) - relationship:
        assert counts_toward(activity_type) == "promotion"
    assert refusal_code(counts_toward, "barbecue") == "unknown_activity_type"


# --- money -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("12000", 1_200_000),
        ("12,000.50", 1_200_050),
        ("1,234,567.8", 123_456_780),
        ("1.2万", 1_200_000),
        ("¥3000", 300_000),
        ("￥３０００元", 300_000),
        (" ¥ 1.5 万 ", 1_500_000),
        ("0.01", 1),
        ("0", 0),
        ("3000元", 300_000),
        ("100000000", 10_000_000_000),  # the largest amount taken: 100 million yuan
    ],
)
def test_money_parsing(text: str, fen: int) -> None:
    assert parse_money_fen(text) == fen


@pytest.mark.parametrize(
    "text",
    ["", "  ", "abc", "-5", "12.345", "1,2000", "12,00", "3 000", "1e5", "万", "¥", "1.2.3", "1.234567万0",
     "100000000.01", "10001万", "1" + "0" * 30],
)
def test_bad_money_is_refused(text: str) -> None:
    assert refusal_code(parse_money_fen, text) == "bad_amount"


def test_budget_lines_add_up() -> None:
    lines = [BudgetLine("venue", parse_money_fen("8,000")), BudgetLine("meals", parse_money_fen("2500.50"))]
    assert budget_total(lines) == 1_050_050
    assert budget_total([]) == 0


def test_budget_line_refusals() -> None:
    assert refusal_code(BudgetLine, "  ", 100) == "blank_budget_line"
    assert refusal_code(BudgetLine, "venue", -1) == "bad_amount"
