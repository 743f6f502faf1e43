"""Handlers skipped by the conversation state, or by a message's text, before any of their filters run.

aiogram tries every handler of every router in turn, and each try copies the update's ~40 context entries into the
filters' arguments. More than half of the handlers are steps of a conversation (a StateFilter of named states), so a
message at one step paid for some seventy tries that could never match (docs/BENCHMARKS.md). The index reads each
handler's StateFilters once; a handler whose states can't include the current one is passed over without a try.
The same goes for the two filters most handlers start with: a command handler (aiogram's Command) can't match a
text that doesn't start with its prefix, nor a main-menu button (ui/filters.MenuButton) a text that is not one of
its labels. A router left with no handler to try is passed over whole. Everything else — the order, the filters,
what a match gets — is aiogram's own `trigger`.
"""

from __future__ import annotations

from collections.abc import Iterator
from inspect import isclass
from typing import Any

from aiogram import Dispatcher, Router
from aiogram.dispatcher.event.bases import REJECTED, UNHANDLED, SkipHandler
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.filters import Command, StateFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message, TelegramObject

from ui.filters import MenuButton, is_menu_text

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


def command_prefixes(handler: HandlerObject) -> str | None:
    """The prefixes a command handler's text must start with (all of its Command filters must pass), or None."""
    prefixes: str | None = None
    for filter_ in handler.filters or ():
        if isinstance(filter_.callback, Command):
            own = filter_.callback.prefix
            prefixes = own if prefixes is None else "".join(c for c in prefixes if c in own)
    return prefixes


def menu_buttons(handler: HandlerObject) -> list[MenuButton]:
    return [f.callback for f in handler.filters or () if isinstance(f.callback, MenuButton)]


def could_match_text(text: str | None, prefixes: str | None, buttons: list[MenuButton]) -> bool:
    """False only where the handler's own Command or MenuButton filter would refuse the text."""
    if prefixes is not None:
        # As Command reads it: the text split on whitespace, the first part's first character.
        stripped = text.lstrip() if text else ""
        if not stripped or stripped[0] not in prefixes:
            return False
    return all(button.matches(text) for button in buttons)


class StateIndexedObserver(TelegramEventObserver):
    """aiogram's observer, with handlers whose states exclude the current one, or whose command or menu filter
    refuses the message's text, passed over untried."""

    _accepts: dict[int, frozenset[str | None] | None]
    _text_checks: dict[int, tuple[str | None, list[MenuButton]]]
    _prefix_chars: frozenset[str]
    _could_take: dict[tuple[str | None, str, str | None], bool]

    def index(self) -> None:
        self._accepts = {id(handler): accepted_states(handler) for handler in self.handlers}
        self._text_checks = {}
        for handler in self.handlers:
            prefixes, buttons = command_prefixes(handler), menu_buttons(handler)
            if prefixes is not None or buttons:
                self._text_checks[id(handler)] = (prefixes, buttons)
        self._prefix_chars = frozenset("".join(prefixes or "" for prefixes, _ in self._text_checks.values()))
        self._could_take = {}

    def could_take(self, event: TelegramObject, raw_state: str | None) -> bool:
        """Whether any handler could take this event at this state. Asked of every router for every update, so the
        answer is kept, keyed by what the checks read: the state, the text's first character where a command
        handler's prefix has it, and the text where it is a menu label (a bounded set of keys)."""
        text = (event.text or event.caption) if isinstance(event, Message) else None
        stripped = text.lstrip() if text else ""
        first = stripped[0] if stripped and stripped[0] in self._prefix_chars else ""
        key = (raw_state, first, text if is_menu_text(text) else None)
        found = self._could_take.get(key)
        if found is None:
            found = self._could_take[key] = next(self.candidates(event, raw_state), None) is not None
        return found

    def candidates(self, event: TelegramObject, raw_state: str | None) -> Iterator[HandlerObject]:
        """The handlers that could take this event at this state, in aiogram's order."""
        accepts = self._accepts
        text_checks = self._text_checks
        # Command reads a caption too; MenuButton reads the text only (it checks that itself).
        text = (event.text or event.caption) if isinstance(event, Message) else None
        for handler in self.handlers:
            states = accepts.get(id(handler))
            if states is not None and raw_state not in states:
                continue
            checks = text_checks.get(id(handler))
            if checks is not None and not could_match_text(text, *checks):
                continue
            yield handler

    async def trigger(self, event: TelegramObject, **kwargs: Any) -> Any:
        # raw_state is set by aiogram's FSM middleware; StateFilter's default is None too.
        for handler in self.candidates(event, kwargs.get("raw_state")):
            kwargs["handler"] = handler
            result, data = await handler.check(event, **kwargs)
            if result:
                kwargs.update(data)
                try:
                    middlewares = self._resolve_middlewares()
                    if not middlewares:  # ours have none: the handler itself, without a chain of one built for it
                        return await handler.call(event, **kwargs)
                    wrapped_inner = self.outer_middleware.wrap_middlewares(middlewares, handler.call)
                    return await wrapped_inner(event, kwargs)
                except SkipHandler:
                    continue
        return UNHANDLED


