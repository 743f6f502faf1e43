"""The dealer's network: user opinion leaders (with their quarter's referral sales) and information stations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from bot.domain.errors import DomainError
from bot.domain.fieldwork import quarter_bounds, quarter_of
from bot.domain.names import clean_name
from bot.domain.numbers import parse_whole_number
from bot.domain.org import OrgKind
from bot.domain.phones import normalize_phone
from bot.domain.playbook import default_playbook
from bot.services.clock import Clock
from storage.models import InfoStation, OpinionLeader, OrgUnit, Sale, Staff
from storage.uow import UnitOfWork

NAME_MAX = 200
CITY_MAX = 64
VEHICLES_MAX = 500


@dataclass(frozen=True)
class LeaderDraft:
    name: str
    phone: str
    province: str | None
    city: str
    vehicles: str
    fleet_size: int


@dataclass(frozen=True)
class StationDraft:
    name: str
    kind: str
    contact_name: str
    phone: str
    city: str
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True)
class Registered:
    """The row a registration ended with; `created` is False when it already existed (same token or phone)."""

    row: OpinionLeader | InfoStation
    created: bool


@dataclass(frozen=True)
class LeaderCard:
    """What a leader's card shows beyond the leader: who maintains them and the referred customers' names."""

    quarter: LeaderQuarter
    maintainer_name: str
    dealer_name: str
    customer_names: dict[int, str]


@dataclass(frozen=True)
class LeaderQuarter:
    """A leader with the referral sales of one quarter and the truck count HQ rewards (trucks × multiplier)."""

    leader: OpinionLeader
    year: int
    quarter: int
    first: date
    last: date
    sales: list[Sale]

    @property
    def trucks(self) -> int:
        return sum(sale.trucks for sale in self.sales)

    @property
    def weighted(self) -> Decimal:
        return sum((sale.trucks * Decimal(sale.reward_multiplier) for sale in self.sales), Decimal(0))


def local_today(clock: Clock, tz: ZoneInfo) -> date:
    """Today where the users are (Asia/Shanghai by default)."""
    now: datetime = clock()
    return now.astimezone(tz).date()


def require_dealer(unit: OrgUnit | None) -> OrgUnit:
    """Leaders, stations and sales belong to a dealer: only dealer staff register them."""
    if unit is None or unit.kind != OrgKind.DEALER.value or unit.id is None:
        raise DomainError("dealer_only")
    return unit


def clean_text(text: str | None, max_length: int, code: str) -> str:
    """Trimmed free text of at most `max_length` characters; DomainError(code) when empty or too long."""
    value = " ".join((text or "").split())
    if not value:
        raise DomainError(code)
    if len(value) > max_length:
        raise DomainError("text_too_long", max=max_length)
    return value


def parse_positive_int(text: str | None) -> int | None:
    """A whole number above zero written with ASCII or full-width digits, else None."""
    return parse_whole_number(text, minimum=1, maximum=100_000)


def _valid_point(lat: float | None, lon: float | None) -> bool:
    """Both coordinates or neither; given ones must be on the globe."""
    if lat is None or lon is None:
        return lat is None and lon is None
    return -90 <= lat <= 90 and -180 <= lon <= 180


class NetworkService:
    def __init__(self, uow: UnitOfWork, clock: Clock, tz: ZoneInfo) -> None:
        self.uow = uow
        self.clock = clock
        self.tz = tz

    async def leader_with_phone(self, unit: OrgUnit | None, raw_phone: str) -> tuple[str, OpinionLeader | None]:
        """The normalised phone and the dealer's existing leader with it, if any; DomainError('bad_phone')."""
        dealer = require_dealer(unit)
        phone = normalize_phone(raw_phone)
        return phone, await self.uow.leaders.by_phone(dealer.id, phone)  # type: ignore[arg-type]

    async def register_leader(self, staff: Staff, unit: OrgUnit | None, draft: LeaderDraft,
                              client_token: str) -> Registered:
        """Stores the leader once: the same token or the same phone at this dealer returns the existing row."""
        dealer = require_dealer(unit)
        done = await self.uow.leaders.by_token(client_token)
        if done is not None:
            return Registered(done, created=False)
        phone = normalize_phone(draft.phone)
        existing = await self.uow.leaders.by_phone(dealer.id, phone)  # type: ignore[arg-type]
        if existing is not None:
            return Registered(existing, created=False)
        if draft.province is not None:
            default_playbook().province(draft.province)
        if draft.fleet_size < 1:
            raise DomainError("bad_positive_int")
        assert staff.id is not None and dealer.id is not None
        leader = await self.uow.leaders.add(OpinionLeader(
            client_token=client_token, name=clean_name(draft.name, NAME_MAX, "empty_text"), phone=phone,
            province=draft.province, city=clean_text(draft.city, CITY_MAX, "empty_text"),
            vehicles=clean_text(draft.vehicles, VEHICLES_MAX, "empty_text"), fleet_size=draft.fleet_size,
            maintainer_staff_id=staff.id, dealer_unit_id=dealer.id, org_path=dealer.path, created_at=self.clock()))
        await self.uow.audit.record("leader.registered", actor_staff_id=staff.id, subject=f"leader:{leader.id}",
                                    detail={"dealer": dealer.code}, at=self.clock())
        return Registered(leader, created=True)

    async def register_station(self, staff: Staff, unit: OrgUnit | None, draft: StationDraft,
                               client_token: str) -> Registered:
        """Stores the information station once per flow (client token)."""
        dealer = require_dealer(unit)
        done = await self.uow.stations.by_token(client_token)
        if done is not None:
            return Registered(done, created=False)
        default_playbook().item("station_kinds", draft.kind)
        if not _valid_point(draft.lat, draft.lon):
            raise DomainError("bad_location")
        assert staff.id is not None and dealer.id is not None
        station = await self.uow.stations.add(InfoStation(
            client_token=client_token, name=clean_name(draft.name, NAME_MAX, "empty_text"), kind=draft.kind,
            contact_name=clean_name(draft.contact_name, NAME_MAX, "empty_text"),
            phone=normalize_phone(draft.phone), province=dealer.province,
            city=clean_text(draft.city, CITY_MAX, "empty_text"), lat=draft.lat, lon=draft.lon,
            created_by_staff_id=staff.id, dealer_unit_id=dealer.id, org_path=dealer.path, created_at=self.clock()))
        await self.uow.audit.record("station.registered", actor_staff_id=staff.id, subject=f"station:{station.id}",
                                    detail={"dealer": dealer.code}, at=self.clock())
        return Registered(station, created=True)

    def current_quarter(self) -> tuple[int, int, date, date]:
        today = local_today(self.clock, self.tz)
        quarter = quarter_of(today)
        first, last = quarter_bounds(today.year, quarter)
        return today.year, quarter, first, last

    async def leader_card(self, unit: OrgUnit | None, leader_id: int) -> LeaderQuarter:
        """One leader in the asker's scope with this quarter's referral sales; DomainError('not_found')."""
        if unit is None:
            raise DomainError("not_found")
        leader = await self.uow.leaders.get_in_scope(leader_id, unit.path)
        if leader is None:
            raise DomainError("not_found")
        return (await self._quarters([leader]))[0]

    async def card_details(self, card: LeaderQuarter) -> LeaderCard:
        """Names the card shows: the maintainer, the dealer and the referred customers (within the leader's scope)."""
        leader = card.leader
        maintainer = await self.uow.staff.get(leader.maintainer_staff_id)
        dealer = await self.uow.org.get(leader.dealer_unit_id)
        names: dict[int, str] = {}
        for sale in card.sales:
            customer = await self.uow.customers.get_in_scope(sale.customer_id, leader.org_path)
            if customer is not None:
                names[sale.customer_id] = customer.name
        return LeaderCard(card, maintainer.name if maintainer else "—", dealer.name if dealer else "—", names)

    async def leaders_in_scope(self, unit: OrgUnit | None) -> list[LeaderQuarter]:
        """Leaders below the asker's unit, each with this quarter's referral sales."""
        if unit is None:
            return []
        return await self._quarters(list(await self.uow.leaders.in_scope(unit.path)))

    async def _quarters(self, leaders: list[OpinionLeader]) -> list[LeaderQuarter]:
        year, quarter, first, last = self.current_quarter()
        sales = await self.uow.sales.referred_between([leader.id for leader in leaders if leader.id], first, last)
        return [LeaderQuarter(leader, year, quarter, first, last, [s for s in sales if s.leader_id == leader.id])
                for leader in leaders]
