"""Customer archive record by chat: create (/newcustomer, menu) or edit (card button), then a summary to submit.

name → phone (a phone already on file offers that record) → nature → level → sales mode → vehicle type →
industry (of that vehicle type) → source → fleet size → province → county-level city → stage → summary.
Diagram: customer_card.mmd beside this file.
"""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.domain.errors import DomainError
from bot.domain.names import clean_name
from bot.domain.playbook import default_playbook
from bot.i18n import N_
from bot.services.customers import MAX_NAME_LENGTH as CUSTOMER_NAME_MAX
from bot.services.customers import (
    CustomerCardView,
    CustomerDraft,
    CustomerService,
    industries_for,
    parse_fleet_size,
    sources_for,
    works_at_dealer,
)
from pushes.duplicates import notify_reviewers
from storage.models import Customer, OrgUnit, Staff
from ui.customers import (
    ERRORS,
    CustomerAction,
    error_message,
    outcome_name,
    visit_status_text,
)
from ui.filters import Answer, NotMenuOrCommand
from ui.flow import VISIT_FOR_CUSTOMER, Flow, hand_over, nav_buttons
from ui.keyboards import kept_per_language, main_menu
from ui.labels import current_locale, format_day, playbook_label
from ui.states import CustomerCard

flow = Flow("customer")

MAX_NAME_LENGTH = CUSTOMER_NAME_MAX
MAX_CITY_LENGTH = 64

# Steps in order; each answer moves to the next one (an edit goes back to the summary instead).
ORDER = ("name", "phone", "nature", "level", "sales_mode", "vehicle_type", "industry", "source", "fleet_size",
         "province", "city", "stage", "confirm")
STATES: dict[str, State] = {name: getattr(CustomerCard, name) for name in ORDER}
# Fields answered by tapping a playbook choice: field → playbook kind.
CHOICE_KINDS = {"nature": "natures", "level": "levels", "sales_mode": "sales_modes",
                "vehicle_type": "vehicle_types", "industry": "industries", "source": "information_sources",
                "province": "provinces", "stage": "stages"}
FIELD_NAMES = {
    "name": N_("Name"),
    "phone": N_("Phone"),
    "nature": N_("Customer nature"),
    "level": N_("Level"),
    "sales_mode": N_("Sales mode"),
    "vehicle_type": N_("Vehicle type"),
    "industry": N_("Industry"),
    "source": N_("Information source"),
    "fleet_size": N_("Fleet size"),
    "province": N_("Province"),
    "city": N_("County-level city"),
    "stage": N_("Stage"),
}




class CustomerPick(CallbackData, prefix="cc"):
    field: str
    code: str










def draft_lines(draft: CustomerDraft) -> list[str]:
    values = {
        "name": draft.name, "phone": draft.phone or "—",
        "nature": playbook_label("natures", draft.nature), "level": playbook_label("levels", draft.level),
        "sales_mode": playbook_label("sales_modes", draft.sales_mode),
        "vehicle_type": playbook_label("vehicle_types", draft.vehicle_type),
        "industry": playbook_label("industries", draft.industry),
        "source": playbook_label("information_sources", draft.source),
        "fleet_size": str(draft.fleet_size) if draft.fleet_size else "—",
        "province": playbook_label("provinces", draft.province), "city": draft.city or "—",
        "stage": playbook_label("stages", draft.stage),
    }
    return [_("{field}: {value}").format(field=_(FIELD_NAMES[name]), value=value) for name, value in values.items()]


def card_text(view: CustomerCardView) -> str:
    customer = view.customer
    lines = [_("👤 Customer #{id}").format(id=customer.id), *draft_lines(CustomerDraft.from_customer(customer)),
             _("Owner: {owner} ({dealer})").format(owner=view.owner_name, dealer=view.dealer_name)]
    if customer.next_follow_up is not None:
        lines.append(_("Next follow-up: {day}").format(day=format_day(customer.next_follow_up)))
    lines.append(_("Known location: {state}").format(
        state=_("yes") if customer.known_lat is not None else _("not yet")))
    lines.append(reach_text(customer))
    lines.append("")
    if not view.visits:
        lines.append(_("No visits yet."))
    else:
        lines.append(_("Recent visits:"))
        for visit in view.visits:
            lines.append(_("• {day} {kind}, {outcome}: {status}").format(
                day=format_day(visit.visited_at.date()), kind=playbook_label("visit_kinds", visit.visit_kind),
                outcome=outcome_name(visit.outcome), status=visit_status_text(visit)))
    return "\n".join(lines)


