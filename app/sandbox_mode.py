"""The app shell's sandbox mode (BOT_TOKEN unset): the bot on the local Bot API server with its chat page.

At start the demo staff are bound to fixed sandbox Telegram ids (already onboarded), a few demo customers are
added for the demo salespeople, a newcomer gets an invitation, and the page is told about these personas. The
clock is an OffsetClock shared by the dispatcher and the scheduler; the page's clock control moves it forward and
then runs every scheduled job whose time came in between, plus any hooks other parts register.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import yaml
from aiogram import Bot, Dispatcher
from aiogram.utils.i18n import I18n
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.assembly import Storage, build_bot, build_dispatcher, build_intake, serve
from app.intake import Intake
from app.scheduler import Background
from bot.config import Settings
from bot.domain.phones import normalize_phone
from bot.i18n import N_
from bot.services.clock import OffsetClock
from bot.services.onboarding import OnboardingService
from sandbox.botapi import LocalBotAPI
from storage.models import Customer
from storage.uow import UnitOfWork
from ui.labels import KIND_NAMES, ROLE_NAMES

log = logging.getLogger(__name__)

SANDBOX_TOKEN = "100000001:SANDBOX-fieldbot-local-token"
SANDBOX_USERNAME = "fieldbot_sandbox_bot"
DATA_DIR = Path(__file__).resolve().parents[1] / "bot" / "data"
DEMO_FILE = DATA_DIR / "demo_org.yaml"
SANDBOX_FILE = DATA_DIR / "sandbox.yaml"
# Sandbox Telegram ids: demo staff are STAFF_ID_BASE + their line in the demo file, so ids survive restarts.
STAFF_ID_BASE = 7_000_000_000
CUSTOMER_ID = 7_100_000_001
NEWCOMER_ID_BASE = 7_200_000_001
PAGE_LOCALES = {"zh": "zh_CN", "en": "en"}
INVITE_TTL = timedelta(days=7)
MORNING = time(8, 0)

# The page's persona groups, titles and clock targets, in both languages (the page picks one).
TEXTS = {
    "customers": N_("Customers (demo)"),
    "customer": N_("Customer (greetings and service reminders)"),
    "try_signing_up": N_("Try signing up"),
    "newcomer": N_("New person with an invitation"),
    "place": N_("{name} ({city})"),
    "tomorrow": N_("Tomorrow 08:00"),
    "festival": N_("Next festival"),
    "quarter_end": N_("Quarter end"),
}

# Called after every clock jump with (before, after): the outbox dispatcher, digests, anything time-driven.
AdvanceHook = Callable[[datetime, datetime], Awaitable[Any]]


def _labels(i18n: I18n, message: str) -> dict[str, str]:
    return {page: i18n.gettext(message, locale=locale) for page, locale in PAGE_LOCALES.items()}


def _group(i18n: I18n, kind: str, unit_name: str) -> dict[str, str]:
    return {page: f"{label} · {unit_name}" for page, label in _labels(i18n, KIND_NAMES[kind]).items()}


def _read_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))  # a few lines, once at start


async def prepare_world(storage: Storage, i18n: I18n, clock: OffsetClock, *, demo_file: Path = DEMO_FILE,
                        sandbox_file: Path = SANDBOX_FILE,
                        locale: str = "zh_CN") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Binds the demo staff, adds the demo customers, links the customer persona to its customer, invites the
    newcomer; returns (personas, places)."""
    demo, extra = _read_yaml(demo_file), _read_yaml(sandbox_file)
    personas: list[dict[str, Any]] = []
    async with UnitOfWork(storage.sessionmaker) as uow:
        units = {unit.id: unit for unit in await uow.org.all()}
        for line, row in enumerate(demo["staff"], start=1):
            staff = await uow.staff.by_phone(normalize_phone(row["phone"]))
            if staff is None:
                continue
            tg_id = STAFF_ID_BASE + line
            if staff.tg_user_id is None and await uow.staff.by_tg_user(tg_id) is None:
                staff.tg_user_id = tg_id
                staff.onboarded_at = clock()
                staff.active = True  # locale stays unset: the bot answers in the page's language
                await uow.staff.add(staff)
            if staff.tg_user_id != tg_id:
                continue  # bound to a real account earlier: not a persona
            unit = units[staff.org_unit_id]
            personas.append({"user_id": tg_id, "first_name": staff.name, "phone": staff.phone, "kind": "staff",
                             "role": staff.role, "order": (-unit.path.count("/"), line),
                             "group": _group(i18n, unit.kind, unit.name),
                             "title": _labels(i18n, ROLE_NAMES[staff.role])})
        personas.sort(key=lambda p: p.pop("order"))  # dealers first (most people start there), then upwards
        await _add_customers(uow, extra["customers"], clock)
        await _link_customer(uow, extra["customer_persona"], clock, locale)
        personas.append(_customer_persona(i18n, extra["customer_persona"]))
        personas.append(await _newcomer(uow, i18n, extra["newcomer"], clock))
        await uow.commit()
    places = [{"label": {page: label.format(name=c["name"], city=c["city"])
                         for page, label in _labels(i18n, TEXTS["place"]).items()},
               "latitude": c["lat"], "longitude": c["lon"]} for c in extra["customers"]]
    places += [{"label": p["label"], "latitude": p["lat"], "longitude": p["lon"]} for p in extra["places"]]
    return personas, places


