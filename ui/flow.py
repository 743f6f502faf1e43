"""Steps of a multi-step flow, with Back and Cancel that work the same in every flow.

A flow registers one `ask` function per state: it (re)asks that step's question. Moving forward pushes the
current state on a history kept in the FSM data, so Back survives a restart like everything else.

    report = Flow("visit")

    @report.asks(VisitReport.kind)
    async def ask_kind(message: Message, state: FSMContext, data: dict[str, Any]) -> None: ...

    await report.goto(message, state, VisitReport.kind, data)   # in a step handler, after storing the answer
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import uuid4

from aiogram import Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, InlineKeyboardButton, Message
from aiogram.utils.i18n import gettext as _

from ui.filters import IsStaff
from ui.keyboards import main_menu

Ask = Callable[[Message, FSMContext, dict[str, Any]], Awaitable[None]]
HISTORY_KEY = "_history"
_FLOWS: dict[str, Flow] = {}


Entry = Callable[..., Awaitable[None]]
_ENTRIES: dict[str, Entry] = {}
VISIT_FOR_CUSTOMER = "visit_for_customer"  # conversations/visit_report.py


def entry(name: str) -> Callable[[Entry], Entry]:
    """Registers a flow's entry point under a name, so another flow can hand over to it without importing it
    (the customer flow returns to the visit report that started it; importing each other would be a cycle)."""
    def register(start: Entry) -> Entry:
        _ENTRIES[name] = start
        return start

    return register


async def hand_over(name: str, message: Message, state: FSMContext, data: dict[str, Any], **kwargs: Any) -> None:
    """Starts the flow registered as `name` (see `entry`)."""
    await _ENTRIES[name](message, state, data, **kwargs)


class Nav(CallbackData, prefix="nav"):
    action: str  # "back" or "cancel"


def nav_buttons(back: bool = True) -> list[InlineKeyboardButton]:
    """The Back / Cancel row every step shows."""
    row = [InlineKeyboardButton(text=_("⬅️ Back"), callback_data=Nav(action="back").pack())] if back else []
    row.append(InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=Nav(action="cancel").pack()))
    return row


class Flow:
    def __init__(self, name: str) -> None:
        self.name = name
        self._asks: dict[str, Ask] = {}

    def asks(self, state: State) -> Callable[[Ask], Ask]:
        def register(ask: Ask) -> Ask:
            assert state.state is not None
            self._asks[state.state] = ask
            _FLOWS[state.state] = self
            return ask

        return register

    async def start(self, message: Message, state: FSMContext, first: State, data: dict[str, Any],
                    **initial: Any) -> None:
        """Begins the flow afresh: previous answers are dropped, and a new client token identifies what this run
        will submit, so a second Submit or a redelivered update can't store it twice."""
        await state.set_data({HISTORY_KEY: [], "client_token": uuid4().hex, **initial})
        await state.set_state(first)
        await self._asks[first.state](message, state, data)  # type: ignore[index]

    async def goto(self, message: Message, state: FSMContext, step: State, data: dict[str, Any]) -> None:
        """Moves to `step`, remembering where we were so Back can return."""
        current = await state.get_state()
        history = list((await state.get_data()).get(HISTORY_KEY, []))
        if current and current != step.state:
            history.append(current)
        await state.update_data({HISTORY_KEY: history})
        await state.set_state(step)
        await self._asks[step.state](message, state, data)  # type: ignore[index]

    async def reask(self, message: Message, state: FSMContext, data: dict[str, Any]) -> None:
        current = await state.get_state()
        if current in self._asks:
            await self._asks[current](message, state, data)

    async def back(self, message: Message, state: FSMContext, data: dict[str, Any]) -> bool:
        history = list((await state.get_data()).get(HISTORY_KEY, []))
        if not history:
            return False
        previous = history.pop()
        await state.update_data({HISTORY_KEY: history})
        await state.set_state(previous)
        await self._asks[previous](message, state, data)
        return True


def flow_of(state_name: str | None) -> Flow | None:
    return _FLOWS.get(state_name or "")


async def on_nav(callback: CallbackQuery, callback_data: Nav, state: FSMContext, **data: Any) -> None:
    """Back re-asks the previous step; Cancel drops the flow. A tap outside any flow is a stale button."""
    current = await state.get_state()
    flow = flow_of(current)
    message = callback.message
    if flow is None or not isinstance(message, Message):
        await callback.answer(_("This button is no longer active."), show_alert=True)
        return
    await callback.answer()
    if callback_data.action == "cancel":
        await state.clear()
        staff = data.get("staff")
        await message.answer(_("Cancelled."), reply_markup=main_menu(staff.role) if staff else None)
        return
    if not await flow.back(message, state, data):
        await flow.reask(message, state, data)


def make_router() -> Router:
    router = Router(name="flow-nav")
    # Every flow is a staff member's: someone let go while one was open gets the gate's refusal instead.
    router.callback_query.register(on_nav, Nav.filter(), IsStaff())
    return router
