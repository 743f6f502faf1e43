"""The managers' daily digest at scale: 1,000 managers over 100,000 customers and 10 k → 100 k → 1 M visits.

    .venv/bin/python -m bench.digest                         # SQLite and PostgreSQL (when it runs), 10k/100k/1M
    .venv/bin/python -m bench.digest --db sqlite --sizes 10000,100000

A seeded generator builds an org of 25 regions, 125 market departments and 725 dealers (3 salespeople each),
whose default digest roles (region managers, marketing managers, customer-management specialists, dealer GMs)
are exactly 1,000 people; 100,000 customers; leaders, stations, activities and sales; then visits over the past
year, grown in place from one size to the next. For each size it times the set-based build of every digest
(DigestService.build_all: two snapshots and a few grouped lists, no query per manager), the scheduled run that
also writes their 2,000 outbox rows, and the text of all of them; one chart is timed apart (charts are drawn at
send time, one per message, under Telegram's pace). Target: ≤ 10 s for the 1 M build on either database.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from bot.config import Settings, load_settings
from bot.domain.org import child_path
from bot.i18n import make_i18n
from bot.services.digest import DigestService
from bot.services.numbers import NumbersService
from bot.services.plan_file import read_plan
from pushes import manager_numbers
from pushes.numbers_texts import digest_text, progress_chart_png
from storage import migrate
from storage.engine import make_engine, make_sessionmaker
from storage.models import Activity, Customer, InfoStation, OpinionLeader, OrgUnit, Sale, Staff, Visit
from storage.uow import UnitOfWork

SEED = 20261201
NOW = datetime(2026, 11, 16, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai, a Monday: nudges go out too
TODAY = date(2026, 11, 16)
PLAN = Path(__file__).resolve().parents[1] / "bot" / "data" / "demo_plan.yaml"
PROVINCES = ("hebei", "shandong", "henan", "yunnan", "sichuan", "hubei", "guangdong", "gansu")
VISIT_KINDS = ("door_visit", "door_visit", "door_visit", "phone_revisit", "phone_revisit", "canvassing",
               "door_display", "store_test_drive", "on_site_check")
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def clock() -> datetime:
    return NOW


class World:
    """Ids the generator hands out, so rows reference each other without reading back."""

    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.dealers: list[tuple[int, str]] = []  # (unit id, path)
        self.reps: dict[int, list[int]] = {}  # dealer id -> staff ids
        self.customers: list[tuple[int, int, str, int]] = []  # (customer id, dealer id, path, owner)
        self.visits = 0


async def _bulk(session: Any, model: type, rows: list[dict[str, Any]], postgres: bool) -> None:
    if not rows:
        return
    if postgres:  # COPY: the fastest way in, and not what is being measured
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        columns = list(rows[0])
        await raw.driver_connection.copy_records_to_table(
            model.__tablename__, records=[tuple(row[c] for c in columns) for row in rows], columns=columns)
    else:
        for start in range(0, len(rows), 20_000):
            await session.execute(insert(model.__table__), rows[start:start + 20_000])  # type: ignore[attr-defined]


async def build_org(sessionmaker: Any, world: World, postgres: bool) -> None:
    rng = world.rng
    now = NOW
    async with sessionmaker() as session:
        units: list[dict[str, Any]] = []
        staff: list[dict[str, Any]] = []
        next_unit, next_staff = iter(range(1, 10**6)), iter(range(1, 10**7))

        def unit(code: str, kind: str, parent: dict[str, Any] | None, province: str | None) -> dict[str, Any]:
            unit_id = next(next_unit)
            row = {"id": unit_id, "code": code, "name": code, "kind": kind, "parent_id": parent and parent["id"],
                   "path": child_path(parent["path"] if parent else "", unit_id), "province": province,
                   "region_class": None, "created_at": now}
            units.append(row)
            return row

        def person(role: str, at: dict[str, Any]) -> int:
            staff_id = next(next_staff)
            staff.append({"id": staff_id, "tg_user_id": 10**9 + staff_id, "name": f"{role}{staff_id}",
                          "phone": f"+86139{staff_id:08d}", "role": role, "org_unit_id": at["id"],
                          "locale": rng.choice(("zh_CN", "en")), "active": True, "created_at": now,
                          "onboarded_at": now})
            return staff_id

        hq = unit("hq", "hq", None, None)
        person("hq_admin", hq)
        dealer_count = 0
        for r in range(25):
            region = unit(f"r{r}", "region", hq, None)
            person("region_manager", region)
            for m in range(5):
                province = PROVINCES[(r * 5 + m) % len(PROVINCES)]
                market = unit(f"r{r}m{m}", "market", region, province)
                person("marketing_manager", market)
                person("customer_mgmt_specialist", market)
                per_market = 6 if (r * 5 + m) < 100 else 5  # 100 x 6 + 25 x 5 = 725 dealers
                for d in range(per_market):
                    dealer = unit(f"r{r}m{m}d{d}", "dealer", market, province)
                    dealer_count += 1
                    person("dealer_gm", dealer)
                    if rng.random() < 0.7:
                        person("dealer_marketing_manager", dealer)
                    if rng.random() < 0.8:
                        person("info_admin", dealer)
                    world.dealers.append((dealer["id"], dealer["path"]))
                    world.reps[dealer["id"]] = [person("sales_rep", dealer) for _ in range(3)]
        assert dealer_count == 725
        await _bulk(session, OrgUnit, units, postgres)
        await _bulk(session, Staff, staff, postgres)
        await session.commit()


async def build_field_work(sessionmaker: Any, world: World, customers: int, postgres: bool) -> None:
    rng = world.rng
    year_ago = NOW - timedelta(days=365)
    rows: list[dict[str, Any]] = []
    leaders: list[dict[str, Any]] = []
    stations: list[dict[str, Any]] = []
    activities: list[dict[str, Any]] = []
    sales: list[dict[str, Any]] = []
    for customer_id in range(1, customers + 1):
        dealer_id, path = rng.choice(world.dealers)
        owner = rng.choice(world.reps[dealer_id])
        created = year_ago + timedelta(seconds=rng.randrange(365 * 86400))
        follow_up = TODAY + timedelta(days=rng.randrange(-30, 60)) if rng.random() < 0.6 else None
        rows.append({"id": customer_id, "name": f"C{customer_id}", "phone": f"+86138{customer_id:08d}",
                     "nature": rng.choice(("individual", "individual_business", "unit")), "level": "general",
                     "sales_mode": "distribution", "vehicle_type": rng.choice(("dump", "tractor", None)),
                     "industry": rng.choice(("coal", "sand_gravel", None)), "fleet_size": rng.choice((1, 3, None)),
                     "province": "hebei", "city": f"city{customer_id % 9}", "stage": "follow_up",
                     "source": "fleet", "owner_staff_id": owner, "dealer_unit_id": dealer_id, "org_path": path,
                     "known_lat": None, "known_lon": None, "purchase_date": None, "next_follow_up": follow_up,
                     "created_at": created, "updated_at": created})
        world.customers.append((customer_id, dealer_id, path, owner))
    for index in range(8000):
        dealer_id, path = rng.choice(world.dealers)
        who = rng.choice(world.reps[dealer_id])
        created = year_ago + timedelta(seconds=rng.randrange(365 * 86400))
        if index % 2:
            leaders.append({"id": index, "client_token": f"l{index}", "name": f"L{index}",
                            "phone": f"+86137{index:08d}", "province": None, "city": f"city{index % 9}",
                            "vehicles": "", "fleet_size": None, "maintainer_staff_id": who,
                            "dealer_unit_id": dealer_id, "org_path": path, "created_at": created})
        else:
            stations.append({"id": index, "client_token": f"s{index}", "name": f"S{index}", "kind": "parking_lot",
                             "contact_name": None, "phone": None, "province": None, "city": f"city{index % 9}",
                             "lat": None, "lon": None, "created_by_staff_id": who, "dealer_unit_id": dealer_id,
                             "org_path": path, "created_at": created})
    for index in range(1, 5001):
        dealer_id, path = rng.choice(world.dealers)
        starts = year_ago + timedelta(seconds=rng.randrange(400 * 86400))
        state = rng.choice(("pending", "approved", "completed", "evaluated", "rejected"))
        activities.append({
            "id": index, "client_token": f"a{index}", "requester_staff_id": rng.choice(world.reps[dealer_id]),
            "dealer_unit_id": dealer_id, "org_path": path, "activity_type": "roadshow",
            "kpi": rng.choice(("promotion", "relationship")), "product_line": "tx", "series": "s",
            "starts_at": starts, "city": "X", "address": "Y", "natures": "", "expected_attendance": 30,
            "budget_fen": 100_000, "budget_lines": "[]", "description": "", "state": state,
            "chain": rng.choice(("market", "market,region", "market,region,hq")), "step_index": rng.choice((0, 1)),
            "version": 1, "submitted_at": starts, "created_at": starts, "updated_at": starts})
    for index in range(1, 20001):
        customer_id, dealer_id, path, owner = rng.choice(world.customers)
        sales.append({"id": index, "client_token": f"sale{index}", "customer_id": customer_id, "staff_id": owner,
                      "product_line": "tx", "series": "s", "vehicle_type": "dump", "trucks": rng.randint(1, 30),
                      "leader_id": None, "reward_multiplier": "1.0", "ceremony_tier": "simple",
                      "sold_on": TODAY - timedelta(days=rng.randrange(365)), "dealer_unit_id": dealer_id,
                      "org_path": path, "created_at": NOW})
    async with sessionmaker() as session:
        await _bulk(session, Customer, rows, postgres)
        await _bulk(session, OpinionLeader, leaders, postgres)
        await _bulk(session, InfoStation, stations, postgres)
        await _bulk(session, Activity, activities, postgres)
        await _bulk(session, Sale, sales, postgres)
        await session.commit()


async def grow_visits(sessionmaker: Any, world: World, total: int, postgres: bool) -> None:
    """Adds visits until there are `total`, spread over the past year (yesterday included)."""
    rng = world.rng
    start_at = NOW - timedelta(days=365)
    while world.visits < total:
        batch = min(100_000, total - world.visits)
        rows = []
        for _ in range(batch):
            world.visits += 1
            customer_id, dealer_id, path, owner = world.customers[rng.randrange(len(world.customers))]
            at = start_at + timedelta(seconds=rng.randrange(365 * 86400))
            rows.append({"id": world.visits, "client_token": f"v{world.visits}", "customer_id": customer_id,
                         "staff_id": owner, "dealer_unit_id": dealer_id, "org_path": path,
                         "visit_kind": VISIT_KINDS[world.visits % len(VISIT_KINDS)], "outcome": "reached_need",
                         "stage_after": "follow_up", "notes": "", "next_follow_up": None, "lat": None, "lon": None,
                         "location_status": "verified" if world.visits % 3 else "unverified", "distance_m": None,
                         "photo_file_id": None, "visited_at": at})
        async with sessionmaker() as session:
            await _bulk(session, Visit, rows, postgres)
            await session.commit()
    async with sessionmaker() as session:
        await session.execute(text("ANALYZE"))
        await session.commit()


async def measure(sessionmaker: Any, settings: Settings) -> dict[str, float]:
    async with UnitOfWork(sessionmaker) as uow:
        started = time.perf_counter()
        digests = await DigestService(uow, clock, settings).build_all(TODAY)
        build = time.perf_counter() - started
    assert len(digests) == 1000, len(digests)
    i18n = make_i18n("zh_CN")
    started = time.perf_counter()
    for digest in digests:
        with i18n.context(), i18n.use_locale(digest.locale or "zh_CN"):
            digest_text(digest)
    texts = time.perf_counter() - started
    started = time.perf_counter()
    with i18n.context(), i18n.use_locale("zh_CN"):
        progress_chart_png(digests[0].numbers)
    chart = time.perf_counter() - started
    async with sessionmaker() as session:
        await session.execute(text("DELETE FROM outbox"))
        await session.commit()
    started = time.perf_counter()
    counts = await manager_numbers.enqueue_manager_numbers(sessionmaker, settings, clock)
    job = time.perf_counter() - started
    return {"build": build, "texts": texts, "chart": chart, "job": job, "nudges": counts["nudges"]}


async def run_database(kind: str, sizes: list[int], customers: int) -> list[tuple[int, dict[str, float]]]:
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="fieldbot-bench-")
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}"
        drop = None
    else:
        import asyncpg

        name = f"fieldbot_bench_{random.randrange(10**9)}"
        admin = await asyncpg.connect(POSTGRES_ADMIN)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        drop = name
    engine = make_engine(url)
    results = []
    try:
        await migrate.upgrade(engine)
        sessionmaker = make_sessionmaker(engine)
        settings = load_settings(database_url=url, _env_file=None)
        world = World()
        postgres = kind == "postgres"
        started = time.perf_counter()
        await build_org(sessionmaker, world, postgres)
        await build_field_work(sessionmaker, world, customers, postgres)
        if postgres:  # ids were given explicitly: move the sequences past them
            async with sessionmaker() as session:
                for table in ("org_unit", "staff", "customer", "visit", "opinion_leader", "info_station",
                              "activity", "sale"):
                    await session.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"))
                await session.commit()
        async with UnitOfWork(sessionmaker) as uow:
            year, rows = read_plan(PLAN)
            await NumbersService(uow, clock, settings).import_plan(TODAY.year, rows)
            await uow.commit()
        print(f"[{kind}] org, {customers:,} customers, plan: {time.perf_counter() - started:.1f} s", flush=True)
        for size in sizes:
            started = time.perf_counter()
            await grow_visits(sessionmaker, world, size, postgres)
            loaded = time.perf_counter() - started
            result = await measure(sessionmaker, settings)
            results.append((size, result))
            print(f"[{kind}] {size:>9,} visits (+{loaded:.0f} s loading): 1,000 digests built in "
                  f"{result['build']:.2f} s, texts {result['texts']:.2f} s, scheduled run with outbox rows "
                  f"{result['job']:.2f} s, one chart {result['chart']:.2f} s", flush=True)
    finally:
        await engine.dispose()
        if drop is not None:
            import asyncpg

            admin = await asyncpg.connect(POSTGRES_ADMIN)
            await admin.execute(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)')
            await admin.close()
    return results


def report(kind: str, results: list[tuple[int, dict[str, float]]]) -> None:
    print(f"\n{kind}: visits → build of 1,000 digests (growth vs previous size)")
    previous = None
    for size, result in results:
        growth = f"x{result['build'] / previous:.2f}" if previous else ""
        verdict = "  (target ≤ 10 s: met)" if size >= 1_000_000 and result["build"] <= 10 else (
            "  (target ≤ 10 s: MISSED)" if size >= 1_000_000 else "")
        print(f"  {size:>9,}: {result['build']:6.2f} s {growth}{verdict}")
        previous = result["build"]


async def main(databases: list[str], sizes: list[int], customers: int) -> None:
    for kind in databases:
        if kind == "postgres":
            try:
                import asyncpg

                connection = await asyncpg.connect(POSTGRES_ADMIN, timeout=3)
                await connection.close()
            except Exception as error:  # noqa: BLE001 - any failure means: no PostgreSQL here
                print(f"[postgres] skipped: not reachable at 127.0.0.1:5432 ({error})")
                continue
        report(kind, await run_database(kind, sizes, customers))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--sizes", default="10000,100000,1000000", help="visit counts, ascending")
    parser.add_argument("--customers", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(main([d.strip() for d in args.db.split(",") if d.strip()],
                     sorted(int(s) for s in args.sizes.split(",")), args.customers))
