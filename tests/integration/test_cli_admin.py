"""Running the organisation from the command line: staff who leave, invites listed and revoked, the org list,
suggestions for a mistyped code, --ttl-hours bounds, --version, and imports that report every error of a row and
read what Excel and WPS save (UTF-8 with BOM, GBK) and .xlsx, with progress on large files."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from openpyxl import Workbook
from sqlmodel import select

from storage.engine import make_engine, make_sessionmaker
from storage.models import AuditLog, Customer, Invite, OrgUnit, Staff
from tests.integration.test_cli import count, db, invoke  # noqa: F401  (db is a fixture)


def query(url: str, statement):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        engine = make_engine(url)
        async with make_sessionmaker(engine)() as session:
            rows = list((await session.execute(statement)).scalars())
        await engine.dispose()
        return rows

    return asyncio.run(go())


def add_customer(url: str, owner_phone: str, name: str) -> None:
    async def go() -> None:
        engine = make_engine(url)
        async with make_sessionmaker(engine)() as session:
            owner = (await session.execute(select(Staff).where(Staff.phone == owner_phone))).scalar_one()
            unit = await session.get(OrgUnit, owner.org_unit_id)
            assert unit is not None
            session.add(Customer(name=name, nature="unit", owner_staff_id=owner.id, dealer_unit_id=unit.id,
                                 org_path=unit.path))
            await session.commit()
        await engine.dispose()

    asyncio.run(go())


def test_version(db: str) -> None:  # noqa: F811
    code, output = invoke("--version")
    assert code == 0 and re.fullmatch(r"fieldbot \d+\.\d+\.\d+\S*\n", output), output


def test_org_list_shows_the_tree_with_codes(db: str) -> None:  # noqa: F811
    assert invoke("org", "list")[1].startswith("no org units yet")
    invoke("demo")
    code, output = invoke("org", "list")
    lines = output.splitlines()
    assert code == 0 and len(lines) == 11
    assert lines[0].split() == ["hq", "hq", "客户营销部"]  # i18n-ok
    dealer = next(line for line in lines if "dlr-shijiazhuang" in line)
    assert re.fullmatch(r"      dlr-shijiazhuang\s+dealer\s+石家庄恒通商用车", dealer), dealer  # i18n-ok: 3 levels in


def test_unknown_org_code_suggests_the_closest(db: str) -> None:  # noqa: F811
    invoke("demo")
    code, output = invoke("invite", "--role", "sales_rep", "--org", "dlr-shijiazuang")
    assert code == 1
    assert "there is no org unit with code dlr-shijiazuang; did you mean dlr-shijiazhuang?" in output
    code, output = invoke("invite", "--role", "sales_rep", "--org", "dlr-jinna")
    assert "did you mean dlr-jinan?" in output
    code, output = invoke("invite", "--role", "sales_rep", "--org", "zzzz")
    assert code == 1 and "see fieldbot org list" in output


def test_ttl_hours_is_bounded_like_the_setting(db: str) -> None:  # noqa: F811
    invoke("demo")
    for bad in ("0", "2161", "-5"):
        code, output = invoke("invite", "--role", "sales_rep", "--org", "dlr-jinan", "--ttl-hours", bad)
        assert code == 2 and "--ttl-hours" in output, output
    assert count(db, Invite) == 0
    code, output = invoke("invite", "--role", "sales_rep", "--org", "dlr-jinan", "--ttl-hours", "2160")
    assert code == 0, output


def test_invite_list_and_revoke(db: str) -> None:  # noqa: F811
    invoke("demo")
    assert invoke("invite", "list") == (0, "no open invites\n")
    _code, issued = invoke("invite", "--role", "sales_rep", "--org", "dlr-jinan")
    invoke("invite", "--role", "dealer_gm", "--org", "dlr-kunming")
    code, listed = invoke("invite", "list")
    assert code == 0 and len(listed.splitlines()) == 2
    assert re.match(r"#1\s+open\s+sales_rep\s+dlr-jinan\s+expires \d{4}-\d\d-\d\d \d\d:\d\d UTC", listed), listed
    code_text = re.search(r"code: (\S+)", issued).group(1)  # type: ignore[union-attr]
    assert code_text not in listed  # only hashes are stored: the list can't leak a code
    assert invoke("invite", "revoke", "1") == (0, "invite #1 revoked\n")
    code, again = invoke("invite", "revoke", "1")
    assert code == 1 and "invite #1 is revoked already" in again
    code, missing = invoke("invite", "revoke", "99")
    assert code == 1 and "there is no invite #99" in missing
    assert len(invoke("invite", "list")[1].splitlines()) == 1
    code, every = invoke("invite", "list", "--all")
    assert "revoked" in every and len(every.splitlines()) == 2
    [revoked] = query(db, select(Invite).where(Invite.id == 1))
    assert revoked.revoked_at is not None
    assert [a.action for a in query(db, select(AuditLog).where(AuditLog.action == "invite.revoked"))] == [
        "invite.revoked"]
    code, output = invoke("invite")
    assert code == 2 and "needs --role and --org" in output


def test_staff_deactivate_hands_over_to_a_colleague(db: str) -> None:  # noqa: F811
    invoke("demo")
    add_customer(db, "+8613800000016", "Fleet A")
    add_customer(db, "+8613800000016", "Fleet B")
    code, output = invoke("staff", "deactivate", "13800000016", "--to", "13800000017")
    assert code == 1 and "same unit" in output  # Tangshan is another dealer
    code, output = invoke("staff", "deactivate", "13800000016", "--to", "13800000015")
    assert code == 0, output
    assert "杨帆 deactivated; to 韩梅: 2 customers (0 with follow-ups), 0 opinion leaders" in output  # i18n-ok
    [leaver] = query(db, select(Staff).where(Staff.phone == "+8613800000016"))
    [successor] = query(db, select(Staff).where(Staff.phone == "+8613800000015"))
    assert leaver.active is False
    assert {c.owner_staff_id for c in query(db, select(Customer))} == {successor.id}
    [entry] = query(db, select(AuditLog).where(AuditLog.action == "staff.deactivated"))
    assert json.loads(entry.detail)["successor"] == successor.id and json.loads(entry.detail)["via"] == "cli"
    code, output = invoke("staff", "deactivate", "13800000016", "--to", "13800000015")
    assert code == 1 and "deactivated already" in output
    code, output = invoke("staff", "deactivate", "13899999999", "--to", "13800000015")
    assert code == 1 and "no staff member with phone +86138****9999" in output


def test_import_reports_every_error_of_a_row(db: str, tmp_path: Path) -> None:  # noqa: F811
    invoke("demo")
    bad = tmp_path / "bad.csv"
    bad.write_text("name,phone,role,org,locale\n"
                   "Wang,12345,region_manager,dlr-jinan,fr\n", encoding="utf-8")  # line 2: three problems
    code, output = invoke("org", "import", str(bad))
    assert code == 1
    for fragment in ("role region_manager belongs to a region unit", "invalid phone number 12345",
                     "locale must be one of zh_CN, en"):
        assert f"bad.csv line 2: {fragment}" in output, output
    units = tmp_path / "units.yaml"
    units.write_text("units:\n  - {code: m9, name: M9, kind: market, parent: nowhere, province: atlantis}\n",
                     encoding="utf-8")
    code, output = invoke("org", "import", str(units))
    assert "units.yaml line 2: parent nowhere" in output and "units.yaml line 2: unknown province atlantis" in output


STAFF_CSV = ("name,phone,role,org\n王强,13911120001,sales_rep,dlr-jinan\n"  # i18n-ok
             "李梅,13911120002,info_admin,dlr-jinan\n")  # i18n-ok


def test_import_reads_utf8_bom_and_gbk(db: str, tmp_path: Path) -> None:  # noqa: F811
    invoke("demo")
    bom = tmp_path / "bom.csv"
    bom.write_bytes(STAFF_CSV.encode("utf-8-sig"))
    code, output = invoke("org", "import", str(bom))
    assert code == 0 and "staff: 2 created" in output, output
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(STAFF_CSV.replace("13911120001", "13911120003").replace("13911120002", "13911120004")
                    .encode("gbk"))
    code, output = invoke("org", "import", str(gbk))
    assert code == 0 and "staff: 2 created" in output, output
    names = {s.name for s in query(db, select(Staff).where(Staff.phone.in_(  # type: ignore[attr-defined]
        ["+8613911120003", "+8613911120004"])))}
    assert names == {"王强", "李梅"}  # i18n-ok
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\xff\xfe\x00\x00\x81")
    code, output = invoke("org", "import", str(junk))
    assert code == 1 and "junk.csv line 1:" in output and "Traceback" not in output


def test_import_reads_xlsx(db: str, tmp_path: Path) -> None:  # noqa: F811
    invoke("demo")
    book = Workbook()
    sheet = book.active
    sheet.append(["name", "phone", "role", "org", "locale"])
    sheet.append(["赵六", 13911120011, "sales_rep", "dlr-qujing", "zh_CN"])  # i18n-ok: a phone typed as a number
    sheet.append([None, None, None, None, None])  # blank rows are skipped
    sheet.append(["Bad Row", "123", "sales_rep", "nowhere", None])  # line 4
    path = tmp_path / "staff.xlsx"
    book.save(path)
    code, output = invoke("org", "import", str(path))
    assert code == 1
    assert "staff.xlsx line 4: unknown org unit nowhere" in output and "staff.xlsx line 4: invalid phone" in output
    book.active.delete_rows(4)
    book.save(path)
    code, output = invoke("org", "import", str(path))
    assert code == 0 and "staff: 1 created" in output, output
    [row] = query(db, select(Staff).where(Staff.phone == "+8613911120011"))
    assert row.name == "赵六"  # i18n-ok


def test_large_import_shows_progress(db: str, tmp_path: Path) -> None:  # noqa: F811
    invoke("demo")
    rows = "".join(f"Person {i},1391200{i:04d},sales_rep,dlr-kunming\n" for i in range(1200))
    big = tmp_path / "big.csv"
    big.write_text("name,phone,role,org\n" + rows, encoding="utf-8")
    code, output = invoke("org", "import", str(big))
    assert code == 0 and "staff: 1200 created" in output, output
    assert "checked 500 of 1200 rows" in output and "checked 1200 of 1200 rows" in output