def card_keyboard(view: CustomerCardView) -> InlineKeyboardMarkup | None:
    row = []
    if view.can_visit:
        row.append(InlineKeyboardButton(text=_("📝 Report visit"), callback_data=CustomerAction(
            action="visit", id=view.customer.id).pack()))  # type: ignore[arg-type]
    if view.can_edit:
        row.append(InlineKeyboardButton(text=_("✏️ Edit"), callback_data=CustomerAction(
            action="edit", id=view.customer.id).pack()))  # type: ignore[arg-type]
    rows = [row] if row else []
    if view.can_edit and view.customer.phone:
        rows.append([InlineKeyboardButton(text=_("🔗 Link for the customer"), callback_data=CustomerAction(
            action="link", id=view.customer.id).pack())])  # type: ignore[arg-type]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def reach_text(customer: Customer) -> str:
    """How reminders reach the customer: Telegram, SMS, or not at all (and why)."""
    if customer.reminders_off:
        return _("Reminders: switched off by the customer (/stop)")
    if customer.tg_user_id is not None:
        return _("Reminders: by Telegram")
    if customer.phone and customer.sms_opt_out_at is None:
        return _("Reminders: by SMS")
    if customer.sms_opt_out_at is not None:
        return _("Reminders: none (unsubscribed from SMS)")
    return _("Reminders: none (no phone number)")


async def show_card(message: Message, unit: OrgUnit | None, customers: CustomerService, customer_id: int) -> None:
    """Sends the card of a customer in scope, or "not found" for anything else."""
    try:
        view = await customers.card(unit, customer_id)
    except DomainError as error:
        await message.answer(error_message(error))
        return
    await message.answer(card_text(view), reply_markup=card_keyboard(view))


@kept_per_language
def choice_markup(field: str, choices: list[tuple[str, str]], columns: int = 2,
                  back: bool = True) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(text=text, callback_data=CustomerPick(field=field, code=code).pack())
               for code, text in choices]
    rows = [buttons[i:i + columns] for i in range(0, len(buttons), columns)]
    return InlineKeyboardMarkup(inline_keyboard=[*rows, nav_buttons(back)])


@kept_per_language
def nav_markup(back: bool = True) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[nav_buttons(back)])


def allowed_choices(field: str, answers: dict[str, Any]) -> list[tuple[str, str]]:
    """The buttons a choice step offers, given the answers so far."""
    playbook = default_playbook()
    if field == "industry":
        return industries_for(answers.get("vehicle_type") or "", playbook, current_locale())
    if field == "source":
        return sources_for(answers.get("industry"), playbook, current_locale())
    return playbook.choices(CHOICE_KINDS[field], current_locale())


# --- asking -------------------------------------------------------------------------------------------------

@flow.asks(CustomerCard.name)
async def ask_name(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("New customer. What is the customer's name (person or company)?"),
                         reply_markup=nav_markup(back=False))


@flow.asks(CustomerCard.phone)
async def ask_phone(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("The customer's phone number?"), reply_markup=nav_markup())


@flow.asks(CustomerCard.duplicate)
async def ask_duplicate(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    answers = await state.get_data()
    markup = InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=_("Use existing"), callback_data=CustomerPick(field="dup", code="use").pack()),
         InlineKeyboardButton(text=_("Enter another phone"),
                              callback_data=CustomerPick(field="dup", code="other").pack())],
        nav_buttons()])
    await message.answer(_("{phone} is already on file at your dealer as “{name}”. Use that record?").format(
        phone=answers.get("dup_phone", ""), name=answers.get("dup_name", "")), reply_markup=markup)


