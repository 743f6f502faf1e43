"""Visit and customer services over in-memory fakes with a fixed clock."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from bot.config import Settings
from bot.domain.errors import DomainError
from bot.domain.fieldwork import FieldworkError
from bot.domain.playbook import default_playbook
from bot.services.customers import CustomerDraft, CustomerService, industries_for, parse_fleet_size, sources_for
from bot.services.visits import VisitDraft, VisitService
from storage.models import Customer, DuplicateFlag, OrgUnit, Staff, Visit

# 2026-11-27 23:30 UTC is already 28 November in Asia/Shanghai.
NOW = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
HOME = (38.0428, 114.5149)


class FakeCustomers:
    def __init__(self) -> None:
        self.rows: dict[int, Customer] = {}

    async def get_in_scope(self, customer_id: int, scope_path: str) -> Customer | None:
        customer = self.rows.get(customer_id)
        return customer if customer is not None and customer.org_path.startswith(scope_path) else None

    async def by_phone(self, dealer_unit_id: int, phone: str) -> Customer | None:
        return next((c for c in self.rows.values() if (c.dealer_unit_id, c.phone) == (dealer_unit_id, phone)), None)

    async def add(self, customer: Customer) -> Customer:
        if customer.id is None:
            customer.id = len(self.rows) + 1
        self.rows[customer.id] = customer
        return customer


class FakeVisits:
    def __init__(self) -> None:
        self.rows: list[Visit] = []

    async def by_token(self, client_token: str) -> Visit | None:
        return next((v for v in self.rows if v.client_token == client_token), None)

    async def add(self, visit: Visit) -> Visit:
        assert await self.by_token(visit.client_token) is None, "unique client_token"
        visit.id = len(self.rows) + 1
        self.rows.append(visit)
        return visit


class FakeDuplicates:
    def __init__(self, customers: FakeCustomers) -> None:
        self.customers = customers
        self.rows: list[DuplicateFlag] = []

    async def same_phone_elsewhere(self, phone: str, dealer_unit_id: int) -> list[Customer]:
        return [c for c in self.customers.rows.values() if c.phone == phone and c.dealer_unit_id != dealer_unit_id]

    async def exists(self, customer_id: int, other_customer_id: int) -> bool:
        return any((f.customer_id, f.other_customer_id) == (customer_id, other_customer_id) for f in self.rows)

    async def add(self, flag: DuplicateFlag) -> DuplicateFlag:
        flag.id = len(self.rows) + 1
        self.rows.append(flag)
        return flag


class FakeAudit:
    def __init__(self) -> None:
        self.actions: list[str] = []

    async def record(self, action: str, **_: Any) -> None:
        self.actions.append(action)


class FakeUow:
    def __init__(self) -> None:
        self.customers = FakeCustomers()
        self.duplicates = FakeDuplicates(self.customers)
        self.visits = FakeVisits()
        self.audit = FakeAudit()


DEALER = OrgUnit(id=9, code="dlr-a", name="A", kind="dealer", path="/1/2/4/9/", province="hebei")
OTHER_DEALER = OrgUnit(id=11, code="dlr-b", name="B", kind="dealer", path="/1/3/5/11/", province="shandong")
MARKET = OrgUnit(id=4, code="mkt", name="M", kind="market", path="/1/2/4/")
REP = Staff(id=7, name="Rep", role="sales_rep", org_unit_id=9)


@pytest.fixture
def uow() -> FakeUow:
    fake = FakeUow()
    fake.customers.rows[1] = Customer(id=1, name="Fleet", phone="+8613912340001", nature="unit", stage="need",
                                      owner_staff_id=7, dealer_unit_id=9, org_path=DEALER.path)
    return fake


def visits(uow: FakeUow, radius_m: int = 500) -> VisitService:
    settings = Settings(_env_file=None, visit_radius_m=radius_m)  # type: ignore[call-arg]
    return VisitService(uow, lambda: NOW, settings)  # type: ignore[arg-type]


def draft(token: str = "t1", **changes: Any) -> VisitDraft:
    values: dict[str, Any] = {"client_token": token, "customer_id": 1, "visit_kind": "door_visit",
                              "outcome": "reached_need", "stage_after": "follow_up",
                              "next_follow_up": date(2026, 11, 28), "lat": HOME[0], "lon": HOME[1]}
    return VisitDraft(**(values | changes))


async def test_first_location_is_recorded_not_verified_and_becomes_known(uow: FakeUow) -> None:
    result = await visits(uow).submit(REP, DEALER, draft())
    assert result.created and result.check.status == "recorded" and result.check.becomes_known
    customer = uow.customers.rows[1]
    assert (customer.known_lat, customer.known_lon) == HOME
    assert (customer.stage, customer.next_follow_up) == ("follow_up", date(2026, 11, 28))
    assert result.next_action.actions[0] == "door_visit" and result.next_action.script == "door_visit"
    assert uow.audit.actions == ["visit.reported"]


async def test_same_token_stores_one_visit(uow: FakeUow) -> None:
    service = visits(uow)
    first = await service.submit(REP, DEALER, draft())
    again = await service.submit(REP, DEALER, draft())
    assert first.created and not again.created and again.visit is first.visit
    assert len(uow.visits.rows) == 1


async def test_far_location_is_out_of_range_with_distance(uow: FakeUow) -> None:
    uow.customers.rows[1].known_lat, uow.customers.rows[1].known_lon = HOME
    result = await visits(uow).submit(REP, DEALER, draft(lat=HOME[0] + 0.45))
    assert result.check.status == "out_of_range" and 49_000 < (result.check.distance_m or 0) < 51_000
    assert uow.visits.rows[0].distance_m == result.check.distance_m
    assert (uow.customers.rows[1].known_lat, uow.customers.rows[1].known_lon) == HOME


async def test_radius_comes_from_settings(uow: FakeUow) -> None:
    uow.customers.rows[1].known_lat, uow.customers.rows[1].known_lon = HOME
    near = draft(lat=HOME[0] + 0.009)  # about 1 km
    assert (await visits(uow, radius_m=500).submit(REP, DEALER, near)).check.status == "out_of_range"
    assert (await visits(uow, radius_m=2000).submit(REP, DEALER, draft("t2", lat=HOME[0] + 0.009))
            ).check.status == "verified"


async def test_no_location_is_unverified(uow: FakeUow) -> None:
    result = await visits(uow).submit(REP, DEALER, draft(lat=None, lon=None))
    assert result.check.status == "unverified" and uow.customers.rows[1].known_lat is None


async def test_stage_rules(uow: FakeUow) -> None:
    VisitService.check_stage("need", "need")  # staying put
    VisitService.check_stage("repurchase", "follow_up")
    with pytest.raises(DomainError) as refused:
        VisitService.check_stage("maintain", "need")
    assert refused.value.code == "stage_not_allowed"
    with pytest.raises(DomainError):
        await visits(uow).submit(REP, DEALER, draft(stage_after="collect"))
    assert uow.visits.rows == []


async def test_follow_up_uses_shanghai_today(uow: FakeUow) -> None:
    service = visits(uow)
    assert service.today() == date(2026, 11, 28)
    with pytest.raises(FieldworkError) as past:
        service.check_follow_up(date(2026, 11, 27))
    assert past.value.code == "follow_up_in_past"
    with pytest.raises(DomainError):
        await service.submit(REP, DEALER, draft(next_follow_up=date(2026, 11, 27)))


async def test_customer_outside_own_dealer_is_not_found(uow: FakeUow) -> None:
    for unit in (OTHER_DEALER, MARKET, None):
        with pytest.raises(DomainError) as missing:
            await visits(uow).submit(REP, unit, draft())
        assert missing.value.code == "customer_not_found"
    with pytest.raises(DomainError):
        await visits(uow).submit(REP, DEALER, draft(customer_id=99))


async def test_unknown_choices_are_refused(uow: FakeUow) -> None:
    for bad in (draft(visit_kind="teleport"), draft(outcome="maybe"), draft(stage_after="done")):
        with pytest.raises(DomainError) as refused:
            await visits(uow).submit(REP, DEALER, bad)
        assert refused.value.code == "bad_choice"


def customers(uow: FakeUow) -> CustomerService:
    return CustomerService(uow, lambda: NOW)  # type: ignore[arg-type]


def customer_draft(**changes: Any) -> CustomerDraft:
    values: dict[str, Any] = {"name": "New", "phone": "139 1234 0009", "nature": "individual",
                              "vehicle_type": "dump", "industry": "coal", "source": "mine", "fleet_size": 2,
                              "province": "hebei", "city": "Xinji"}
    return CustomerDraft(**(values | changes))


async def test_create_customer_scopes_and_normalises(uow: FakeUow) -> None:
    customer = await customers(uow).create(REP, DEALER, customer_draft())
    assert (customer.phone, customer.owner_staff_id, customer.dealer_unit_id, customer.org_path) == (
        "+8613912340009", 7, 9, DEALER.path)
    assert customer.created_at == NOW and customer.stage == "collect"


async def test_phone_on_file_at_another_dealer_is_flagged_above_both(uow: FakeUow) -> None:
    # Dealer B (another region) already has this phone; A saving it raises a flag for the lowest unit above both.
    uow.customers.rows[2] = Customer(id=2, name="Same fleet at B", phone="+8613912340009", nature="unit",
                                     owner_staff_id=8, dealer_unit_id=11, org_path=OTHER_DEALER.path)
    created = await customers(uow).create(REP, DEALER, customer_draft())
    [flag] = uow.duplicates.rows
    assert (flag.customer_id, flag.other_customer_id, flag.reviewer_unit_id, flag.reviewer_path) == (
        created.id, 2, 1, "/1/")
    assert (flag.dealer_unit_id, flag.other_dealer_unit_id, flag.raised_by_staff_id) == (9, 11, 7)
    assert uow.audit.actions == ["customer.created", "customer.duplicate_flagged"]
    # saving the record again raises no second flag
    await customers(uow).update(REP, DEALER, created.id, customer_draft(name="Renamed"))  # type: ignore[arg-type]
    assert len(uow.duplicates.rows) == 1


async def test_same_phone_at_the_same_dealer_is_not_a_cross_dealer_flag(uow: FakeUow) -> None:
    await customers(uow).create(REP, DEALER, customer_draft())
    assert uow.duplicates.rows == []


@pytest.mark.parametrize(("name", "code"), [
    ("x" * 201, "name_too_long"), ("🚚🚚", "name_no_letters"), ("👍 123", "name_no_letters")])
async def test_customer_names_too_long_or_without_letters(uow: FakeUow, name: str, code: str) -> None:
    with pytest.raises(DomainError) as refused:
        await customers(uow).create(REP, DEALER, customer_draft(name=name))
    assert refused.value.code == code
    if code == "name_too_long":
        assert refused.value.params == {"max": 200, "length": 201}


async def test_create_customer_refusals(uow: FakeUow) -> None:
    cases = [(DEALER, customer_draft(phone="+86 139 1234 0001"), "duplicate_phone"),
             (DEALER, customer_draft(phone="12345"), "bad_phone"),
             (DEALER, customer_draft(industry="coke"), "bad_choice"),  # coke is a flatbed industry
             (DEALER, customer_draft(fleet_size=0), "bad_fleet_size"),
             (DEALER, customer_draft(name="  "), "name_missing"),
             (MARKET, customer_draft(), "not_allowed")]
    for unit, values, code in cases:
        with pytest.raises(DomainError) as refused:
            await customers(uow).create(REP, unit, values)
        assert refused.value.code == code
    assert len(uow.customers.rows) == 1


async def test_customer_scope(uow: FakeUow) -> None:
    service = customers(uow)
    assert (await service.get(MARKET, 1)).id == 1  # the market department above sees it
    with pytest.raises(DomainError):
        await service.editable(MARKET, 1)  # but only the dealer's staff edit it
    with pytest.raises(DomainError) as missing:
        await service.get(OTHER_DEALER, 1)
    assert missing.value.code == "customer_not_found"


def test_choice_helpers() -> None:
    playbook = default_playbook()
    assert [code for code, _ in industries_for("special", playbook, "en")] == [
        "concrete_mixer", "material_truck", "tanker", "truck_crane"]
    assert "muck_transport_company" not in dict(sources_for("coal", playbook, "en"))
    assert "muck_transport_company" in dict(sources_for("urban_muck", playbook, "en"))
    assert [parse_fleet_size(t) for t in ("3", " 12 ", "0", "-1", "2.5", "many", "100001")] == [
        3, 12, None, None, None, None, None]


async def test_my_work_uses_the_shanghai_quarter() -> None:
    from bot.services.my_work import MyWorkService
    from storage.repositories.stats import WorkCounts

    asked: dict[str, Any] = {}

    class FakeStats:
        async def for_staff(self, staff_id: int, start: datetime, end: datetime, first: date, last: date
                            ) -> WorkCounts:
            asked.update(start=start, end=end, first=first, last=last)
            return WorkCounts(1, 1, 0, 0, 0, 0, 0)

    class FakeDue:
        async def due_for_owner(self, owner_staff_id: int, day: date) -> list[Customer]:
            asked["day"] = day
            return []

    class Uow:
        stats = FakeStats()
        customers = FakeDue()

    new_year_in_shanghai = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    service = MyWorkService(Uow(), lambda: new_year_in_shanghai, Settings(_env_file=None))  # type: ignore[arg-type, call-arg]
    view = await service.today(REP)
    assert (view.year, view.quarter, view.today, asked["day"]) == (2027, 1, date(2027, 1, 1), date(2027, 1, 1))
    assert (asked["first"], asked["last"]) == (date(2027, 1, 1), date(2027, 3, 31))
    assert asked["start"].astimezone(UTC) == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert asked["end"].astimezone(UTC) == datetime(2027, 3, 31, 16, 0, tzinfo=UTC)
