"""What the scheduled pushes say: greetings, service and appointment reminders to customers (Telegram and SMS),
booking notices, replacement nudges and the morning list to staff. Rendered at send time in the recipient's
language; rows are written by bot/services/reminders.py and bot/services/customer_reach.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from babel.dates import format_date
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.playbook import default_playbook
from bot.domain.sms import SmsMessage, build_sms
from bot.i18n import N_
from pushes.dispatcher import register_locale_lookup
from pushes.outbox import RenderContext, Rendered, SmsContent, renderer, sms_template
from storage.models import Customer, OrgUnit, ServiceBooking
from ui.callbacks import RowId


class Booking(CallbackData, prefix="bk"):
    """One step of booking: the kind, then the day, then the time slot. Re-checked in the service on each tap."""

    customer: RowId
    kind: str = ""
    day: str = ""  # yyyymmdd
    slot: str = ""  # HHMM


KIND_LABELS = {
    "maintenance": N_("Maintenance"),
    "repair": N_("Repair"),
    "parts": N_("Parts"),
}


def kind_label(kind: str) -> str:
    return _(KIND_LABELS[kind]) if kind in KIND_LABELS else kind


def _day(value: str, locale: str, form: str = "long") -> str:
    return format_date(date.fromisoformat(value), form, locale=locale)


def _festival(code: str, locale: str) -> str:
    try:
        return default_playbook().label("festivals", code, locale)
    except KeyError:
        return code


def _local(value: str, ctx: RenderContext) -> datetime:
    return datetime.fromisoformat(value).astimezone(ctx.tz)


async def _customer_locale(session: AsyncSession, customer_id: int) -> str | None:
    """A linked customer's language, read at send time (they may have linked after the row was written)."""
    result = await session.execute(text("SELECT locale FROM customer WHERE id = :id"), {"id": customer_id})
    return result.scalar_one_or_none()


register_locale_lookup("customer", _customer_locale)


# --- to customers -----------------------------------------------------------------------------------------

@renderer("customer.greeting")
def greeting(params: Mapping[str, Any], ctx: RenderContext) -> Rendered:
    return Rendered(_("Happy {festival}! {dealer} wishes you and your family good health and safe journeys.").format(
        festival=_festival(params["festival"], ctx.locale), dealer=params.get("dealer") or ""))


@sms_template("customer.greeting")
def greeting_sms(params: Mapping[str, Any], ctx: RenderContext) -> SmsContent:
    # SMS go out in Chinese: the provider's registered templates are Chinese.
    return SmsContent("greeting", {"festival": _festival(params["festival"], "zh_CN"),
                                   "dealer": str(params.get("dealer") or "")})


@renderer("customer.maintenance")
def maintenance(params: Mapping[str, Any], ctx: RenderContext) -> Rendered:
    text = _("Service reminder: service no. {n} of your truck is due on {day}. {dealer} is ready for you; "
             "tap below to book a time.").format(n=params["n"], day=_day(params["day"], ctx.locale),
                                                 dealer=params.get("dealer") or "")
    button = InlineKeyboardButton(text=_("📅 Book a service"),
                                  callback_data=Booking(customer=int(params["customer"]), kind="maintenance").pack())
    return Rendered(text, reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]))


@sms_template("customer.maintenance")
def maintenance_sms(params: Mapping[str, Any], ctx: RenderContext) -> SmsContent:
    return SmsContent("maintenance", {"n": str(params["n"]), "day": _day(params["day"], "zh_CN", "M月d日"),
                                      "dealer": str(params.get("dealer") or "")})


@renderer("customer.appointment")
def appointment(params: Mapping[str, Any], ctx: RenderContext) -> Rendered:
    slot = _local(params["slot"], ctx)
    return Rendered(_("Reminder: your {kind} appointment at {dealer} is tomorrow, {day} at {time}. "
                      "See you then!").format(kind=kind_label(params["kind"]), dealer=params.get("dealer") or "",
                                              day=format_date(slot.date(), "long", locale=ctx.locale),
                                              time=slot.strftime("%H:%M")))


