"""Names over the limit are told why, emoji-only names are refused (customers, opinion leaders, stations); a
stranger hears the refusal once per conversation, and again after a quiet day or on /start."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from storage.models import Customer, StrangerNotice
from storage.uow import UnitOfWork
from tests.conftest import People
from tests.flows.test_activities import t
from tests.support.harness import BotUnderTest, text_of

TOO_LONG = "That name is {length} characters long; names can have at most {max}. Please send a shorter one."
NO_LETTERS = ("A name needs letters or Chinese characters, not only emoji, symbols or digits. Please send the name "
              "again.")
REFUSAL_EN = "only for the truck dealer network"
REFUSAL_ZH = "仅供本品牌经销商网络内部使用"  # i18n-ok


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_customer_name_too_long_or_emoji_only_is_told_why(people: People, running_bot: BotUnderTest,
                                                                lang: str) -> None:
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13911118801", language_code=lang)
    await chat.send("/newcustomer")
    long_reply = text_of(await chat.send("车" * 205))  # i18n-ok
    assert long_reply.startswith(t(TOO_LONG, lang).format(length=205, max=200))
    emoji_reply = text_of(await chat.send("🚚🚚🚚"))
    assert emoji_reply.startswith(t(NO_LETTERS, lang))
    # still at the name step: a real name moves on to the phone
    assert text_of(await chat.send("恒通物流")) == t("The customer's phone number?", lang)  # i18n-ok
    async with running_bot.sessionmaker() as session:
        assert (await session.execute(select(Customer))).first() is None


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_leader_and_station_names_refuse_emoji_and_say_the_limit(people: People, running_bot: BotUnderTest,
                                                                       lang: str) -> None:
    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13911118802", language_code=lang)
    await chat.send("/newleader")
    assert text_of(await chat.send("👍👍")) == t(NO_LETTERS, lang)
    assert text_of(await chat.send("x" * 201)).startswith(t(TOO_LONG, lang).format(length=201, max=200))
    await chat.send("/cancel")
    await chat.send("/newstation")
    assert text_of(await chat.send("⭐️ 123")) == t(NO_LETTERS, lang)


async def stranger_notice(runner: BotUnderTest, user_id: int) -> StrangerNotice | None:
    async with runner.sessionmaker() as session:
        return await session.get(StrangerNotice, user_id)


@pytest.mark.parametrize(("lang", "refusal"), [("zh-hans", REFUSAL_ZH), ("en", REFUSAL_EN)])
async def test_stranger_refusal_once_per_conversation(people: People, running_bot: BotUnderTest, lang: str,
                                                      refusal: str) -> None:
    stranger = people.user("Eve", lang)
    first = text_of(await stranger.send("hello"))
    assert refusal in first and REFUSAL_EN in first  # both languages, once
    assert await stranger.send("is anyone there?") == []
    assert await stranger.send("/help") == []
    stored = await stranger_notice(running_bot, stranger.id)
    assert stored is not None and stored.last_seen_at >= stored.refused_at
    # /start opens a new conversation on purpose: the refusal again
    assert refusal in text_of(await stranger.send("/start"))
    # a day of quiet later the next message is a new conversation
    async with UnitOfWork(running_bot.sessionmaker) as uow:
        notice = await uow.session.get(StrangerNotice, stranger.id)
        assert notice is not None
        notice.last_seen_at -= timedelta(hours=25)
        notice.refused_at -= timedelta(hours=25)
        uow.session.add(notice)
        await uow.commit()
    assert refusal in text_of(await stranger.send("hello again"))
    assert await stranger.send("still me") == []
