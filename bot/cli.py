"""The `fieldbot` command: run the bot, migrate, import the org, issue invites."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import typer

from bot.config import Settings, settings_or_exit
from bot.domain.errors import DomainError
from bot.domain.invites import deep_link
from bot.logs import setup_logging
from bot.runner import SANDBOX_USERNAME, run_bot
from bot.services.clock import system_clock
from bot.services.onboarding import OnboardingService
from bot.services.org_import import ImportFailed, OrgImporter
from storage import migrate
from storage.engine import make_engine, make_sessionmaker
from storage.uow import UnitOfWork

app = typer.Typer(help="fieldbot: the field-marketing assistant.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
org_app = typer.Typer(help="The org tree and staff.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")

DEMO_FILE = Path(__file__).resolve().parent / "data" / "demo_org.yaml"

T = TypeVar("T")

INVITE_ERRORS = {
    "unknown_unit": "there is no org unit with code {unit}",
    "role_not_here": "{reason}",
    "unknown_staff": "no staff member with that phone at that unit; import them first or leave out --phone",
    "bad_phone": "that phone number is not valid",
}


def _run(factory: Callable[[Settings], Awaitable[T]]) -> T:
    settings = settings_or_exit()
    setup_logging(settings.log_level)
    try:
        return asyncio.run(factory(settings))
    except migrate.NotMigratedError as error:
        typer.echo(f"fieldbot: {error}", err=True)
        raise typer.Exit(2) from None


async def _migrated_sessionmaker(settings: Settings, *, upgrade: bool):  # type: ignore[no-untyped-def]
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


async def import_org(settings: Settings, path: Path, *, if_empty: bool = False) -> str:
    engine, sessionmaker = await _migrated_sessionmaker(settings, upgrade=settings.is_sqlite)
    try:
        async with UnitOfWork(sessionmaker) as uow:
            if if_empty and await uow.org.count() > 0:
                return "database already has an org tree; demo data not loaded"
            report = await OrgImporter(uow).import_file(path)
            await uow.commit()
    finally:
        await engine.dispose()
    return (f"units: {report.units_created} created, {report.units_updated} updated; "
            f"staff: {report.staff_created} created, {report.staff_updated} updated; {report.unchanged} unchanged")


@org_app.command("import")
def org_import(path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True)) -> None:
    """Create or update org units and staff from YAML (units: and staff:) or CSV (name,phone,role,org)."""
    try:
        typer.echo(_run(lambda settings: import_org(settings, path)))
    except ImportFailed as failed:
        typer.echo(f"nothing imported; fix these rows:\n{failed}", err=True)
        raise typer.Exit(1) from None


@app.command("demo")
def demo(if_empty: bool = typer.Option(False, "--if-empty", help="only when the database has no org yet")) -> None:
    """Load the demo org (HQ, two regions, three market departments, five dealers, every role)."""
    typer.echo(_run(lambda settings: import_org(settings, DEMO_FILE, if_empty=if_empty)))


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


@app.command("invite")
def invite(role: str = typer.Option(..., help="e.g. sales_rep, dealer_gm, region_manager"),
           org: str = typer.Option(..., help="org unit code"),
           phone: str | None = typer.Option(None, help="bind to this pre-imported staff member"),
           ttl_hours: int | None = typer.Option(None, help="hours the code stays valid")) -> None:
    """Print a one-time onboarding code and its t.me deep link."""
    try:
        code, link = _run(lambda settings: issue_invite(settings, role, org, phone, ttl_hours))
    except DomainError as error:
        reason = INVITE_ERRORS.get(error.code, error.code).format(**error.params)
        typer.echo(f"fieldbot: cannot invite: {reason} ({error.code})", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"code: {code}\nlink: {link}\nsend in the chat: /start {code}")


@app.command("run")
def run(demo_if_empty: bool = typer.Option(False, "--demo-if-empty", help="load the demo org into an empty DB"),
        ) -> None:
    """Run the bot: against Telegram when BOT_TOKEN is set, else against the built-in local sandbox."""
    settings = settings_or_exit()
    setup_logging(settings.log_level)
    if demo_if_empty:
        typer.echo(asyncio.run(import_org(settings, DEMO_FILE, if_empty=True)))
    try:
        asyncio.run(run_bot(settings))
    except migrate.NotMigratedError as error:
        typer.echo(f"fieldbot: {error}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        logging.getLogger(__name__).info("stopped")


if __name__ == "__main__":
    app()
