"""Customers in Telegram: the link a salesperson sends (/start c-CODE → share own phone → linked), /stop and
/start for reminders, and booking a service appointment from a reminder's button or /book.

A customer is not staff: this router comes before the gate and answers everything a linked customer sends,
so no staff feature ever sees them. The salesperson's side (the card's "link for customer" button) is here too.
"""

from __future__ import annotations

from datetime import date

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart, Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyKeyboardRemove
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from babel.dates import format_date

from bot.config import Settings
from bot.domain.errors import DomainError
from bot.domain.invites import deep_link
from bot.domain.reminders import local_day
from bot.i18n import N_
from bot.services.customer_reach import BOOKING_KINDS, CustomerReachService, booking_days, is_link_code
from bot.services.onboarding import ContactCard
from pushes.reach import Booking, kind_label
from storage.models import Customer, OrgUnit, Staff
from storage.uow import UnitOfWork
from ui.customers import CustomerAction
from ui.filters import HasContact, IsLinkedCustomer, IsStaff
from ui.keyboards import share_contact
from ui.labels import error_text
from ui.states import CustomerLinking


class LinkCode(Filter):
    """/start with a customer link code (staff invites have no prefix)."""

    async def __call__(self, message: Message) -> bool:
        parts = (message.text or "").split(maxsplit=1)
        return len(parts) == 2 and is_link_code(parts[1].strip())


def customer_help() -> str:
    return _("You receive service reminders and greetings from your dealer here.\n"
             "/book — book a service, repair or parts appointment\n"
             "/stop — no more reminders\n"
             "/start — reminders on again")


# --- the salesperson's side ---------------------------------------------------------------------------------

async def issue_link(callback: CallbackQuery, callback_data: CustomerAction, staff: Staff, unit: OrgUnit | None,
                     reach: CustomerReachService, settings: Settings, bot: Bot) -> None:
    await callback.answer()
    try:
        issued = await reach.issue_link(staff, unit, callback_data.id)
    except DomainError as error:
        await callback.message.answer(reach_error(error))  # type: ignore[union-attr]
        return
    username = settings.bot_username or (await bot.me()).username or ""
    await callback.message.answer(  # type: ignore[union-attr]
        _("Send this link to {name}. When they open it and share their phone number ({phone}), they get "
          "service reminders and greetings here in Telegram. It works once, for 7 days:\n{link}").format(
            name=issued.customer.name, phone=issued.customer.phone, link=deep_link(username, issued.code)))


# --- linking -----------------------------------------------------------------------------------------------

async def start_with_link(message: Message, command: CommandObject, state: FSMContext, staff: Staff | None,
                          reach: CustomerReachService) -> None:
    if staff is not None:
        await message.answer(_("This link is for a customer. Please send it to the customer instead of opening it."))
        return
    try:
        link = await reach.check_link((command.args or "").strip())
    except DomainError as error:
        await message.answer(reach_error(error))
        return
    await state.set_state(CustomerLinking.contact)
    await state.update_data(link_id=link.id)
    await message.answer(_("Hello! Your truck dealer invites you to receive service reminders here.\n"
                           "To confirm it is you, please share your phone number with the button below."),
                         reply_markup=share_contact())


async def got_contact(message: Message, state: FSMContext, reach: CustomerReachService, i18n: I18n,
                      uow: UnitOfWork) -> None:
    data = await state.get_data()
    contact = message.contact
    assert contact is not None
    card = ContactCard(phone_number=contact.phone_number, first_name=contact.first_name,
                       last_name=contact.last_name, user_id=contact.user_id)
    try:
        customer = await reach.confirm(int(data["link_id"]), message.from_user.id,  # type: ignore[union-attr]
                                       card, i18n.current_locale)
    except DomainError as error:
        if error.code in ("contact_not_own", "bad_phone"):
            await message.answer(error_text(error), reply_markup=share_contact())
            return
        await state.clear()
        await message.answer(reach_error(error), reply_markup=ReplyKeyboardRemove())
        return
    await state.clear()
    dealer = await uow.org.get(customer.dealer_unit_id)
    await message.answer(_("Done! {dealer} will send you service reminders and greetings here.").format(
        dealer=dealer.name if dealer else "") + "\n\n" + customer_help(), reply_markup=ReplyKeyboardRemove())


async def contact_expected(message: Message) -> None:
    await message.answer(_("Please tap “📱 Share my phone number” below to continue, or send /cancel."),
                         reply_markup=share_contact())


# --- a linked customer's commands -------------------------------------------------------------------------

async def stop(message: Message, reach: CustomerReachService) -> None:
    await reach.set_reminders(message.from_user.id, on=False)  # type: ignore[union-attr]
    await message.answer(_("Reminders are off. Send /start to turn them on again."))


async def start_again(message: Message, reach: CustomerReachService) -> None:
    await reach.set_reminders(message.from_user.id, on=True)  # type: ignore[union-attr]
    await message.answer(_("Reminders are on.") + "\n\n" + customer_help())


async def book_command(message: Message, linked_customer: Customer) -> None:
    await message.answer(_("What do you need?"), reply_markup=kind_keyboard(linked_customer.id))  # type: ignore[arg-type]


def kind_keyboard(customer_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=kind_label(kind), callback_data=Booking(customer=customer_id, kind=kind).pack())
        for kind in BOOKING_KINDS]])


