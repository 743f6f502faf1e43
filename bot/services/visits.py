"""Visit reports: stage moves, follow-up dates, location proof, and what to do next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bot.config import Settings
from bot.domain import fieldwork
from bot.domain.errors import DomainError
from bot.domain.fieldwork import LocationCheck, LocationStatus, NextAction
from bot.domain.playbook import Playbook, VisitKind, default_playbook
from bot.services.clock import Clock
from storage.models import Customer, OrgUnit, Staff, Visit
from storage.uow import UnitOfWork

# What came of a visit, in the order the buttons show them.
OUTCOMES = ("reached_need", "reached_no_need", "not_reached", "complaint", "ordered")


@dataclass(frozen=True)
class VisitDraft:
    client_token: str
    customer_id: int
    visit_kind: str
    outcome: str
    stage_after: str
    notes: str = ""
    next_follow_up: date | None = None
    lat: float | None = None
    lon: float | None = None
    photo_file_id: str | None = None
    live_period: int | None = None  # seconds, when the location was shared live


@dataclass(frozen=True)
class VisitResult:
    visit: Visit
    customer: Customer
    check: LocationCheck
    next_action: NextAction
    created: bool


def local_today(clock: Clock, settings: Settings) -> date:
    return clock().astimezone(settings.tz).date()


class VisitService:
    def __init__(self, uow: UnitOfWork, clock: Clock, settings: Settings, playbook: Playbook | None = None) -> None:
        self.uow = uow
        self.clock = clock
        self.settings = settings
        self.playbook = playbook or default_playbook()

    def today(self) -> date:
        """Today in the users' time zone."""
        return local_today(self.clock, self.settings)

    async def customer_for_visit(self, unit: OrgUnit | None, customer_id: int) -> Customer:
        """A customer of the reporter's own dealer; anything else reads as not found."""
        customer = await self.uow.customers.get_in_scope(customer_id, unit.path) if unit is not None else None
        if customer is None or unit is None or customer.dealer_unit_id != unit.id:
            raise DomainError("customer_not_found")
        return customer

    def checks_location(self, visit_kind: str) -> bool:
        kind = self.playbook.item("visit_kinds", visit_kind)
        assert isinstance(kind, VisitKind)
        return kind.checks_location

    @staticmethod
    def check_stage(current: str, target: str) -> None:
        """Staying in the stage is fine; any other move must be allowed by the development cycle."""
        if current != target and not fieldwork.can_move_stage(current, target):
            raise DomainError("stage_not_allowed")

    @staticmethod
    def keeps_stage(outcome: str) -> bool:
        """Nobody was reached: the stage can't have changed, the visit is re-planned with a new follow-up date."""
        return outcome == "not_reached"

    def follow_up_range(self) -> tuple[date, date]:
        """The first and last day a follow-up may be planned for."""
        today = self.today()
        return today, fieldwork.latest_follow_up(today)

    def check_follow_up(self, day: date) -> None:
        fieldwork.validate_follow_up(day, self.today())

    def _validate(self, draft: VisitDraft, customer: Customer) -> None:
        try:
            self.playbook.item("visit_kinds", draft.visit_kind)
            self.playbook.item("stages", draft.stage_after)
        except KeyError:
            raise DomainError("bad_choice") from None
        if draft.outcome not in OUTCOMES:
            raise DomainError("bad_choice")
        self.check_stage(customer.stage, draft.stage_after)
        if self.keeps_stage(draft.outcome) and draft.stage_after != customer.stage:
            raise DomainError("stage_not_allowed")
        if draft.next_follow_up is not None:
            self.check_follow_up(draft.next_follow_up)

    async def submit(self, staff: Staff, unit: OrgUnit | None, draft: VisitDraft) -> VisitResult:
        """Stores the report once per client token, checks the location and moves the customer on."""
        existing = await self.uow.visits.by_token(draft.client_token)
        if existing is not None:
            customer = await self.customer_for_visit(unit, existing.customer_id)
            check = LocationCheck(LocationStatus(existing.location_status), existing.distance_m)
            return VisitResult(existing, customer, check,
                               fieldwork.next_best_action(customer.nature, existing.stage_after, self.playbook),
                               created=False)
        customer = await self.customer_for_visit(unit, draft.customer_id)
        assert unit is not None
        self._validate(draft, customer)
        known = (customer.known_lat, customer.known_lon) \
            if customer.known_lat is not None and customer.known_lon is not None else None
        reported = (draft.lat, draft.lon) if draft.lat is not None and draft.lon is not None else None
        check = fieldwork.verify_visit_location(known, reported, self.settings.visit_radius_m)
        now: datetime = self.clock()
        assert customer.id is not None and staff.id is not None and unit.id is not None  # rows read from the database
        visit = await self.uow.visits.add(Visit(
            client_token=draft.client_token, customer_id=customer.id, staff_id=staff.id, dealer_unit_id=unit.id,
            org_path=customer.org_path, visit_kind=draft.visit_kind, outcome=draft.outcome,
            stage_after=draft.stage_after, notes=draft.notes, next_follow_up=draft.next_follow_up,
            lat=draft.lat, lon=draft.lon, location_status=check.status.value, distance_m=check.distance_m,
            live_period=draft.live_period if reported is not None else None,
            photo_file_id=draft.photo_file_id, visited_at=now))
        if check.becomes_known and reported is not None:
            customer.known_lat, customer.known_lon = reported
        customer.stage = draft.stage_after
        customer.next_follow_up = draft.next_follow_up
        customer.updated_at = now
        await self.uow.customers.add(customer)
        await self.uow.audit.record("visit.reported", actor_staff_id=staff.id, subject=f"visit:{visit.id}",
                                    detail={"customer": customer.id, "location": check.status.value,
                                            "live": visit.live_period is not None}, at=now)
        return VisitResult(visit, customer, check,
                           fieldwork.next_best_action(customer.nature, customer.stage, self.playbook), created=True)
