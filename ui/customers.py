"""Customer texts shared by the customer and visit flows and /today: errors, outcomes, visit status, card buttons."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.utils.i18n import gettext as _

from bot.domain.errors import DomainError
from bot.i18n import N_
from storage.models import Visit
from ui.callbacks import RowId
from ui.labels import error_text

VISIT_STATUS = {
    "verified": N_("✅ location verified"),
    "recorded": N_("📌 location recorded as the customer's (not verified)"),
    "unverified": N_("❔ location not verified"),
}


OUTCOME_NAMES = {
    "reached_need": N_("Reached, has a need"),
    "reached_no_need": N_("Reached, no need now"),
    "not_reached": N_("Not reached"),
    "complaint": N_("Complaint"),
    "ordered": N_("Ordered"),
}


class CustomerAction(CallbackData, prefix="cust"):
    action: str  # "open", "edit", "visit" or "link" (a link for the customer's own Telegram)
    id: RowId


def error_message(error: DomainError) -> str:
    message = ERRORS.get(error.code)
    if message is None:
        return error_text(error)
    return _(message)


def distance_text(distance_m: float) -> str:
    if distance_m < 1000:
        return _("{metres} m").format(metres=round(distance_m))
    return _("{km} km").format(km=f"{distance_m / 1000:.1f}")


def visit_status_text(visit: Visit) -> str:
    """How far a manager can trust the visit: the location check, and whether the location was shared live."""
    if visit.location_status == "out_of_range" and visit.distance_m is not None:
        status = _("⚠️ out of range: {distance} away").format(distance=distance_text(visit.distance_m))
    else:
        status = _(VISIT_STATUS.get(visit.location_status, VISIT_STATUS["unverified"]))
    if visit.live_period:
        status += _(" · live location, {minutes} min").format(minutes=max(1, visit.live_period // 60))
    return status


def outcome_name(code: str) -> str:
    return _(OUTCOME_NAMES[code]) if code in OUTCOME_NAMES else code


ERRORS = {
    "customer_not_found": N_("Customer not found."),
    "duplicate_phone": N_("A customer with this phone number is already on file at your dealer."),
    "bad_phone": N_("That phone number doesn't look valid: send a mobile like 13912345678 or a landline "
                    "with its area code."),
    "bad_choice": N_("That choice is not available. Please choose one of the buttons."),
    "not_allowed": N_("Only dealer staff keep customer records."),
    "name_missing": N_("Please send the customer's name."),
    "bad_fleet_size": N_("Please send the number of trucks as a whole number greater than zero, e.g. 12."),
}