def day_keyboard(customer_id: int, kind: str, days: list[date], locale: str) -> InlineKeyboardMarkup:
    # One deliberate pattern per language (month, day, then the weekday after a space in zh_CN).
    buttons = [InlineKeyboardButton(text=format_date(day, "EEE d MMM" if locale == "en" else "M月d日 EEE",  # i18n-ok
                                                     locale=locale),
                                    callback_data=Booking(customer=customer_id, kind=kind,
                                                          day=day.strftime("%Y%m%d")).pack())
               for day in days]
    return InlineKeyboardMarkup(inline_keyboard=[buttons[i:i + 3] for i in range(0, len(buttons), 3)])


def slot_keyboard(customer_id: int, kind: str, day: str, slots: list[str]) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(text=slot, callback_data=Booking(customer=customer_id, kind=kind, day=day,
                                                                     slot=slot.replace(":", "")).pack())
               for slot in slots]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


async def booking_step(callback: CallbackQuery, callback_data: Booking, reach: CustomerReachService,
                       i18n: I18n, state: FSMContext) -> None:
    """Kind → day → slot → booked. Every step re-checks that the customer record is the sender's own."""
    tg_user_id = callback.from_user.id
    message = callback.message
    try:
        await reach.own_customer(tg_user_id, callback_data.customer)
        if callback_data.kind not in BOOKING_KINDS:
            await callback.answer()
            await message.answer(_("What do you need?"),  # type: ignore[union-attr]
                                 reply_markup=kind_keyboard(callback_data.customer))
            return
        if not callback_data.day:
            await callback.answer()
            today = local_day(reach.clock(), reach.tz)
            await message.answer(_("{kind}: please choose a day:").format(  # type: ignore[union-attr]
                kind=kind_label(callback_data.kind)), reply_markup=day_keyboard(
                callback_data.customer, callback_data.kind, booking_days(today, reach.rule), i18n.current_locale))
            return
        if not callback_data.slot:
            await callback.answer()
            await message.answer(_("Please choose a time:"), reply_markup=slot_keyboard(  # type: ignore[union-attr]
                callback_data.customer, callback_data.kind, callback_data.day, list(reach.rule.slots)))
            return
        day = date(int(callback_data.day[:4]), int(callback_data.day[4:6]), int(callback_data.day[6:]))
        slot = f"{callback_data.slot[:2]}:{callback_data.slot[2:]}"
        # The same taps give the same token: a double tap or a redelivered update books once.
        token = f"{tg_user_id}:{callback_data.customer}:{callback_data.kind}:{callback_data.day}:{callback_data.slot}"
        booking = await reach.book(tg_user_id, callback_data.customer, callback_data.kind, day, slot, token)
    except (DomainError, ValueError) as error:
        await callback.answer(reach_error(error if isinstance(error, DomainError) else DomainError("booking_bad_day"))
                              [:200], show_alert=True)
        return
    await callback.answer()
    await message.answer(_("Booked: {kind} on {day} at {slot}. Your dealer has been told and will see you then. "  # type: ignore[union-attr]
                           "You will get a reminder the day before.").format(
        kind=kind_label(booking.kind),
        day=format_date(day, "long", locale=i18n.current_locale), slot=slot))


async def customer_fallback(message: Message) -> None:
    await message.answer(customer_help())


async def customer_stale_button(callback: CallbackQuery) -> None:
    await callback.answer(_("This button is no longer active."), show_alert=True)


REACH_ERRORS = {
    "link_invalid": N_("This link is not valid. Please ask your salesperson for a new one."),
    "link_used": N_("This link has already been used. Please ask your salesperson for a new one."),
    "link_expired": N_("This link has expired. Please ask your salesperson for a new one."),
    "link_phone_mismatch": N_("This phone number is not the one your dealer has on file, so the link was not "
                              "accepted. Please contact your salesperson."),
    "customer_no_phone": N_("Add the customer's phone number to the card first: the customer confirms the link "
                            "with it."),
    "customer_not_found": N_("Customer not found."),
    "booking_bad_day": N_("That day can't be booked any more. Please choose another."),
    "booking_bad_slot": N_("That time can't be booked. Please choose another."),
    "booking_bad_kind": N_("Please choose maintenance, repair or parts."),
}


def reach_error(error: DomainError) -> str:
    message = REACH_ERRORS.get(error.code)
    return _(message) if message else error_text(error)


def make_router() -> Router:
    """Registered before onboarding: /start c-CODE must not be read as a staff invite."""
    router = Router(name="customer_reach")
    router.message.register(start_with_link, CommandStart(deep_link=True), LinkCode())
    router.message.register(got_contact, StateFilter(CustomerLinking.contact), HasContact())
    router.message.register(contact_expected, StateFilter(CustomerLinking.contact))
    router.callback_query.register(issue_link, CustomerAction.filter(F.action == "link"), IsStaff())
    router.message.register(stop, Command("stop"), IsLinkedCustomer())
    router.message.register(start_again, CommandStart(), IsLinkedCustomer())
    router.message.register(book_command, Command("book"), IsLinkedCustomer())
    router.callback_query.register(booking_step, Booking.filter(), IsLinkedCustomer())
    # Everything else a linked customer sends: their help, never a staff feature.
    router.message.register(customer_fallback, IsLinkedCustomer())
    router.callback_query.register(customer_stale_button, IsLinkedCustomer())
    return router
