"""Targets, progress, coverage, digests, evaluation and export against the hand-computed world, on SQLite and
PostgreSQL."""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlmodel import select

from bot.config import load_settings
from bot.i18n import make_i18n
from bot.services.digest import DigestService
from bot.services.export import ExportService
from bot.services.numbers import NumbersService, Period
from bot.services.org_import import OrgImporter
from pushes import manager_numbers
from pushes.numbers_texts import digest_text, export_labels
from pushes.outbox import RenderContext, render
from storage import migrate
from storage.engine import make_engine, make_sessionmaker
from storage.models import AuditLog, OrgUnit, Staff
from storage.uow import UnitOfWork
from tests.support.databases import fresh_postgres
from tests.support.numbers_fixture import EXPECTED, NOW, PLAN, TODAY, seed

DEMO_ORG = Path(__file__).resolve().parents[2] / "bot" / "data" / "demo_org.yaml"


def clock():  # type: ignore[no-untyped-def]
    return NOW


@pytest.fixture(params=["sqlite", "postgres"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'numbers.sqlite3'}"
        async for item in _world(url):
            yield item
    else:
        async with fresh_postgres() as url:
            async for item in _world(url):
                yield item


async def _world(url: str) -> AsyncIterator[tuple]:
    engine = make_engine(url)
    await migrate.upgrade(engine)
    sessionmaker = make_sessionmaker(engine)
    settings = load_settings(database_url=url, _env_file=None)
    async with UnitOfWork(sessionmaker) as uow:
        await OrgImporter(uow).import_file(DEMO_ORG)
        await uow.commit()
    ids = await seed(sessionmaker)
    async with UnitOfWork(sessionmaker) as uow:
        await NumbersService(uow, clock, settings).import_plan(2026, PLAN)
        await uow.commit()
    try:
        yield sessionmaker, settings, ids
    finally:
        await engine.dispose()


async def test_a_plan_import_is_audited_with_its_counts(world: tuple) -> None:
    """The audit detail is an object with the counts (it was stored as a JSON string inside a JSON string)."""
    sessionmaker, _settings, _ids = world
    async with sessionmaker() as session:
        [entry] = (await session.execute(select(AuditLog).where(AuditLog.action == "targets.import"))).scalars().all()
    detail = json.loads(entry.detail)
    assert isinstance(detail, dict) and detail["rows"] > 0 and detail["figures"] > 0


async def _staff(uow: UnitOfWork, name: str) -> Staff:
    return (await uow.session.execute(select(Staff).where(Staff.name == name))).scalar_one()


async def test_allocated_targets_and_quarter_progress(world: tuple) -> None:
    sessionmaker, settings, ids = world
    by_id = {v: k for k, v in ids.items()}
    async with UnitOfWork(sessionmaker) as uow:
        service = NumbersService(uow, clock, settings)
        targets = await uow.numbers.targets(2026, 4)
        for code, value in EXPECTED["visit_targets"].items():
            assert targets[(ids[code], "customer_visits")] == value
        for code, value in EXPECTED["leader_targets"].items():
            assert targets[(ids[code], "opinion_leaders")] == value
        assert (ids["southwest"], "opinion_leaders") not in targets  # nothing above mkt-yunnan set leaders
        annual = await uow.numbers.targets(2026, 0)
        assert annual[(ids["hq"], "customer_visits")] == 80  # four quarters of 20

        snap = await service.quarter_snapshot(TODAY)
        for code, count in EXPECTED["field_visits"].items():
            assert snap.of(ids[code]).field_visits == count, code
        for parent, lagging in EXPECTED["lagging"].items():
            assert {by_id[lag.unit.id] for lag in snap.lagging_children(ids[parent], TODAY)} == set(lagging), parent
        progress = {p.kpi: p for p in snap.progress(ids["dlr-shijiazhuang"], TODAY)}
        visits = progress["customer_visits"]
        assert (visits.actual, visits.target, visits.share_done, visits.share_gone) == (
            7, 4, Decimal("1.75"), Decimal(46) / Decimal(92))
        assert progress["organisation_contribution"].actual == EXPECTED["contribution_shijiazhuang"]
        assert progress["promotion"].actual == 1

        # /today's own numbers count only face-to-face visits too (the phone revisits are left out)
        rep = await _staff(uow, "杨帆")  # i18n-ok
        counts = await uow.stats.for_staff(rep.id, Period.of_days(date(2026, 11, 14), date(2026, 11, 14),  # type: ignore[arg-type]
                                                                  settings.tz).start,
                                           Period.of_days(date(2026, 11, 14), date(2026, 11, 14), settings.tz).end,
                                           date(2026, 11, 14), date(2026, 11, 14))
        assert counts.visits == 3 and counts.verified_visits == 2


async def test_coverage_gaps_per_county_level_city(world: tuple) -> None:
    sessionmaker, settings, ids = world
    async with UnitOfWork(sessionmaker) as uow:
        service = NumbersService(uow, clock, settings)
        units = {u.code: u for u in await uow.numbers.units()}
        hebei = await service.coverage_of(units["mkt-hebei"].path)
        assert hebei.cities == EXPECTED["coverage_hebei_cities"]
        assert {(g.dealer.code, g.city, g.stations, g.leaders, g.stations_missing, g.leaders_missing)
                for g in hebei.gaps} == EXPECTED["coverage_hebei"]
        assert hebei.gaps[0].stations_missing + hebei.gaps[0].leaders_missing == 5  # worst first
        yunnan = await service.coverage_of(units["mkt-yunnan"].path)  # class B: 1 station, 2 leaders
        assert {(g.dealer.code, g.city, g.stations, g.leaders, g.stations_missing, g.leaders_missing)
                for g in yunnan.gaps} == EXPECTED["coverage_yunnan"]


async def test_evaluation_numbers(world: tuple) -> None:
    sessionmaker, settings, ids = world
    async with UnitOfWork(sessionmaker) as uow:
        service = NumbersService(uow, clock, settings)
        units = {u.code: u for u in await uow.numbers.units()}
        quarter = Period.quarter(2026, 4, settings.tz)
        hebei = await service.evaluation(units["mkt-hebei"], quarter)
        assert hebei.pass_rate == EXPECTED["pass_rate"]["mkt-hebei"]
        assert (hebei.customers, hebei.complete_customers, hebei.completeness) == EXPECTED["completeness_hebei"]
        assert (hebei.due_revisits, hebei.revisited, hebei.revisit_rate) == EXPECTED["revisit_hebei"]
        assert hebei.plan_completion["customer_visits"] == Decimal("100.0")  # 8 of 8
        assert hebei.plan_completion["information_stations"] is None  # no target set
        for code in ("hq", "north"):
            assert (await service.evaluation(units[code], quarter)).pass_rate == EXPECTED["pass_rate"][code]


async def test_digests_hold_exactly_each_managers_subtree(world: tuple) -> None:
    sessionmaker, settings, ids = world
    by_id = {v: k for k, v in ids.items()}
    async with UnitOfWork(sessionmaker) as uow:
        digests = await DigestService(uow, clock, settings).build_all(
            TODAY, roles=["region_manager", "marketing_manager", "customer_mgmt_specialist", "activity_specialist",
                          "dealer_gm", "hq_admin"])
        staff = {s.id: s.name for s in (await uow.session.execute(select(Staff))).scalars()}
    by_unit = {}
    for digest in digests:
        by_unit.setdefault(by_id[digest.unit.id], digest)
        assert digest.numbers.unit.id == digest.unit.id
        code = by_id[digest.unit.id]
        if code in EXPECTED["yesterday"]:
            y = digest.yesterday
            assert (y.visits, y.verified, y.field_visits) == EXPECTED["yesterday"][code], code
        if code in EXPECTED["overdue"]:
            assert digest.overdue == EXPECTED["overdue"][code], code
        if code in EXPECTED["lagging"]:
            assert {by_id[lag.unit.id] for lag in digest.numbers.lagging_children} == set(EXPECTED["lagging"][code])
        name = staff[digest.staff_id]
        if name in EXPECTED["waiting"]:
            assert digest.waiting_approval == EXPECTED["waiting"][name], name
    assert by_unit["hq"].yesterday.visits == 7
    assert by_unit["southwest"].yesterday.visits == 1  # Kunming's, not the north's
    assert {"hq", "north", "southwest", "mkt-hebei", "mkt-yunnan", "dlr-shijiazhuang", "dlr-jinan"} <= set(by_unit)
    # A dealer GM's digest names overdue customers, masked; nobody else's names customers at all.
    shijiazhuang = by_unit["dlr-shijiazhuang"]
    assert [(c.name, c.phone) for c in shijiazhuang.overdue_customers] == [("李*", "+86139****0002")]  # i18n-ok
    assert all(not d.overdue_customers for d in digests if d.unit.kind != "dealer")
    i18n = make_i18n("zh_CN")
    with i18n.context(), i18n.use_locale("en"):
        text_en = digest_text(shijiazhuang)
    assert "Visits: 5 (2 verified, 3 face to face)" in text_en and "李四" not in text_en  # i18n-ok
    assert "13900000002" not in text_en


async def test_scheduled_run_enqueues_once_and_renders_in_each_language(world: tuple) -> None:
    sessionmaker, settings, ids = world
    first = await manager_numbers.enqueue_manager_numbers(sessionmaker, settings, clock)
    again = await manager_numbers.enqueue_manager_numbers(sessionmaker, settings, clock)
    assert first["digests"] > 0 and again == first  # counted again, but written once (idempotency keys)
    async with sessionmaker() as session:
        rows = (await session.execute(text(
            "SELECT message_key, recipient_id, locale, params FROM outbox ORDER BY id"))).all()
    keys = [row[0] for row in rows]
    assert keys.count("digest.daily") == first["digests"] == keys.count("digest.chart")
    assert "13900000002" not in json.dumps([row[3] for row in rows])  # nothing in clear in the outbox
    # 2026-11-15 is a Sunday: no nudges (Monday), no quarter summary (not a quarter's first day)
    assert first["nudges"] == 0 and first["summaries"] == 0
    digest_row = next(row for row in rows if row[0] == "digest.daily")
    params = json.loads(digest_row[3])
    i18n = make_i18n("zh_CN")
    for locale, fragment in (("zh_CN", "每日简报"), ("en", "Daily digest")):  # i18n-ok
        ctx = RenderContext(locale=locale, tz=settings.tz, now=NOW, row_id=1, recipient_kind="staff",
                            recipient_id=digest_row[1], uow=lambda: UnitOfWork(sessionmaker))
        with i18n.context(), i18n.use_locale(locale):
            rendered = await render("digest.daily", params, ctx)
            chart = await render("digest.chart", {"numbers": params["numbers"]}, ctx)
        assert rendered is not None and fragment in rendered.text
        assert chart is not None and chart.attachment is not None
        assert chart.attachment.data.startswith(b"\x89PNG") and chart.attachment.kind == "photo"


async def test_quarter_summary_and_nudges_on_their_days(world: tuple) -> None:
    sessionmaker, settings, ids = world
    async with UnitOfWork(sessionmaker) as uow:
        service = DigestService(uow, clock, settings)
        nudges = await service.nudges(TODAY)
        summaries = await service.quarter_summaries(2026, 4)
    names = {n.unit.code for n in nudges}
    # field people of dealers behind the pace: Tangshan (1 of 4 visits), Kunming; not Shijiazhuang (7 of 4)
    assert {"dlr-tangshan", "dlr-kunming"} <= names and "dlr-shijiazhuang" not in names
    tangshan = next(n for n in nudges if n.unit.code == "dlr-tangshan")
    assert (tangshan.kpi.kpi, tangshan.kpi.actual, tangshan.kpi.left, tangshan.mine) == ("customer_visits", 1, 3, 1)
    assert tangshan.days_left == 46
    north = next(s for s in summaries if s.unit.code == "north")
    visits = next(p for p in north.numbers.progress if p.kpi == "customer_visits")
    assert visits.share_gone == 1 and visits.target == 12


async def test_export_holds_the_scopes_rows(world: tuple) -> None:
    sessionmaker, settings, ids = world
    i18n = make_i18n("zh_CN")
    async with UnitOfWork(sessionmaker) as uow:
        hebei = await uow.session.get(OrgUnit, ids["mkt-hebei"])
        with i18n.context(), i18n.use_locale("en"):
            labels = export_labels()
        seen: list[tuple[str, int, int]] = []
        result = await ExportService(uow, clock, settings).workbook(
            hebei, Period.quarter(2026, 4, settings.tz), labels, mask_phones=True,  # type: ignore[arg-type]
            progress=lambda *args: seen.append(args))
    book = load_workbook(io.BytesIO(result.content), read_only=True)
    assert book.sheetnames == ["Visits", "Customers", "Activities", "Progress"]
    visits = list(book["Visits"].iter_rows(values_only=True))
    assert visits[0][0] == "Visit #" and len(visits) - 1 == 10  # Shijiazhuang 9 (4 + 5), Tangshan 1; not Jinan
    assert {row[2] for row in visits[1:]} == {"石家庄恒通商用车", "唐山远航汽车销售"}  # i18n-ok
    assert "Door visit" in {row[5] for row in visits[1:]}
    customers = list(book["Customers"].iter_rows(values_only=True))[1:]
    assert sorted(row[1] for row in customers) == sorted(["张三", "王五"])  # visited in Q4; 李四 was not  # i18n-ok
    assert all("****" in row[2] for row in customers)  # masked for a market-level reader
    activities = list(book["Activities"].iter_rows(values_only=True))[1:]
    assert len(activities) == 2
    progress = list(book["Progress"].iter_rows(values_only=True))[1:]
    assert ("河北市场部", "Customer visits", 8, 20 * 0 + 8, 1) in progress  # i18n-ok
    assert result.rows == {"visits": 10, "customers": len(customers), "activities": 2, "progress": len(progress)}
    assert seen and seen[-1][0] == "activities"


def test_chart_renders_chinese_with_noto_sans_cjk() -> None:
    from matplotlib import font_manager

    from bot.domain.targets import Progress
    from bot.services.numbers import UnitNumbers
    from pushes.charts import cjk_font_family, font_path
    from pushes.numbers_texts import progress_chart_png

    numbers = UnitNumbers(unit=OrgUnit(id=1, code="north", name="华北大区", kind="region", path="/1/"),  # i18n-ok
                          year=2026, quarter=4, day=TODAY, days_left=46,
                          progress=[Progress("customer_visits", Decimal(3), Decimal(10), Decimal("0.3"),
                                             Decimal("0.5"), True),
                                    Progress("opinion_leaders", Decimal(9), Decimal(10), Decimal("0.9"),
                                             Decimal("0.5"), False)],
                          lagging_children=[])
    i18n = make_i18n("zh_CN")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with i18n.context(), i18n.use_locale("zh_CN"):
            png = progress_chart_png(numbers)
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    assert not [w for w in caught if "Glyph" in str(w.message) or "missing from font" in str(w.message)]
    family = cjk_font_family()
    assert family == "Noto Sans CJK SC"
    used = Path(font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False))
    # The copy in mplfonts, or the same family from the system's fonts-noto-cjk when installed (CI installs it
    # for the browser tests); never SimHei, and nothing fetched.
    assert used == font_path() or used.name.startswith("NotoSansCJK"), used
    assert font_path().is_file() and used.name != "SimHei.ttf"
    # every Chinese character of the labels is in that font's character map
    from matplotlib.ft2font import FT2Font

    charmap = FT2Font(str(used)).get_charmap()
    for label in ("华北大区：第4季度目标进度", "拜访", "用户意见领袖", "季度时间进度", "目标完成率（%）"):  # i18n-ok
        assert all(ord(ch) in charmap for ch in label), label


