"""Marketing activities: request, multi-level approval, reminders and escalation, results and evaluation.

Every action re-reads the activity and re-checks who may do what (bot.domain.approvals): buttons and callback
data are never trusted. Decisions move the activity on with a conditional update on its version, so a second
tap, a replayed callback or two approvers at once change it at most once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm.attributes import set_committed_value

from bot.domain import approvals as rules
from bot.domain.approvals import ApprovalError, BudgetLine
from bot.domain.errors import DomainError
from bot.domain.org import ROLE_KIND, OrgKind, in_subtree
from bot.domain.phones import normalize_phone
from bot.domain.playbook import default_playbook
from bot.services.clock import Clock
from storage.models import Activity, ActivityDecision, ActivityLead, ActivityReceipt, OrgUnit, Staff
from storage.uow import UnitOfWork

REQUESTER_ROLES = frozenset(role for role, kind in ROLE_KIND.items() if kind is OrgKind.DEALER)
# Where a request can be still waiting on someone: the approver's list shows these.
OPEN_STATES = ("pending",)
MAX_TEXT = 300
MAX_DESCRIPTION = 2000


@dataclass(frozen=True)
class ActivityDraft:
    """What the request conversation collected; money in fen, time aware UTC."""

    activity_type: str
    product_line: str
    series: str
    starts_at: datetime
    city: str
    address: str
    natures: tuple[str, ...]
    expected_attendance: int
    budget_lines: tuple[BudgetLine, ...]
    description: str

    @property
    def budget_fen(self) -> int:
        return rules.budget_total(self.budget_lines)

    @property
    def kpi(self) -> str:
        return rules.counts_toward(self.activity_type)


@dataclass(frozen=True)
class Submitted:
    activity: Activity
    approvers: list[Staff]
    created: bool  # False when the same flow was submitted before (a second tap): nothing was changed


@dataclass(frozen=True)
class Decided:
    activity: Activity
    decision: str
    level: str
    comment: str | None
    next_level: str | None
    next_approvers: list[Staff]
    requester: Staff | None


@dataclass(frozen=True)
class Reported:
    activity: Activity
    reviewers: list[Staff]


@dataclass(frozen=True)
class Evaluated:
    activity: Activity
    requester: Staff | None


@dataclass(frozen=True)
class HistoryEntry:
    decision: ActivityDecision
    actor: Staff | None


@dataclass(frozen=True)
class Escalation:
    """A step the periodic watch escalated: from which level, to which, after how long."""

    at: datetime
    level: str
    upper_level: str
    waited_hours: int


@dataclass(frozen=True)
class ActivityView:
    """An activity with what a card shows about it."""

    activity: Activity
    requester: Staff | None
    dealer: OrgUnit | None
    history: list[HistoryEntry]
    receipts: int
    leads: int
    linked_leads: int
    escalations: tuple[Escalation, ...] = ()


@dataclass(frozen=True)
class OverdueStep:
    activity: Activity
    action: str  # "remind" or "escalate"
    level: str
    approvers: list[Staff]
    upper_level: str | None
    upper_approvers: list[Staff]
    waited_hours: int


@dataclass(frozen=True)
class ResultsDue:
    activity: Activity
    requester: Staff | None


def budget_lines_of(activity: Activity) -> list[BudgetLine]:
    return [BudgetLine(str(name), int(amount)) for name, amount in json.loads(activity.budget_lines or "[]")]


def chain_of(activity: Activity) -> tuple[str, ...]:
    return tuple(level for level in activity.chain.split(",") if level)


def request_state(activity: Activity) -> rules.RequestState:
    assert activity.id is not None
    return rules.RequestState(id=activity.id, state=activity.state, chain=chain_of(activity),  # type: ignore[arg-type]
                              step_index=activity.step_index, version=activity.version,
                              requester_org_path=activity.org_path, requester_staff_id=activity.requester_staff_id)


def current_level(activity: Activity) -> str | None:
    return request_state(activity).current_level


class ActivityService:
    def __init__(self, uow: UnitOfWork, clock: Clock, tz: ZoneInfo,
                 approval_rules: rules.ApprovalRules | None = None) -> None:
        self.uow = uow
        self.clock = clock
        self.tz = tz
        self.rules = approval_rules or rules.default_approval_rules()

    # --- request -------------------------------------------------------------------------------------------

    def check_draft(self, draft: ActivityDraft) -> None:
        """Codes from the playbook, the series within its line, sane figures, a time still ahead."""
        playbook = default_playbook()
        try:
            playbook.activity_type(draft.activity_type)
            line = playbook.item("product_lines", draft.product_line)
            for nature in draft.natures:
                playbook.item("natures", nature)
        except KeyError:
            raise DomainError("bad_choice") from None
        if draft.series not in {series.code for series in line.series}:  # type: ignore[attr-defined]
            raise DomainError("bad_choice")
        if not draft.natures:
            raise DomainError("natures_required")
        if not draft.budget_lines:
            raise DomainError("budget_required")
        if not draft.city.strip() or not draft.address.strip():
            raise DomainError("blank_text")
        if draft.starts_at <= self.clock():
            raise DomainError("starts_in_past")
        rules.approval_chain(draft.activity_type, draft.budget_fen, draft.expected_attendance, self.rules)

    async def submit(self, staff: Staff, unit: OrgUnit, draft: ActivityDraft, client_token: str) -> Submitted:
        """A new request, pending at the first level of the chain its type, budget and size call for."""
        existing = await self.uow.activities.by_token(client_token)
        if existing is not None:
            return Submitted(existing, [], created=False)
        if staff.role not in REQUESTER_ROLES or unit.kind != OrgKind.DEALER:
            raise DomainError("not_allowed")
        self.check_draft(draft)
        chain = rules.approval_chain(draft.activity_type, draft.budget_fen, draft.expected_attendance, self.rules)
        now = self.clock()
        assert staff.id is not None and unit.id is not None
        state = rules.submit(rules.new_draft(0, staff.id, unit.path), chain, staff.id)
        activity = Activity(client_token=client_token, requester_staff_id=staff.id, dealer_unit_id=unit.id,
                            org_path=unit.path, state=state.state, chain=",".join(state.chain),
                            step_index=state.step_index, version=state.version, step_started_at=now,
                            submitted_at=now, created_at=now, updated_at=now, **self._fields(draft))
        await self.uow.activities.add(activity)
        await self.uow.audit.record("activity.submitted", actor_staff_id=staff.id, subject=f"activity:{activity.id}",
                                    detail={"chain": list(state.chain), "budget_fen": draft.budget_fen}, at=now)
        return Submitted(activity, await self.approvers_for(activity, state.chain[0]), created=True)

    async def editable(self, staff: Staff, activity_id: int) -> Activity:
        """A request sent back for changes, for its requester to edit."""
        activity = await self.uow.activities.get(activity_id)
        if activity is None or activity.requester_staff_id != staff.id:
            raise DomainError("activity_not_found")
        if activity.state != "changes_requested":
            raise ApprovalError("not_changes_requested")
        return activity

    async def resubmit(self, staff: Staff, activity_id: int, expected_version: int, draft: ActivityDraft
                       ) -> Submitted:
        """The edited request goes back to the first level; the chain is computed afresh from the edit."""
        activity = await self.uow.activities.get(activity_id)
        if activity is None or activity.requester_staff_id != staff.id:
            raise DomainError("activity_not_found")
        assert staff.id is not None
        if activity.state == "pending" and activity.version == expected_version + 1:
            return Submitted(activity, [], created=False)  # the same Submit tapped twice
        self.check_draft(draft)
        chain = rules.approval_chain(draft.activity_type, draft.budget_fen, draft.expected_attendance, self.rules)
        state = rules.resubmit(request_state(activity), staff.id, chain=chain, expected_version=expected_version)
        now = self.clock()
        values = {"state": state.state, "chain": ",".join(state.chain), "step_index": 0, "version": state.version,
                  "step_started_at": now, "reminded_at": None, "escalated_at": None, "submitted_at": now,
                  "updated_at": now, **self._fields(draft)}
        if not await self.uow.activities.advance(activity_id, expected_version, values):
            raise ApprovalError("stale")
        await self.uow.audit.record("activity.resubmitted", actor_staff_id=staff.id, subject=f"activity:{activity_id}",
                                    detail={"chain": list(state.chain), "budget_fen": draft.budget_fen}, at=now)
        return Submitted(activity, await self.approvers_for(activity, state.chain[0]), created=True)

    @staticmethod
    def _fields(draft: ActivityDraft) -> dict[str, Any]:
        return {"activity_type": draft.activity_type, "kpi": draft.kpi, "product_line": draft.product_line,
                "series": draft.series, "starts_at": draft.starts_at, "city": draft.city.strip()[:64],
                "address": draft.address.strip()[:MAX_TEXT], "natures": ",".join(draft.natures),
                "expected_attendance": draft.expected_attendance, "budget_fen": draft.budget_fen,
                "budget_lines": json.dumps([[line.name, line.amount_fen] for line in draft.budget_lines],
                                           ensure_ascii=False),
                "description": draft.description.strip()[:MAX_DESCRIPTION]}

    # --- approval ------------------------------------------------------------------------------------------

    async def _visible(self, unit: OrgUnit | None, activity_id: int) -> Activity:
        """The activity when it lies on the asker's own org path; missing and out-of-scope look the same."""
        activity = await self.uow.activities.get(activity_id)
        if activity is None or unit is None or not in_subtree(activity.org_path, unit.path):
            raise DomainError("activity_not_found")
        return activity

    def _actor(self, staff: Staff, unit: OrgUnit) -> rules.Actor:
        assert staff.id is not None
        return rules.Actor(staff_id=staff.id, role=staff.role, org_path=unit.path, org_kind=unit.kind)

    async def check_decision(self, staff: Staff, unit: OrgUnit | None, activity_id: int, version: int,
                             decision: str) -> Activity:
        """Whether this person may take this decision on this version now; raises what they must hear."""
        activity = await self._visible(unit, activity_id)
        assert unit is not None
        # The comment is asked for after this check; a placeholder lets every other rule run now.
        rules.apply_decision(request_state(activity), decision, self._actor(staff, unit), "-",  # type: ignore[arg-type]
                             self.clock(), expected_version=version, rules=self.rules)
        return activity

    async def decide(self, staff: Staff, unit: OrgUnit | None, activity_id: int, version: int, decision: str,
                     comment: str | None = None) -> Decided:
        activity = await self._visible(unit, activity_id)
        assert unit is not None
        now = self.clock()
        outcome = rules.apply_decision(request_state(activity), decision, self._actor(staff, unit),  # type: ignore[arg-type]
                                       comment, now, expected_version=version, rules=self.rules)
        decided = outcome.request
        values: dict[str, object] = {"state": decided.state, "step_index": decided.step_index,
                                     "version": decided.version, "updated_at": now}
        if outcome.next_level is not None:
            values |= {"step_started_at": now, "reminded_at": None, "escalated_at": None}
        if not await self.uow.activities.advance(activity_id, version, values):
            raise ApprovalError("stale")
        assert staff.id is not None
        await self.uow.activities.add_decision(ActivityDecision(
            activity_id=activity_id, version=version, level=outcome.decided_level, decision=decision,
            actor_staff_id=staff.id, comment=outcome.comment, decided_at=now))
        await self.uow.audit.record(f"activity.{decision}", actor_staff_id=staff.id, subject=f"activity:{activity_id}",
                                    detail={"level": outcome.decided_level, "version": version,
                                            "comment": outcome.comment, "state": decided.state}, at=now)
        next_approvers = await self.approvers_for(activity, outcome.next_level) if outcome.next_level else []
        requester = await self.uow.staff.get(activity.requester_staff_id)
        return Decided(activity, decision, outcome.decided_level, outcome.comment, outcome.next_level,
                       next_approvers, requester)

    async def approvers_for(self, activity: Activity, level: str) -> list[Staff]:
        """Staff with an approver role of `level` at the requester's ancestor of that level."""
        dealer = await self.uow.org.get(activity.dealer_unit_id)
        if dealer is None:
            return []
        paths_by_kind: dict[str, list[str]] = {}
        for ancestor in await self.uow.org.ancestors(dealer):
            paths_by_kind.setdefault(ancestor.kind, []).append(ancestor.path)
        path = rules.approver_unit_path(activity.org_path, level, paths_by_kind)
        if path is None:
            return []
        roles = sorted(rules.who_can_act(level, self.rules))
        return [s for s in await self.uow.activities.staff_at(path, roles) if s.id != activity.requester_staff_id]

    # --- after the activity --------------------------------------------------------------------------------

    async def check_results(self, staff: Staff, activity_id: int) -> Activity:
        activity = await self.uow.activities.get(activity_id)
        if activity is None or activity.requester_staff_id != staff.id:
            raise DomainError("activity_not_found")
        rules.mark_completed(request_state(activity))
        return activity

    async def report_results(self, staff: Staff, activity_id: int, attendance: int, leads: int, orders: int,
                             actual_expenses_fen: int, lead_phones: Sequence[str] = (),
                             receipts: Sequence[tuple[str, str | None]] = ()) -> Reported:
        """Approved → completed with its figures, receipt photos and leads (linked to known customers)."""
        activity = await self.check_results(staff, activity_id)
        figures = rules.validate_results(attendance, leads, orders, actual_expenses_fen)
        completed = rules.mark_completed(request_state(activity))
        now = self.clock()
        values = {"state": completed.state, "version": completed.version, "result_attendance": figures.attendance,
                  "result_leads": figures.leads, "result_orders": figures.orders,
                  "actual_expenses_fen": figures.actual_expenses_fen, "reported_at": now, "updated_at": now}
        if not await self.uow.activities.advance(activity_id, activity.version, values):
            raise ApprovalError("stale")
        for file_id, unique_id in receipts:
            await self.uow.activities.add_receipt(ActivityReceipt(activity_id=activity_id, file_id=file_id,
                                                                  file_unique_id=unique_id, created_at=now))
        for raw in lead_phones:
            phone = normalize_phone(raw)
            customer = await self.uow.customers.by_phone(activity.dealer_unit_id, phone)
            await self.uow.activities.add_lead(ActivityLead(activity_id=activity_id, phone=phone, created_at=now,
                                                            customer_id=customer.id if customer else None))
        await self.uow.audit.record("activity.results", actor_staff_id=staff.id, subject=f"activity:{activity_id}",
                                    detail={"attendance": attendance, "leads": leads, "orders": orders,
                                            "actual_expenses_fen": actual_expenses_fen,
                                            "receipts": len(receipts)}, at=now)
        return Reported(activity, await self.reviewers_for(activity))

    async def reviewers_for(self, activity: Activity) -> list[Staff]:
        """Who evaluates a held activity: the market department's approvers."""
        return await self.approvers_for(activity, rules.APPROVAL_LEVELS[0])

    async def check_evaluation(self, staff: Staff, unit: OrgUnit | None, activity_id: int) -> Activity:
        activity = await self._visible(unit, activity_id)
        assert unit is not None
        may_review = (unit.kind in chain_of(activity) and staff.role in rules.who_can_act(unit.kind, self.rules)
                      and staff.id != activity.requester_staff_id)
        if not may_review:
            raise ApprovalError("not_an_approver")
        rules.mark_evaluated(request_state(activity))
        return activity

    async def evaluate(self, staff: Staff, unit: OrgUnit | None, activity_id: int, score: int,
                       comment: str | None) -> Evaluated:
        activity = await self.check_evaluation(staff, unit, activity_id)
        score, clean_comment = rules.validate_evaluation(score, comment)
        evaluated = rules.mark_evaluated(request_state(activity))
        now = self.clock()
        values = {"state": evaluated.state, "version": evaluated.version, "score": score,
                  "evaluation_comment": clean_comment, "evaluated_by_staff_id": staff.id, "evaluated_at": now,
                  "updated_at": now}
        if not await self.uow.activities.advance(activity_id, activity.version, values):
            raise ApprovalError("stale")
        await self.uow.audit.record("activity.evaluated", actor_staff_id=staff.id, subject=f"activity:{activity_id}",
                                    detail={"score": score, "comment": clean_comment}, at=now)
        return Evaluated(activity, await self.uow.staff.get(activity.requester_staff_id))

    # --- reading -------------------------------------------------------------------------------------------

    async def view(self, staff: Staff, unit: OrgUnit | None, activity_id: int) -> ActivityView:
        return await self.describe(await self._visible(unit, activity_id))

    async def describe(self, activity: Activity) -> ActivityView:
        assert activity.id is not None
        history = [HistoryEntry(d, await self.uow.staff.get(d.actor_staff_id))
                   for d in await self.uow.activities.decisions(activity.id)]
        leads = await self.uow.activities.leads(activity.id)
        escalations = []
        for entry in await self.uow.activities.escalations(activity.id):
            detail = json.loads(entry.detail or "{}")
            if not detail.get("to"):
                continue  # an HQ step has nowhere to go: nothing was escalated
            escalations.append(Escalation(entry.at, str(detail.get("level") or ""), str(detail["to"]),
                                          int(detail.get("waited_hours") or 0)))
        return ActivityView(activity, await self.uow.staff.get(activity.requester_staff_id),
                            await self.uow.org.get(activity.dealer_unit_id), history,
                            len(await self.uow.activities.receipts(activity.id)), len(leads),
                            sum(1 for lead in leads if lead.customer_id is not None), tuple(escalations))

    async def mine(self, staff: Staff) -> Sequence[Activity]:
        assert staff.id is not None
        return await self.uow.activities.for_requester(staff.id)

    async def waiting_for(self, staff: Staff, unit: OrgUnit | None) -> list[Activity]:
        """Requests whose current step this person may decide, and held activities they may evaluate."""
        if unit is None or unit.kind not in self.rules.levels or \
                staff.role not in rules.who_can_act(unit.kind, self.rules):
            return []
        waiting = []
        for activity in await self.uow.activities.in_scope(unit.path, ("pending", "completed")):
            if activity.requester_staff_id == staff.id:
                continue
            if activity.state == "pending" and current_level(activity) == unit.kind:
                waiting.append(activity)
            elif activity.state == "completed" and unit.kind == rules.APPROVAL_LEVELS[0]:
                waiting.append(activity)
        return waiting

    async def quarter_counts(self, unit: OrgUnit, year: int, quarter: int) -> dict[str, int]:
        """Held activities (approved and reported) of a quarter in the unit's subtree, by KPI."""
        start_month = 3 * (quarter - 1) + 1
        start = datetime(year, start_month, 1, tzinfo=self.tz)
        end = datetime(year + (quarter == 4), 1 if quarter == 4 else start_month + 3, 1, tzinfo=self.tz)
        states = [state for state in rules.REQUEST_STATES if rules.counts_for_quarter(state)]
        counts = await self.uow.activities.count_by_kpi(unit.path, states, start, end)
        return {kpi: counts.get(kpi, 0) for kpi in rules.KPI_CATEGORIES}

    async def this_quarter(self, unit: OrgUnit) -> tuple[int, int, dict[str, int]]:
        """(year, quarter, counts by KPI) for the quarter the clock is in, in the users' time zone."""
        local = self.clock().astimezone(self.tz)
        quarter = (local.month - 1) // 3 + 1
        return local.year, quarter, await self.quarter_counts(unit, local.year, quarter)

    # --- the periodic watch --------------------------------------------------------------------------------

    async def overdue_steps(self) -> list[OverdueStep]:
        """Pending steps due a reminder or an escalation, each marked by a conditional update so it fires once."""
        now = self.clock()
        due = []
        for activity in await self.uow.activities.pending():
            level = current_level(activity)
            if level is None or activity.step_started_at is None or activity.id is None:
                continue
            action = rules.overdue_action(activity.step_started_at, now, self.rules,
                                          already_reminded=activity.reminded_at is not None,
                                          already_escalated=activity.escalated_at is not None)
            if action == "none":
                continue
            marks = ["escalated_at"] if action == "escalate" else []
            if activity.reminded_at is None:
                marks.append("reminded_at")
            if not await self.uow.activities.mark_once(activity.id, activity.version, marks[0], now):
                continue  # another watch took this step since we read it
            for mark in marks[1:]:
                await self.uow.activities.mark_once(activity.id, activity.version, mark, now)
            for mark in marks:  # the loaded row as the database now has it, without a second UPDATE
                set_committed_value(activity, mark, getattr(activity, mark) or now)
            upper = rules.escalation_level(level) if action == "escalate" else None
            waited = int((now - activity.step_started_at) / timedelta(hours=1))
            due.append(OverdueStep(activity, action, level, await self.approvers_for(activity, level), upper,
                                   await self.approvers_for(activity, upper) if upper else [], waited))
            await self.uow.audit.record(f"activity.{action}", subject=f"activity:{activity.id}",
                                        detail={"level": level, "to": upper, "waited_hours": waited}, at=now)
        await self.uow.session.flush()
        return due

    async def results_due(self) -> list[ResultsDue]:
        """Approved activities whose time has come: ask their requesters for results, once."""
        now = self.clock()
        due = []
        for activity in await self.uow.activities.approved_unasked_before(now):
            assert activity.id is not None
            if not await self.uow.activities.mark_once(activity.id, activity.version, "results_asked_at", now):
                continue
            set_committed_value(activity, "results_asked_at", now)
            due.append(ResultsDue(activity, await self.uow.staff.get(activity.requester_staff_id)))
        await self.uow.session.flush()
        return due
