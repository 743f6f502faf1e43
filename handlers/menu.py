"""The main menu, /help and the profile: what a registered person sees first."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.domain.menu import menu_entries
from bot.domain.org import MANAGER_ROLES
from bot.filters import MenuButton
from bot.labels import ENTRY_HELP, kind_name, role_name
from bot.services.team import team_overview
from handlers.keyboards import main_menu
from storage.models import Staff
from storage.uow import UnitOfWork


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


async def show_team(message: Message, staff: Staff, uow: UnitOfWork) -> None:
    """Units and people below the manager's own unit; phones masked."""
    if staff.role not in MANAGER_ROLES:
        await message.answer(_("Your role doesn't allow this."), reply_markup=main_menu(staff.role))
        return
    overview = await team_overview(uow, staff)
    lines = [_("Your organisation: {units} units, {people} people ({active} registered).").format(
        units=overview.unit_count, people=overview.people, active=overview.registered)]
    for unit, members in overview.units:
        depth = "  " * unit.depth
        lines.append(f"{depth}• {unit.name} ({kind_name(unit.kind)})")
        for member in members:
            mark = "✓" if member.registered else "…"
            lines.append(f"{depth}   {mark} {member.name} — {role_name(member.role)} {member.masked_phone}")
    if overview.truncated:
        lines.append(_("… and more. The list is cut to keep the message short."))
    await message.answer("\n".join(lines), reply_markup=main_menu(staff.role))


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
