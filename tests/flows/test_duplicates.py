"""A customer phone already on file at another dealer (a possible double claim) is flagged to the unit above
both dealers; neither dealer is shown the other's record."""

from __future__ import annotations

import pytest
from sqlmodel import select

from storage.models import AuditLog, DuplicateFlag, OrgUnit
from tests.conftest import People
from tests.flows.test_activities import t
from tests.flows.test_customers import create_customer, customers_named
from tests.support.harness import BotUnderTest, text_of

FLAG_TITLE = "⚠️ Same customer phone on file at two dealers (possible double claim): {count}"
PUSH = ("⚠️ Possible double claim: the same customer phone ({phone}) is on file at two dealers.\n"
        "• #{id} {name} ({dealer})\n• #{other_id} {other_name} ({other_dealer})\n"
        "Neither dealer has been told about the other's record. /team lists the open cases.")
FLAG_LINE = "• #{id} {name} ({dealer}) and #{other_id} {other_name} ({other_dealer}), {phone}"


async def flags(runner: BotUnderTest) -> list[DuplicateFlag]:
    async with runner.sessionmaker() as session:
        return list((await session.execute(select(DuplicateFlag).order_by(DuplicateFlag.id))).scalars())  # type: ignore[arg-type]


async def unit(runner: BotUnderTest, code: str) -> OrgUnit:
    async with runner.sessionmaker() as session:
        return (await session.execute(select(OrgUnit).where(OrgUnit.code == code))).scalar_one()


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_same_phone_at_two_dealers_is_flagged_to_their_market_department(people: People,
                                                                                running_bot: BotUnderTest,
                                                                                lang: str) -> None:
    first = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13911119901", language_code=lang)
    second = await people.onboarded("sales_rep", "dlr-tangshan", "13911119902", language_code=lang)
    reviewer = await people.onboarded("marketing_manager", "mkt-hebei", "13800000007", language_code=lang)
    dealer_gm = await people.onboarded("dealer_gm", "dlr-shijiazhuang", "13800000013", language_code=lang)
    seen = {chat.id: len(running_bot.api.sent_messages(chat.id)) for chat in (reviewer, dealer_gm, first)}
    await create_customer(first, "Hengtong Fleet", "13600009901")
    replies = text_of(await create_customer(second, "Yuanhang Fleet", "136 0000 9901"))
    # the second dealer hears nothing of the first one's record
    assert "Hengtong" not in replies and "石家庄" not in replies  # i18n-ok
    assert t("Customer saved.", lang) in replies
    [a] = await customers_named(running_bot, "Hengtong Fleet")
    [b] = await customers_named(running_bot, "Yuanhang Fleet")
    assert a.phone == b.phone == "+8613600009901"
    market = await unit(running_bot, "mkt-hebei")
    [flag] = await flags(running_bot)
    assert (flag.customer_id, flag.other_customer_id, flag.reviewer_unit_id, flag.reviewer_path) == (
        b.id, a.id, market.id, market.path)
    async with running_bot.sessionmaker() as session:
        audit = (await session.execute(select(AuditLog).where(
            AuditLog.action == "customer.duplicate_flagged"))).scalars().all()
    assert len(audit) == 1 and "13600009901" not in audit[0].detail  # the phone is masked in the audit log
    # editing the record again raises no second flag
    assert len(await flags(running_bot)) == 1

    # the market department's staff are told (through the outbox), with both records; nobody at either dealer is
    [pushed] = running_bot.api.sent_messages(reviewer.id)[seen[reviewer.id]:]
    tangshan, shijiazhuang = "唐山远航汽车销售", "石家庄恒通商用车"  # i18n-ok: the demo dealers' names
    assert pushed["text"] == t(PUSH, lang).format(phone="+86136****9901", id=b.id, name="Yuanhang Fleet",
                                                 dealer=tangshan, other_id=a.id, other_name="Hengtong Fleet",
                                                 other_dealer=shijiazhuang)
    assert running_bot.api.sent_messages(dealer_gm.id)[seen[dealer_gm.id]:] == []
    assert "Yuanhang" not in text_of(running_bot.api.sent_messages(first.id)[seen[first.id]:])
    # the market department's manager sees both records in /team; neither dealer's manager does
    team = text_of(await reviewer.send("/team"))
    assert t(FLAG_TITLE, lang).format(count=1) in team
    assert t(FLAG_LINE, lang).format(id=b.id, name="Yuanhang Fleet", dealer=tangshan, other_id=a.id,
                                     other_name="Hengtong Fleet", other_dealer=shijiazhuang,
                                     phone="+86136****9901") in team
    gm_team = text_of(await dealer_gm.send("/team"))
    assert t(FLAG_TITLE, lang).format(count=1) not in gm_team and "Yuanhang" not in gm_team
    # and a dealer can't open the other dealer's record
    assert "Hengtong" not in text_of(await second.send(f"/customer {a.id}"))


async def test_dealers_under_different_market_departments_are_flagged_to_the_region(people: People,
                                                                                    running_bot: BotUnderTest
                                                                                    ) -> None:
    hebei = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13911119903", language_code="en")
    jinan = await people.onboarded("sales_rep", "dlr-jinan", "13911119904", language_code="en")
    await create_customer(hebei, "Cross Region One", "13600009903")
    await create_customer(jinan, "Cross Region Two", "13600009903")
    [flag] = await flags(running_bot)
    assert flag.reviewer_unit_id == (await unit(running_bot, "north")).id
    # the same phone at the same dealer stays the dealer's own duplicate question, not a flag
    assert len(await flags(running_bot)) == 1