PROMPTS = {
    "nature": N_("Customer nature?"),
    "level": N_("Customer level?"),
    "sales_mode": N_("Sales mode?"),
    "vehicle_type": N_("Which vehicle type does the customer use or need?"),
    "industry": N_("Which industry (transport business)?"),
    "source": N_("Where did the information come from?"),
    "stage": N_("Development stage of this customer?"),
}


def _choice_asker(field: str):
    async def ask(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
        answers = await state.get_data()
        choices = allowed_choices(field, answers)
        current = answers.get(field)
        choices = [(code, f"• {text}" if code == current else text) for code, text in choices]
        await message.answer(_(PROMPTS[field]), reply_markup=choice_markup(field, choices))
    ask.__name__ = f"ask_{field}"
    ask.__doc__ = f"Asks for the {field} with the playbook's choices."
    return ask


for _field in PROMPTS:
    flow.asks(STATES[_field])(_choice_asker(_field))


@flow.asks(CustomerCard.fleet_size)
async def ask_fleet_size(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("How many trucks does the customer run? Send a whole number, e.g. 3."),
                         reply_markup=nav_markup())


@flow.asks(CustomerCard.province)
async def ask_province(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    answers = await state.get_data()
    unit: OrgUnit | None = data.get("unit")
    default = answers.get("province") or (unit.province if unit else None)
    choices = allowed_choices("province", answers)
    if default:
        choices = [(code, text) for code, text in choices if code == default] + \
                  [(code, text) for code, text in choices if code != default]
        choices[0] = (choices[0][0], f"✅ {choices[0][1]}")
    await message.answer(_("Province? The first button keeps {province}.").format(
        province=playbook_label("provinces", default)) if default else _("Province?"),
        reply_markup=choice_markup("province", choices, columns=4))


@flow.asks(CustomerCard.city)
async def ask_city(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("County-level city (send its name)?"), reply_markup=nav_markup())


@flow.asks(CustomerCard.confirm)
async def ask_confirm(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    answers = await state.get_data()
    draft = CustomerDraft.from_data(answers)
    markup = InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=_("✅ Submit"), callback_data=CustomerPick(field="confirm", code="submit").pack()),
         InlineKeyboardButton(text=_("✏️ Edit"), callback_data=CustomerPick(field="confirm", code="edit").pack())],
        nav_buttons()])
    await message.answer("\n".join([_("Please check the customer record:"), *draft_lines(draft)]),
                         reply_markup=markup)


