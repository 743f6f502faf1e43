"""Reporting a sale: customer → product line → series → trucks → referring leader → date sold → Submit.

The answer names the delivery ceremony to hold and its checklist; the customer moves to maintenance.
Diagram: sale_report.mmd beside this file.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any, cast

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.domain.errors import DomainError
from bot.domain.playbook import ProductLine, default_playbook
from bot.domain.text import shorten
from bot.services.network import NetworkService, parse_positive_int, require_dealer
from bot.services.sales import SaleDraft, SaleService, series_of
from storage.models import Customer, OrgUnit, Staff
from storage.uow import UnitOfWork
from ui.calendar import CalendarCb, DateRange, is_current, month_markup, parse_day, token_tag
from ui.callbacks import row_id
from ui.filters import Answer, MenuButton, NotMenuOrCommand
from ui.flow import Flow, nav_buttons
from ui.keyboards import main_menu
from ui.labels import current_locale, format_day, playbook_label
from ui.network import format_count, problem_text
from ui.states import SaleReport

flow = Flow("sale")
LEADER_BUTTONS_MAX = 40


class SaleStep(CallbackData, prefix="sal"):
    step: str  # customer, line, series, leader, day, month, noop, submit
    value: str = ""


def _markup(rows: list[list[InlineKeyboardButton]], back: bool = True) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[*rows, nav_buttons(back)])


def _button(text: str, step: str, value: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text[:60], callback_data=SaleStep(step=step, value=value).pack())


def _customer_rows(customers: list[Customer]) -> list[list[InlineKeyboardButton]]:
    return [[_button(f"{c.name} · {c.city}" if c.city else c.name, "customer", str(c.id))] for c in customers]


def _sold_on_calendar(answers: dict[str, Any], sales: SaleService, month: date) -> InlineKeyboardMarkup:
    first, last = sales.sold_on_range()
    return month_markup(flow.name, token_tag(answers), month, DateRange(first, last), extra_rows=[nav_buttons()])


@flow.asks(SaleReport.customer)
async def ask_customer(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    uow: UnitOfWork = data["uow"]
    staff: Staff = data["staff"]
    unit: OrgUnit | None = data.get("unit")
    recent = [c for c in await uow.customers.recent_for_owner(staff.id)  # type: ignore[arg-type]
              if unit is not None and c.dealer_unit_id == unit.id]
    text = _("💰 Sale report.\nWhich customer bought? Tap a recent customer, or type part of a name or phone "
             "to search.\nA customer not on file must be created first with /newcustomer.")
    await message.answer(text, reply_markup=_markup(_customer_rows(recent), back=False))


@flow.asks(SaleReport.product_line)
async def ask_product_line(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    lines = default_playbook().choices("product_lines", current_locale())
    buttons = [_button(label, "line", code) for code, label in lines]
    await message.answer(_("Which product line?"), reply_markup=_markup([buttons]))


@flow.asks(SaleReport.series)
async def ask_series(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    answers = await state.get_data()
    line = cast(ProductLine, default_playbook().item("product_lines", answers["product_line"]))
    rows = [[_button(series.label.text(current_locale()), "series", series.code)] for series in line.series]
    await message.answer(_("Which series of {line}?").format(line=line.label.text(current_locale())),
                         reply_markup=_markup(rows))


@flow.asks(SaleReport.trucks)
async def ask_trucks(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("How many trucks were sold? Send a whole number, e.g. 12."), reply_markup=_markup([]))


@flow.asks(SaleReport.referral)
async def ask_referral(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    uow: UnitOfWork = data["uow"]
    unit: OrgUnit | None = data.get("unit")
    leaders = await uow.leaders.for_dealer(unit.id, LEADER_BUTTONS_MAX) if unit and unit.id else []
    rows = [[_button(f"⭐ {leader.name} · {leader.city}", "leader", str(leader.id))] for leader in leaders]
    rows.append([_button(_("No referral"), "leader", "none")])
    await message.answer(_("Did one of your opinion leaders refer this sale?"), reply_markup=_markup(rows))


@flow.asks(SaleReport.sold_on)
async def ask_sold_on(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    today = cast(SaleService, data["sales"]).today()
    rows = [[_button(_("Today ({day})").format(day=format_day(today)), "day", today.isoformat()),
             _button(_("Yesterday"), "day", (today - timedelta(days=1)).isoformat())],
            [_button(_("📅 Another day"), "month", today.replace(day=1).isoformat())]]
    await message.answer(_("When was it sold?"), reply_markup=_markup(rows))


@flow.asks(SaleReport.confirm)
async def ask_confirm(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    answers = await state.get_data()
    series = series_of(answers["product_line"], answers["series"])
    summary = _("Please check the sale:\nCustomer: {customer}\nProduct: {line}, {series} ({vehicle_type})\n"
                "Trucks: {trucks}\nReferred by: {leader}\nDate sold: {day}\n\nTap Submit to save.").format(
        customer=answers["customer_name"], line=playbook_label("product_lines", answers["product_line"]),
        series=playbook_label("series", series.code), vehicle_type=playbook_label("vehicle_types",
                                                                                  series.vehicle_type),
        trucks=answers["trucks"], leader=answers.get("leader_name") or _("no referral"),
        day=format_day(date.fromisoformat(answers["sold_on"])))
    await message.answer(summary, reply_markup=_markup([[_button(_("✅ Submit"), "submit")]]))


async def start(message: Message, state: FSMContext, unit: OrgUnit | None, staff: Staff, **data: Any) -> None:
    """/sale or the menu: draws the flow's client token and asks for the customer."""
    try:
        require_dealer(unit)
    except DomainError as error:
        await message.answer(problem_text(error), reply_markup=main_menu(staff.role))
        return
    await flow.start(message, state, SaleReport.customer, {**data, "unit": unit, "staff": staff})


