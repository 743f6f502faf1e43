"""The `fieldbot` command: run the bot, migrate, import and list the org, issue, list and revoke invites,
deactivate staff who leave."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import typer

from app.runner import SANDBOX_USERNAME, run_bot
from bot.config import INVITE_TTL_HOURS_MAX, INVITE_TTL_HOURS_MIN, Settings, settings_or_exit
from bot.domain.errors import DomainError
from bot.domain.invites import deep_link
from bot.domain.targets import TargetError
from bot.logs import setup_logging
from bot.services.clock import system_clock
from bot.services.export import ExportService
from bot.services.numbers import NumbersService, Period
from bot.services.onboarding import InviteAdmin, InviteLine, OnboardingService
from bot.services.org_import import ImportFailed, OrgImporter
from bot.services.plan_file import read_areas, read_plan
from bot.services.staff_admin import Handover, StaffAdminService
from storage import migrate
from storage.engine import make_engine, make_sessionmaker
from storage.inbox import PARKED, Inbox
from storage.uow import UnitOfWork

app = typer.Typer(help="fieldbot: the field-marketing assistant.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
org_app = typer.Typer(help="The org tree and staff.", no_args_is_help=True)
targets_app = typer.Typer(help="The plan's targets per unit, KPI and quarter.", no_args_is_help=True)
app.add_typer(targets_app, name="targets")
staff_app = typer.Typer(help="Staff: deactivate someone who leaves.", no_args_is_help=True)
invite_app = typer.Typer(help="Onboarding invites: issue one (fieldbot invite --role R --org CODE), list, revoke.",
                         invoke_without_command=True)
app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")
app.add_typer(staff_app, name="staff")
app.add_typer(invite_app, name="invite")

DATA = Path(__file__).resolve().parents[1] / "bot" / "data"
DEMO_FILE = DATA / "demo_org.yaml"
DEMO_PLAN = DATA / "demo_plan.yaml"  # the plan's figures, loaded with the demo org
DEMO_AREAS = DATA / "demo_areas.yaml"  # its dealers' county-level cities

T = TypeVar("T")

INVITE_ERRORS = {
    "unknown_unit": "there is no org unit with code {unit}",
    "role_not_here": "{reason}",
    "unknown_staff": "no staff member with that phone at that unit; import them first or leave out --phone",
    "bad_phone": "that phone number is not valid",
    "unknown_invite": "there is no invite #{id} (see fieldbot invite list)",
    "invite_not_open": "invite #{id} is {status} already",
}
STAFF_ERRORS = {
    "bad_phone": "that phone number is not valid",
    "unknown_staff_phone": "no staff member with phone {phone}",
    "already_inactive": "that person is deactivated already",
    "successor_is_leaving": "the colleague taking over must be someone else",
    "successor_inactive": "the colleague taking over is deactivated",
    "successor_elsewhere": "the colleague taking over must work at the same unit (customers belong to it)",
}


def _version_callback(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"fieldbot {version('fieldbot')}")
        except PackageNotFoundError:  # running from a source tree that was never installed
            typer.echo("fieldbot (not installed)")
        raise typer.Exit()


@app.callback()
def main(_version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                       help="show the version and exit")) -> None:
    """fieldbot: the field-marketing assistant."""


def _refuse(what: str, error: DomainError, table: dict[str, str]) -> typer.Exit:
    reason = table.get(error.code, error.code).format(**error.params)
    suggestions = error.params.get("suggestions")
    if suggestions:
        reason += f"; did you mean {', '.join(str(s) for s in cast(Iterable[object], suggestions))}?"
    elif error.code == "unknown_unit":
        reason += "; see fieldbot org list"
    typer.echo(f"fieldbot: cannot {what}: {reason} ({error.code})", err=True)
    return typer.Exit(1)


def _run(factory: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    settings = settings_or_exit()
    setup_logging(settings.log_level)
    try:
        return asyncio.run(factory(settings))
    except migrate.NotMigratedError as error:
        typer.echo(f"fieldbot: {error}", err=True)
        raise typer.Exit(2) from None


async def _migrated_sessionmaker(settings: Settings, *, upgrade: bool):
    engine = make_engine(settings.database_url)
    if upgrade:
        await migrate.upgrade(engine)
    else:
        await migrate.ensure_migrated(engine)
    return engine, make_sessionmaker(engine)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the schema to the newest revision (safe to repeat)."""

    async def go(settings: Settings) -> str:
        engine = make_engine(settings.database_url)
        await migrate.upgrade(engine)
        revision = await migrate.current_revision(engine)
        await engine.dispose()
        return revision or "none"

    typer.echo(f"database at revision {_run(go)}")


