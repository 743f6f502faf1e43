"""The sandbox chat page in Debian's Chromium, driven by Playwright, against the whole sandbox app in-process.

Chromium comes from the system's packages (`apt-get install -y chromium`, done by .ci/run); Playwright never
downloads a browser. Without /usr/bin/chromium these tests skip, naming the reason; in CI
(FIELDBOT_REQUIRE_SERVICES=1) they fail instead. FIELDBOT_SCREENSHOTS=docs/screenshots writes the README's
screenshots; otherwise they go to the test's temporary directory.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.assembly import open_storage
from app.sandbox_mode import SandboxApp
from bot.config import load_settings
from bot.services.org_import import OrgImporter
from storage.uow import UnitOfWork
from tests.conftest import DEMO_ORG

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1180, "height": 820}


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("FIELDBOT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; FIELDBOT_REQUIRE_SERVICES=1 makes it mandatory")
    pytest.skip(reason)


class RunningSandbox:
    def __init__(self, app: SandboxApp) -> None:
        self.app = app

    @property
    def url(self) -> str:
        return self.app.page_url

    @property
    def sessionmaker(self):  # type: ignore[no-untyped-def]
        return self.app.storage.sessionmaker


@pytest.fixture
async def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningSandbox]:
    require_chromium()
    for name in ("BOT_TOKEN", "DATABASE_URL", "TELEGRAM_API_BASE", "REDIS_URL", "DEFAULT_LOCALE", "TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'sandbox.sqlite3'}", sandbox_port=0,
                             _env_file=None)
    storage = await open_storage(settings)
    async with UnitOfWork(storage.sessionmaker) as uow:
        await OrgImporter(uow).import_file(DEMO_ORG)
        await uow.commit()
    app = SandboxApp(settings, storage, port=0)
    await app.start()
    assert app.intake is not None
    await app.intake.start()
    polling = asyncio.create_task(app.intake.poll(timeout_s=1))
    try:
        yield RunningSandbox(app)
    finally:
        polling.cancel()  # nothing is lost: a batch is confirmed only by the next getUpdates after it is stored
        await asyncio.gather(polling, return_exceptions=True)
        await app.intake.stop(drain_s=10)
        await app.stop()
        await storage.engine.dispose()


@pytest.fixture
async def browser_context(tmp_path: Path):  # type: ignore[no-untyped-def]
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport=DESKTOP, locale="en-US", timezone_id="Asia/Shanghai")
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            await context.close()


@pytest.fixture
def shots(tmp_path: Path):  # type: ignore[no-untyped-def]
    """shots(page, name): a screenshot into FIELDBOT_SCREENSHOTS (the README's) or the test's temp dir."""
    folder = Path(os.environ.get("FIELDBOT_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)

    async def take(page, name: str) -> Path:  # type: ignore[no-untyped-def]
        await page.wait_for_timeout(150)  # let images and the scroll settle
        path = folder / f"{name}.png"
        await page.screenshot(path=str(path))
        return path

    return take
