"""The main menu, /help and the profile: what a registered person sees first."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.domain.menu import menu_entries
from bot.domain.org import MANAGER_ROLES
from bot.domain.phones import mask_phone
from bot.services.clock import Clock
from bot.services.customers import CustomerService
from bot.services.team import team_overview
from handlers.staff_leave import leave_button
from storage.models import OrgUnit, Staff
from storage.uow import UnitOfWork
from ui.filters import MenuButton
from ui.keyboards import main_menu
from ui.labels import ENTRY_HELP, kind_name, role_name

MAX_DUPLICATE_LINES = 20


async def show_menu(message: Message, staff: Staff) -> None:
    await message.answer(_("Main menu. Choose what you want to do:"), reply_markup=main_menu(staff.role))


async def show_help(message: Message, staff: Staff) -> None:
    """The commands of this person's role, in menu order, then the ones everybody has."""
    lines = [_("fieldbot helps the dealer network with field marketing work."), "", _("Commands:")]
    lines += [_(ENTRY_HELP[entry]) for entry in menu_entries(staff.role) if entry in ENTRY_HELP]
    lines += [_("/menu — main menu"), _("/language — switch language"), _("/cancel — stop what you are doing"),
              _("/help — this help")]
    await message.answer("\n".join(lines), reply_markup=main_menu(staff.role))


async def show_profile(message: Message, staff: Staff, uow: UnitOfWork) -> None:
    unit = await uow.org.get(staff.org_unit_id)
    chain = " › ".join(u.name for u in await uow.org.ancestors(unit)) if unit else ""
    await message.answer(
        _("Name: {name}\nRole: {role}\nUnit: {unit} ({kind})\nOrganisation: {chain}\nPhone: {phone}").format(
            name=staff.name, role=role_name(staff.role), unit=unit.name if unit else "",
            kind=kind_name(unit.kind if unit else ""), chain=chain, phone=staff.phone or "—"),
        reply_markup=main_menu(staff.role))


async def show_team(message: Message, staff: Staff, uow: UnitOfWork, clock: Clock, customers: CustomerService,
                    unit: OrgUnit | None = None) -> None:
    """Units and people below the manager's own unit (phones masked), and how far their visits are verified."""
    if staff.role not in MANAGER_ROLES:
        await message.answer(_("Your role doesn't allow this."), reply_markup=main_menu(staff.role))
        return
    overview = await team_overview(uow, staff, clock())
    lines = [_("Your organisation: {units} units, {people} people ({active} registered).").format(
        units=overview.unit_count, people=overview.people, active=overview.registered)]
    for line, members in overview.units:
        depth = "  " * line.depth
        lines.append(depth + _("• {unit} ({kind})").format(unit=line.name, kind=kind_name(line.kind)))
        for member in members:
            mark = "✓" if member.registered else "…"
            lines.append(f"{depth}   {mark} {member.name} — {role_name(member.role)} {member.masked_phone}")
    if overview.truncated:
        lines.append(_("… and more. The list is cut to keep the message short."))
    lines += ["", *visit_status_lines(overview.visit_statuses)]
    duplicates = await customers.duplicate_flags(unit)
    if duplicates:
        lines += ["", _("⚠️ Same customer phone on file at two dealers (possible double claim): {count}").format(
            count=len(duplicates))]
        lines += [_("• #{id} {name} ({dealer}) and #{other_id} {other_name} ({other_dealer}), {phone}").format(
            id=d.customer.id, name=d.customer.name, dealer=d.dealer_name, other_id=d.other.id,
            other_name=d.other.name, other_dealer=d.other_dealer_name, phone=mask_phone(d.flag.phone))
            for d in duplicates[:MAX_DUPLICATE_LINES]]
    await message.answer("\n".join(lines), reply_markup=main_menu(staff.role))
    if overview.people > 1:
        await message.answer(_("Someone leaving? End their access and hand their work to a colleague:"),
                             reply_markup=leave_button())


def visit_status_lines(statuses: dict[str, int]) -> list[str]:
    """Visits of the last 30 days by location check, each status on its own line."""
    total = sum(statuses.values())
    lines = [_("Visits in the last 30 days: {count}").format(count=total)]
    if total:
        lines += [_("✅ Location verified: {count}").format(count=statuses.get("verified", 0)),
                  _("📌 Location only recorded (first visit, not verified): {count}").format(
                      count=statuses.get("recorded", 0)),
                  _("⚠️ Out of range: {count}").format(count=statuses.get("out_of_range", 0)),
                  _("❔ No location: {count}").format(count=statuses.get("unverified", 0))]
    return lines


def make_router() -> Router:
    router = Router(name="menu")
    router.message.register(show_menu, CommandStart())
    router.message.register(show_menu, Command("menu"))
    router.message.register(show_help, Command("help"))
    router.message.register(show_help, MenuButton("help"))
    router.message.register(show_profile, Command("profile"))
    router.message.register(show_profile, MenuButton("profile"))
    router.message.register(show_team, Command("team"))
    router.message.register(show_team, MenuButton("team"))
    return router
