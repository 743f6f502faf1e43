"""The state index (app/state_index.py) passes over exactly the handlers whose StateFilters would refuse the state."""

from __future__ import annotations

import asyncio

from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject, HandlerObject
from aiogram.filters import StateFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message

from app.routers import make_routers
from app.state_index import StateIndexedObserver, accepted_states


class Group(StatesGroup):
    one = State()
    two = State()


def every_state(routers: list[Router]) -> set[str | None]:
    names: set[str | None] = {None, "NoSuchFlow:step"}
    for router in routers:
        for observer in (router.message, router.callback_query):
            for handler in observer.handlers:
                names |= accepted_states(handler) or set()
    return names


def test_the_index_agrees_with_every_state_filter() -> None:
    routers = make_routers()
    states = every_state(routers)
    assert len(states) > 40  # the conversations' steps are all there
    event = Message.model_construct()
    skipped = 0
    for router in routers:
        for observer in (router.message, router.callback_query):
            assert isinstance(observer, StateIndexedObserver)
            for handler in observer.handlers:
                accepted = accepted_states(handler)
                if accepted is None:
                    continue  # never skipped: aiogram decides, as before
                filters = [f.callback for f in handler.filters or () if isinstance(f.callback, StateFilter)]
                for state in states:
                    passes = all(asyncio.run(f(event, raw_state=state)) for f in filters)
                    assert (state in accepted) == passes, (router.name, handler.callback, state)
                    skipped += state not in accepted
    assert skipped > 1000


def test_what_the_index_reads() -> None:
    def handler_with(*filters: StateFilter) -> HandlerObject:
        async def callback() -> None: ...

        return HandlerObject(callback=callback, filters=[FilterObject(f) for f in filters])

    assert accepted_states(handler_with(StateFilter(Group.one))) == {"Group:one"}
    assert accepted_states(handler_with(StateFilter(Group))) == {"Group:one", "Group:two"}
    assert accepted_states(handler_with(StateFilter(None, "x"))) == {None, "x"}
    assert accepted_states(handler_with(StateFilter("*"))) is None
    assert accepted_states(handler_with(StateFilter(Group), StateFilter(Group.two))) == {"Group:two"}
    assert accepted_states(handler_with()) is None


def test_the_text_checks_agree_with_every_command_and_menu_filter() -> None:
    """A handler passed over for its text is one whose own Command or MenuButton filter refuses that text."""
    from aiogram import Bot
    from aiogram.filters import Command

    from app.state_index import command_prefixes, could_match_text, menu_buttons
    from bot.i18n import make_i18n
    from ui.filters import MenuButton
    from ui.labels import MENU_LABELS, menu_texts

    i18n = make_i18n("zh_CN")
    token = i18n.set_current(i18n)
    bot = Bot("42:TEST")
    try:
        labels = sorted(menu_texts())
        assert len(labels) == 2 * len(MENU_LABELS)  # each entry in both languages
        texts: list[str | None] = [None, "", "   ", "hello", "Li Lei Logistics", "13912340301", "/start", "/help",
                                   " /menu extra", "/newcustomer x", "!help", "/", *labels,
                                   labels[0] + " "]
        checked = refused = 0
        for router in make_routers():
            handlers = router.message.handlers
            for handler in handlers:
                prefixes, buttons = command_prefixes(handler), menu_buttons(handler)
                if prefixes is None and not buttons:
                    continue
                own = [f.callback for f in handler.filters or () if isinstance(f.callback, (Command, MenuButton))]
                for text in texts:
                    for field in ("text", "caption"):
                        message = Message.model_construct(**{field: text})
                        passes = all(asyncio.run(f(message, bot=bot)) if not isinstance(f, MenuButton)
                                     else asyncio.run(f(message)) for f in own)
                        could = could_match_text(message.text or message.caption, prefixes, buttons)
                        # Never passed over where its own filters would take the text.
                        assert could or not passes, (router.name, handler.callback, field, text)
                        checked += 1
                        refused += not could
        assert checked > 1000 and refused > 1000
    finally:
        i18n.reset_current(token)
        asyncio.run(bot.session.close())


def test_a_routers_kept_answer_agrees_with_trying_its_handlers() -> None:
    """`could_take` keeps its answer per (state, first character, menu label): for every router, state and text
    it says what walking the handlers says, whatever was asked before it (checked to fail with a key that leaves
    the menu label out)."""
    from app.state_index import StateIndexedRouter
    from bot.i18n import make_i18n
    from ui.labels import menu_texts

    i18n = make_i18n("zh_CN")
    token = i18n.set_current(i18n)
    try:
        routers = make_routers()
        states = sorted(every_state(routers), key=str)
        texts = [None, "", " ", "hello", "Li Lei Logistics", "李雷物流", "13912340301", "/start", " /menu x",
                 "/newcustomer", "!help", *sorted(menu_texts())]
        asked = passed_over = 0
        for router in routers:
            assert isinstance(router, StateIndexedRouter)
            for observer in (router.message, router.callback_query):
                assert isinstance(observer, StateIndexedObserver)
                for text in texts:
                    for state in states:
                        event = Message.model_construct(text=text)
                        walked = next(observer.candidates(event, state), None) is not None
                        assert observer.could_take(event, state) == walked, (router.name, text, state)
                        asked += 1
                        passed_over += not walked
        assert asked > 10_000 and passed_over > asked // 2
    finally:
        i18n.reset_current(token)


def test_a_routers_own_middlewares_still_run() -> None:
    """The dispatcher enters a router without aiogram's middleware chain only when the router has none: a router
    with an outer or an inner middleware still gets it, around the handler it picks, and the others answer too."""
    from datetime import UTC, datetime

    from aiogram import Bot
    from aiogram.types import Chat, Update, User

    from app.state_index import StateIndexedDispatcher, index_by_state

    seen: list[str] = []

    def router_with(name: str) -> Router:
        router = Router(name=name)

        async def handler(message: Message) -> str:
            seen.append(f"{name} handler")
            return name

        router.message.register(handler, StateFilter(None), lambda m: m.text == name)
        return router

    def noting(label: str):  # type: ignore[no-untyped-def]
        async def middleware(handler, event, data):  # type: ignore[no-untyped-def]
            seen.append(label)
            return await handler(event, data)

        return middleware

    plain, outer, inner = router_with("plain"), router_with("outer"), router_with("inner")
    outer.message.outer_middleware(noting("outer middleware"))
    inner.message.middleware(noting("inner middleware"))
    index_by_state([plain, outer, inner])
    dispatcher = StateIndexedDispatcher()
    dispatcher.include_routers(plain, outer, inner)
    bot = Bot("42:TEST")

    def update(text: str) -> Update:
        user = User(id=1, is_bot=False, first_name="A")
        return Update(update_id=1, message=Message(message_id=1, date=datetime.now(UTC), text=text, from_user=user,
                                                   chat=Chat(id=1, type="private")))

    from bot.i18n import make_i18n

    i18n = make_i18n("en")  # is a text a menu label? asked in every language of the catalogs
    for text in ("plain", "outer", "inner"):
        seen.clear()
        with i18n.context():
            assert asyncio.run(dispatcher.feed_update(bot, update(text))) == text
        expected = {"plain": ["plain handler"],
                    "outer": ["outer middleware", "outer handler"],
                    "inner": ["outer middleware", "inner middleware", "inner handler"]}[text]
        assert seen == expected, (text, seen)