class StateIndexedRouter(Router):
    """aiogram's router, which the dispatcher passes over whole when none of its handlers could take the event: no
    outer middleware to run, no sub-router to try, so aiogram's walk would only copy the update's context into it
    and find nothing. A message at a step used to walk all two dozen routers this way (docs/BENCHMARKS.md).
    Only the dispatcher asks: our routers have no sub-routers (a nested one is simply walked as aiogram does)."""

    def passes_over(self, update_type: str, event: TelegramObject, raw_state: str | None) -> bool:
        observer = self.observers.get(update_type)
        return (isinstance(observer, StateIndexedObserver) and not self.sub_routers
                and not len(observer.outer_middleware) and not observer.could_take(event, raw_state))

    def plain_for(self, update_type: str) -> StateIndexedObserver | None:
        """The router's observer of this event when entering the router is only trying its handlers (no outer
        middleware, no sub-router): then the dispatcher calls that step itself, as aiogram's `propagate_event`
        would after building a middleware chain of none for it."""
        observer = self.observers.get(update_type)
        if isinstance(observer, StateIndexedObserver) and not self.sub_routers and not len(observer.outer_middleware):
            return observer
        return None


class StateIndexedDispatcher(Dispatcher):
    """aiogram's dispatcher, asking each router whether it passes the event over before handing it the update's
    context: aiogram's `Router._propagate_event` with that one check added to its loop."""

    async def _propagate_event(self, observer: TelegramEventObserver | None, update_type: str,
                               event: TelegramObject, **kwargs: Any) -> Any:
        response = UNHANDLED
        if observer:
            result, data = await observer.check_root_filters(event, **kwargs)
            if not result:
                return UNHANDLED
            kwargs.update(data)
            response = await observer.trigger(event, **kwargs)
            if response is REJECTED:
                return UNHANDLED
            if response is not UNHANDLED:
                return response
        for router in self.routers_to_enter(update_type, event, kwargs.get("raw_state")):
            plain = router.plain_for(update_type) if isinstance(router, StateIndexedRouter) else None
            if plain is not None:
                data = {**kwargs, "event_router": router}
                response = await router._propagate_event(observer=plain, update_type=update_type, event=event, **data)
            else:
                response = await router.propagate_event(update_type=update_type, event=event, **kwargs)
            if response is not UNHANDLED:
                break
        return response

    def routers_to_enter(self, update_type: str, event: TelegramObject, raw_state: str | None) -> tuple[Router, ...]:
        """The routers, in order, that don't pass this event over. Asking all two dozen of them for every update
        cost more than the answer, which depends only on what each router's `could_take` reads: the update type,
        the state, the text's first character where some command's prefix has it, and a menu label. So it is kept
        under those, computed once per kind of event."""
        text = (event.text or event.caption) if isinstance(event, Message) else None
        stripped = text.lstrip() if text else ""
        prefixes = self.__dict__.get("_prefix_chars")
        if prefixes is None:
            prefixes = self.__dict__["_prefix_chars"] = frozenset(
                char for router in self.sub_routers for observer in router.observers.values()
                if isinstance(observer, StateIndexedObserver) for char in observer._prefix_chars)
        first = stripped[0] if stripped and stripped[0] in prefixes else ""
        key = (update_type, raw_state, first, text if is_menu_text(text) else None)
        cache: dict[tuple[str, str | None, str, str | None], tuple[Router, ...]] = \
            self.__dict__.setdefault("_routers_to_enter", {})
        found = cache.get(key)
        if found is None:
            found = cache[key] = tuple(
                router for router in self.sub_routers
                if not (isinstance(router, StateIndexedRouter) and router.passes_over(update_type, event, raw_state)))
        return found


def index_by_state(routers: list[Router]) -> None:
    """Call once every handler is registered (a handler added later is simply never skipped)."""
    for router in routers:
        router.__class__ = StateIndexedRouter
        for name in INDEXED_EVENTS:
            observer = router.observers[name]
            observer.__class__ = StateIndexedObserver
            assert isinstance(observer, StateIndexedObserver)
            observer.index()
        index_by_state(router.sub_routers)
