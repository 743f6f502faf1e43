"""A hand-computed world for targets, progress, coverage, digests and evaluation (on the demo org).

Day: 2026-11-15 (Asia/Shanghai), Q4 day 46 of 92: half the quarter gone. Expected numbers are written out in
EXPECTED beside the rows that make them, so a test reads what it checks."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import select

from bot.domain.targets import PlanRow
from storage.models import Activity, Customer, DealerArea, InfoStation, OpinionLeader, OrgUnit, Sale, Staff, Visit

NOW = datetime(2026, 11, 15, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
TODAY = date(2026, 11, 15)

# customer_visits Q4 20 at HQ, by dealers: each of the five dealers 4, mkt-hebei 8, mkt-shandong 4, north 12,
# southwest 8. opinion_leaders Q4 10 set at mkt-yunnan with explicit shares 3:1 -> kunming 8 (7.5 wins the
# tie by id), qujing 2 (2.5).
PLAN = [
    PlanRow(unit="hq", kpi="customer_visits", quarters=(Decimal(20), Decimal(20), Decimal(20), Decimal(20)),
            allocate="dealers"),
    PlanRow(unit="mkt-yunnan", kpi="opinion_leaders", quarters=(None, None, None, Decimal(10)),
            allocate={"dlr-kunming": Decimal(3), "dlr-qujing": Decimal(1)}),
]

EXPECTED: dict[str, Any] = {
    # face-to-face visits this quarter (phone revisits and last quarter's visits don't count)
    "field_visits": {"dlr-shijiazhuang": 7, "dlr-tangshan": 1, "dlr-jinan": 0, "dlr-kunming": 1, "dlr-qujing": 0,
                     "mkt-hebei": 8, "mkt-shandong": 0, "north": 8, "southwest": 1, "hq": 9},
    "visit_targets": {"dlr-shijiazhuang": 4, "mkt-hebei": 8, "mkt-shandong": 4, "north": 12, "southwest": 8,
                      "hq": 20},
    "leader_targets": {"dlr-kunming": 8, "dlr-qujing": 2, "mkt-yunnan": 10},
    # yesterday (2026-11-14): all visits, verified, face to face
    "yesterday": {"dlr-shijiazhuang": (5, 2, 3), "dlr-tangshan": (1, 1, 1), "dlr-kunming": (1, 0, 1),
                  "mkt-hebei": (6, 3, 4), "north": (6, 3, 4), "mkt-yunnan": (1, 0, 1), "dlr-jinan": (0, 0, 0)},
    # lagging at half the quarter (below 45% of target): by parent
    "lagging": {"hq": ["southwest"], "north": ["mkt-shandong"], "mkt-hebei": ["dlr-tangshan"],
                "mkt-yunnan": ["dlr-kunming", "dlr-qujing"]},
    "pass_rate": {"hq": Decimal("20.0"), "mkt-hebei": Decimal("50.0"), "north": Decimal("33.3")},
    "completeness_hebei": (3, 2, Decimal("66.7")),
    "revisit_hebei": (3, 1, Decimal("33.3")),
    "contribution_shijiazhuang": Decimal("25.0"),
    # coverage gaps of mkt-hebei: (dealer, city, stations, leaders, stations missing, leaders missing)
    "coverage_hebei": {("dlr-shijiazhuang", "辛集市", 1, 3, 1, 0),  # i18n-ok
                       ("dlr-shijiazhuang", "晋州市", 0, 0, 2, 3),  # i18n-ok
                       ("dlr-tangshan", "遵化市", 0, 0, 2, 3),  # i18n-ok
                       ("dlr-tangshan", "迁安市", 0, 0, 2, 3),  # i18n-ok
                       ("dlr-tangshan", "滦州市", 0, 0, 2, 3)},  # i18n-ok
    "coverage_hebei_cities": 6,
    "coverage_yunnan": {("dlr-kunming", "嵩明县", 0, 1, 1, 1), ("dlr-qujing", "宣威市", 0, 0, 1, 2),  # i18n-ok
                        ("dlr-qujing", "陆良县", 0, 0, 1, 2)},  # i18n-ok
    "waiting": {"郑敏": 1, "陈静": 1, "王芳": 0, "孙伟": 1, "卫红": 0},  # i18n-ok
    "overdue": {"dlr-shijiazhuang": 1, "mkt-hebei": 1, "north": 1, "dlr-tangshan": 0},
}

AREAS = {"dlr-shijiazhuang": ["辛集市", "晋州市", "新乐市"], "dlr-tangshan": ["遵化市", "迁安市", "滦州市"],  # i18n-ok
         "dlr-jinan": ["平阴县", "商河县"], "dlr-kunming": ["安宁市", "嵩明县"],  # i18n-ok
         "dlr-qujing": ["宣威市", "陆良县"]}  # i18n-ok


def local(day: date, hour: int = 10) -> datetime:
    """A local Shanghai time of day as UTC."""
    return datetime(day.year, day.month, day.day, hour - 8, 0, tzinfo=UTC)


async def seed(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Adds the world's rows to a database holding the demo org; returns unit ids by code."""
    async with sessionmaker() as session:
        units = {u.code: u for u in (await session.execute(select(OrgUnit))).scalars()}
        staff = {s.name: s for s in (await session.execute(select(Staff))).scalars()}
        # Onboarded: every role of Shijiazhuang (it passes), Jinan's GM only, and the managers who get digests.
        for index, name in enumerate(["蒋勇", "沈洁", "韩梅", "杨帆", "秦亮", "朱明", "何平", "孙伟", "郑敏",  # i18n-ok
                                      "王芳", "陈静", "卫红", "赵建国", "吴刚", "许文"]):  # i18n-ok
            staff[name].tg_user_id = 7_000_000 + index
            staff[name].onboarded_at = NOW
        for code, cities in AREAS.items():
            for city in cities:
                session.add(DealerArea(dealer_unit_id=units[code].id, province=units[code].province, city=city))

        def at(code: str) -> dict[str, Any]:
            return {"dealer_unit_id": units[code].id, "org_path": units[code].path}

        full = {"vehicle_type": "dump", "industry": "coal", "fleet_size": 3, "province": "hebei", "source": "fleet"}
        c1 = Customer(name="张三", phone="+8613900000001", nature="unit", city="辛集市",  # i18n-ok
                      owner_staff_id=staff["杨帆"].id, created_at=local(date(2026, 9, 1)), **full,  # i18n-ok
                      **at("dlr-shijiazhuang"))
        c2 = Customer(name="李四", phone="+8613900000002", nature="individual", city="辛集市",  # i18n-ok
                      owner_staff_id=staff["杨帆"].id, created_at=local(date(2026, 9, 1)),  # i18n-ok
                      next_follow_up=date(2026, 10, 20),
                      **{**full, "industry": None}, **at("dlr-shijiazhuang"))
        c3 = Customer(name="王五", phone="+8613900000003", nature="individual", city="遵化市",  # i18n-ok
                      owner_staff_id=staff["朱明"].id, created_at=local(date(2026, 9, 1)),  # i18n-ok
                      next_follow_up=date(2026, 11, 20), **full, **at("dlr-tangshan"))
        c4 = Customer(name="赵六", phone="+8613900000004", nature="individual", city="安宁市",  # i18n-ok
                      owner_staff_id=staff["何平"].id, created_at=local(date(2026, 9, 1)), **full,  # i18n-ok
                      **at("dlr-kunming"))
        for customer in (c1, c2, c3, c4):
            customer.updated_at = customer.created_at
        session.add_all([c1, c2, c3, c4])
        await session.flush()
        token = iter(range(1, 10_000))

        def visit(customer: Customer, who: str, day: date, kind: str = "door_visit", verified: bool = False,
                  follow_up: date | None = None, hour: int = 10) -> Visit:
            return Visit(client_token=f"v{next(token)}", customer_id=customer.id, staff_id=staff[who].id,
                         dealer_unit_id=customer.dealer_unit_id, org_path=customer.org_path, visit_kind=kind,
                         outcome="reached_need", stage_after="need", next_follow_up=follow_up,
                         location_status="verified" if verified else "unverified", visited_at=local(day, hour))

        yesterday, october = date(2026, 11, 14), date(2026, 10, 10)
        session.add_all([
            # last quarter: not in Q4's numbers; they set the follow-ups due in Q4 (revisit rate)
            *[visit(c1, "杨帆", date(2026, 9, 20)) for _ in range(4)],  # i18n-ok
            visit(c1, "杨帆", date(2026, 9, 20), follow_up=date(2026, 10, 5)),  # i18n-ok
            visit(c2, "杨帆", date(2026, 9, 20), follow_up=date(2026, 10, 20)),  # i18n-ok
            # Q4 in Shijiazhuang: 4 in October, 3 face to face + 2 phone yesterday
            *[visit(c1, "杨帆", october) for _ in range(4)],  # i18n-ok
            visit(c1, "杨帆", yesterday, verified=True), visit(c1, "杨帆", yesterday, verified=True),  # i18n-ok
            visit(c1, "杨帆", yesterday, hour=23),  # i18n-ok  (23:00 local is still yesterday)
            visit(c1, "杨帆", yesterday, "phone_revisit"), visit(c1, "杨帆", yesterday, "phone_revisit"),  # i18n-ok
            # Tangshan: one verified door visit yesterday, leaving a follow-up due in Q4 and not yet made
            visit(c3, "朱明", yesterday, verified=True, follow_up=date(2026, 11, 20)),  # i18n-ok
            # Jinan: a phone revisit only
            visit(c1, "杨帆", october, "phone_revisit"),  # i18n-ok
            # Kunming: one canvassing visit yesterday
            visit(c4, "何平", yesterday, "canvassing"),  # i18n-ok
        ])
        # The Jinan phone revisit above is booked to Shijiazhuang's customer: move it to Jinan's scope.
        await session.flush()
        jinan = (await session.execute(select(Visit).where(Visit.visit_kind == "phone_revisit",
                                                           Visit.visited_at == local(october)))).scalar_one()
        jinan.dealer_unit_id, jinan.org_path = units["dlr-jinan"].id, units["dlr-jinan"].path
        jinan.staff_id = staff["尤佳"].id  # i18n-ok

        def leader(code: str, who: str, city: str, n: int) -> list[OpinionLeader]:
            return [OpinionLeader(client_token=f"l{next(token)}", name=f"L{n}{i}", phone=f"+86139{next(token):08d}",
                                  city=city, maintainer_staff_id=staff[who].id, created_at=local(october),
                                  **at(code)) for i in range(n)]

        def station(code: str, who: str, city: str, n: int) -> list[InfoStation]:
            return [InfoStation(client_token=f"s{next(token)}", name=f"S{i}", kind="parking_lot", city=city,
                                created_by_staff_id=staff[who].id, created_at=local(october), **at(code))
                    for i in range(n)]

        session.add_all([*leader("dlr-shijiazhuang", "杨帆", "辛集市", 3),  # i18n-ok
                         *station("dlr-shijiazhuang", "杨帆", "辛集市", 1),  # i18n-ok
                         *leader("dlr-shijiazhuang", "杨帆", "新乐市", 3),  # i18n-ok
                         *station("dlr-shijiazhuang", "杨帆", "新乐市", 2),  # i18n-ok
                         *leader("dlr-kunming", "何平", "安宁市", 2),  # i18n-ok
                         *station("dlr-kunming", "何平", "安宁市", 1),  # i18n-ok
                         *leader("dlr-kunming", "何平", "嵩明县", 1)])  # i18n-ok

        def activity(code: str, who: str, state: str, chain: str, step: int, kpi: str = "promotion") -> Activity:
            return Activity(client_token=f"a{next(token)}", requester_staff_id=staff[who].id, activity_type="roadshow",
                            kpi=kpi, product_line="tx", series="tx_dump_6", starts_at=local(date(2026, 10, 20)),
                            city="X", address="Y", expected_attendance=30, budget_fen=100_000, state=state,
                            chain=chain, step_index=step, **at(code))

        session.add_all([activity("dlr-shijiazhuang", "杨帆", "completed", "market", 0),  # i18n-ok
                         activity("dlr-shijiazhuang", "杨帆", "pending", "market,region", 0),  # i18n-ok
                         activity("dlr-jinan", "尤佳", "pending", "market,region", 1)])  # i18n-ok
        seller = staff["杨帆"].id  # i18n-ok
        session.add_all([
            Sale(client_token=f"sale{next(token)}", customer_id=c1.id, staff_id=seller, product_line="tx",
                 series="s", vehicle_type="dump", trucks=10, ceremony_tier="simple", sold_on=date(2026, 10, 12),
                 **at("dlr-shijiazhuang")),
            Sale(client_token=f"sale{next(token)}", customer_id=c2.id, staff_id=seller, product_line="tx",
                 series="s", vehicle_type="dump", trucks=30, ceremony_tier="moderate", sold_on=date(2026, 10, 12),
                 **at("dlr-shijiazhuang"))])
        await session.commit()
        return {code: unit.id for code, unit in units.items()}  # type: ignore[misc]
