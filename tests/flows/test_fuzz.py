"""Fuzz: thousands of random and malformed updates from people in every role, driven through the local Bot API
against the real bot. Nothing may crash a handler, every message is answered and every tap's spinner stopped, and
no reply is refused by Telegram.

Each round, every user sends one update chosen from what they can see (the buttons of the bot's latest messages,
their reply keyboard) or from a corpus of junk: huge, emoji, control-character and command texts, forged and
oversized callback data, contacts, locations, photos, stickers, documents, edited messages and update kinds the bot
never asked for. Sometimes a user gives the answer their current step expects, so the walk gets deep into every
flow. Seeded (FUZZ_SEED overrides it; the seed is printed on failure); FUZZ_UPDATES sets the count.
"""

from __future__ import annotations

import logging
import os
import random
import string
import time
from dataclasses import dataclass, field
from typing import Any

from aiogram.fsm.context import FSMContext
from sqlalchemy import select

from sandbox.botapi import LocalBotAPI
from storage.models import Staff, StrangerNotice
from tests.conftest import People
from tests.support.harness import BotUnderTest, Chat

SEED = int(os.environ.get("FUZZ_SEED", "20261201"))
UPDATES = int(os.environ.get("FUZZ_UPDATES", "5000"))
# Demo staff (bot/data/demo_org.yaml) in every role that uses the bot, some in each language.
CAST = [
    ("hq_staff", "hq", "13800000002"), ("region_manager", "north", "13800000003"),
    ("marcom_manager", "north", "13800000005"), ("marketing_manager", "mkt-hebei", "13800000007"),
    ("activity_specialist", "mkt-hebei", "13800000010"), ("marketing_manager", "mkt-shandong", "13800000011"),
    ("dealer_gm", "dlr-shijiazhuang", "13800000013"), ("dealer_marketing_manager", "dlr-shijiazhuang", "13800000014"),
    ("info_admin", "dlr-shijiazhuang", "13800000015"), ("sales_rep", "dlr-shijiazhuang", "13800000016"),
    ("sales_rep", "dlr-tangshan", "13800000017"), ("dealer_gm", "dlr-jinan", "13800000018"),
    ("sales_rep", "dlr-jinan", "13800000019"), ("dealer_gm", "dlr-kunming", "13800000020"),
    ("sales_rep", "dlr-kunming", "13800000021"), ("sales_rep", "dlr-qujing", "13800000022"),
    ("customer_dev_manager", "north", "13800000004"), ("trainer", "mkt-hebei", "13800000009"),
]
COMMANDS = ["/start", "/menu", "/help", "/today", "/visit", "/find", "/find 138", "/find 1", "/sale", "/activities",
            "/activity 1", "/activity 99999999999999999999", "/activity -1", "/language", "/cancel", "/newcustomer",
            "/newleader", "/newstation", "/leaders", "/leader 1", "/leader abc", "/customer 1", "/customer #2",
            "/customer 0x10", "/profile", "/team", "/activity_new", "/frobnicate", "/start BADCODE",
            "/start " + "A" * 64, "/help@some_other_bot", "/", "//", "/ space", "/HELP", "/menu extra args"]
JUNK_TEXTS = [
    "", " ", "\n\n", "0", "-1", "1.5", "1e9", "99999999999999999999999", "NaN", "²", "١٢", "三", "0x1F",
    "🚚" * 50, "👨‍👩‍👧‍👦", "\u200b", "\u202eevil", "\x07bell\x1b[31m", "tab\tand\r\nnewlines", "<b>bold</b> &amp;",
    "*markdown* _x_ `code`", "'; DROP TABLE customer; --", "%s %d {0} {name}", "%", "{", "}", "\\", "null",
    "13912345678", "+86 139 1234 5678", "0311-8765-4321", "555", "2030-12-05 14:00", "2000-01-01 00:00",
    "31.02.2030", "tomorrow", "Venue 3000", "Venue -5", "Gifts 1e20", "场地费 3000", "3000", "  Zhang San  ",  # i18n-ok
    "张三", "石家庄", "Xinji", "x" * 4096, "很长" * 2048, "a\n" * 1000,  # i18n-ok
]
# A plausible answer for each typed step, so random walks get past them.
ANSWERS = {
    "CustomerCard:name": ["Zhang Fleet", "李四物流"], "CustomerCard:phone": ["PHONE"],  # i18n-ok
    "CustomerCard:fleet_size": ["5", "60"], "CustomerCard:city": ["Xinji"],
    "CustomerSearch:text": ["138", "Zhang", "139"],
    "LeaderRegistration:name": ["Wang Lei"], "LeaderRegistration:phone": ["PHONE"],
    "LeaderRegistration:city": ["Zhengding"], "LeaderRegistration:vehicles": ["TX tractors"],
    "LeaderRegistration:fleet_size": ["12"],
    "StationRegistration:name": ["Jinxing Parts"], "StationRegistration:contact_name": ["Liu Wei"],
    "StationRegistration:phone": ["PHONE"], "StationRegistration:city": ["Gaocheng"],
    "SaleReport:customer": ["Zhang", "139", "李"], "SaleReport:trucks": ["3", "60"],  # i18n-ok
    "VisitReport:customer": ["Zhang", "139"], "VisitReport:notes": ["Needs two dump trucks"],
    "ActivityRequest:starts_at": ["2030-12-05 14:00"], "ActivityRequest:city": ["Zhengding"],
    "ActivityRequest:address": ["No. 8 Hengshan Road"], "ActivityRequest:attendance": ["60"],
    "ActivityRequest:budget": ["Venue 3000\nGifts 2,500"], "ActivityRequest:description": ["Launch"],
    "ActivityResults:attendance": ["58"], "ActivityResults:leads": ["12"],
    "ActivityResults:lead_phones": ["13955550001\n13955550002"], "ActivityResults:orders": ["3"],
    "ActivityResults:expenses": ["24,800"],
    "ApprovalComment:decision": ["Budget too high"], "ApprovalComment:evaluation": ["Good turnout"],
}
MEDIA_STEPS = {"VisitReport:location": "location", "StationRegistration:location": "location",
               "VisitReport:photo": "photo", "ActivityResults:receipts": "photo"}
