"""A command is never the answer to a typed step: an unknown one is said so and the step asked again, a known one
opens its feature. Checked at every typed step of every flow, in both languages, by replaying the flows' own
walk-throughs with a probe before each typed answer."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State

from bot.i18n import make_i18n
from storage.models import Customer
from tests.conftest import People
from tests.flows import test_activities, test_approvals, test_customers, test_leaders, test_sales, test_stations
from tests.flows.test_customers import create_customer, customers_named
from tests.support.harness import BotUnderTest, Chat, text_of
from ui.filters import Answer

I18N = make_i18n("zh_CN")
LOCALES = {"zh-hans": "zh_CN", "en": "en", "zh_CN": "zh_CN"}
UNKNOWN = "Unknown command {command}. Send /help to see what I can do."


def t(message: str, lang: str) -> str:
    return I18N.gettext(message, locale=LOCALES[lang])


def typed_steps(runner: BotUnderTest) -> set[str]:
    """Every state some handler takes a typed answer in (an `Answer` filter), read from the dispatcher."""
    assert runner.dispatcher is not None
    steps: set[str] = set()
    pending: list[Router] = [runner.dispatcher]
    while pending:
        router = pending.pop()
        pending.extend(router.sub_routers)
        for handler in router.message.handlers:
            callbacks = [f.callback for f in handler.filters or ()]
            if not any(isinstance(c, Answer) for c in callbacks):
                continue
            for callback in callbacks:
                if isinstance(callback, State) and callback.state:
                    steps.add(callback.state)
                elif isinstance(callback, StateFilter):
                    steps.update(s.state if isinstance(s, State) else s for s in callback.states if s)
    return steps


def fsm(runner: BotUnderTest, chat: Chat) -> FSMContext:
    assert runner.dispatcher is not None and runner.bot is not None
    return runner.dispatcher.fsm.get_context(runner.bot, chat_id=chat.id, user_id=chat.id)


class Probe:
    """Wraps Chat.send: before each typed answer at a typed step, sends an unknown command and checks the reply."""

    def __init__(self, runner: BotUnderTest, steps: set[str]) -> None:
        self.runner = runner
        self.steps = steps
        self.probed: set[str] = set()
        self.original = Chat.send

    async def send(self, chat: Chat, text: str) -> list[dict[str, Any]]:
        state = await fsm(self.runner, chat).get_state()
        if state in self.steps and not text.startswith("/"):
            await self.check(chat, state)
        return await self.original(chat, text)

    async def check(self, chat: Chat, state: str) -> None:
        context = fsm(self.runner, chat)
        data_before = await context.get_data()
        earlier = chat.texts()
        lang = chat.user.user.get("language_code") or "zh-hans"
        replies = await self.original(chat, "/frobnicate")
        assert replies[0]["text"] == t(UNKNOWN, lang).format(command="/frobnicate"), (state, text_of(replies))
        # the step asked again: a question this chat was asked before (not, say, the main menu's greeting)
        assert len(replies) >= 2 and replies[-1]["text"] in earlier, (state, text_of(replies))
        assert await context.get_state() == state and await context.get_data() == data_before, state
        self.probed.add(state)


@pytest.fixture
def probe(running_bot: BotUnderTest, monkeypatch: pytest.MonkeyPatch) -> Probe:
    steps = typed_steps(running_bot)
    assert len(steps) >= 25, steps  # every flow's typed steps are found
    probe = Probe(running_bot, steps)

    async def send(chat: Chat, text: str) -> list[dict[str, Any]]:
        return await probe.send(chat, text)

    monkeypatch.setattr(Chat, "send", send)
    return probe


async def sale_search_and_trucks(people: People, runner: BotUnderTest, lang: str) -> None:
    """The sale flow's typed steps: the customer search and the number of trucks."""
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13911117701", language_code=lang)
    await create_customer(chat, "Sale Probe", "13912347701")
    texts = test_sales.TEXTS[LOCALES[lang]]
    await chat.send(texts["menu"])
    await chat.send("Sale Probe")
    await chat.tap("Sale Probe · Xinji")
    await chat.tap(texts["tx"])
    await chat.tap(texts["gtl"])
    await chat.send("3")


async def visit_search_and_notes(people: People, runner: BotUnderTest, lang: str) -> None:
    from tests.flows.test_visits import vpick

    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13911117702", language_code=lang)
    await create_customer(chat, "Visit Probe", "13912347702")
    [customer] = await customers_named(runner, "Visit Probe")
    await chat.send("/visit")
    await chat.send("7702")
    await vpick(chat, "cust", str(customer.id))
    await vpick(chat, "kind", "door_visit")
    await vpick(chat, "outcome", "reached_need")
    await vpick(chat, "stage", "need")
    await chat.send("Needs two dump trucks")


