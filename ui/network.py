"""Texts the opinion-leader, station and sale flows share: their error messages, counts, a leader's card."""

from __future__ import annotations

from decimal import Decimal

from aiogram.utils.i18n import gettext as _

from bot.domain.errors import DomainError
from bot.i18n import N_
from bot.services.network import LeaderQuarter, NetworkService
from ui.labels import error_text, format_day, playbook_label

NETWORK_ERRORS = {
    "dealer_only": N_("Only dealer staff can do this: opinion leaders, information stations and sales belong "
                      "to a dealer."),
    "not_found": N_("Not found, or not in your part of the organisation."),
    "bad_series": N_("That series is not part of the chosen product line. Please choose again."),
    "bad_positive_int": N_("Please send a whole number greater than zero, e.g. 12."),
    "sale_in_future": N_("The date sold can't be in the future. Please choose today or an earlier day."),
    "empty_text": N_("Please send some text."),
    "text_too_long": N_("That is too long. Please shorten it."),
    "bad_location": N_("That location is not valid. Please send it again with the button, or skip."),
}


def problem_text(error: DomainError) -> str:
    """The translated reason for a refused step."""
    message = NETWORK_ERRORS.get(error.code)
    return _(message) if message is not None else error_text(error)


def format_count(value: Decimal | int) -> str:
    """A reward count without trailing zeros: 3.9, 5, 10."""
    return format(Decimal(value).normalize(), "f")


async def leader_card_text(network: NetworkService, card: LeaderQuarter) -> str:
    details = await network.card_details(card)
    leader = card.leader
    lines = [
        _("⭐ Opinion leader No. {id}: {name}").format(id=leader.id, name=leader.name),
        _("Phone: {phone}").format(phone=leader.phone),
        _("Area: {province}, {city}").format(province=playbook_label("provinces", leader.province),
                                             city=leader.city),
        _("Vehicles: {vehicles}; fleet of {fleet} trucks").format(vehicles=leader.vehicles,
                                                                  fleet=leader.fleet_size or 0),
        _("Maintained by {staff} ({dealer})").format(staff=details.maintainer_name, dealer=details.dealer_name),
        "",
        _("Referral sales in Q{quarter} {year} ({first} – {last}):").format(
            quarter=card.quarter, year=card.year, first=format_day(card.first), last=format_day(card.last)),
    ]
    if not card.sales:
        lines.append(_("none yet"))
    for sale in card.sales:
        lines.append(_("• {day}: {customer}, {series}, {trucks} trucks × {multiplier}").format(
            day=format_day(sale.sold_on), customer=details.customer_names.get(sale.customer_id, "—"),
            series=playbook_label("series", sale.series), trucks=sale.trucks,
            multiplier=format_count(Decimal(sale.reward_multiplier))))
    lines.append(_("Reward count this quarter: {weighted} (trucks: {trucks})").format(
        weighted=format_count(card.weighted), trucks=card.trucks))
    return "\n".join(lines)


