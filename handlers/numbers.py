"""Managers' numbers: /targets, /coverage, /digest (with its chart) and /export (an Excel workbook).

Every reply is scoped to the asker's own unit and its subtree; roles without numbers are told so."""

from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.domain.errors import DomainError
from bot.domain.fieldwork import quarter_bounds, quarter_of
from bot.domain.org import ROLE_KIND, OrgKind
from bot.services.digest import DigestService
from bot.services.export import ExportService
from bot.services.numbers import NumbersService, Period
from pushes.numbers_texts import coverage_text, digest_text, export_labels, progress_chart_png, targets_text
from storage.models import Staff
from ui.filters import MenuButton
from ui.keyboards import main_menu
from ui.labels import error_text

PERIODS = ("this_month", "last_month", "this_quarter", "last_quarter", "this_year")
_DAY = r"(\d{4}-\d{2}-\d{2})"


class ExportCb(CallbackData, prefix="xp"):
    period: str


def period_days(code: str, today: date) -> tuple[date, date]:
    """The local days a named period covers, up to today for the current ones."""
    if code == "this_month":
        return today.replace(day=1), today
    if code == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if code == "this_quarter":
        return quarter_bounds(today.year, quarter_of(today))[0], today
    if code == "last_quarter":
        quarter, year = quarter_of(today) - 1, today.year
        if quarter == 0:
            quarter, year = 4, year - 1
        return quarter_bounds(year, quarter)
    if code == "this_year":
        return date(today.year, 1, 1), today
    raise DomainError("bad_period")


def period_name(code: str) -> str:
    return {"this_month": _("This month"), "last_month": _("Last month"), "this_quarter": _("This quarter"),
            "last_quarter": _("Last quarter"), "this_year": _("This year")}[code]


async def show_targets(message: Message, staff: Staff, numbers: NumbersService) -> None:
    try:
        view = await numbers.unit_numbers(staff)
    except DomainError as error:
        await message.answer(error_text(error), reply_markup=main_menu(staff.role))
        return
    await message.answer(targets_text(view), reply_markup=main_menu(staff.role))


async def show_coverage(message: Message, staff: Staff, numbers: NumbersService) -> None:
    try:
        unit = await numbers.scope_unit(staff)
        report = await numbers.coverage_of(unit.path)
    except DomainError as error:
        await message.answer(error_text(error), reply_markup=main_menu(staff.role))
        return
    await message.answer(coverage_text(unit.name, report), reply_markup=main_menu(staff.role))


async def show_digest(message: Message, staff: Staff, digests: DigestService) -> None:
    try:
        digest = await digests.build_for(staff)
    except DomainError as error:
        await message.answer(error_text(error), reply_markup=main_menu(staff.role))
        return
    # Drawn in a thread (it takes a fraction of a second of CPU): other people's updates go on meanwhile.
    # asyncio.to_thread carries the gettext context over, so the labels are in this person's language.
    chart = await asyncio.to_thread(progress_chart_png, digest.numbers)
    await message.answer_photo(BufferedInputFile(chart, filename="digest.png"))
    await message.answer(digest_text(digest), reply_markup=main_menu(staff.role))


def export_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=period_name(code), callback_data=ExportCb(period=code).pack())]
        for code in PERIODS])


async def ask_export(message: Message, command: CommandObject, staff: Staff, numbers: NumbersService,
                     exports: ExportService) -> None:
    try:
        await numbers.scope_unit(staff)
    except DomainError as error:
        await message.answer(error_text(error), reply_markup=main_menu(staff.role))
        return
    days = re.fullmatch(rf"\s*{_DAY}\s+{_DAY}\s*", command.args or "")
    if command.args and days is None:
        await message.answer(_("Use /export alone to pick a period, or /export 2026-10-01 2026-12-31 for your "
                               "own dates."), reply_markup=export_keyboard())
        return
    if days is not None:
        try:
            first, last = date.fromisoformat(days.group(1)), date.fromisoformat(days.group(2))
        except ValueError:
            await message.answer(_("That date doesn't exist. Please write dates like 2026-10-01."))
            return
        if last < first or (last - first).days > 366 * 2:
            await message.answer(_("The end date must be on or after the start, at most two years later."))
            return
        await send_export(message, staff, numbers, exports, first, last)
        return
    await message.answer(_("Which period should the workbook cover?"), reply_markup=export_keyboard())


async def on_export_period(query: CallbackQuery, callback_data: ExportCb, staff: Staff, numbers: NumbersService,
                           exports: ExportService) -> None:
    if callback_data.period not in PERIODS or not isinstance(query.message, Message):
        await query.answer(_("That button is no longer valid."), show_alert=True)
        return
    await query.answer()
    first, last = period_days(callback_data.period, numbers.today())
    await send_export(query.message, staff, numbers, exports, first, last)


async def send_export(message: Message, staff: Staff, numbers: NumbersService, exports: ExportService,
                      first: date, last: date) -> None:
    try:
        unit = await numbers.scope_unit(staff)  # re-checked: a button may outlive a role change
    except DomainError as error:
        await message.answer(error_text(error))
        return
    settings: Settings = exports.settings
    result = await exports.workbook(unit, Period.of_days(first, last, settings.tz), export_labels(),
                                    mask_phones=ROLE_KIND.get(staff.role) is not OrgKind.DEALER)
    caption = _("{unit}, {first} – {last}: {visits} visits, {customers} customers, {activities} activities").format(
        unit=unit.name, first=first.isoformat(), last=last.isoformat(), visits=result.rows["visits"],
        customers=result.rows["customers"], activities=result.rows["activities"])
    await message.answer_document(BufferedInputFile(result.content, filename=result.file_name), caption=caption)


def make_router() -> Router:
    router = Router(name="numbers")
    router.message.register(show_targets, Command("targets"))
    router.message.register(show_targets, MenuButton("targets"))
    router.message.register(show_coverage, Command("coverage"))
    router.message.register(show_digest, Command("digest"))
    router.message.register(show_digest, MenuButton("digest"))
    router.message.register(ask_export, Command("export"))
    router.callback_query.register(on_export_period, ExportCb.filter())
    return router