async def search_customer(message: Message, state: FSMContext, unit: OrgUnit | None, uow: UnitOfWork,
                          **data: Any) -> None:
    """Typed text at the customer step: customers of this dealer matching a name or phone fragment."""
    query = " ".join((message.text or "").split())
    found = [c for c in await uow.customers.search(unit.path, query) if c.dealer_unit_id == unit.id] \
        if unit is not None else []
    if not found:
        await message.answer(
            _("No customer matches “{query}”. Try another part of the name or phone, or create the customer "
              "first with /newcustomer and then report the sale with /sale.").format(query=shorten(query)),
            reply_markup=_markup([], back=False))
        return
    await message.answer(_("Customers matching “{query}”: tap one.").format(query=shorten(query)),
                         reply_markup=_markup(_customer_rows(found), back=False))


async def got_customer(callback: CallbackQuery, callback_data: SaleStep, state: FSMContext, sales: SaleService,
                       unit: OrgUnit | None, **data: Any) -> None:
    """Stores a customer of this dealer (re-checked); asks for the product line."""
    try:
        customer = await sales.customer(unit, row_id(callback_data.value))
    except (DomainError, ValueError) as error:
        await callback.answer(problem_text(error if isinstance(error, DomainError) else DomainError("not_found")),
                              show_alert=True)
        return
    await callback.answer()
    await state.update_data(customer_id=customer.id, customer_name=customer.name)
    if isinstance(callback.message, Message):
        await flow.goto(callback.message, state, SaleReport.product_line, {**data, "sales": sales, "unit": unit})


async def got_product_line(callback: CallbackQuery, callback_data: SaleStep, state: FSMContext,
                           **data: Any) -> None:
    """Stores the product line; asks for the series of that line."""
    try:
        default_playbook().item("product_lines", callback_data.value)
    except KeyError:
        await callback.answer(_("This button is no longer active."), show_alert=True)
        return
    await callback.answer()
    await state.update_data(product_line=callback_data.value, series=None)
    if isinstance(callback.message, Message):
        await flow.goto(callback.message, state, SaleReport.series, data)


