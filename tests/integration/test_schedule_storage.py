"""The schedule's set-based SQL on both databases: the same due rows on SQLite and PostgreSQL, and a second run
writes nothing new."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot.services.org_import import OrgImporter
from pushes.schedule import run_all
from storage import migrate
from storage.engine import make_engine, make_sessionmaker
from storage.models import Customer, OutboxMessage, ServiceBooking
from storage.uow import UnitOfWork
from tests.support.databases import fresh_postgres

DEMO_ORG = Path(__file__).resolve().parents[2] / "bot" / "data" / "demo_org.yaml"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'schedule.sqlite3'}"
    else:
        async with fresh_postgres() as url:
            yield url


async def test_jobs_write_the_same_rows_on_both_databases(database: str) -> None:
    engine = make_engine(database)
    await migrate.upgrade(engine)
    sessionmaker = make_sessionmaker(engine)
    async with UnitOfWork(sessionmaker) as uow:
        await OrgImporter(uow).import_file(DEMO_ORG)
        await uow.commit()
    async with UnitOfWork(sessionmaker) as uow:
        owner = await uow.staff.by_phone("+8613800000016")
        assert owner is not None
        owner.tg_user_id = 42
        unit = await uow.org.get(owner.org_unit_id)
        assert unit is not None
        made = datetime(2025, 6, 1, tzinfo=UTC)

        def customer(name: str, phone: str, **fields: object) -> Customer:
            return Customer(name=name, phone=phone, nature="individual", owner_staff_id=owner.id,
                            dealer_unit_id=unit.id, org_path=unit.path, created_at=made, **fields)

        for item in [customer("A", "+8613912340001", purchase_date=date(2025, 9, 4), tg_user_id=1001, locale="en"),
                     customer("B", "+8613912340002", purchase_date=date(2024, 8, 15), fleet_size=4),
                     customer("C", "+8613912340003", next_follow_up=date(2025, 9, 20)),
                     customer("D", "+8613912340004", sms_opt_out_at=made)]:
            await uow.customers.add(item)
        await uow.session.flush()
        first = (await uow.session.execute(select(Customer).order_by(col(Customer.id)))).scalars().first()
        assert first is not None
        uow.session.add(ServiceBooking(client_token="t", customer_id=first.id, dealer_unit_id=unit.id,
                                       org_path=unit.path, kind="parts",
                                       slot_at=datetime(2025, 10, 2, 14, tzinfo=SHANGHAI).astimezone(UTC)))
        await uow.commit()

    # National Day 2025, 08:00 local: greetings, A's first service (4 Oct, reminded 1 Oct), B's replacement
    # nudge is not due (no buying season opens within 30 days of 1 Oct), C overdue, the parts appointment tomorrow.
    def clock() -> datetime:
        return datetime(2025, 10, 1, 8, 0, tzinfo=SHANGHAI).astimezone(UTC)

    await run_all(sessionmaker, clock, SHANGHAI)
    await run_all(sessionmaker, clock, SHANGHAI)
    async with sessionmaker() as session:
        found = sorted((row.message_key, row.channel, row.idempotency_key.split(":")[0])
                       for row in (await session.execute(select(OutboxMessage))).scalars())
    await engine.dispose()
    assert found == sorted([
        ("customer.greeting", "telegram", "greeting"), ("customer.greeting", "sms", "greeting"),
        ("customer.greeting", "sms", "greeting"),
        ("customer.maintenance", "telegram", "maint"),
        ("customer.appointment", "telegram", "appt"),
        ("staff.morning", "telegram", "morning"),
    ])
