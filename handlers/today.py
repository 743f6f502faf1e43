"""/today: my follow-ups due today or overdue, each with "Report visit", and my numbers this quarter."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.services.my_work import MyWorkService, TodayView
from storage.models import Staff
from ui.customers import CustomerAction
from ui.filters import MenuButton
from ui.keyboards import main_menu
from ui.labels import format_day, playbook_label


def today_text(view: TodayView) -> str:
    lines = [_("📅 Today ({day})").format(day=format_day(view.today)), ""]
    if view.due:
        lines.append(_("Follow-ups due ({count}):").format(count=len(view.due)))
        for customer in view.due:
            assert customer.next_follow_up is not None
            overdue = _(" (overdue)") if customer.next_follow_up < view.today else ""
            lines.append(_("• {name}, {stage}: {day}{overdue}").format(
                name=customer.name, stage=playbook_label("stages", customer.stage),
                day=format_day(customer.next_follow_up),
                overdue=overdue))
    else:
        lines.append(_("No follow-ups due. Well done!"))
    counts = view.counts
    lines += ["", _("My numbers in Q{quarter} {year}:").format(quarter=view.quarter, year=view.year),
              _("Visits: {visits} ({verified} verified)").format(visits=counts.visits,
                                                                 verified=counts.verified_visits),
              _("Visits with the location only recorded (not verified): {count}").format(
                  count=counts.recorded_visits),
              _("New customers: {count}").format(count=counts.new_customers),
              _("Trucks sold: {count}").format(count=counts.sale_trucks),
              _("Opinion leaders: {count}").format(count=counts.opinion_leaders),
              _("Information stations: {count}").format(count=counts.info_stations)]
    return "\n".join(lines)


def today_keyboard(view: TodayView) -> InlineKeyboardMarkup | None:
    if not view.due:
        return None
    rows = [[InlineKeyboardButton(text=_("📝 Report visit: {name}").format(name=customer.name)[:60],
                                  callback_data=CustomerAction(action="visit", id=customer.id).pack())]  # type: ignore[arg-type]
            for customer in view.due]
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def show_today(message: Message, staff: Staff, my_work: MyWorkService) -> None:
    view = await my_work.today(staff)
    markup = today_keyboard(view)
    await message.answer(today_text(view), reply_markup=markup or main_menu(staff.role))


def make_router() -> Router:
    router = Router(name="today")
    router.message.register(show_today, Command("today"))
    router.message.register(show_today, MenuButton("today"))
    return router
