"""SaleService over fake repositories and a fixed clock: tier, checklist, multiplier, stage, dates, scope, once."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.domain.errors import DomainError
from bot.services.network import LeaderQuarter, parse_positive_int
from bot.services.sales import SaleDraft, SaleService
from storage.models import Customer, OpinionLeader, OrgUnit, Sale, Staff

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 17:00 UTC on 31 March is already 1 April in Shanghai.
NOW = datetime(2026, 3, 31, 17, 0, tzinfo=UTC)
DEALER = OrgUnit(id=9, code="dlr-a", name="A", kind="dealer", path="/1/2/3/9/", province="hebei")
OTHER_DEALER = OrgUnit(id=10, code="dlr-b", name="B", kind="dealer", path="/1/2/3/10/", province="hebei")
MARKET = OrgUnit(id=3, code="mkt", name="M", kind="market", path="/1/2/3/", province="hebei")
STAFF = Staff(id=5, name="Rep", role="sales_rep", org_unit_id=9)


class FakeSession:
    def __init__(self) -> None:
        self.added: list[Any] = []

    def add(self, row: Any) -> None:
        self.added.append(row)


class FakeScoped:
    def __init__(self, rows: list[Any]) -> None:
        self.rows = {row.id: row for row in rows}

    async def get_in_scope(self, row_id: int, scope_path: str) -> Any:
        row = self.rows.get(row_id)
        return row if row is not None and row.org_path.startswith(scope_path) else None


class FakeSales:
    def __init__(self) -> None:
        self.rows: list[Sale] = []

    async def by_token(self, client_token: str) -> Sale | None:
        return next((sale for sale in self.rows if sale.client_token == client_token), None)

    async def add(self, sale: Sale) -> Sale:
        sale.id = len(self.rows) + 1
        self.rows.append(sale)
        return sale


class FakeAudit:
    def __init__(self) -> None:
        self.actions: list[str] = []

    async def record(self, action: str, **_: Any) -> None:
        self.actions.append(action)


class FakeUow:
    def __init__(self, customers: list[Customer], leaders: list[OpinionLeader]) -> None:
        self.customers = FakeScoped(customers)
        self.leaders = FakeScoped(leaders)
        self.sales = FakeSales()
        self.audit = FakeAudit()
        self.session = FakeSession()


def customer(customer_id: int, nature: str, unit: OrgUnit = DEALER, purchase_date: date | None = None) -> Customer:
    return Customer(id=customer_id, name=f"C{customer_id}", nature=nature, stage="follow_up", owner_staff_id=5,
                    dealer_unit_id=unit.id, org_path=unit.path, purchase_date=purchase_date)


def leader(leader_id: int, unit: OrgUnit = DEALER) -> OpinionLeader:
    return OpinionLeader(id=leader_id, client_token=f"t{leader_id}", name=f"L{leader_id}", phone=f"+86137{leader_id}",
                         city="X", maintainer_staff_id=5, dealer_unit_id=unit.id, org_path=unit.path)


@pytest.fixture
def uow() -> FakeUow:
    return FakeUow([customer(1, "individual"), customer(2, "unit"), customer(3, "individual_business"),
                    customer(4, "unit", OTHER_DEALER), customer(5, "individual", purchase_date=date(2026, 3, 30))],
                   [leader(7), leader(8, OTHER_DEALER)])


@pytest.fixture
def service(uow: FakeUow) -> SaleService:
    return SaleService(uow, lambda: NOW, SHANGHAI)  # type: ignore[arg-type]


def draft(customer_id: int = 1, trucks: int = 3, series: str = "tx_tractor_gtl", line: str = "tx",
          leader_id: int | None = None, sold_on: date = date(2026, 4, 1)) -> SaleDraft:
    return SaleDraft(customer_id=customer_id, product_line=line, series=series, trucks=trucks, leader_id=leader_id,
                     sold_on=sold_on)


async def test_individual_three_trucks(service: SaleService, uow: FakeUow) -> None:
    result = await service.report(STAFF, DEALER, draft(), "tok-1")
    assert result.created and result.tier == "simple"
    assert result.checklist[0] == "combined_with_meeting" and "see_off" in result.checklist
    sale = uow.sales.rows[0]
    assert (sale.vehicle_type, sale.reward_multiplier, sale.ceremony_tier, sale.leader_id) == (
        "tractor", "1.0", "simple", None)
    assert (sale.dealer_unit_id, sale.org_path, sale.staff_id) == (9, DEALER.path, 5)
    assert (result.customer.stage, result.customer.purchase_date) == ("maintain", date(2026, 4, 1))
    assert uow.audit.actions == ["sale.reported"]


@pytest.mark.parametrize(("customer_id", "trucks", "tier", "first_item"), [
    (2, 60, "grand", "at_hotel"),
    (2, 3, "grand", "at_hotel"),
    (3, 3, "moderate", "at_dealer_4s_store"),
    (3, 30, "moderate", "at_dealer_4s_store"),
    (2, 20, "grand", "at_hotel"),  # 20 trucks alone would be simple: a unit never gets less than grand
    (1, 30, "moderate", "at_dealer_4s_store"),  # an individual buying 30 trucks moves up to moderate
])
async def test_tier_and_checklist(service: SaleService, customer_id: int, trucks: int, tier: str,
                                  first_item: str) -> None:
    result = await service.report(STAFF, DEALER, draft(customer_id, trucks), f"tok-{customer_id}-{trucks}")
    assert (result.tier, result.checklist[0]) == (tier, first_item)


async def test_flatbed_referral_multiplier(service: SaleService, uow: FakeUow) -> None:
    flatbed = await service.report(STAFF, DEALER, draft(series="vt_flatbed_new_5", line="vt", leader_id=7), "a")
    tractor = await service.report(STAFF, DEALER, draft(leader_id=7), "b")
    assert (flatbed.sale.reward_multiplier, flatbed.sale.vehicle_type, flatbed.sale.leader_id) == ("1.3", "flatbed", 7)
    assert tractor.sale.reward_multiplier == "1.0"
    card = LeaderQuarter(leader(7), 2026, 2, date(2026, 4, 1), date(2026, 6, 30), uow.sales.rows)
    assert (card.trucks, card.weighted) == (6, Decimal("6.9"))


async def test_same_token_stores_once(service: SaleService, uow: FakeUow) -> None:
    first = await service.report(STAFF, DEALER, draft(), "same")
    again = await service.report(STAFF, DEALER, draft(trucks=9), "same")
    assert len(uow.sales.rows) == 1 and not again.created and again.sale is first.sale


async def test_dates_in_shanghai(service: SaleService) -> None:
    assert service.today() == date(2026, 4, 1)
    with pytest.raises(DomainError) as refused:
        await service.report(STAFF, DEALER, draft(sold_on=date(2026, 4, 2)), "future")
    assert refused.value.code == "sale_in_future"


async def test_older_sale_keeps_the_later_purchase_date(service: SaleService) -> None:
    result = await service.report(STAFF, DEALER, draft(customer_id=5, sold_on=date(2026, 3, 1)), "old")
    assert (result.customer.purchase_date, result.customer.stage) == (date(2026, 3, 30), "maintain")


@pytest.mark.parametrize(("unit", "changes", "code"), [
    (DEALER, {"customer_id": 4}, "not_found"),       # another dealer's customer
    (DEALER, {"customer_id": 99}, "not_found"),
    (DEALER, {"leader_id": 8}, "not_found"),         # another dealer's leader
    (DEALER, {"series": "vt_dump_9m"}, "bad_series"),  # not a TX series
    (DEALER, {"line": "nope"}, "bad_series"),
    (DEALER, {"trucks": 0}, "bad_positive_int"),
    (MARKET, {}, "dealer_only"),
    (None, {}, "dealer_only"),
])
async def test_refusals(service: SaleService, uow: FakeUow, unit: OrgUnit | None, changes: dict[str, Any],
                        code: str) -> None:
    with pytest.raises(DomainError) as refused:
        await service.report(STAFF, unit, draft(**changes), "refused")
    assert refused.value.code == code
    assert uow.sales.rows == []


@pytest.mark.parametrize(("text", "expected"), [
    ("12", 12), (" 3 ", 3), ("１２", 12), ("0", None), ("abc", None), ("-3", None), ("2.5", None), ("", None),
    (None, None), ("²", None), ("1000000", None),
])
def test_parse_positive_int(text: str | None, expected: int | None) -> None:
    assert parse_positive_int(text) == expected
