"""The customer archive: create, edit, find and open customer records, always within the asker's scope."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from bot.domain.errors import DomainError
from bot.domain.names import clean_name
from bot.domain.numbers import parse_whole_number
from bot.domain.org import OrgKind, common_ancestor_path, unit_id_of
from bot.domain.phones import mask_phone, normalize_phone
from bot.domain.playbook import Playbook, Stage, default_playbook
from bot.services.clock import Clock
from storage.models import Customer, DuplicateFlag, OrgUnit, Staff, Visit
from storage.uow import UnitOfWork

MAX_FLEET_SIZE = 100_000
MAX_NAME_LENGTH = 200


@dataclass
class CustomerDraft:
    """The answers of the customer flow; the same shape creates a record or edits one."""

    name: str = ""
    phone: str = ""
    nature: str = ""
    level: str = "general"
    sales_mode: str = "distribution"
    vehicle_type: str | None = None
    industry: str | None = None
    source: str | None = None
    fleet_size: int | None = None
    province: str | None = None
    city: str | None = None
    stage: str = Stage.COLLECT.value

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> CustomerDraft:
        return cls(**{f.name: data[f.name] for f in fields(cls) if data.get(f.name) is not None})

    @classmethod
    def from_customer(cls, customer: Customer) -> CustomerDraft:
        return cls(**{f.name: getattr(customer, f.name) for f in fields(cls)})

    def as_data(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class CustomerCardView:
    customer: Customer
    owner_name: str
    dealer_name: str
    visits: Sequence[Visit] = field(default_factory=list)
    can_edit: bool = False
    can_visit: bool = False


@dataclass(frozen=True)
class DuplicateView:
    """One cross-dealer flag as its reviewer sees it: both records and their dealers."""

    flag: DuplicateFlag
    customer: Customer
    dealer_name: str
    other: Customer
    other_dealer_name: str


def parse_fleet_size(text: str) -> int | None:
    """A positive whole number of trucks, or None."""
    return parse_whole_number(text, minimum=1, maximum=MAX_FLEET_SIZE)


def industries_for(vehicle_type: str, playbook: Playbook, locale: str) -> list[tuple[str, str]]:
    """Industry choices for a vehicle type, in playbook order."""
    return [(item.code, item.label.text(locale)) for item in playbook.industries if vehicle_type in item.vehicle_types]


def sources_for(industry: str | None, playbook: Playbook, locale: str) -> list[tuple[str, str]]:
    """Information sources that apply to an industry (sources without an industry list apply to all)."""
    return [(item.code, item.label.text(locale)) for item in playbook.information_sources
            if not item.industries or (industry is not None and industry in item.industries)]


def works_at_dealer(unit: OrgUnit | None) -> bool:
    return unit is not None and unit.kind == OrgKind.DEALER.value


class CustomerService:
    def __init__(self, uow: UnitOfWork, clock: Clock, playbook: Playbook | None = None) -> None:
        self.uow = uow
        self.clock = clock
        self.playbook = playbook or default_playbook()
        # Flags raised by the last create/update, for the caller to push to their reviewers.
        self.raised_flags: list[DuplicateFlag] = []

    async def check_phone(self, unit: OrgUnit, raw: str, exclude_id: int | None = None) -> tuple[str, Customer | None]:
        """The normalised phone and the customer of this dealer already on file with it (DomainError bad_phone)."""
        phone = normalize_phone(raw)
        existing = await self.uow.customers.by_phone(unit.id, phone)  # type: ignore[arg-type]
        if existing is not None and existing.id == exclude_id:
            existing = None
        return phone, existing

    def _validate(self, draft: CustomerDraft) -> None:
        pb = self.playbook
        try:
            pb.item("natures", draft.nature)
            pb.item("levels", draft.level)
            pb.item("sales_modes", draft.sales_mode)
            pb.item("stages", draft.stage)
            if draft.vehicle_type is not None:
                pb.vehicle_type(draft.vehicle_type)
            if draft.industry is not None:
                industry = pb.item("industries", draft.industry)
                if draft.vehicle_type not in industry.vehicle_types:  # type: ignore[attr-defined]
                    raise KeyError(draft.industry)
            if draft.source is not None:
                pb.item("information_sources", draft.source)
            if draft.province is not None:
                pb.province(draft.province)
        except KeyError:
            raise DomainError("bad_choice") from None
        clean_name(draft.name, MAX_NAME_LENGTH)
        if draft.fleet_size is not None and not 0 < draft.fleet_size <= MAX_FLEET_SIZE:
            raise DomainError("bad_fleet_size")

    async def create(self, staff: Staff, unit: OrgUnit | None, draft: CustomerDraft) -> Customer:
        """A new record owned by the person, at their dealer; a phone already on file is refused."""
        if not works_at_dealer(unit):
            raise DomainError("not_allowed")
        assert unit is not None
        self._validate(draft)
        phone, existing = await self.check_phone(unit, draft.phone)
        if existing is not None:
            raise DomainError("duplicate_phone", customer_id=existing.id)
        now = self.clock()
        values = draft.as_data() | {"phone": phone, "name": clean_name(draft.name, MAX_NAME_LENGTH)}
        assert staff.id is not None and unit.id is not None
        customer = await self.uow.customers.add(Customer(
            **values, owner_staff_id=staff.id, dealer_unit_id=unit.id, org_path=unit.path,
            created_at=now, updated_at=now))
        await self.uow.audit.record("customer.created", actor_staff_id=staff.id, subject=f"customer:{customer.id}",
                                    detail={"phone": mask_phone(phone)}, at=now)
        self.raised_flags = await self.flag_other_dealers(staff, customer)
        return customer

    async def update(self, staff: Staff, unit: OrgUnit | None, customer_id: int, draft: CustomerDraft) -> Customer:
        """Edits a record of the person's own dealer."""
        customer = await self.editable(unit, customer_id)
        assert unit is not None
        self._validate(draft)
        phone, existing = await self.check_phone(unit, draft.phone, exclude_id=customer.id)
        if existing is not None:
            raise DomainError("duplicate_phone", customer_id=existing.id)
        for name, value in draft.as_data().items():
            setattr(customer, name, value)
        customer.phone = phone
        customer.name = clean_name(draft.name, MAX_NAME_LENGTH)
        customer.updated_at = self.clock()
        await self.uow.customers.add(customer)
        await self.uow.audit.record("customer.updated", actor_staff_id=staff.id, subject=f"customer:{customer.id}",
                                    at=customer.updated_at)
        self.raised_flags = await self.flag_other_dealers(staff, customer)
        return customer

    async def flag_other_dealers(self, staff: Staff, customer: Customer) -> list[DuplicateFlag]:
        """A phone already on file at another dealer (a possible double claim) is flagged to the unit above both.

        The person saving hears nothing about it: neither dealer may see the other's record. The flag is for the
        lowest unit above both dealers (their market department when they share one) to look into.
        """
        if not customer.phone:
            return []
        flags = []
        for other in await self.uow.duplicates.same_phone_elsewhere(customer.phone, customer.dealer_unit_id):
            assert customer.id is not None and other.id is not None
            if await self.uow.duplicates.exists(customer.id, other.id) or \
                    await self.uow.duplicates.exists(other.id, customer.id):
                continue
            reviewer_path = common_ancestor_path(customer.org_path, other.org_path)
            reviewer_id = unit_id_of(reviewer_path)
            if reviewer_id is None:
                continue
            flag = await self.uow.duplicates.add(DuplicateFlag(
                phone=customer.phone, customer_id=customer.id, other_customer_id=other.id,
                dealer_unit_id=customer.dealer_unit_id, other_dealer_unit_id=other.dealer_unit_id,
                reviewer_unit_id=reviewer_id, reviewer_path=reviewer_path, raised_by_staff_id=staff.id,  # type: ignore[arg-type]
                created_at=self.clock()))
            await self.uow.audit.record("customer.duplicate_flagged", actor_staff_id=staff.id,
                                        subject=f"duplicate:{flag.id}",
                                        detail={"customers": [customer.id, other.id], "reviewer": reviewer_id,
                                                "phone": mask_phone(customer.phone)}, at=flag.created_at)
            flags.append(flag)
        return flags

    async def duplicate_flags(self, unit: OrgUnit | None) -> list[DuplicateView]:
        """Open flags a person may review: raised for their unit or a unit below it, with both records."""
        if unit is None:
            return []
        views = []
        for flag in await self.uow.duplicates.open_in_scope(unit.path):
            first = await self.uow.customers.get_in_scope(flag.customer_id, unit.path)
            second = await self.uow.customers.get_in_scope(flag.other_customer_id, unit.path)
            if first is None or second is None:
                continue
            first_dealer = await self.uow.org.get(first.dealer_unit_id)
            second_dealer = await self.uow.org.get(second.dealer_unit_id)
            views.append(DuplicateView(flag, first, first_dealer.name if first_dealer else "",
                                       second, second_dealer.name if second_dealer else ""))
        return views

    async def get(self, unit: OrgUnit | None, customer_id: int) -> Customer:
        """A customer in the asker's subtree; anything else reads as not found, never as forbidden."""
        customer = await self.uow.customers.get_in_scope(customer_id, unit.path) if unit is not None else None
        if customer is None:
            raise DomainError("customer_not_found")
        return customer

    async def editable(self, unit: OrgUnit | None, customer_id: int) -> Customer:
        """A customer of the asker's own dealer: only its staff edit it and report visits on it."""
        customer = await self.get(unit, customer_id)
        if unit is None or customer.dealer_unit_id != unit.id:
            raise DomainError("customer_not_found")
        return customer

    async def card(self, unit: OrgUnit | None, customer_id: int) -> CustomerCardView:
        customer = await self.get(unit, customer_id)
        owner = await self.uow.staff.get(customer.owner_staff_id)
        dealer = await self.uow.org.get(customer.dealer_unit_id)
        visits = await self.uow.visits.recent_for_customer(customer.id)  # type: ignore[arg-type]
        own_dealer = unit is not None and customer.dealer_unit_id == unit.id
        return CustomerCardView(customer=customer, owner_name=owner.name if owner else "",
                                dealer_name=dealer.name if dealer else "", visits=visits,
                                can_edit=own_dealer, can_visit=own_dealer)

    async def find(self, unit: OrgUnit | None, text: str) -> Sequence[Customer]:
        if unit is None or not text.strip():
            return []
        return await self.uow.customers.search(unit.path, text)

    async def recent(self, staff: Staff) -> Sequence[Customer]:
        return await self.uow.customers.recent_for_owner(staff.id, limit=6)  # type: ignore[arg-type]
