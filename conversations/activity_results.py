"""Activity results ("Report results" under an approved activity, or /activity N).

attendance → leads collected → the leads' phone numbers (optional; known customers are linked) → orders →
actual expenses → receipt photos (any number, then Done) → summary → Submit. Submit marks the activity held
(it then counts toward the quarter's KPI) and sends it to the reviewers to evaluate.
Diagram: activity_results.mmd beside this file.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot, Router
from aiogram.filters import Filter, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.domain.approvals import ApprovalError, parse_money_fen
from bot.domain.errors import DomainError
from bot.domain.numbers import parse_whole_number
from bot.domain.phones import mask_phone, normalize_phone
from bot.domain.text import shorten
from bot.services.activities import ActivityService
from pushes.approvals import announce_results
from storage.models import Staff
from ui.activities import ResultsCb, activity_error, money
from ui.filters import Answer, HasPhoto, NotMenuOrCommand
from ui.flow import Flow, nav_buttons
from ui.keyboards import main_menu
from ui.states import ActivityResults

flow = Flow("activity-results")

MAX_COUNT = 100_000
MAX_RECEIPTS = 20
MAX_LEADS = 200


class ResPick(CallbackData, prefix="ares2"):
    field: str


class Picked(Filter):
    def __init__(self, field: str) -> None:
        self.field = field

    async def __call__(self, callback: CallbackQuery) -> bool:
        try:
            return ResPick.unpack(callback.data or "").field == self.field
        except (TypeError, ValueError):
            return False


def pick(text: str, field: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=ResPick(field=field).pack())


def keyboard(*buttons: InlineKeyboardButton, back: bool = True) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[*[[b] for b in buttons], nav_buttons(back=back)])


def parse_count(text: str | None) -> int | None:
    """A whole number 0..MAX_COUNT, else None."""
    return parse_whole_number(text, maximum=MAX_COUNT)


async def start_results(callback: CallbackQuery, callback_data: ResultsCb, state: FSMContext, staff: Staff,
                        activities: ActivityService, **data: Any) -> None:
    """Only the requester, only once, only for an approved activity."""
    try:
        await activities.check_results(staff, callback_data.id)
    except DomainError as error:
        await callback.answer(activity_error(error), show_alert=True)
        return
    await callback.answer()
    if isinstance(callback.message, Message):
        await flow.start(callback.message, state, ActivityResults.attendance, data, activity_id=callback_data.id,
                         receipts=[], lead_phones=[])


@flow.asks(ActivityResults.attendance)
async def ask_attendance(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    activity_id = (await state.get_data()).get("activity_id")
    await message.answer(_("Results of activity #{id}. How many people attended?").format(id=activity_id),
                         reply_markup=keyboard(back=False))


async def got_attendance(message: Message, state: FSMContext, **data: Any) -> None:
    count = parse_count(message.text)
    if count is None:
        await message.answer(_("Please send a whole number, e.g. 35."), reply_markup=keyboard())
        return
    await state.update_data(attendance=count)
    await flow.goto(message, state, ActivityResults.leads, data)


@flow.asks(ActivityResults.leads)
async def ask_leads(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("How many leads (interested customers) were collected?"), reply_markup=keyboard())


async def got_leads(message: Message, state: FSMContext, **data: Any) -> None:
    count = parse_count(message.text)
    if count is None:
        await message.answer(_("Please send a whole number, e.g. 35."), reply_markup=keyboard())
        return
    await state.update_data(leads=count)
    await flow.goto(message, state, ActivityResults.lead_phones, data)


@flow.asks(ActivityResults.lead_phones)
async def ask_lead_phones(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("Send the leads' phone numbers, one per line, to link them to customer records, "
                           "or tap Skip."), reply_markup=keyboard(pick(_("Skip"), "skip_phones")))


async def got_lead_phones(message: Message, state: FSMContext, **data: Any) -> None:
    phones = []
    for line in (message.text or "").splitlines():
        if not line.strip():
            continue
        try:
            phones.append(normalize_phone(line))
        except DomainError:
            await message.answer(_("“{line}” is not a valid phone number. Please send the list again.").format(
                line=shorten(line, 40)), reply_markup=keyboard(pick(_("Skip"), "skip_phones")))
            return
    await state.update_data(lead_phones=list(dict.fromkeys(phones))[:MAX_LEADS])
    await flow.goto(message, state, ActivityResults.orders, data)


async def skip_lead_phones(callback: CallbackQuery, state: FSMContext, **data: Any) -> None:
    await callback.answer()
    await state.update_data(lead_phones=[])
    if isinstance(callback.message, Message):
        await flow.goto(callback.message, state, ActivityResults.orders, data)


@flow.asks(ActivityResults.orders)
async def ask_orders(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("How many orders were signed?"), reply_markup=keyboard())


async def got_orders(message: Message, state: FSMContext, **data: Any) -> None:
    count = parse_count(message.text)
    if count is None:
        await message.answer(_("Please send a whole number, e.g. 35."), reply_markup=keyboard())
        return
    await state.update_data(orders=count)
    await flow.goto(message, state, ActivityResults.expenses, data)


@flow.asks(ActivityResults.expenses)
async def ask_expenses(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("What were the actual expenses in yuan? e.g. 11800"), reply_markup=keyboard())


async def got_expenses(message: Message, state: FSMContext, **data: Any) -> None:
    try:
        fen = parse_money_fen(message.text or "")
    except ApprovalError:
        await message.answer(_("Please send an amount in yuan, e.g. 11800."), reply_markup=keyboard())
        return
    await state.update_data(expenses_fen=fen)
    await flow.goto(message, state, ActivityResults.receipts, data)


@flow.asks(ActivityResults.receipts)
async def ask_receipts(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    count = len((await state.get_data()).get("receipts") or [])
    await message.answer(_("Send photos of the receipts, then tap Done. Received so far: {count}.").format(
        count=count), reply_markup=keyboard(pick(_("Done"), "receipts_done")))


async def got_receipt(message: Message, state: FSMContext, **data: Any) -> None:
    """Keeps the largest size of each photo; asks for more."""
    receipts = list((await state.get_data()).get("receipts") or [])
    photo = message.photo[-1] if message.photo else None
    if photo is not None and len(receipts) < MAX_RECEIPTS:
        receipts.append([photo.file_id, photo.file_unique_id])
        await state.update_data(receipts=receipts)
    await flow.reask(message, state, data)


async def receipts_done(callback: CallbackQuery, state: FSMContext, **data: Any) -> None:
    if not (await state.get_data()).get("receipts"):
        await callback.answer(_("Please send at least one receipt photo."), show_alert=True)
        return
    await callback.answer()
    if isinstance(callback.message, Message):
        await flow.goto(callback.message, state, ActivityResults.confirm, data)


@flow.asks(ActivityResults.confirm)
async def ask_confirm(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    answers = await state.get_data()
    i18n: I18n = data["i18n"]
    phones = ", ".join(mask_phone(phone) for phone in answers.get("lead_phones") or []) or "—"
    text = _("Results of activity #{id}:\nAttendance: {attendance}\nLeads: {leads} (phones: {phones})\n"
             "Orders: {orders}\nActual expenses: {spent}\nReceipt photos: {receipts}").format(
        id=answers["activity_id"], attendance=answers["attendance"], leads=answers["leads"], phones=phones,
        orders=answers["orders"], spent=money(answers["expenses_fen"], i18n.current_locale),
        receipts=len(answers.get("receipts") or []))
    await message.answer(text, reply_markup=keyboard(pick(_("📨 Submit"), "submit")))


async def submit(callback: CallbackQuery, state: FSMContext, staff: Staff, activities: ActivityService, bot: Bot,
                 i18n: I18n, settings: Settings) -> None:
    answers = await state.get_data()
    try:
        reported = await activities.report_results(
            staff, int(answers["activity_id"]), int(answers["attendance"]), int(answers["leads"]),
            int(answers["orders"]), int(answers["expenses_fen"]), answers.get("lead_phones") or [],
            [(file_id, unique_id) for file_id, unique_id in answers.get("receipts") or []])
    except DomainError as error:
        await callback.answer(activity_error(error), show_alert=True)
        await state.clear()
        return
    await callback.answer()
    await state.clear()
    if isinstance(callback.message, Message):
        await callback.message.answer(
            _("Thank you: the results of activity #{id} are in and it now counts toward the quarter.").format(
                id=reported.activity.id), reply_markup=main_menu(staff.role))
    await announce_results(activities, reported)


async def reask(message: Message, state: FSMContext, **data: Any) -> None:
    await flow.reask(message, state, data)


def make_router() -> Router:
    router = Router(name="activity-results")
    router.callback_query.register(start_results, ResultsCb.filter())
    router.callback_query.register(skip_lead_phones, Picked("skip_phones"), StateFilter(ActivityResults.lead_phones))
    router.callback_query.register(receipts_done, Picked("receipts_done"), StateFilter(ActivityResults.receipts))
    router.callback_query.register(submit, Picked("submit"), StateFilter(ActivityResults.confirm))
    router.message.register(got_attendance, StateFilter(ActivityResults.attendance), Answer())
    router.message.register(got_leads, StateFilter(ActivityResults.leads), Answer())
    router.message.register(got_lead_phones, StateFilter(ActivityResults.lead_phones), Answer())
    router.message.register(got_orders, StateFilter(ActivityResults.orders), Answer())
    router.message.register(got_expenses, StateFilter(ActivityResults.expenses), Answer())
    router.message.register(got_receipt, StateFilter(ActivityResults.receipts), HasPhoto())
    for step in ActivityResults.__all_states__:
        router.message.register(reask, StateFilter(step), NotMenuOrCommand())
    return router