def _progress(done: int, total: int) -> None:
    typer.echo(f"checked {done} of {total} rows", err=True)


async def import_org(settings: Settings, path: Path, *, if_empty: bool = False, demo_plan: bool = False,
                     progress=None) -> str:
    engine, sessionmaker = await _migrated_sessionmaker(settings, upgrade=settings.is_sqlite)
    try:
        async with UnitOfWork(sessionmaker) as uow:
            if if_empty and await uow.org.count() > 0:
                return "database already has an org tree; demo data not loaded"
            report = await OrgImporter(uow).import_file(path, progress)
            extra = ""
            if demo_plan:  # the demo org comes with the plan's figures and its dealers' cities
                await uow.session.flush()
                extra = "; " + await _load_plan(uow, settings, DEMO_PLAN, None) + "; " + await _load_areas(
                    uow, settings, DEMO_AREAS)
            await uow.commit()
    finally:
        await engine.dispose()
    return (f"units: {report.units_created} created, {report.units_updated} updated; "
            f"staff: {report.staff_created} created, {report.staff_updated} updated; {report.unchanged} unchanged"
            + extra)


async def _load_plan(uow: UnitOfWork, settings: Settings, path: Path, year: int | None) -> str:
    file_year, rows = read_plan(path)
    year = year or file_year or system_clock().astimezone(settings.tz).year
    units, written = await NumbersService(uow, system_clock, settings).import_plan(year, rows)
    return f"targets {year}: {len(rows)} plan rows, {units} units, {written} figures"


async def _load_areas(uow: UnitOfWork, settings: Settings, path: Path) -> str:
    cities = await NumbersService(uow, system_clock, settings).import_areas(read_areas(path))
    return f"areas: {cities} county-level cities"


async def import_targets(settings: Settings, path: Path, year: int | None) -> str:
    engine, sessionmaker = await _migrated_sessionmaker(settings, upgrade=settings.is_sqlite)
    try:
        async with UnitOfWork(sessionmaker) as uow:
            report = await _load_plan(uow, settings, path, year)
            await uow.commit()
    finally:
        await engine.dispose()
    return report


@targets_app.command("import")
def targets_import(path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
                   year: int | None = typer.Option(None, help="the plan's year (default: the file's, else this year)"),
                   ) -> None:
    """Import a plan (YAML, CSV or .xlsx) at any org level; figures are allocated down the tree."""
    try:
        typer.echo(_run(lambda settings: import_targets(settings, path, year)))
    except TargetError as error:
        typer.echo(f"nothing imported: {error}", err=True)
        raise typer.Exit(1) from None


async def import_areas(settings: Settings, path: Path) -> str:
    engine, sessionmaker = await _migrated_sessionmaker(settings, upgrade=settings.is_sqlite)
    try:
        async with UnitOfWork(sessionmaker) as uow:
            report = await _load_areas(uow, settings, path)
            await uow.commit()
    finally:
        await engine.dispose()
    return report


@org_app.command("areas")
def org_areas(path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True)) -> None:
    """Set the county-level cities of dealers' areas from YAML (areas: {dealer-code: [city, ...]})."""
    try:
        typer.echo(_run(lambda settings: import_areas(settings, path)))
    except TargetError as error:
        typer.echo(f"nothing imported: {error}", err=True)
        raise typer.Exit(1) from None
    except DomainError as error:
        typer.echo(f"nothing imported: no dealer with code {error.params.get('unit')}", err=True)
        raise typer.Exit(1) from None


async def export_workbook(settings: Settings, org: str, first: date, last: date, out: Path, locale: str) -> str:
    from bot.i18n import make_i18n
    from pushes.numbers_texts import export_labels

    engine, sessionmaker = await _migrated_sessionmaker(settings, upgrade=False)
    i18n = make_i18n(settings.default_locale)

    def progress(sheet: str, done: int, total: int) -> None:
        share = f"{100 * done // total}%" if total else "100%"
        typer.echo(f"  {sheet}: {done}/{total} rows ({share})", err=True)

    try:
        async with UnitOfWork(sessionmaker) as uow:
            unit = await uow.org.by_code(org)
            if unit is None:
                raise DomainError("unknown_unit", unit=org)
            with i18n.context(), i18n.use_locale(locale):
                labels = export_labels()
            result = await ExportService(uow, system_clock, settings).workbook(
                unit, Period.of_days(first, last, settings.tz), labels, mask_phones=False, progress=progress)
    finally:
        await engine.dispose()
    await asyncio.to_thread(out.write_bytes, result.content)
    rows = ", ".join(f"{name} {count}" for name, count in result.rows.items())
    return f"wrote {out} ({rows})"