@flow.asks(CustomerCard.edit_field)
async def ask_edit_field(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    choices = [(name, _(FIELD_NAMES[name])) for name in ORDER if name != "confirm"]
    await message.answer(_("Which field do you want to change?"), reply_markup=choice_markup("edit", choices, 3))


# --- moving on ----------------------------------------------------------------------------------------------

async def advance(message: Message, state: FSMContext, data: dict[str, Any], field: str) -> None:
    """The next step; while editing from the summary go straight back to it (a new vehicle type asks industry)."""
    answers = await state.get_data()
    if field == "vehicle_type":
        step = "industry"
    elif answers.get("_editing"):
        step = "confirm"
    else:
        step = ORDER[ORDER.index(field) + 1]
    await flow.goto(message, state, STATES[step], data)


async def start_new(message: Message, state: FSMContext, data: dict[str, Any], **initial: Any) -> None:
    if not works_at_dealer(data.get("unit")):
        staff: Staff | None = data.get("staff")
        await message.answer(_(ERRORS["not_allowed"]), reply_markup=main_menu(staff.role) if staff else None)
        return
    await flow.start(message, state, CustomerCard.name, data, **initial)


async def new_customer(message: Message, state: FSMContext, **data: Any) -> None:
    """/newcustomer and the menu entry: starts an empty record and asks for the name."""
    await start_new(message, state, data)


async def edit_customer(callback: CallbackQuery, callback_data: CustomerAction, state: FSMContext,
                        **data: Any) -> None:
    """The card's Edit button: loads the record of the user's own dealer and shows its summary."""
    customers: CustomerService = data["customers"]
    message = callback.message
    assert isinstance(message, Message)
    try:
        customer = await customers.editable(data.get("unit"), callback_data.id)
    except DomainError as error:
        await callback.answer(error_message(error), show_alert=True)
        return
    await callback.answer()
    draft = CustomerDraft.from_customer(customer)
    await flow.start(message, state, CustomerCard.confirm, data, customer_id=customer.id, _editing=True,
                     **draft.as_data())


async def got_name(message: Message, state: FSMContext, **data: Any) -> None:
    """Stores the name; asks for the phone."""
    try:
        name = clean_name(message.text, MAX_NAME_LENGTH)
    except DomainError as error:
        await message.answer(error_message(error))
        await flow.reask(message, state, data)
        return
    await state.update_data(name=name)
    await advance(message, state, data, "name")


async def got_phone(message: Message, state: FSMContext, **data: Any) -> None:
    """Stores the normalised phone, or offers the record already on file with it; a wrong phone re-asks."""
    customers: CustomerService = data["customers"]
    answers = await state.get_data()
    try:
        phone, existing = await customers.check_phone(data["unit"], message.text or "",
                                                      exclude_id=answers.get("customer_id"))
    except DomainError as error:
        await message.answer(error_message(error))
        await flow.reask(message, state, data)
        return
    if existing is not None:
        await state.update_data(dup_id=existing.id, dup_name=existing.name, dup_phone=phone)
        await flow.goto(message, state, CustomerCard.duplicate, data)
        return
    await state.update_data(phone=phone)
    await advance(message, state, data, "phone")


async def got_duplicate_choice(callback: CallbackQuery, callback_data: CustomerPick, state: FSMContext,
                               **data: Any) -> None:
    """Use existing: opens that record (or reports a visit on it); another phone: asks for the phone again."""
    message = callback.message
    assert isinstance(message, Message)
    await callback.answer()
    answers = await state.get_data()
    if callback_data.code == "other":
        await flow.back(message, state, data)
        return
    customers: CustomerService = data["customers"]
    customer_id = int(answers.get("dup_id") or 0)
    await state.clear()
    if answers.get("return_to_visit"):
        await hand_over(VISIT_FOR_CUSTOMER, message, state, data, customer_id=customer_id)
        return
    await show_card(message, data.get("unit"), customers, customer_id)


async def got_choice(callback: CallbackQuery, callback_data: CustomerPick, state: FSMContext, **data: Any) -> None:
    """A playbook choice for the current step: checked against what this step offers, stored, and on."""
    message = callback.message
    assert isinstance(message, Message)
    current = await state.get_state()
    field = callback_data.field
    if field not in CHOICE_KINDS or current != STATES[field].state:
        await callback.answer(_("This button is no longer active."), show_alert=True)
        return
    answers = await state.get_data()
    if callback_data.code not in {code for code, _text in allowed_choices(field, answers)}:
        await callback.answer(_(ERRORS["bad_choice"]), show_alert=True)
        return
    await callback.answer()
    update: dict[str, Any] = {field: callback_data.code}
    if field == "vehicle_type" and answers.get("vehicle_type") != callback_data.code:
        update |= {"industry": None, "source": None}
    await state.update_data(update)
    await advance(message, state, data, field)


async def got_fleet_size(message: Message, state: FSMContext, **data: Any) -> None:
    """Stores the number of trucks; asks for the province."""
    fleet_size = parse_fleet_size(message.text or "")
    if fleet_size is None:
        await message.answer(_(ERRORS["bad_fleet_size"]))
        return
    await state.update_data(fleet_size=fleet_size)
    await advance(message, state, data, "fleet_size")


async def got_city(message: Message, state: FSMContext, **data: Any) -> None:
    """Stores the county-level city; asks for the stage."""
    city = (message.text or "").strip()
    if not city or len(city) > MAX_CITY_LENGTH:
        await message.answer(_("Please send the city's name (up to {max} characters).").format(max=MAX_CITY_LENGTH))
        return
    await state.update_data(city=city)
    await advance(message, state, data, "city")


async def got_confirm(callback: CallbackQuery, callback_data: CustomerPick, state: FSMContext, **data: Any) -> None:
    """Submit stores the record (new or edited) and shows its card; Edit lists the fields."""
    message = callback.message
    assert isinstance(message, Message)
    await callback.answer()
    if callback_data.code == "edit":
        await flow.goto(message, state, CustomerCard.edit_field, data)
        return
    answers = await state.get_data()
    customers: CustomerService = data["customers"]
    staff: Staff = data["staff"]
    draft = CustomerDraft.from_data(answers)
    try:
        if answers.get("customer_id"):
            customer = await customers.update(staff, data.get("unit"), int(answers["customer_id"]), draft)
        else:
            customer = await customers.create(staff, data.get("unit"), draft)
    except DomainError as error:
        await message.answer(error_message(error))
        if error.code in ("duplicate_phone", "bad_phone"):
            await state.update_data(_editing=True)
            await flow.goto(message, state, CustomerCard.phone, data)
        elif error.code != "customer_not_found":
            await flow.reask(message, state, data)
        else:
            await state.clear()
        return
    # A possible double claim goes to the unit above both dealers, in this same transaction; nothing is said here.
    await notify_reviewers(customers.uow.session, customers.uow, customers.raised_flags)
    await state.clear()
    await finish(message, state, data, customer, created=not answers.get("customer_id"),
                 return_to_visit=bool(answers.get("return_to_visit")))


async def finish(message: Message, state: FSMContext, data: dict[str, Any], customer: Customer, *, created: bool,
                 return_to_visit: bool) -> None:
    staff: Staff = data["staff"]
    text = _("Customer saved.") if created else _("Changes saved.")
    await message.answer(text, reply_markup=main_menu(staff.role))
    if return_to_visit:
        await hand_over(VISIT_FOR_CUSTOMER, message, state, data, customer_id=customer.id)
        return
    await show_card(message, data.get("unit"), data["customers"], customer.id)  # type: ignore[arg-type]


async def got_edit_field(callback: CallbackQuery, callback_data: CustomerPick, state: FSMContext,
                         **data: Any) -> None:
    """Asks the chosen field again; its answer returns to the summary."""
    message = callback.message
    assert isinstance(message, Message)
    if callback_data.code not in STATES or callback_data.code == "confirm":
        await callback.answer(_(ERRORS["bad_choice"]), show_alert=True)
        return
    await callback.answer()
    await state.update_data(_editing=True)
    await flow.goto(message, state, STATES[callback_data.code], data)


TEXT_STEPS = {CustomerCard.name.state, CustomerCard.phone.state, CustomerCard.fleet_size.state,
              CustomerCard.city.state}


async def tap_expected(message: Message, state: FSMContext, **data: Any) -> None:
    """Anything the step can't take (text where a button is expected, a photo where text is): ask again."""
    if await state.get_state() in TEXT_STEPS:
        await message.answer(_("Please answer with a text message, or send /cancel."))
    else:
        await message.answer(_("Please choose one of the buttons, or send /cancel."))
    await flow.reask(message, state, data)


def make_router() -> Router:
    router = Router(name="customer-card")
    router.callback_query.register(edit_customer, CustomerAction.filter(F.action == "edit"))
    router.message.register(got_name, StateFilter(CustomerCard.name), Answer())
    router.message.register(got_phone, StateFilter(CustomerCard.phone), Answer())
    router.message.register(got_fleet_size, StateFilter(CustomerCard.fleet_size), Answer())
    router.message.register(got_city, StateFilter(CustomerCard.city), Answer())
    router.callback_query.register(got_duplicate_choice, StateFilter(CustomerCard.duplicate),
                                   CustomerPick.filter(F.field == "dup"))
    router.callback_query.register(got_confirm, StateFilter(CustomerCard.confirm),
                                   CustomerPick.filter(F.field == "confirm"))
    router.callback_query.register(got_edit_field, StateFilter(CustomerCard.edit_field),
                                   CustomerPick.filter(F.field == "edit"))
    router.callback_query.register(got_choice, CustomerPick.filter())
    # One StateFilter with every step (separate state filters would all have to match at once).
    router.message.register(tap_expected, StateFilter(*STATES.values(), CustomerCard.duplicate,
                                                      CustomerCard.edit_field), NotMenuOrCommand())
    return router
