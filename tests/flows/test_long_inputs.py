"""Replies that quote the user's input stay within Telegram's limits: a 4,000-character answer still gets one."""

from __future__ import annotations

import pytest

from app.assembly import build_bot
from app.outgoing import cut_utf16, utf16_len
from bot.config import Settings
from bot.domain.text import shorten
from bot.i18n import make_i18n
from sandbox.botapi import LocalBotAPI
from tests.conftest import People
from tests.flows import test_activities, test_approvals
from tests.support.harness import TOKEN, BotUnderTest, Chat

I18N = make_i18n("zh_CN")
LOCALES = {"zh-hans": "zh_CN", "en": "en"}
HUGE = "Zhang " + "很长的名字" * 800  # i18n-ok: 4,006 characters of a pasted name


def t(message: str, lang: str) -> str:
    return I18N.gettext(message, locale=LOCALES[lang])


def failed_sends(api: LocalBotAPI, chat: Chat) -> list[str]:
    return [c.error or "" for c in api.calls_to(chat.id) if c.method.startswith("send") and not c.ok]


def test_shorten_marks_the_cut() -> None:
    assert shorten("abc") == "abc"
    assert shorten("a  b\n\nc") == "a b c"
    cut = shorten("x" * 4000)
    assert len(cut) == 50 and cut.endswith("…")
    assert shorten("line one\nline two" + "y" * 100, 20, one_line=False).startswith("line one\nline two")


def test_cut_counts_utf16_like_telegram() -> None:
    emoji = "🚚" * 3000  # two UTF-16 code units each
    cut = cut_utf16(emoji, 4096)
    assert utf16_len(cut) <= 4096 and cut.endswith("…")
    assert cut_utf16("short", 4096) == "short"


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_sale_search_with_a_huge_query_is_answered(people: People, running_bot: BotUnderTest,
                                                         lang: str) -> None:
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13911118801", language_code=lang)
    await chat.send("/sale")
    [reply] = await chat.send(HUGE)
    assert t("No customer matches “{query}”. Try another part of the name or phone, or create the customer "
             "first with /newcustomer and then report the sale with /sale.", lang).format(
        query=shorten(HUGE)) == reply["text"]
    assert "…" in reply["text"] and len(reply["text"]) < 400
    assert failed_sends(running_bot.api, chat) == []


@pytest.mark.parametrize("start", ["/visit", "/find"])
async def test_customer_searches_with_a_huge_query_are_answered(people: People, running_bot: BotUnderTest,
                                                                start: str) -> None:
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13911118802", language_code="en")
    replies = await chat.send(f"/find {HUGE}") if start == "/find" else [*await chat.send(start),
                                                                        *await chat.send(HUGE)]
    assert shorten(HUGE) in replies[-1]["text"] and len(replies[-1]["text"]) < 400
    assert failed_sends(running_bot.api, chat) == []


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_a_huge_rejection_comment_still_reaches_the_requester(people: People, running_bot: BotUnderTest,
                                                                    lang: str) -> None:
    c = await test_activities.cast(people, lang)
    activity = await test_activities.submitted(c, running_bot)
    await c.marketing.tap(t("❌ Reject", lang))
    comment = "Budget too high. " * 250  # 4,250 characters
    await c.marketing.send(comment)
    told = c.requester.texts()[-1]
    assert told.startswith(t("❌ Activity #{id} was rejected by {level} ({name}): {comment}", lang).format(
        id=activity.id, level=t("Market department", lang), name="郑敏", comment="Budget too high."))  # i18n-ok
    assert told.endswith("…") and len(told) < 1200
    assert failed_sends(running_bot.api, c.requester) == [] and failed_sends(running_bot.api, c.marketing) == []
    stored = await test_approvals.row(running_bot, activity.id or 0)
    assert stored.state == "rejected"
    [decision] = await test_activities.decisions(running_bot, activity.id or 0)
    assert decision.comment == comment.strip()  # the whole comment is kept


async def test_the_bot_cuts_an_overlong_text_instead_of_losing_it(api: LocalBotAPI, settings: Settings) -> None:
    user = api.user(user_id=4242, first_name="Eve")
    photo = api._bot(TOKEN).new_file("photo", 1000)["file_id"]  # as if the user had sent it
    bot = build_bot(settings, TOKEN)
    try:
        await bot.send_message(user.id, "🚚" * 2500)  # 5,000 UTF-16 units: Telegram would refuse it
        await bot.send_photo(user.id, photo, caption="x" * 2000)
    finally:
        await bot.session.close()
    sent = [c for c in api.calls_to(user.id) if c.method in ("sendMessage", "sendPhoto")]
    assert [c.ok for c in sent] == [True, True], [c.error for c in sent]
    assert utf16_len(sent[0].params["text"]) <= 4096 and sent[0].params["text"].endswith("…")
    assert len(sent[1].params["caption"]) == 1024 and sent[1].params["caption"].endswith("…")
