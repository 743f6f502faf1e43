"""The app shell's sandbox mode on its own database: demo staff bound once to fixed sandbox ids, demo customers
added once, a fresh invitation for the newcomer at every start, and a real account never taken over."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import func, select

from app.assembly import open_storage
from app.sandbox_mode import CUSTOMER_ID, NEWCOMER_ID_BASE, STAFF_ID_BASE, SandboxApp
from bot.config import load_settings
from bot.services.org_import import OrgImporter
from storage.models import Customer, Invite, Staff
from storage.uow import UnitOfWork
from tests.conftest import DEMO_ORG


async def start_and_stop(database_url: str) -> list[dict]:  # type: ignore[type-arg]
    settings = load_settings(database_url=database_url, sandbox_port=0, _env_file=None)
    storage = await open_storage(settings)
    app = SandboxApp(settings, storage, port=0)
    await app.start()
    try:
        return list(app.api.page.personas)
    finally:
        await app.stop()
        await storage.engine.dispose()


async def test_personas_survive_a_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BOT_TOKEN", "DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite+aiosqlite:///{tmp_path / 'sandbox.sqlite3'}"
    storage = await open_storage(load_settings(database_url=url, _env_file=None))
    async with UnitOfWork(storage.sessionmaker) as uow:
        await OrgImporter(uow).import_file(DEMO_ORG)
        # 赵建国 (line 1) already uses fieldbot from a real Telegram account: the sandbox must leave him alone.
        admin = await uow.staff.by_phone("+8613800000001")
        assert admin is not None
        admin.tg_user_id = 555
        await uow.staff.add(admin)
        await uow.commit()
    await storage.engine.dispose()

    first = await start_and_stop(url)
    ids = [p["user_id"] for p in first]
    assert STAFF_ID_BASE + 1 not in ids and STAFF_ID_BASE + 16 in ids
    assert ids[-2:] == [CUSTOMER_ID, NEWCOMER_ID_BASE] and len(ids) == 21 + 2
    assert first[0]["group"]["en"].startswith("Dealer")  # dealers first
    second = await start_and_stop(url)
    assert [p["user_id"] for p in second] == ids
    assert first[-1]["start"] != second[-1]["start"]  # a new invitation each start

    storage = await open_storage(load_settings(database_url=url, _env_file=None))
    async with storage.sessionmaker() as session:
        bound = dict((await session.execute(select(Staff.phone, Staff.tg_user_id))).all())
        customers = (await session.execute(select(func.count()).select_from(Customer))).scalar_one()
        invites = (await session.execute(select(func.count()).select_from(Invite))).scalar_one()
    await storage.engine.dispose()
    assert bound["+8613800000001"] == 555 and bound["+8613800000016"] == STAFF_ID_BASE + 16
    assert customers == 4 and invites == 2  # the demo customers once; one invitation per start


async def linked_customers(url: str) -> list[tuple[str, int | None, str | None, bool]]:
    storage = await open_storage(load_settings(database_url=url, _env_file=None))
    async with storage.sessionmaker() as session:
        rows = (await session.execute(select(Customer.phone, Customer.tg_user_id, Customer.locale,
                                             Customer.linked_at).order_by(Customer.phone))).all()
    await storage.engine.dispose()
    return [(phone, tg, locale, linked_at is not None) for phone, tg, locale, linked_at in rows]


async def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("BOT_TOKEN", "DATABASE_URL", "REDIS_URL", "DEFAULT_LOCALE"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite+aiosqlite:///{tmp_path / 'sandbox.sqlite3'}"
    storage = await open_storage(load_settings(database_url=url, _env_file=None))
    async with UnitOfWork(storage.sessionmaker) as uow:
        await OrgImporter(uow).import_file(DEMO_ORG)
        await uow.commit()
    await storage.engine.dispose()
    return url


async def test_the_customer_persona_is_its_customers_linked_account(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    url = await seeded(tmp_path, monkeypatch)
    await start_and_stop(url)
    first = await linked_customers(url)
    assert first[0] == ("+8613911110001", CUSTOMER_ID, "zh_CN", True)
    assert all(tg is None for _, tg, _, _ in first[1:])  # only the persona's customer is linked
    storage = await open_storage(load_settings(database_url=url, _env_file=None))
    async with storage.sessionmaker() as session:
        linked_at = (await session.execute(select(Customer.linked_at).where(
            Customer.tg_user_id == CUSTOMER_ID))).scalar_one()
    await storage.engine.dispose()
    await start_and_stop(url)
    assert await linked_customers(url) == first  # a restart links nothing twice
    storage = await open_storage(load_settings(database_url=url, _env_file=None))
    async with storage.sessionmaker() as session:
        again = (await session.execute(select(Customer.linked_at).where(
            Customer.tg_user_id == CUSTOMER_ID))).scalar_one()
    await storage.engine.dispose()
    assert again == linked_at  # nor moves the link's date


async def test_a_customer_linked_to_a_real_account_is_not_taken_over(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    url = await seeded(tmp_path, monkeypatch)
    await start_and_stop(url)  # the demo customers are added at the first start
    storage = await open_storage(load_settings(database_url=url, _env_file=None))
    async with UnitOfWork(storage.sessionmaker) as uow:
        owner = await uow.staff.by_phone("+8613800000016")
        assert owner is not None
        customer = await uow.customers.by_phone(owner.org_unit_id, "+8613911110001")
        assert customer is not None and customer.tg_user_id == CUSTOMER_ID
        customer.tg_user_id, customer.locale = 777, "en"  # the real customer linked their own account since
        await uow.customers.add(customer)
        await uow.commit()
    await storage.engine.dispose()
    personas = await start_and_stop(url)
    assert (await linked_customers(url))[0] == ("+8613911110001", 777, "en", True)
    assert CUSTOMER_ID in [p["user_id"] for p in personas]  # still listed, a stranger to the bot now