@app.command("export")
def export(org: str = typer.Option(..., help="org unit code: the workbook covers its subtree"),
           start: str = typer.Option(..., "--from", help="first day, YYYY-MM-DD"),
           end: str = typer.Option(..., "--to", help="last day, YYYY-MM-DD (inclusive)"),
           out: Path | None = typer.Option(None, help="the .xlsx to write (default: fieldbot-ORG-FROM-TO.xlsx)"),
           locale: str = typer.Option("zh_CN", help="language of sheet titles and headers: zh_CN or en")) -> None:
    """Write an Excel workbook of a unit's visits, customers, activities and progress for a period."""
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        typer.echo("fieldbot: --from and --to are dates like 2026-10-01", err=True)
        raise typer.Exit(2) from None
    if last < first:
        typer.echo("fieldbot: --to must be on or after --from", err=True)
        raise typer.Exit(2)
    if locale not in ("zh_CN", "en"):
        typer.echo("fieldbot: --locale is zh_CN or en", err=True)
        raise typer.Exit(2)
    target = out or Path(f"fieldbot-{org}-{first:%Y%m%d}-{last:%Y%m%d}.xlsx")
    try:
        typer.echo(_run(lambda settings: export_workbook(settings, org, first, last, target, locale)))
    except DomainError:
        typer.echo(f"fieldbot: there is no org unit with code {org}", err=True)
        raise typer.Exit(1) from None


@org_app.command("import")
def org_import(path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True)) -> None:
    """Create or update org units and staff from YAML (units: and staff:), CSV or .xlsx (name,phone,role,org).

    Text files may be UTF-8 (with or without BOM) or GBK/GB18030, as Excel and WPS save them on Chinese Windows.
    """
    try:
        typer.echo(_run(lambda settings: import_org(settings, path, progress=_progress)))
    except ImportFailed as failed:
        typer.echo(f"nothing imported; fix these rows:\n{failed}", err=True)
        raise typer.Exit(1) from None


@app.command("demo")
def demo(if_empty: bool = typer.Option(False, "--if-empty", help="only when the database has no org yet")) -> None:
    """Load the demo org (HQ, two regions, three market departments, five dealers, every role)."""
    typer.echo(_run(lambda settings: import_org(settings, DEMO_FILE, if_empty=if_empty, demo_plan=True)))


async def issue_invite(settings: Settings, role: str, org: str, phone: str | None, ttl_hours: int | None,
                       ) -> tuple[str, str]:
    engine, sessionmaker = await _migrated_sessionmaker(settings, upgrade=settings.is_sqlite)
    try:
        async with UnitOfWork(sessionmaker) as uow:
            issued = await OnboardingService(uow, system_clock).issue_invite(
                role, org, timedelta(hours=ttl_hours or settings.invite_ttl_hours), phone=phone)
            await uow.commit()
    finally:
        await engine.dispose()
    username = settings.bot_username or (SANDBOX_USERNAME if not settings.bot_token else "<your_bot>")
    return issued.code, deep_link(username, issued.code)


@invite_app.callback()
def invite(ctx: typer.Context,
           role: str | None = typer.Option(None, help="e.g. sales_rep, dealer_gm, region_manager"),
           org: str | None = typer.Option(None, help="org unit code (see fieldbot org list)"),
           phone: str | None = typer.Option(None, help="bind to this pre-imported staff member"),
           ttl_hours: int | None = typer.Option(None, min=INVITE_TTL_HOURS_MIN, max=INVITE_TTL_HOURS_MAX,
                                                help="hours the code stays valid (like INVITE_TTL_HOURS)")) -> None:
    """Print a one-time onboarding code and its t.me deep link."""
    if ctx.invoked_subcommand is not None:
        return
    if not role or not org:
        typer.echo("fieldbot: invite needs --role and --org (or: fieldbot invite list / revoke ID)", err=True)
        raise typer.Exit(2)
    try:
        code, link = _run(lambda settings: issue_invite(settings, role, org, phone, ttl_hours))
    except DomainError as error:
        raise _refuse("invite", error, INVITE_ERRORS) from None
    typer.echo(f"code: {code}\nlink: {link}\nsend in the chat: /start {code}")


