"""Sale reports: the delivery ceremony to hold, the referral reward weight, and the customer moved to maintenance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import cast
from zoneinfo import ZoneInfo

from bot.domain.errors import DomainError
from bot.domain.fieldwork import (
    CeremonyTier,
    ceremony_checklist,
    ceremony_tier,
    referral_reward_multiplier,
    stage_after_sale,
)
from bot.domain.playbook import ProductLine, Series, default_playbook
from bot.services.clock import Clock
from bot.services.network import local_today, require_dealer
from storage.models import Customer, OpinionLeader, OrgUnit, Sale, Staff
from storage.uow import UnitOfWork

MAX_TRUCKS = 100_000
SOLD_ON_DAYS_BACK = 366  # the calendar offers a year back; older sales are for the office, not the phone


@dataclass(frozen=True)
class SaleDraft:
    customer_id: int
    product_line: str
    series: str
    trucks: int
    leader_id: int | None
    sold_on: date


@dataclass(frozen=True)
class SaleResult:
    sale: Sale
    customer: Customer
    leader: OpinionLeader | None
    tier: CeremonyTier
    checklist: list[str]
    created: bool


def series_of(product_line: str, series: str) -> Series:
    """The series if it belongs to the product line; DomainError('bad_series') otherwise."""
    playbook = default_playbook()
    try:
        line = cast(ProductLine, playbook.item("product_lines", product_line))
    except KeyError:
        raise DomainError("bad_series") from None
    for item in line.series:
        if item.code == series:
            return item
    raise DomainError("bad_series")


class SaleService:
    def __init__(self, uow: UnitOfWork, clock: Clock, tz: ZoneInfo) -> None:
        self.uow = uow
        self.clock = clock
        self.tz = tz

    def today(self) -> date:
        return local_today(self.clock, self.tz)

    def sold_on_range(self) -> tuple[date, date]:
        """The days a sale date may be picked from: a year back (late reports) up to today."""
        today = self.today()
        return today - timedelta(days=SOLD_ON_DAYS_BACK), today

    def check_sold_on(self, day: date) -> date:
        """A sale date may be today or earlier, never in the future."""
        if day > self.today():
            raise DomainError("sale_in_future")
        return day

    async def customer(self, unit: OrgUnit | None, customer_id: int) -> Customer:
        """A customer of the reporting dealer; DomainError('not_found') for anything else."""
        dealer = require_dealer(unit)
        customer = await self.uow.customers.get_in_scope(customer_id, dealer.path)
        if customer is None or customer.dealer_unit_id != dealer.id:
            raise DomainError("not_found")
        return customer

    async def leader(self, unit: OrgUnit | None, leader_id: int) -> OpinionLeader:
        """An opinion leader of the reporting dealer; DomainError('not_found') for anything else."""
        dealer = require_dealer(unit)
        leader = await self.uow.leaders.get_in_scope(leader_id, dealer.path)
        if leader is None or leader.dealer_unit_id != dealer.id:
            raise DomainError("not_found")
        return leader

    async def report(self, staff: Staff, unit: OrgUnit | None, draft: SaleDraft, client_token: str) -> SaleResult:
        """Stores the sale once per flow, moves the customer to maintenance and names the ceremony to hold."""
        dealer = require_dealer(unit)
        playbook = default_playbook()
        done = await self.uow.sales.by_token(client_token)
        if done is not None:
            customer = await self.customer(dealer, done.customer_id)
            leader = await self.leader(dealer, done.leader_id) if done.leader_id else None
            tier = CeremonyTier(done.ceremony_tier)
            return SaleResult(done, customer, leader, tier, ceremony_checklist(tier, playbook), created=False)
        customer = await self.customer(dealer, draft.customer_id)
        series = series_of(draft.product_line, draft.series)
        if not 0 < draft.trucks <= MAX_TRUCKS:
            raise DomainError("bad_positive_int")
        sold_on = self.check_sold_on(draft.sold_on)
        leader = await self.leader(dealer, draft.leader_id) if draft.leader_id is not None else None
        tier = ceremony_tier(draft.trucks, customer.nature)
        multiplier = referral_reward_multiplier(series.vehicle_type, playbook) if leader else Decimal("1.0")
        now = self.clock()
        assert customer.id is not None and staff.id is not None and dealer.id is not None
        sale = await self.uow.sales.add(Sale(
            client_token=client_token, customer_id=customer.id, staff_id=staff.id, product_line=draft.product_line,
            series=series.code, vehicle_type=series.vehicle_type, trucks=draft.trucks,
            leader_id=leader.id if leader else None, reward_multiplier=str(multiplier), ceremony_tier=tier.value,
            sold_on=sold_on, dealer_unit_id=dealer.id, org_path=customer.org_path, created_at=now))
        customer.stage = stage_after_sale().value
        if customer.purchase_date is None or sold_on >= customer.purchase_date:
            customer.purchase_date = sold_on
        customer.updated_at = now
        self.uow.session.add(customer)
        await self.uow.audit.record("sale.reported", actor_staff_id=staff.id, subject=f"sale:{sale.id}",
                                    detail={"customer": customer.id, "trucks": draft.trucks,
                                            "leader": sale.leader_id}, at=now)
        return SaleResult(sale, customer, leader, tier, ceremony_checklist(tier, playbook), created=True)
