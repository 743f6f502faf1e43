"""Onboarding: /start <code> → share own phone → bound to a staff record and greeted by role.

Diagram: onboarding.mmd beside this file.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, ReplyKeyboardRemove
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.domain.errors import DomainError
from bot.services.onboarding import ContactCard, OnboardingService
from storage.models import Staff
from storage.uow import UnitOfWork
from ui.filters import HasContact
from ui.keyboards import main_menu, share_contact
from ui.labels import error_text, kind_name, role_name
from ui.states import Onboarding


async def start_with_code(message: Message, command: CommandObject, state: FSMContext, staff: Staff | None,
                          onboarding: OnboardingService, uow: UnitOfWork) -> None:
    """Checks the invite code; stores the invite id and asks for the user's own phone number."""
    if staff is not None:
        await message.answer(_("You are already registered."), reply_markup=main_menu(staff.role))
        return
    try:
        assert message.from_user is not None  # a private chat's message always has its sender
        invite = await onboarding.check_code(message.from_user.id, (command.args or "").strip())
    except DomainError as error:
        await message.answer(error_text(error))
        return
    unit = await uow.org.get(invite.org_unit_id)
    await state.set_state(Onboarding.contact)
    await state.update_data(invite_id=invite.id)
    await message.answer(
        _("Welcome to fieldbot! You are invited as {role} at {unit} ({kind}).\n\n"
          "To confirm who you are, please share your phone number with the button below.").format(
            role=role_name(invite.role), unit=unit.name if unit else "", kind=kind_name(unit.kind if unit else "")),
        reply_markup=share_contact())


async def got_contact(message: Message, state: FSMContext, onboarding: OnboardingService, uow: UnitOfWork,
                      i18n: I18n) -> None:
    """Binds the account with the shared contact; clears the conversation and shows the main menu."""
    data = await state.get_data()
    contact = message.contact
    assert contact is not None
    card = ContactCard(phone_number=contact.phone_number, first_name=contact.first_name,
                       last_name=contact.last_name, user_id=contact.user_id)
    try:
        assert message.from_user is not None
        staff = await onboarding.complete(int(data["invite_id"]), message.from_user.id, card, i18n.current_locale)
    except DomainError as error:
        if error.code in ("contact_not_own", "bad_phone"):
            await message.answer(error_text(error), reply_markup=share_contact())
            return
        await state.clear()
        await message.answer(error_text(error), reply_markup=ReplyKeyboardRemove())
        return
    await state.clear()
    unit = await uow.org.get(staff.org_unit_id)
    await message.answer(
        _("Hello, {name}! You are now registered as {role} at {unit}.\n"
          "Use the menu below; /help explains what I can do.").format(
            name=staff.name, role=role_name(staff.role), unit=unit.name if unit else ""),
        reply_markup=main_menu(staff.role))


async def contact_expected(message: Message) -> None:
    """Anything but a contact while we wait for one: re-ask, keeping the invite."""
    await message.answer(_("Please tap “📱 Share my phone number” below to continue, or send /cancel."),
                         reply_markup=share_contact())


def make_router() -> Router:
    router = Router(name="onboarding")
    router.message.register(start_with_code, CommandStart(deep_link=True))
    router.message.register(got_contact, StateFilter(Onboarding.contact), HasContact())
    router.message.register(contact_expected, StateFilter(Onboarding.contact))
    return router