@app.command("outbox")
def outbox(limit: int = typer.Option(30, help="how many problem rows and unreachable recipients to list"),
           send: bool = typer.Option(False, "--send", help="send what is due now, showing progress")) -> None:
    """Pushes: pending, sent and failed by channel and recipient, with reasons (addresses masked)."""
    from app.operators import outbox_report, send_due

    async def go(settings: Settings) -> str:
        engine, sessionmaker = await _migrated_sessionmaker(settings, upgrade=settings.is_sqlite)
        try:
            if send:
                from app.assembly import build_bot
                from bot.i18n import make_i18n
                from pushes.dispatcher import from_settings

                bot = build_bot(settings, settings.bot_token) if settings.bot_token else None
                if bot is None:
                    typer.echo("no BOT_TOKEN: only SMS rows can be sent", err=True)
                dispatcher = from_settings(settings, sessionmaker, bot, make_i18n(settings.default_locale),
                                           system_clock)
                with typer.progressbar(length=1, label="sending") as bar:
                    def progress(done: int, total: int) -> None:
                        bar.length = max(total, 1)
                        bar.update(done - bar.pos)

                    outcomes = await send_due(dispatcher, progress)
                if bot is not None:
                    await bot.session.close()
                typer.echo("sent now: " + (", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "nothing"))
            return await outbox_report(sessionmaker, limit=limit)
        finally:
            await engine.dispose()

    typer.echo(_run(go))


@app.command("schedule")
def schedule() -> None:
    """The scheduled jobs, their triggers and next run, and which process holds the schedule."""
    from app.operators import schedule_report

    async def go(settings: Settings) -> str:
        engine, sessionmaker = await _migrated_sessionmaker(settings, upgrade=settings.is_sqlite)
        try:
            return await schedule_report(settings, sessionmaker, system_clock)
        finally:
            await engine.dispose()

    typer.echo(_run(go))


async def _in_uow(settings: Settings, work):
    """Runs `work(uow)` in one transaction over a migrated database and returns its result."""
    engine, sessionmaker = await _migrated_sessionmaker(settings, upgrade=settings.is_sqlite)
    try:
        async with UnitOfWork(sessionmaker) as uow:
            result = await work(uow)
            await uow.commit()
            return result
    finally:
        await engine.dispose()


@invite_app.command("list")
def invite_list(all_: bool = typer.Option(False, "--all", help="also used, expired and revoked invites")) -> None:
    """Invites still open (or all of them): id, role, org, expiry, status. The codes themselves are not stored."""
    lines: list[InviteLine] = _run(lambda settings: _in_uow(
        settings, lambda uow: InviteAdmin(uow, system_clock).list(include_closed=all_)))
    if not lines:
        typer.echo("no open invites" if not all_ else "no invites")
        return
    for line in lines:
        bound = f" staff #{line.invite.staff_id}" if line.invite.staff_id else ""
        typer.echo(f"#{line.invite.id}  {line.status:<8} {line.invite.role:<26} {line.org_code:<20} "
                   f"expires {line.invite.expires_at:%Y-%m-%d %H:%M} UTC{bound}")


@invite_app.command("revoke")
def invite_revoke(invite_id: int = typer.Argument(..., help="the invite's number, from fieldbot invite list")) -> None:
    """Make an open invite unusable (a code sent to the wrong person, someone who will not join)."""
    try:
        _run(lambda settings: _in_uow(settings, lambda uow: InviteAdmin(uow, system_clock).revoke(invite_id)))
    except DomainError as error:
        raise _refuse("revoke", error, INVITE_ERRORS) from None
    typer.echo(f"invite #{invite_id} revoked")


@org_app.command("list")
def org_list() -> None:
    """Org units as a tree: code, level and name (the codes to use with invite and import)."""

    async def units(uow: UnitOfWork) -> list[tuple[int, str, str, str]]:
        return [(u.path.count("/") - 2, u.code, u.kind, u.name) for u in await uow.org.all()]

    rows = _run(lambda settings: _in_uow(settings, units))
    if not rows:
        typer.echo("no org units yet; import them with fieldbot org import FILE (or fieldbot demo)")
        return
    for depth, code, kind, name in rows:
        typer.echo(f"{'  ' * depth}{code:<{max(1, 24 - 2 * depth)}} {kind:<7} {name}")


@staff_app.command("deactivate")
def staff_deactivate(phone: str = typer.Argument(..., help="phone of the person who leaves"),
                     to: str = typer.Option(..., "--to", help="phone of the colleague (same unit) who takes over")
                     ) -> None:
    """End a person's access and hand their customers, follow-ups, opinion leaders and open activities to a
    colleague; recorded in the audit log."""

    async def work(uow: UnitOfWork) -> Handover:
        service = StaffAdminService(uow, system_clock)
        return await service.deactivate(await service.by_phone(phone), await service.by_phone(to), via="cli")

    try:
        done: Handover = _run(lambda settings: _in_uow(settings, work))
    except DomainError as error:
        raise _refuse("deactivate", error, STAFF_ERRORS) from None
    typer.echo(f"{done.leaving.name} deactivated; to {done.successor.name}: {done.customers} customers "
               f"({done.follow_ups} with follow-ups), {done.leaders} opinion leaders, {done.activities} open "
               f"activities; {done.invites_revoked} unused invites revoked")


@app.command("run")
def run(demo_if_empty: bool = typer.Option(False, "--demo-if-empty", help="load the demo org into an empty DB"),
        webhook: str | None = typer.Option(None, "--webhook", metavar="URL",
                                           help="receive updates at this public URL (listens on WEBHOOK_HOST:"
                                                "WEBHOOK_PORT) instead of polling"),
        ) -> None:
    """Run the bot: against Telegram when BOT_TOKEN is set, else against the built-in local sandbox."""
    settings = settings_or_exit()
    setup_logging(settings.log_level)
    if demo_if_empty:
        typer.echo(asyncio.run(import_org(settings, DEMO_FILE, if_empty=True, demo_plan=True)))
    try:
        asyncio.run(run_bot(settings, webhook))
    except migrate.NotMigratedError as error:
        typer.echo(f"fieldbot: {error}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        logging.getLogger(__name__).info("stopped")


async def inbox_listing(settings: Settings, show_all: bool, limit: int) -> list[str]:
    from app.inbox_report import describe

    engine = make_engine(settings.database_url)
    try:
        await migrate.ensure_migrated(engine)
        inbox = Inbox(engine)
        rows = await inbox.listing(None if show_all else PARKED, limit)
        counts = await inbox.counts()
    finally:
        await engine.dispose()
    summary = ", ".join(f"{name}: {n}" for name, n in sorted(counts.items())) or "empty"
    return [f"inbox: {summary}", *(describe(row) for row in rows)]


@app.command("inbox")
def inbox(show_all: bool = typer.Option(False, "--all", help="every recent update, not only the parked ones"),
          limit: int = typer.Option(50, help="how many, newest first")) -> None:
    """List updates that kept failing and were parked (personal data masked)."""
    for line in _run(lambda settings: inbox_listing(settings, show_all, limit)):
        typer.echo(line)


if __name__ == "__main__":
    app()


sms_app = typer.Typer(help="SMS to customers.", no_args_is_help=True)
app.add_typer(sms_app, name="sms")


async def record_sms_reply(settings: Settings, phone: str, reply: str) -> str:
    from bot.domain.sms import is_opt_out
    from bot.services.customer_reach import CustomerReachService

    if not is_opt_out(reply):
        return "not an opt-out reply; nothing changed"
    engine, sessionmaker = await _migrated_sessionmaker(settings, upgrade=False)
    try:
        async with UnitOfWork(sessionmaker) as uow:
            try:
                count = await CustomerReachService(uow, system_clock, settings.tz).sms_opt_out(phone)
            except DomainError:
                return "that phone number is not valid; nothing changed"
            await uow.commit()
    finally:
        await engine.dispose()
    return f"opted out: {count} customer record(s) with that number get no more SMS"


@sms_app.command("reply")
def sms_reply(phone: str = typer.Argument(..., help="the customer's number, as the SMS platform reports it"),
              text: str = typer.Argument(..., help="what they replied, e.g. TD")) -> None:
    """Record an inbound SMS (the platform's reply webhook can call this): TD opts the number out."""
    typer.echo(_run(lambda settings: record_sms_reply(settings, phone, text)))


async def run_schedule_now(settings: Settings) -> str:
    from pushes.schedule import run_all

    engine, sessionmaker = await _migrated_sessionmaker(settings, upgrade=False)
    try:
        reports = await run_all(sessionmaker, system_clock, settings.tz)
    finally:
        await engine.dispose()
    return "\n".join(str(report) for report in reports)


@app.command("schedule-now")
def schedule_now() -> None:
    """Run every daily job once now (what is due today is written to the outbox; nothing doubles)."""
    typer.echo(_run(run_schedule_now))