async def _add_customers(uow: UnitOfWork, rows: list[dict[str, Any]], clock: OffsetClock) -> None:
    for row in rows:
        owner = await uow.staff.by_phone(normalize_phone(row["owner"]))
        if owner is None:
            continue
        unit = await uow.org.get(owner.org_unit_id)
        phone = normalize_phone(row["phone"])
        if unit is None:
            continue
        assert owner.id is not None and unit.id is not None
        if await uow.customers.by_phone(unit.id, phone) is not None:
            continue
        now = clock()
        await uow.customers.add(Customer(
            name=row["name"], phone=phone, nature=row["nature"], vehicle_type=row.get("vehicle_type"),
            industry=row.get("industry"), fleet_size=row.get("fleet_size"), province=row.get("province"),
            city=row.get("city"), stage=row.get("stage", "collect"), source=None, owner_staff_id=owner.id,
            dealer_unit_id=unit.id, org_path=unit.path, known_lat=row["lat"], known_lon=row["lon"],
            created_at=now, updated_at=now))


async def _link_customer(uow: UnitOfWork, row: dict[str, Any], clock: OffsetClock, locale: str) -> None:
    """The customer persona is its demo customer's linked Telegram account, as if it had used a salesperson's link.

    Idempotent across restarts; a customer already linked to another (a real) account is left alone, and then the
    persona stays a stranger to the bot."""
    owner = await uow.staff.by_phone(normalize_phone(row["owner"]))
    if owner is None:
        return
    customer = await uow.customers.by_phone(owner.org_unit_id, normalize_phone(row["phone"]))
    if customer is None or customer.tg_user_id not in (None, CUSTOMER_ID):
        return
    if customer.tg_user_id is None:
        customer.tg_user_id = CUSTOMER_ID
        customer.locale = locale  # the language the dealer's greetings and reminders reach this customer in
        customer.linked_at = clock()
        await uow.customers.add(customer)


def _customer_persona(i18n: I18n, row: dict[str, Any]) -> dict[str, Any]:
    # Customers are not staff: the bot greets and reminds them, they sign up for nothing.
    return {"user_id": CUSTOMER_ID, "first_name": row["first_name"], "phone": normalize_phone(row["phone"]),
            "kind": "customer", "group": _labels(i18n, TEXTS["customers"]),
            "title": _labels(i18n, TEXTS["customer"])}


async def _newcomer(uow: UnitOfWork, i18n: I18n, row: dict[str, Any], clock: OffsetClock) -> dict[str, Any]:
    """A fresh Telegram id (the last newcomer may have signed up already) and a new invitation for it."""
    tg_id = NEWCOMER_ID_BASE
    while await uow.staff.by_tg_user(tg_id) is not None:
        tg_id += 1
    phone = normalize_phone(row["phone"])
    taken = await uow.staff.by_phone(phone)
    if taken is not None and taken.tg_user_id is not None:
        phone = normalize_phone(f"139{tg_id % 10**8:08d}")  # the usual newcomer number is bound: another one
    issued = await OnboardingService(uow, clock).issue_invite(row["role"], row["org"], INVITE_TTL)
    return {"user_id": tg_id, "first_name": row["first_name"], "phone": phone, "kind": "newcomer",
            "group": _labels(i18n, TEXTS["try_signing_up"]), "title": _labels(i18n, TEXTS["newcomer"]),
            "start": f"/start {issued.code}"}


# ---- the clock ----------------------------------------------------------------------------------------------------
def next_morning(now: datetime, tz: ZoneInfo) -> datetime:
    local = now.astimezone(tz)
    return datetime.combine(local.date() + timedelta(days=1), MORNING, tz)


def next_festival(now: datetime, tz: ZoneInfo) -> tuple[datetime, dict[str, str]]:
    """08:00 on the next Chinese public holiday's first day (Spring Festival, Qingming, Dragon Boat, ...)."""
    today = now.astimezone(tz).date()
    names = {page: holidays.country_holidays("CN", years=[today.year, today.year + 1], language=language)
             for page, language in (("zh", "zh_CN"), ("en", "en_US"))}
    days = sorted(day for day in names["en"] if day > today and day - timedelta(days=1) not in names["en"])
    day = days[0]
    return datetime.combine(day, MORNING, tz), {page: names[page][day] for page in names}


def quarter_end(now: datetime, tz: ZoneInfo) -> datetime:
    """08:00 on the last day of this quarter (of the next one when that morning has passed)."""
    local = now.astimezone(tz)
    year, last_month = local.year, (local.month - 1) // 3 * 3 + 3
    while True:
        first_of_next = date(year + (last_month == 12), last_month % 12 + 1, 1)
        at = datetime.combine(first_of_next - timedelta(days=1), MORNING, tz)
        if at > local:
            return at
        year, last_month = (year + 1, 3) if last_month == 12 else (year, last_month + 3)