async def got_series(callback: CallbackQuery, callback_data: SaleStep, state: FSMContext, **data: Any) -> None:
    """Stores a series of the chosen line (its vehicle type follows); asks for the number of trucks."""
    answers = await state.get_data()
    try:
        series = series_of(answers.get("product_line") or "", callback_data.value)
    except DomainError as error:
        await callback.answer(problem_text(error), show_alert=True)
        return
    await callback.answer()
    await state.update_data(series=series.code)
    if isinstance(callback.message, Message):
        await flow.goto(callback.message, state, SaleReport.trucks, data)


async def got_trucks(message: Message, state: FSMContext, **data: Any) -> None:
    """Stores the number of trucks (a positive whole number, else re-asked); asks for the referring leader."""
    trucks = parse_positive_int(message.text)
    if trucks is None:
        await message.answer(_("Please send the number of trucks as a whole number greater than zero, e.g. 12."))
        return
    await state.update_data(trucks=trucks)
    await flow.goto(message, state, SaleReport.referral, data)


async def got_leader(callback: CallbackQuery, callback_data: SaleStep, state: FSMContext, sales: SaleService,
                     unit: OrgUnit | None, **data: Any) -> None:
    """Stores the referring leader of this dealer (re-checked) or none; asks for the date sold."""
    if callback_data.value == "none":
        leader_id, leader_name = None, None
    else:
        try:
            leader = await sales.leader(unit, row_id(callback_data.value))
        except (DomainError, ValueError):
            await callback.answer(problem_text(DomainError("not_found")), show_alert=True)
            return
        leader_id, leader_name = leader.id, leader.name
    await callback.answer()
    await state.update_data(leader_id=leader_id, leader_name=leader_name)
    if isinstance(callback.message, Message):
        await flow.goto(callback.message, state, SaleReport.sold_on, {**data, "sales": sales, "unit": unit})


async def show_month(callback: CallbackQuery, callback_data: SaleStep, state: FSMContext, sales: SaleService) -> None:
    """The month calendar, this month first (a year back at most, never beyond today)."""
    await callback.answer()
    if isinstance(callback.message, Message):
        await callback.message.answer(_("Choose the day it was sold:"),
                                      reply_markup=_sold_on_calendar(await state.get_data(), sales, sales.today()))


async def calendar_tap(callback: CallbackQuery, callback_data: CalendarCb, state: FSMContext, sales: SaleService,
                       **data: Any) -> None:
    """A tap on the date-sold calendar: another month (edited in place), a day, or nothing; old calendars refused."""
    message = callback.message
    if not await is_current(callback, callback_data, state, SaleReport.sold_on) or not isinstance(message, Message):
        return
    day = parse_day(callback_data)
    if callback_data.action == "month" and day is not None:
        await callback.answer()
        await message.edit_reply_markup(reply_markup=_sold_on_calendar(await state.get_data(), sales, day))
    elif callback_data.action == "day" and day is not None:
        await choose_day(callback, day, state, sales, data)
    else:
        await callback.answer()


async def got_day(callback: CallbackQuery, callback_data: SaleStep, state: FSMContext, sales: SaleService,
                  **data: Any) -> None:
    """A quick day button (today, yesterday)."""
    try:
        day = date.fromisoformat(callback_data.value)
    except ValueError:
        await callback.answer(_("This button is no longer active."), show_alert=True)
        return
    await choose_day(callback, day, state, sales, data)


async def choose_day(callback: CallbackQuery, day: date, state: FSMContext, sales: SaleService,
                     data: dict[str, Any]) -> None:
    """Stores the date sold (not in the future: refused and re-asked); shows the summary."""
    message = callback.message
    try:
        day = sales.check_sold_on(day)
    except DomainError as error:
        await callback.answer()
        if isinstance(message, Message):
            await message.answer(problem_text(error))
            await flow.reask(message, state, {**data, "sales": sales})
        return
    await callback.answer()
    await state.update_data(sold_on=day.isoformat())
    if isinstance(message, Message):
        await flow.goto(message, state, SaleReport.confirm, data)


async def noop(callback: CallbackQuery) -> None:
    await callback.answer()


