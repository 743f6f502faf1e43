"""Translated names of the fixed vocabulary (roles, levels, menu entries) and of service error codes."""

from __future__ import annotations

import weakref
from datetime import date

from aiogram.utils.i18n import I18n, get_i18n
from aiogram.utils.i18n import gettext as _
from babel.dates import format_date

from bot.config import SUPPORTED_LOCALES
from bot.domain.errors import DomainError
from bot.domain.playbook import default_playbook
from bot.i18n import N_

ROLE_NAMES = {
    "hq_admin": N_("System administrator"),
    "hq_staff": N_("Customer marketing department staff"),
    "region_manager": N_("Region manager"),
    "customer_dev_manager": N_("Customer development manager"),
    "marcom_manager": N_("Marketing communication manager"),
    "marketing_manager": N_("Marketing manager"),
    "customer_mgmt_specialist": N_("Customer management specialist"),
    "trainer": N_("Marketing trainer"),
    "activity_specialist": N_("Activity promotion specialist"),
    "dealer_gm": N_("General manager / brand manager"),
    "dealer_marketing_manager": N_("Customer marketing manager"),
    "info_admin": N_("Information administrator"),
    "sales_rep": N_("Sales consultant"),
}

KIND_NAMES = {
    "hq": N_("Headquarters"),
    "region": N_("Region"),
    "market": N_("Market department"),
    "dealer": N_("Dealer"),
}

MENU_LABELS = {
    "profile": N_("👤 My profile"),
    "team": N_("🏢 My organisation"),
    "language": N_("🌐 Language"),
    "help": N_("❓ Help"),
    "activity_new": N_("🎪 Request activity"),
    "activities": N_("📋 Activities"),
    "today": N_("📅 Today"),
    "visit": N_("📝 Report visit"),
    "customer_new": N_("➕ New customer"),
    "find": N_("🔍 Find customer"),
    "sale": N_("💰 Report sale"),
    "leader_new": N_("⭐ New opinion leader"),
    "station_new": N_("📡 New information station"),
    "leaders": N_("👥 Opinion leaders"),
    "targets": N_("🎯 Targets"),
    "digest": N_("📊 Digest"),
}

# The command behind each menu entry, and what /help says of it.
ENTRY_HELP = {
    "targets": N_("/targets — the quarter against target, and the units behind the pace"),
    "digest": N_("/digest — today's digest with its chart; /coverage — stations and leaders per county-level "
                 "city; /export — an Excel workbook of a period"),
    "today": N_("/today — follow-ups due and my numbers this quarter"),
    "visit": N_("/visit — report a customer visit"),
    "customer_new": N_("/newcustomer — add a customer to the archive"),
    "find": N_("/find NAME or PHONE — find a customer"),
    "sale": N_("/sale — report a sale and get the delivery-ceremony plan"),
    "leader_new": N_("/newleader — register an opinion leader"),
    "station_new": N_("/newstation — register an information station"),
    "leaders": N_("/leaders — opinion leaders and their referrals this quarter"),
    "activity_new": N_("/activity_new — request a marketing activity"),
    "activities": N_("/activities — my activities and those waiting for me"),
    "team": N_("/team — people and units in your part of the organisation"),
    "profile": N_("/profile — my profile"),
}

ERROR_TEXTS = {
    "numbers_not_for_role": N_("Targets, digests and exports are for managers. Your own numbers are in /today."),
    "bad_period": N_("That period is not valid: the end must be on or after the start."),
    "bad_phone": N_("That phone number doesn't look valid. Please check it and try again."),
    "invite_invalid": N_("This invitation code is not valid. Please check the link you were sent."),
    "invite_used": N_("This invitation has already been used. Ask your manager for a new one."),
    "invite_expired": N_("This invitation has expired. Ask your manager for a new one."),
    "throttled": N_("Too many wrong codes. Please wait half an hour and try again."),
    "contact_not_own": N_("Please share your own phone number with the button below, not someone else's contact."),
    "phone_mismatch": N_("This invitation was issued for a different phone number."),
    "phone_taken": N_("This phone number is already registered to another account. Please contact your manager."),
    "already_onboarded": N_("You are already registered."),
    "name_too_long": N_("That name is {length} characters long; names can have at most {max}. Please send a "
                        "shorter one."),
    "name_no_letters": N_("A name needs letters or Chinese characters, not only emoji, symbols or digits. "
                          "Please send the name again."),
    "outside_scope": N_("That is outside your part of the organisation."),
    "not_allowed": N_("Your role doesn't allow this."),
}


def role_name(role: str) -> str:
    return _(ROLE_NAMES[role]) if role in ROLE_NAMES else role


def list_separator() -> str:
    """Between the items of a list in running text: ", " in English, "、" in Chinese."""
    return _(", ")


def kind_name(kind: str) -> str:
    return _(KIND_NAMES[kind]) if kind in KIND_NAMES else kind


def menu_label(entry: str, locale: str | None = None) -> str:
    return _(MENU_LABELS[entry], locale=locale) if locale else _(MENU_LABELS[entry])


# Every message at a step is checked against the menu's labels (is it a tap or an answer?); the catalogs don't
# change while the bot runs, so each I18n's labels are read once.
_MENU_TEXTS: weakref.WeakKeyDictionary[I18n, dict[str | None, frozenset[str]]] = weakref.WeakKeyDictionary()


def menu_texts(entry: str | None = None) -> frozenset[str]:
    """A menu entry's label in every supported language (every entry's, for None), from the current catalogs."""
    i18n = get_i18n()
    texts = _MENU_TEXTS.get(i18n)
    if texts is None:
        texts = {entry: frozenset(i18n.gettext(label, locale=locale) for locale in SUPPORTED_LOCALES)
                 for entry, label in MENU_LABELS.items()}
        texts[None] = frozenset().union(*texts.values())
        _MENU_TEXTS[i18n] = texts
    return texts[entry]


def error_text(error: DomainError) -> str:
    message = ERROR_TEXTS.get(error.code)
    if message is None:
        return _("Sorry, that didn't work ({code}). Please try again.").format(code=error.code)
    return _(message).format(**error.params) if error.params else _(message)


def current_locale() -> str:
    return get_i18n().current_locale


def playbook_label(kind: str, code: str | None, locale: str | None = None) -> str:
    """A playbook item's name in the current (or given) language; '—' for none, the code if unknown."""
    if not code:
        return "—"
    try:
        return default_playbook().label(kind, code, locale or current_locale())
    except KeyError:
        return code


def format_day(day: date, locale: str | None = None) -> str:
    return format_date(day, format="medium", locale=locale or current_locale())
