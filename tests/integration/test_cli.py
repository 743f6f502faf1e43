"""The `fieldbot` command as an administrator uses it: migrate, import the org, issue invites."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from sqlmodel import func, select
from typer.testing import CliRunner

from app.cli import DEMO_FILE, app
from storage import migrate
from storage.engine import make_engine, make_sessionmaker
from storage.models import Invite, OrgUnit, Staff

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    for name in ("BOT_TOKEN", "TELEGRAM_API_BASE", "REDIS_URL", "BOT_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return url


def count(url: str, model: type) -> int:
    async def go() -> int:
        engine = make_engine(url)
        async with make_sessionmaker(engine)() as session:
            value = (await session.execute(select(func.count()).select_from(model))).scalar_one()
        await engine.dispose()
        return int(value)

    return asyncio.run(go())


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_db_upgrade_is_idempotent(db: str) -> None:
    first = invoke("db", "upgrade")
    second = invoke("db", "upgrade")
    assert first == (0, f"database at revision {migrate.head_revision()}\n")
    assert second == first


def test_demo_import_and_again(db: str) -> None:
    code, output = invoke("demo")
    assert code == 0, output
    assert "units: 11 created" in output and "staff: 22 created" in output
    assert count(db, OrgUnit) == 11 and count(db, Staff) == 22
    code, output = invoke("org", "import", str(DEMO_FILE))
    assert code == 0 and "units: 0 created, 0 updated; staff: 0 created, 0 updated; 33 unchanged" in output
    assert count(db, OrgUnit) == 11 and count(db, Staff) == 22
    code, output = invoke("demo", "--if-empty")
    assert code == 0 and "already has an org tree" in output


def test_import_updates_in_place(db: str, tmp_path: Path) -> None:
    invoke("demo")
    changed = tmp_path / "rename.yaml"
    changed.write_text("units:\n  - {code: north, name: North China region, kind: region, parent: hq}\n"
                       "staff:\n  - {name: Sun Wei, phone: '13800000003', role: region_manager, org: north}\n",
                       encoding="utf-8")
    code, output = invoke("org", "import", str(changed))
    assert code == 0 and "1 updated" in output
    assert count(db, OrgUnit) == 11 and count(db, Staff) == 22


def test_bad_rows_are_named_by_line_and_nothing_is_imported(db: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "units:\n"
        "  - {code: hq, name: HQ, kind: hq}\n"                                     # line 2
        "  - {code: r1, name: R1, kind: region, parent: hq}\n"                     # line 3
        "  - {code: d1, name: D1, kind: dealer, parent: r1, province: hebei}\n"    # line 4: wrong level
        "  - {code: m1, name: M1, kind: market, parent: nowhere}\n"                # line 5: unknown parent
        "  - {code: m2, name: M2, kind: market, parent: r1, province: atlantis}\n"  # line 6: unknown province
        "staff:\n"
        "  - {name: A, phone: '13800000001', role: sales_rep, org: r1}\n"          # line 8: role at wrong level
        "  - {name: B, phone: '12345', role: region_manager, org: r1}\n"           # line 9: bad phone
        "  - {name: C, role: region_manager, org: r1}\n",                          # line 10: missing phone
        encoding="utf-8")
    code, output = invoke("org", "import", str(bad))
    assert code == 1
    assert "nothing imported" in output
    for line, fragment in [(4, "a dealer unit belongs under a market unit"), (5, "parent nowhere"),
                           (6, "unknown province atlantis"), (8, "role sales_rep belongs to a dealer unit"),
                           (9, "invalid phone number 12345"), (10, "missing phone")]:
        assert f"bad.yaml line {line}: {fragment}" in output, output
    assert count(db, OrgUnit) == 0 and count(db, Staff) == 0


def test_csv_staff_list(db: str, tmp_path: Path) -> None:
    invoke("demo")
    good = tmp_path / "staff.csv"
    good.write_text("name,phone,role,org,locale\n"
                    "Liu Yang,13911112222,sales_rep,dlr-jinan,en\n"
                    "Ma Li,139 1111 3333,info_admin,dlr-jinan,\n", encoding="utf-8")
    code, output = invoke("org", "import", str(good))
    assert code == 0 and "staff: 2 created" in output
    bad = tmp_path / "bad.csv"
    bad.write_text("name,phone,role,org\n"
                   "Wang,13911114444,sales_rep,dlr-jinan\n"
                   "Zhao,13911114444,sales_rep,dlr-jinan\n"        # line 3: repeats line 2
                   "Qian,13911115555,sales_rep,no-such-dealer\n", encoding="utf-8")  # line 4
    code, output = invoke("org", "import", str(bad))
    assert code == 1
    assert "bad.csv line 3: phone repeats line 2" in output
    assert "bad.csv line 4: unknown org unit no-such-dealer" in output
    assert count(db, Staff) == 24
    missing = tmp_path / "cols.csv"
    missing.write_text("name,phone\nX,13911116666\n", encoding="utf-8")
    code, output = invoke("org", "import", str(missing))
    assert code == 1 and "cols.csv line 1: header lacks column(s) role, org" in output


def test_invite_prints_code_and_deep_link(db: str) -> None:
    invoke("demo")
    code, output = invoke("invite", "--role", "sales_rep", "--org", "dlr-kunming")
    assert code == 0, output
    match = re.search(r"code: ([A-Za-z0-9_-]{24})\nlink: https://t\.me/fieldbot_sandbox_bot\?start=\1\n", output)
    assert match, output
    assert count(db, Invite) == 1
    code, output = invoke("invite", "--role", "sales_rep", "--org", "north")
    assert code == 1 and "role_not_here" in output
    code, output = invoke("invite", "--role", "sales_rep", "--org", "nowhere")
    assert code == 1 and "unknown_unit" in output


def test_wrong_setting_is_one_clear_line(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIMEZONE", "Nowhere/Land")
    code, output = invoke("db", "upgrade")
    assert code == 2
    assert output.strip() == "fieldbot: configuration error: TIMEZONE: unknown time zone 'Nowhere/Land', " \
                             "e.g. Asia/Shanghai"


def test_sms_reply_td_opts_the_number_out(db: str) -> None:
    from storage.models import Customer

    invoke("demo")

    async def add() -> None:
        engine = make_engine(db)
        async with make_sessionmaker(engine)() as session:
            staff = (await session.execute(select(Staff).where(Staff.role == "sales_rep"))).scalars().first()
            unit = await session.get(OrgUnit, staff.org_unit_id)
            session.add(Customer(name="Wang", phone="+8613912345678", nature="individual", owner_staff_id=staff.id,
                                 dealer_unit_id=unit.id, org_path=unit.path))
            await session.commit()
        await engine.dispose()

    async def opted_out() -> bool:
        engine = make_engine(db)
        async with make_sessionmaker(engine)() as session:
            customer = (await session.execute(select(Customer))).scalars().one()
        await engine.dispose()
        return customer.sms_opt_out_at is not None

    asyncio.run(add())
    code, output = invoke("sms", "reply", "13912345678", "thanks")
    assert code == 0 and "nothing changed" in output and not asyncio.run(opted_out())
    code, output = invoke("sms", "reply", "13912345678", " td ")
    assert code == 0 and "opted out: 1 customer record" in output, output
    assert asyncio.run(opted_out())
    code, output = invoke("schedule-now")
    assert code == 0 and "greetings" in output and "staff_morning" in output, output