FORGED_PREFIXES = ["nav", "cust", "cc", "vp", "sale", "leader", "station", "act", "aedit", "appr", "eval", "lang",
                   "res", "skipc", "pick", "x"]


@dataclass
class Sender:
    chat: Chat
    kind: str  # "staff", "stranger" or "onboarding"
    phone: str | None = None


@dataclass
class Findings:
    unanswered: list[str] = field(default_factory=list)
    lost_access: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refused_calls: list[str] = field(default_factory=list)
    states: set[str] = field(default_factory=set)
    kinds: dict[str, int] = field(default_factory=dict)


class ErrorLog(logging.Handler):
    """Every ERROR record any logger emits while the fuzz runs: a handler crash, aiogram's own failures."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def fsm(runner: BotUnderTest, chat: Chat) -> FSMContext:
    assert runner.dispatcher is not None and runner.bot is not None
    return runner.dispatcher.fsm.get_context(runner.bot, chat_id=chat.id, user_id=chat.id)


class Fuzzer:
    def __init__(self, runner: BotUnderTest, rng: random.Random) -> None:
        self.runner = runner
        self.api: LocalBotAPI = runner.api
        self.rng = rng

    def phone(self) -> str:
        return "139" + "".join(self.rng.choice(string.digits) for _ in range(8))

    def junk_text(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.6:
            return rng.choice(JUNK_TEXTS)
        if roll < 0.8:
            return "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x4E00, 0x9FFF),
                                           rng.randrange(0x1F300, 0x1FAFF), rng.randrange(1, 32)]))
                           for _ in range(rng.randrange(1, 80)))
        return rng.choice(JUNK_TEXTS) + rng.choice(JUNK_TEXTS)

    def forged_data(self, seen: list[str]) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.3 and seen:  # a real button's data with a field changed
            parts = rng.choice(seen).split(":")
            index = rng.randrange(len(parts))
            parts[index] = rng.choice(["999999999", "-1", "0", "", "abc", "1" * 40, "🚚", parts[index] * 3])
            return ":".join(parts)[:64]
        if roll < 0.5:
            return "".join(rng.choice(string.printable) for _ in range(rng.randrange(0, 64)))
        if roll < 0.6:
            return "x" * rng.randrange(65, 300)  # longer than Telegram allows
        prefix = rng.choice(FORGED_PREFIXES)
        return ":".join([prefix, *(rng.choice(["1", "999999", "back", "cancel", "submit", "edit", "open", "",
                                               "day", "2030-02-30", "month", "2030-13", "yes", "no"])
                                   for _ in range(rng.randrange(0, 4)))])

    async def one(self, sender: Sender, state: str | None) -> tuple[str, int]:
        """Sends one update from `sender`; returns its kind and update_id."""
        rng, user = self.rng, sender.chat.user
        bot_id = user.bot.user["id"]
        chat_messages = user.bot.messages.get(user.id, {})
        # The latest of the bot's messages here (sent_messages() copies the whole chat: too slow to call often).
        bot_messages = [chat_messages[i] for i in sorted(chat_messages)[-12:]
                        if chat_messages[i]["from"]["id"] == bot_id]
        with_buttons = [m for m in bot_messages[-6:] if m.get("reply_markup", {}).get("inline_keyboard")]
        datas = [b.get("callback_data") for m in with_buttons for row in m["reply_markup"]["inline_keyboard"]
                 for b in row if b.get("callback_data")]
        roll = rng.random()
        if state in ANSWERS and roll < 0.5:
            answer = rng.choice(ANSWERS[state])
            return "answer", user.send_text(self.phone() if answer == "PHONE" else answer)
        if state in MEDIA_STEPS and roll < 0.5:
            if MEDIA_STEPS[state] == "location":
                return "location", user.send_location(38.04 + rng.random() / 10, 114.51 + rng.random() / 10)
            return "photo", user.send_photo()
        if sender.kind == "onboarding" and roll < 0.3:
            return "contact", user.send_contact(sender.phone or self.phone(), user_id=user.id)
        roll = rng.random()
        if roll < 0.5 and with_buttons:  # mostly the latest keyboard, as people do
            message = with_buttons[-1] if rng.random() < 0.8 else rng.choice(with_buttons)
            buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row
                       if b.get("callback_data")]
            if buttons:
                return "tap", user.press(message, rng.choice(buttons)["callback_data"])
        if roll < 0.5 and user.reply_keyboard():  # no buttons to tap: start something from the menu
            return "menu", user.send_text(rng.choice(user.reply_keyboard() or [""]))
        if roll < 0.58 and bot_messages:
            return "forged tap", user.press(rng.choice(bot_messages), self.forged_data(datas))
        if roll < 0.68 and user.reply_keyboard():
            return "menu", user.send_text(rng.choice(user.reply_keyboard() or [""]))
        if roll < 0.76:
            command = rng.choice(COMMANDS)
            if rng.random() < 0.2:
                command += " " + self.junk_text()
            return "command", user.send_text(command)
        if roll < 0.9:
            text = self.junk_text()
            if not text:
                return "empty", user.send_message()  # a message with no content the bot understands
            return "text", user.send_text(text)
        kind = rng.choice(["contact", "foreign contact", "location", "live location", "photo", "captioned photo",
                           "sticker", "document", "voice", "edited", "unrequested", "poll"])
        if kind == "contact":
            return kind, user.send_contact(sender.phone or self.phone(), user_id=user.id)
        if kind == "foreign contact":
            return kind, user.forward_contact(self.phone(), "Somebody", user_id=rng.choice([None, 42]))
        if kind in ("location", "live location"):
            return kind, user.send_location(rng.uniform(-90, 90), rng.uniform(-180, 180),
                                            live_period=60 if kind == "live location" else None)
        if kind in ("photo", "captioned photo"):
            return kind, user.send_photo(caption=self.junk_text() if kind == "captioned photo" else None)
        if kind == "sticker":
            sticker = {**user.bot.new_file("sticker", 500), "type": "regular", "width": 512, "height": 512,
                       "is_animated": False, "is_video": False, "emoji": "🚚"}
            return kind, user.send_message(sticker=sticker)
        if kind == "document":
            return kind, user.send_document(caption=rng.choice([None, self.junk_text()]))
        if kind == "voice":
            return kind, user.send_message(voice={**user.bot.new_file("voice", 900), "duration": 3})
        own = [m for m in user.bot.messages.get(user.id, {}).values() if m["from"]["id"] == user.id]
        if kind == "edited" and own:
            edited = {**rng.choice(own), "text": self.junk_text() or "edited", "edit_date": int(time.time())}
            return kind, self.api.push_update({"edited_message": edited})
        if kind == "poll":
            return kind, self.api.push_update({"poll": {"id": "1", "question": "?", "options": [],
                                                        "total_voter_count": 0, "is_closed": True,
                                                        "is_anonymous": True, "type": "regular",
                                                        "allows_multiple_answers": False}})
        return "unrequested", self.api.push_update({"message_reaction": {
            "chat": user.chat, "message_id": 1, "date": int(time.time()), "user": user.user,
            "old_reaction": [], "new_reaction": [{"type": "emoji", "emoji": "👍"}]}})


UPDATE_TYPES = {"edited": "edited_message", "poll": "poll", "unrequested": "message_reaction"}


def update_type(kind: str) -> str:
    return UPDATE_TYPES.get(kind, "callback_query" if kind.endswith("tap") else "message")


def answers_in(calls: list[Any]) -> tuple[set[int | str | None], set[str]]:
    """The chats that got a message (or an edit), and the taps whose callback was answered, among `calls`."""
    chats = {c.chat_id for c in calls if c.ok and (c.method.startswith("send") or c.method.startswith("edit"))}
    queries = {str(c.params.get("callback_query_id")) for c in calls if c.ok and c.method == "answerCallbackQuery"}
    return chats, queries


async def has_access(running_bot: BotUnderTest, sender: Sender, state: str | None) -> bool:
    """Whether the bot still lets this sender in: an active staff record, or an onboarding under way."""
    if sender.kind == "onboarding" and state is not None and state.startswith("Onboarding:"):
        return True
    async with running_bot.sessionmaker() as session:
        found = await session.execute(select(Staff.id).where(Staff.tg_user_id == sender.chat.id, Staff.active))
        return found.first() is not None


async def was_refused(running_bot: BotUnderTest, sender: Sender) -> bool:
    """Whether the bot has told this sender it is not for them (bot/services/gate.py notes when)."""
    async with running_bot.sessionmaker() as session:
        return await session.get(StrangerNotice, sender.chat.id) is not None


async def test_fuzz_every_update_is_handled_and_answered(people: People, running_bot: BotUnderTest) -> None:
    rng = random.Random(SEED)
    api = running_bot.api
    senders: list[Sender] = []
    for index, (role, org, phone) in enumerate(CAST):
        lang = "en" if index % 3 == 0 else "zh-hans"
        senders.append(Sender(await people.onboarded(role, org, phone, language_code=lang), "staff", phone))
    for index in range(3):
        senders.append(Sender(people.user(f"Stranger{index}", rng.choice(["en", "zh-hans", None, "ru"])),
                              "stranger"))
    for index in range(2):  # invited, waiting to share their contact
        chat = people.user(f"Newcomer{index}", "zh-hans")
        await chat.send(f"/start {await people.invite('sales_rep', 'dlr-tangshan')}")
        senders.append(Sender(chat, "onboarding", f"1390000{index:04d}"))

    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    findings = Findings()
    refused_strangers: set[int] = set()
    fuzzer = Fuzzer(running_bot, rng)
    started, sent = time.monotonic(), 0
    try:
        while sent < UPDATES:
            batch: list[tuple[Sender, str, int, str | None]] = []
            round_starts = len(api.calls)
            for sender in senders:
                if sent >= UPDATES:
                    break
                state = await fsm(running_bot, sender.chat).get_state()
                findings.states.add(state or "-")
                if sender.kind != "stranger" and not await has_access(running_bot, sender, state):
                    # The walk itself took their access away (a manager's "someone is leaving", an onboarding
                    # that failed too often): from now on the bot treats them as the stranger they are.
                    findings.lost_access.append(f"{sender.kind} {sender.chat.id} at update {sent + 1} of the walk")
                    sender.kind = "stranger"
                    if await was_refused(running_bot, sender):  # their update of the round before already was
                        refused_strangers.add(sender.chat.id)
                kind, update_id = await fuzzer.one(sender, state)
                query_id = next(reversed(api._bot(None).callbacks)) if kind.endswith("tap") else None
                findings.kinds[kind] = findings.kinds.get(kind, 0) + 1
                batch.append((sender, kind, update_id, query_id))
                sent += 1
            allowed = set(api._bot(None).allowed_updates)
            batch = [entry for entry in batch if update_type(entry[1]) in allowed]  # others Telegram never sends
            for _sender, _kind, update_id, _query in batch:
                await running_bot.processed(update_id)
            # One update per sender per round, so whatever reached a sender's chat this round answered it.
            chats, queries = answers_in(api.calls[round_starts:])
            for sender, kind, update_id, query_id in batch:
                # A stranger is refused once per conversation, then not answered again (their taps still are).
                if sender.kind == "stranger" and query_id is None and sender.chat.id in refused_strangers:
                    continue
                if sender.kind == "stranger" and sender.chat.id in chats:
                    refused_strangers.add(sender.chat.id)
                if (query_id not in queries) if query_id is not None else (sender.chat.id not in chats):
                    findings.unanswered.append(f"update {update_id}: {kind} from {sender.kind} {sender.chat.id}")
    finally:
        logging.getLogger().removeHandler(errors)
    elapsed = time.monotonic() - started

    refused = [c for c in api.calls if not c.ok and "message is not modified" not in (c.error or "")]
    findings.refused_calls = [f"{c.method} {c.status} {c.error} {str(c.params)[:200]}" for c in refused]
    findings.errors = [f"{r.name}: {r.getMessage()[:300]}\n{r.exc_text or ''}"[-3000:] for r in errors.records]
    summary = (f"fuzz seed={SEED}: {sent} updates in {elapsed:.1f}s from {len(senders)} senders; "
               f"{len(findings.states)} states visited; kinds {sorted(findings.kinds.items())}; "
               f"lost access during the walk: {findings.lost_access or 'nobody'}")
    print(summary)
    assert not findings.errors, summary + "\n" + "\n".join(findings.errors[:5])
    assert not findings.unanswered, summary + "\n" + "\n".join(findings.unanswered[:10])
    assert not findings.refused_calls, summary + "\n" + "\n".join(findings.refused_calls[:10])
    # The walk reaches deep into the flows (seed 20261201 at 5,000 updates: 39 states); fewer updates, fewer states.
    assert len(findings.states) >= (35 if UPDATES >= 5000 else 15), sorted(findings.states)