async def submit(callback: CallbackQuery, state: FSMContext, sales: SaleService, network: NetworkService,
                 staff: Staff, unit: OrgUnit | None) -> None:
    """Stores the sale exactly once (client token), ends the flow, and names the ceremony and its checklist."""
    answers = await state.get_data()
    draft = SaleDraft(customer_id=int(answers["customer_id"]), product_line=answers["product_line"],
                      series=answers["series"], trucks=int(answers["trucks"]), leader_id=answers.get("leader_id"),
                      sold_on=date.fromisoformat(answers["sold_on"]))
    try:
        result = await sales.report(staff, unit, draft, answers["client_token"])
    except DomainError as error:
        await callback.answer(problem_text(error), show_alert=True)
        return
    await callback.answer()
    await state.clear()
    message = callback.message
    if not isinstance(message, Message):
        return
    sale, customer = result.sale, result.customer
    lines = [
        _("✅ Sale No. {id} saved: {customer}, {series}, {trucks} trucks, sold on {day}.").format(
            id=sale.id, customer=customer.name, series=playbook_label("series", sale.series), trucks=sale.trucks,
            day=format_day(sale.sold_on)),
        "",
        _("🎉 Delivery ceremony: {tier}").format(tier=playbook_label("ceremony_tiers", result.tier.value)),
        _("Checklist:"),
        *("• " + playbook_label("ceremony_checklist_items", item) for item in result.checklist),
        "",
        _("{customer} is now in the stage “{stage}”; purchase date {day}.").format(
            customer=customer.name, stage=playbook_label("stages", customer.stage),
            day=format_day(customer.purchase_date or sale.sold_on)),
    ]
    if result.leader is not None:
        card = await network.leader_card(unit, result.leader.id)  # type: ignore[arg-type]
        lines += ["", _("⭐ Referred by {leader}: {trucks} trucks × {multiplier}. The leader's reward count in "
                        "Q{quarter} {year} is now {weighted}.").format(
            leader=result.leader.name, trucks=sale.trucks, multiplier=format_count(Decimal(sale.reward_multiplier)),
            quarter=card.quarter, year=card.year, weighted=format_count(card.weighted))]
    await message.answer("\n".join(lines), reply_markup=main_menu(staff.role))


async def not_expected(message: Message, state: FSMContext, **data: Any) -> None:
    """Anything a step can't take: say why and ask again."""
    typed_trucks = await state.get_state() == SaleReport.trucks.state
    await message.answer(_("Please choose one of the buttons, or send /cancel.") if not typed_trucks
                         else _("Please send the number of trucks as a whole number greater than zero, e.g. 12."))
    await flow.reask(message, state, data)


def make_router() -> Router:
    router = Router(name="sale-report")
    router.message.register(start, Command("sale"))
    router.message.register(start, MenuButton("sale"))
    router.message.register(search_customer, StateFilter(SaleReport.customer), Answer())
    router.message.register(got_trucks, StateFilter(SaleReport.trucks), Answer())
    callbacks = router.callback_query
    callbacks.register(got_customer, StateFilter(SaleReport.customer), SaleStep.filter(F.step == "customer"))
    callbacks.register(got_product_line, StateFilter(SaleReport.product_line), SaleStep.filter(F.step == "line"))
    callbacks.register(got_series, StateFilter(SaleReport.series), SaleStep.filter(F.step == "series"))
    callbacks.register(got_leader, StateFilter(SaleReport.referral), SaleStep.filter(F.step == "leader"))
    callbacks.register(show_month, StateFilter(SaleReport.sold_on), SaleStep.filter(F.step == "month"))
    callbacks.register(got_day, StateFilter(SaleReport.sold_on), SaleStep.filter(F.step == "day"))
    # No state filter: a tap on a calendar of a finished flow must still be answered (and refused).
    callbacks.register(calendar_tap, CalendarCb.filter(F.flow == flow.name))
    callbacks.register(noop, StateFilter(SaleReport), SaleStep.filter(F.step == "noop"))
    callbacks.register(submit, StateFilter(SaleReport.confirm), SaleStep.filter(F.step == "submit"))
    router.message.register(not_expected, StateFilter(SaleReport), NotMenuOrCommand())
    return router