@dataclass
class SandboxClock:
    """The page's clock control (sandbox.page.ClockControl) over the clock the dispatcher and scheduler use."""

    clock: OffsetClock
    tz: ZoneInfo
    i18n: I18n
    scheduler: AsyncIOScheduler | None = None
    hooks: list[AdvanceHook] = field(default_factory=list)

    def targets(self) -> list[dict[str, Any]]:
        now = self.clock()
        festival, names = next_festival(now, self.tz)
        found = [("tomorrow_morning", next_morning(now, self.tz), _labels(self.i18n, TEXTS["tomorrow"])),
                 ("festival", festival, {p: f"{label} · {names[p]}" for p, label in
                                         _labels(self.i18n, TEXTS["festival"]).items()}),
                 ("quarter_end", quarter_end(now, self.tz), _labels(self.i18n, TEXTS["quarter_end"]))]
        return [{"id": key, "at": at.isoformat(), "label": label} for key, at, label in found]

    async def state(self) -> dict[str, Any]:
        return {"now": self.clock().isoformat(), "tz": self.tz.key, "offset_s": self.clock.offset.total_seconds(),
                "targets": self.targets()}

    async def advance(self, target: str) -> dict[str, Any]:
        chosen = next((t for t in self.targets() if t["id"] == target), None)
        when = datetime.fromisoformat(chosen["at"] if chosen else target)  # ValueError for anything else
        if when.tzinfo is None:
            when = when.replace(tzinfo=self.tz)
        before = self.clock()
        after = self.clock.advance_to(when)
        ran = await self.run_due(before, after)
        return {**await self.state(), "ran": ran}

    async def run_due(self, before: datetime, after: datetime) -> list[str]:
        """Runs, once each, the scheduled jobs with a fire time in (before, after], then the hooks."""
        ran: list[str] = []
        for job in self.scheduler.get_jobs() if self.scheduler else []:
            fire = job.trigger.get_next_fire_time(None, before + timedelta(microseconds=1))
            if fire is None or fire > after:
                continue
            try:
                await job.func(*job.args, **job.kwargs)
                ran.append(job.id)
            except Exception:
                log.exception("sandbox clock: job %s failed", job.id)
        for hook in self.hooks:
            try:
                await hook(before, after)
                ran.append(getattr(hook, "__name__", "hook"))
            except Exception:
                log.exception("sandbox clock: hook %r failed", hook)
        return ran


class SandboxApp:
    """The local Bot API server, the bot pointed at it, the scheduler and the page's personas and clock."""

    def __init__(self, settings: Settings, storage: Storage, *, port: int | None = None) -> None:
        self.settings = settings
        self.storage = storage
        self.api = LocalBotAPI(port=settings.sandbox_port if port is None else port)
        self.clock = OffsetClock()
        self.bot: Bot | None = None
        self.dispatcher: Dispatcher | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self.background: Background | None = None
        self.control: SandboxClock | None = None
        self.intake: Intake | None = None

    @property
    def page_url(self) -> str:
        return f"{self.api.base_url}/"

    async def start(self) -> None:
        await self.api.start()
        self.api.add_bot(token=SANDBOX_TOKEN, username=SANDBOX_USERNAME, first_name="fieldbot")
        self.api.set_clock(lambda: self.clock().timestamp())  # messages dated by the sandbox clock
        self.bot = build_bot(self.settings, SANDBOX_TOKEN, api_base=self.api.base_url)
        self.dispatcher = build_dispatcher(self.settings, self.storage.sessionmaker, clock=self.clock)
        self.intake = build_intake(self.settings, self.dispatcher, self.bot, self.storage.engine)
        i18n: I18n = self.dispatcher["i18n_core"]
        personas, places = await prepare_world(self.storage, i18n, self.clock, locale=self.settings.default_locale)
        self.api.page.set_personas(personas)
        self.api.page.presets = places
        # The outbox dispatcher and the scheduler run on the sandbox clock, so its jumps make pushes fall due.
        self.background = Background(self.settings, self.storage.sessionmaker, self.bot, i18n, self.clock)
        self.background.start()
        self.scheduler = self.background.scheduler
        self.control = SandboxClock(self.clock, self.settings.tz, i18n, self.scheduler)
        self.api.page.clock = self.control

    async def serve(self, webhook_url: str | None = None) -> None:
        """Handles updates until cancelled (the runner's way; tests start the intake and poll themselves)."""
        assert self.intake is not None and self.bot is not None
        await serve(self.intake, self.bot, self.settings, webhook_url)

    def register_advance_hook(self, hook: AdvanceHook) -> None:
        """For time-driven parts outside the scheduler (an outbox drain, digests): run after each clock jump."""
        assert self.control is not None
        self.control.hooks.append(hook)

    async def stop(self) -> None:
        if self.background is not None:
            await self.background.stop()
        if self.dispatcher is not None:
            await self.dispatcher.storage.close()
        if self.bot is not None:
            await self.bot.session.close()
        await self.api.stop()
