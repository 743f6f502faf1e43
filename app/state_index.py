"""Handlers skipped by the conversation state before any of their filters run.

aiogram tries every handler of every router in turn, and each try copies the update's ~40 context entries into the
filters' arguments. More than half of the handlers are steps of a conversation (a StateFilter of named states), so a
message at one step paid for some seventy tries that could never match (docs/BENCHMARKS.md). The index reads each
handler's StateFilters once; a handler whose states can't include the current one is passed over without a try.
Everything else — the order, the filters, what a match gets — is aiogram's own `trigger`.
"""

from __future__ import annotations

from inspect import isclass
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.bases import UNHANDLED, SkipHandler
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.filters import StateFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import TelegramObject

INDEXED_EVENTS = ("message", "callback_query")


def accepted_states(handler: HandlerObject) -> frozenset[str | None] | None:
    """The raw states a handler can match, or None when any state can (no StateFilter, or one with "*")."""
    accepted: frozenset[str | None] | None = None
    for filter_ in handler.filters or ():
        if not isinstance(filter_.callback, StateFilter):
            continue
        names: set[str | None] = set()
        for state in filter_.callback.states:
            if isinstance(state, State):
                state = state.state
            if isinstance(state, StatesGroup):
                state = type(state)
            if isclass(state) and issubclass(state, StatesGroup):
                names.update(state.__all_states_names__)
            elif state is None or isinstance(state, str):
                if state == "*":
                    break
                names.add(state)
            else:  # something the index doesn't know: let aiogram decide
                break
        else:
            # All filters must pass: each StateFilter narrows what the handler can match.
            accepted = frozenset(names) if accepted is None else accepted & names
    return accepted


class StateIndexedObserver(TelegramEventObserver):
    """aiogram's observer, with handlers whose states exclude the current one passed over untried."""

    _accepts: dict[int, frozenset[str | None] | None]

    def index(self) -> None:
        self._accepts = {id(handler): accepted_states(handler) for handler in self.handlers}

    async def trigger(self, event: TelegramObject, **kwargs: Any) -> Any:
        raw_state = kwargs.get("raw_state")  # set by aiogram's FSM middleware; StateFilter's default is None too
        accepts = self._accepts
        for handler in self.handlers:
            states = accepts.get(id(handler))
            if states is not None and raw_state not in states:
                continue
            kwargs["handler"] = handler
            result, data = await handler.check(event, **kwargs)
            if result:
                kwargs.update(data)
                try:
                    wrapped_inner = self.outer_middleware.wrap_middlewares(self._resolve_middlewares(), handler.call)
                    return await wrapped_inner(event, kwargs)
                except SkipHandler:
                    continue
        return UNHANDLED


def index_by_state(routers: list[Router]) -> None:
    """Call once every handler is registered (a handler added later is simply never skipped)."""
    for router in routers:
        for name in INDEXED_EVENTS:
            observer = router.observers[name]
            observer.__class__ = StateIndexedObserver
            assert isinstance(observer, StateIndexedObserver)
            observer.index()
        index_by_state(router.sub_routers)