# The walk-throughs replayed with the probe, and the typed steps each one passes.
WALKS = {
    "records": {"CustomerCard:name", "CustomerCard:phone", "CustomerCard:fleet_size", "CustomerCard:city",
                "CustomerSearch:text", "LeaderRegistration:name", "LeaderRegistration:phone",
                "LeaderRegistration:city", "LeaderRegistration:vehicles", "LeaderRegistration:fleet_size",
                "StationRegistration:name", "StationRegistration:contact_name", "StationRegistration:phone",
                "StationRegistration:city", "SaleReport:customer", "SaleReport:trucks", "VisitReport:customer",
                "VisitReport:notes"},
    "activity": {"ActivityRequest:starts_at", "ActivityRequest:city", "ActivityRequest:address",
                 "ActivityRequest:attendance", "ActivityRequest:budget", "ActivityRequest:description",
                 "ActivityResults:attendance", "ActivityResults:leads", "ActivityResults:lead_phones",
                 "ActivityResults:orders", "ActivityResults:expenses", "ApprovalComment:evaluation"},
    "rejection": {"ApprovalComment:decision"},
}


async def test_the_walks_pass_every_typed_step(running_bot: BotUnderTest) -> None:
    assert set().union(*WALKS.values()) == typed_steps(running_bot)


async def walk(name: str, people: People, runner: BotUnderTest, lang: str) -> None:
    locale = LOCALES[lang]
    if name == "records":
        await test_customers.test_create_customer_happy_path(people, runner, lang, ["", "", ""])
        await test_customers.test_find_from_the_menu(people, runner, lang, t("🔍 Find customer", lang), "")
        await test_leaders.test_register_leader_happy_path(people, runner, locale)
        await test_stations.test_station_with_location(people, runner, locale)
        await sale_search_and_trucks(people, runner, lang)
        await visit_search_and_notes(people, runner, lang)
    elif name == "activity":
        await test_activities.test_request_three_levels_results_evaluation(people, runner, lang)
    else:
        await test_approvals.test_rejection_needs_a_comment_and_tells_the_requester(people, runner, lang)


@pytest.mark.parametrize("name", sorted(WALKS))
@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_unknown_command_at_every_typed_step_is_refused_and_the_step_asked_again(
        people: People, running_bot: BotUnderTest, probe: Probe, lang: str, name: str) -> None:
    await walk(name, people, running_bot, lang)
    assert probe.probed >= WALKS[name], sorted(WALKS[name] - probe.probed)


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_no_customer_is_named_after_a_command(people: People, running_bot: BotUnderTest, lang: str) -> None:
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13911117703", language_code=lang)
    await chat.send("/newcustomer")
    replies = await chat.send("/frobnicate")
    assert t(UNKNOWN, lang).format(command="/frobnicate") == replies[0]["text"]
    assert t("New customer. What is the customer's name (person or company)?", lang) == replies[-1]["text"]
    # addressed to another bot: not ours to run either
    replies = await chat.send("/help@some_other_bot")
    assert t(UNKNOWN, lang).format(command="/help@some_other_bot") == replies[0]["text"]
    await chat.send("Real Name")
    assert t("The customer's phone number?", lang) in chat.texts()[-1]
    await chat.send("/cancel")
    async with running_bot.sessionmaker() as session:
        from sqlmodel import select
        names = list((await session.execute(select(Customer.name))).scalars())
    assert "/frobnicate" not in names and "Real Name" not in names


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_a_known_command_at_a_typed_step_opens_its_feature(people: People, running_bot: BotUnderTest,
                                                               lang: str) -> None:
    """Even where the step's router comes before the command's: /newleader at the activity's city step."""
    c = await test_activities.cast(people, lang)
    requester = c.requester
    await requester.send(t("🎪 Request activity", lang))
    await requester.tap(test_activities.pb("activity_types", "roadshow", lang))
    await requester.tap(test_activities.pb("product_lines", "vt", lang))
    await requester.tap(test_activities.pb("series", "vt_tractor_new_5", lang))
    await requester.send(test_activities.FUTURE)
    assert await fsm(running_bot, requester).get_state() == "ActivityRequest:city"
    opened = text_of(await requester.send("/newleader"))
    assert test_leaders.TEXTS[LOCALES[lang]]["asks_name"] in opened
    assert await fsm(running_bot, requester).get_state() == "LeaderRegistration:name"
    # /help at a step shows the help and leaves the step waiting
    await requester.send("Wang Lei")
    help_text = text_of(await requester.send("/help"))
    assert t("/help — this help", lang) in help_text
    assert await fsm(running_bot, requester).get_state() == "LeaderRegistration:phone"


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_unknown_command_outside_a_flow(people: People, lang: str) -> None:
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13911117704", language_code=lang)
    replies = await chat.send("/frobnicate " + "x" * 5000)
    assert [m["text"] for m in replies] == [t(UNKNOWN, lang).format(command="/frobnicate")]
    assert chat.reply_keyboard()  # the main menu, to go on from
    long_command = "/" + "a" * 4000
    [reply] = await chat.send(long_command)
    assert len(reply["text"]) < 200 and "…" in reply["text"]
