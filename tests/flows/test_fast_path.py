"""The per-update fast path: one read of the sender and their conversation row together, one write of the row,
one commit.

Counted with SQLAlchemy's engine events while a salesperson walks the customer flow, so a change that adds a
query, a second session or a second commit to every update fails here (speed itself is `make bench`'s job).
The intake's own short transactions (store, claim, its idle polling) are left out: they are batched under load
and timed by its loop, and `make bench` measures their cost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from sqlalchemy import event

from tests.conftest import People
from tests.support.harness import BotUnderTest, text_of


def kind(sql: str) -> str:
    head = " ".join(sql.split()).lower()
    if head.startswith("select") and "fsm_record" in head and "from staff join org_unit" in head:
        return "sender and fsm read"
    if "fsm_record" in head:
        return "fsm read" if head.startswith("select") else "fsm write"
    if head.startswith("select") and "from staff join org_unit" in head:
        return "sender"
    if "inbox" in head:
        return "done mark" if head.startswith("update inbox set status =") and "done_at" in head else "intake"
    return "other"


@dataclass
class Counts:
    """Statements grouped by the transaction they ran in."""

    open: dict[int, list[str]] = field(default_factory=dict)
    commits: list[list[str]] = field(default_factory=list)

    def handler_transactions(self) -> list[list[str]]:
        """The transactions that read or wrote the conversation or the sender: the update's own."""
        return [t for t in self.commits
                if any(kind(sql) in ("fsm read", "fsm write", "sender", "sender and fsm read") for sql in t)]

    def kinds(self) -> Counter[str]:
        return Counter(kind(sql) for t in self.handler_transactions() for sql in t)


@contextmanager
def counting(runner: BotUnderTest) -> Iterator[Counts]:
    engine = runner.storage.engine.sync_engine  # type: ignore[union-attr]
    counts = Counts()

    def on_statement(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        counts.open.setdefault(id(conn), []).append(statement)

    def on_commit(conn):  # type: ignore[no-untyped-def]
        counts.commits.append(counts.open.pop(id(conn), []))

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)


async def test_a_conversation_step_is_one_read_one_write_one_commit(running_bot: BotUnderTest,
                                                                   people: People) -> None:
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13900000301", language_code="en")
    steps = [("/newcustomer", "customer's name"), ("Li Lei Logistics", "phone number"),
             ("13912340301", "nature"), ("/cancel", "Cancelled")]
    for text, expected in steps:
        with counting(running_bot) as counts:
            replies = await chat.send(text)
        assert expected in text_of(replies[-1:])
        kinds = counts.kinds()
        report = (f"{text!r}: {dict(kinds)} in {len(counts.handler_transactions())} transaction(s); "
                  f"{len(counts.commits)} commit(s) in all")
        assert len(counts.handler_transactions()) == 1, report
        assert kinds["sender and fsm read"] == 1, report  # one query (app/middlewares.py)
        assert kinds["fsm read"] == kinds["sender"] == 0, report
        assert kinds["fsm write"] == 1, report
        assert kinds["done mark"] == 1, report
        # The phone step also checks the dealer's archive for that number; nothing else queries.
        assert kinds["other"] == (1 if text.startswith("139") else 0), report



async def test_a_stranger_costs_one_state_read_and_no_state_write(running_bot: BotUnderTest, people: People) -> None:
    """Besides the sender: is it a linked customer, and was the refusal already sent in this conversation (read, then
    the notice upserted) — three statements, in one transaction."""
    stranger = people.user("Nobody", language_code="en")
    with counting(running_bot) as counts:
        replies = await stranger.send("hello")
    assert "only for the truck dealer network" in text_of(replies)
    kinds = counts.kinds()
    assert (kinds["sender and fsm read"], kinds["fsm read"], kinds["fsm write"], kinds["sender"], kinds["other"]) \
        == (1, 0, 0, 0, 3), dict(kinds)
    assert len(counts.handler_transactions()) == 1


async def test_a_typed_answer_tries_no_command_or_menu_filter(running_bot: BotUnderTest, people: People,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """At a step, the name and the phone are passed over by every command and menu handler without a try
    (app/state_index.py); a command and a menu tap at the same step still reach theirs."""
    from aiogram.filters import Command

    from ui.filters import MenuButton

    tried: Counter[str] = Counter()
    for filter_type in (Command, MenuButton):
        original = filter_type.__call__

        async def counted(self, *args, _original=original, **kwargs):  # type: ignore[no-untyped-def]
            tried[type(self).__name__] += 1
            return await _original(self, *args, **kwargs)

        monkeypatch.setattr(filter_type, "__call__", counted)
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13900000302", language_code="en")
    assert "customer's name" in text_of(await chat.send("/newcustomer"))
    tried.clear()
    assert "phone number" in text_of(await chat.send("Han Mei Haulage"))
    assert "nature" in text_of(await chat.send("13912340302"))
    assert tried == Counter(), tried
    assert "No follow-ups due" in text_of(await chat.send("📅 Today"))  # the menu tap, at the nature step
    assert tried["MenuButton"] > 0
    tried.clear()
    assert "Cancelled" in text_of(await chat.send("/cancel"))
    assert tried["Command"] > 0


async def test_a_typed_answer_enters_only_the_routers_that_could_take_it(running_bot: BotUnderTest, people: People,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Routers with no handler for the step (and no middleware or sub-router) are passed over whole
    (app/state_index.py, StateIndexedRouter); the answer still reaches its step, and a command its handler."""
    from aiogram import Router

    entered: list[str] = []
    original = Router._propagate_event

    async def counted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("update_type") == "message":
            entered.append(self.name)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(Router, "_propagate_event", counted)
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13900000304", language_code="en")
    assert "customer's name" in text_of(await chat.send("/newcustomer"))
    entered.clear()
    assert "phone number" in text_of(await chat.send("Gao Feng Haulage"))
    all_routers = [router.name for router in running_bot.dispatcher.sub_routers]  # type: ignore[union-attr]
    assert len(all_routers) > 20
    # The routers with a handler for a text at any state (customers' links, the gate, unknown commands), and the
    # step's own: not the twenty between them.
    assert entered[-1] == "customer-card", entered
    assert len(entered) <= 4, entered
    entered.clear()
    assert "Cancelled" in text_of(await chat.send("/cancel"))
    assert "common" in entered


async def test_only_the_intake_store_waits_for_the_disk(running_bot: BotUnderTest, people: People) -> None:
    """SQLite: the store that Telegram's acknowledgement waits for commits with synchronous=FULL; the handlers'
    commits run at NORMAL (storage/engine.py)."""
    if not running_bot.settings.is_sqlite:
        pytest.skip("SQLite's synchronous pragma")
    engine = running_bot.storage.engine.sync_engine  # type: ignore[union-attr]
    seen: list[str] = []

    def on_statement(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "synchronous" in statement or statement.lstrip().upper().startswith("INSERT INTO INBOX"):
            seen.append(" ".join(statement.split()[:3]))

    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13900000303", language_code="en")
    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        assert "customer's name" in text_of(await chat.send("/newcustomer"))
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
    assert seen[:3] == ["PRAGMA synchronous=FULL", "INSERT INTO inbox", "PRAGMA synchronous=NORMAL"], seen
    async with running_bot.storage.engine.connect() as connection:  # type: ignore[union-attr]
        level = (await connection.exec_driver_sql("PRAGMA synchronous")).scalar()
        cache = (await connection.exec_driver_sql("PRAGMA cache_size")).scalar()
    assert level == 1  # NORMAL, for every other commit
    assert cache == -512  # KB a connection: ten of them fit the bench's memory target (storage/engine.py)
