"""/find and /customer N: customers within the asker's scope, opened as cards."""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.domain.numbers import MAX_ID, parse_whole_number
from bot.domain.text import shorten
from bot.services.customers import CustomerService
from conversations.customer_card import new_customer, show_card
from conversations.visit_report import start_visit
from storage.models import Customer, OrgUnit
from ui.customers import CustomerAction
from ui.filters import Answer, MenuButton
from ui.flow import Flow, nav_buttons
from ui.labels import playbook_label
from ui.states import CustomerSearch

MIN_QUERY_LENGTH = 2


def result_button(customer: Customer) -> InlineKeyboardButton:
    text = "{name} · {phone} · {stage}".format(name=customer.name, phone=customer.phone or "—",
                                               stage=playbook_label("stages", customer.stage))
    return InlineKeyboardButton(text=text, callback_data=CustomerAction(action="open", id=customer.id).pack())  # type: ignore[arg-type]


async def find(message: Message, command: CommandObject, unit: OrgUnit | None, customers: CustomerService) -> None:
    """/find TEXT: name or phone fragment within the asker's subtree; results open the card."""
    await search(message, (command.args or "").strip(), unit, customers)


search_flow = Flow("customer-search")


@search_flow.asks(CustomerSearch.text)
async def ask_search_text(message: Message, state: FSMContext, data: dict[str, Any]) -> None:
    await message.answer(_("Send part of the customer's name or phone number."),
                         reply_markup=InlineKeyboardMarkup(inline_keyboard=[nav_buttons(back=False)]))


async def find_menu(message: Message, state: FSMContext, **data: Any) -> None:
    """The menu entry: asks for the search text (the next message)."""
    await search_flow.start(message, state, CustomerSearch.text, data)


async def got_search_text(message: Message, state: FSMContext, unit: OrgUnit | None,
                          customers: CustomerService) -> None:
    """The search text after the menu entry: results (or none) and the search is over."""
    await state.clear()
    await search(message, (message.text or "").strip(), unit, customers)


async def search(message: Message, text: str, unit: OrgUnit | None, customers: CustomerService) -> None:
    if len(text) < MIN_QUERY_LENGTH:
        await message.answer(_("Send /find and part of the customer's name or phone number, e.g. /find 1391"))
        return
    found = await customers.find(unit, text)
    if not found:
        await message.answer(_("No customer in your area matches “{text}”.").format(text=shorten(text)))
        return
    markup = InlineKeyboardMarkup(inline_keyboard=[[result_button(c)] for c in found])
    await message.answer(_("Customers matching “{text}”:").format(text=shorten(text)), reply_markup=markup)


async def open_by_id(message: Message, command: CommandObject, unit: OrgUnit | None,
                     customers: CustomerService) -> None:
    """/customer N: the card, or "not found" for an unknown id or one outside the asker's scope."""
    customer_id = parse_whole_number((command.args or "").strip().lstrip("#"), minimum=1, maximum=MAX_ID)
    if customer_id is None:
        await message.answer(_("Send /customer and the customer's number, e.g. /customer 12"))
        return
    await show_card(message, unit, customers, customer_id)


async def open_card(callback: CallbackQuery, callback_data: CustomerAction, state: FSMContext,
                    unit: OrgUnit | None, customers: CustomerService) -> None:
    """A search result tapped: the card, re-checked against the asker's scope."""
    message = callback.message
    await callback.answer()
    if isinstance(message, Message):
        await show_card(message, unit, customers, callback_data.id)


def make_router() -> Router:
    router = Router(name="customers")
    # Entry points of the customer and visit flows come before any flow's steps, so they work mid-flow too.
    router.message.register(new_customer, Command("newcustomer"))
    router.message.register(new_customer, MenuButton("customer_new"))
    router.message.register(start_visit, Command("visit"))
    router.message.register(start_visit, MenuButton("visit"))
    router.message.register(find, Command("find"))
    router.message.register(find_menu, MenuButton("find"))
    router.message.register(open_by_id, Command("customer"))
    router.callback_query.register(open_card, CustomerAction.filter(F.action == "open"))
    router.message.register(got_search_text, StateFilter(CustomerSearch.text), Answer())
    return router