@sms_template("customer.appointment")
def appointment_sms(params: Mapping[str, Any], ctx: RenderContext) -> SmsContent:
    slot = _local(params["slot"], ctx)
    kind = params["kind"]
    kind = _(KIND_LABELS[kind], locale="zh_CN") if kind in KIND_LABELS else kind
    return SmsContent("appointment", {"kind": kind, "time": slot.strftime("%H:%M"),
                                      "dealer": str(params.get("dealer") or "")})


# --- to staff -----------------------------------------------------------------------------------------------

@renderer("staff.booking")
async def booking_notice(params: Mapping[str, Any], ctx: RenderContext) -> Rendered | None:
    async with ctx.uow() as uow:
        booking = await uow.session.get(ServiceBooking, int(params["booking"]))
        customer = await uow.session.get(Customer, int(params["customer"]))
        if booking is None or customer is None:
            return None
        dealer = await uow.session.get(OrgUnit, customer.dealer_unit_id)
    slot = booking.slot_at.astimezone(ctx.tz)
    return Rendered(_("📅 New booking #{id}: {name} ({phone}) booked {kind} at {dealer} on {day} at {time}.\n"
                      "Customer card: /customer {customer}").format(
        id=booking.id, name=customer.name, phone=customer.phone or "—", kind=kind_label(booking.kind),
        dealer=dealer.name if dealer else "", day=format_date(slot.date(), "long", locale=ctx.locale),
        time=slot.strftime("%H:%M"), customer=customer.id))


@renderer("staff.replacement")
def replacement(params: Mapping[str, Any], ctx: RenderContext) -> Rendered:
    lines = [_("🔁 The buying season opens on {day}. These customers' trucks will be 1.5–3 years old by then, "
               "time to talk about a replacement ({total}):").format(
        day=_day(params["season"], ctx.locale), total=params["total"])]
    for customer_id, name, purchase, fleet in params["customers"]:
        lines.append(_("• {name} (#{id}), bought {day}, {fleet} trucks").format(
            name=name, id=customer_id, day=_day(purchase, ctx.locale, "medium"), fleet=fleet or 1))
    if params["total"] > len(params["customers"]):
        lines.append(_("…and {more} more.").format(more=params["total"] - len(params["customers"])))
    return Rendered("\n".join(lines))


@renderer("staff.morning")
def morning(params: Mapping[str, Any], ctx: RenderContext) -> Rendered:
    lines = [_("☀️ Good morning! Your customers for {day}:").format(day=_day(params["day"], ctx.locale))]
    if params["today_total"]:
        lines.append(_("Follow-ups due today ({n}):").format(n=params["today_total"]))
        lines += [f"• {name} /customer {cid}" for cid, name in params["today"]]
    if params["overdue_total"]:
        lines.append(_("Overdue follow-ups ({n}):").format(n=params["overdue_total"]))
        lines += [_("• {name} /customer {id} (due {day})").format(name=name, id=cid,
                                                                  day=_day(due, ctx.locale, "medium"))
                  for cid, name, due in params["overdue"]]
    if params["untouched_total"]:
        lines.append(_("No contact for {days} days or more ({n}): revisit them or hand them over:").format(
            days=params["untouched_days"], n=params["untouched_total"]))
        lines += [f"• {name} /customer {cid}" for cid, name, _last in params["untouched"]]
    return Rendered("\n".join(lines))



# --- SMS as the provider takes it ---------------------------------------------------------------------------

def provider_sms(phone: str, content: SmsContent, settings: Any) -> SmsMessage:
    """Template key + parameters → the provider's template code (SMS_TEMPLATES), signature (SMS_SIGNATURE) and a
    preview text ending with the opt-out line. SmsTemplateMissing when the key has no configured code."""
    texts = default_playbook().schedule.sms
    body = texts.templates.get(content.template, "").format_map(_Blank(content.params))
    return build_sms(phone, content.template, content.params, settings.sms_templates, settings.sms_signature,
                     body, texts.opt_out_line)


class _Blank(dict):
    """format_map that leaves an unknown {name} empty instead of raising."""

    def __missing__(self, key: str) -> str:
        return ""
