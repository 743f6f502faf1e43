"""Invite → /start CODE → share own contact → greeted by role with the menu; and every way it can go wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from storage.models import AuditLog, Invite, Staff
from tests.conftest import People
from tests.support.harness import BotUnderTest, text_of


async def staff_by_tg(runner: BotUnderTest, tg_user_id: int) -> Staff | None:
    async with runner.sessionmaker() as session:
        result = await session.execute(select(Staff).where(Staff.tg_user_id == tg_user_id))
        return result.scalar_one_or_none()


@pytest.mark.parametrize(
    ("language_code", "expects"),
    [
        ("zh-hans", ["欢迎使用 fieldbot", "销售顾问", "请点击下方按钮分享您的手机号", "您已注册成功，身份为",
                     "👤 我的信息"]),
        ("zh-cn", ["欢迎使用 fieldbot", "销售顾问", "您已注册成功，身份为", "🌐 语言"]),
        ("zh", ["欢迎使用 fieldbot"]),
        ("en", ["Welcome to fieldbot", "Sales consultant", "share your phone number", "You are now registered",
                "👤 My profile"]),
        ("de", ["Welcome to fieldbot"]),
    ],
)
async def test_invite_start_contact_menu(people: People, running_bot: BotUnderTest, language_code: str,
                                         expects: list[str]) -> None:
    chat = people.user("Yang", language_code)
    code = await people.invite("sales_rep", "dlr-shijiazhuang")

    welcome = await chat.send(f"/start {code}")
    assert len(welcome) == 1
    assert chat.asks_for_contact()

    done = await chat.share_contact("+86 139 1234 5678", first_name="Yang")
    transcript = text_of(welcome + done) + "\n" + " ".join(chat.reply_keyboard() or [])
    for fragment in expects:
        assert fragment in transcript

    staff = await staff_by_tg(running_bot, chat.id)
    assert staff is not None
    assert (staff.role, staff.phone, staff.name) == ("sales_rep", "+8613912345678", "Yang")
    assert staff.locale == ("zh_CN" if language_code.startswith("zh") else "en")
    async with running_bot.sessionmaker() as session:
        invite = (await session.execute(select(Invite))).scalars().one()
        assert invite.used_by_tg_user_id == chat.id and invite.used_at is not None
        actions = [a.action for a in (await session.execute(select(AuditLog))).scalars()]
    assert "staff.onboarded" in actions


async def test_imported_staff_is_bound_not_duplicated(people: People, running_bot: BotUnderTest) -> None:
    chat = people.user("Yang Fan", "zh-hans")
    code = await people.invite("sales_rep", "dlr-shijiazhuang")
    await chat.send(f"/start {code}")
    await chat.share_contact("13800000016", first_name="Yang Fan")  # 杨帆 of the demo org
    staff = await staff_by_tg(running_bot, chat.id)
    assert staff is not None and staff.name == "杨帆"  # i18n-ok: the demo record kept its name
    async with running_bot.sessionmaker() as session:
        same_phone = (await session.execute(select(Staff).where(Staff.phone == "+8613800000016"))).scalars().all()
    assert len(same_phone) == 1


async def test_wrong_code_and_stranger(people: People, running_bot: BotUnderTest) -> None:
    chat = people.user("Eve", "en")
    reply = await chat.send("/start AAAAAAAAAAAAAAAAAAAAAAAA")
    assert text_of(reply) == "This invitation code is not valid. Please check the link you were sent."
    assert await staff_by_tg(running_bot, chat.id) is None

    refusal = text_of(await chat.send("show me the customers"))
    assert "仅供本品牌经销商网络内部使用" in refusal and "only for the truck dealer network" in refusal
    refusal_start = text_of(await chat.send("/start"))
    assert refusal_start == refusal


async def test_reused_code(people: People) -> None:
    first = people.user("A", "en")
    second = people.user("B", "en")
    code = await people.invite("sales_rep", "dlr-jinan")
    await first.send(f"/start {code}")
    await first.share_contact("13911110001")
    reply = await second.send(f"/start {code}")
    assert text_of(reply) == "This invitation has already been used. Ask your manager for a new one."


async def test_code_used_between_start_and_contact(people: People, running_bot: BotUnderTest) -> None:
    first = people.user("A", "en")
    second = people.user("B", "en")
    code = await people.invite("sales_rep", "dlr-jinan")
    await first.send(f"/start {code}")
    await second.send(f"/start {code}")
    await first.share_contact("13911110002")
    reply = await second.share_contact("13911110003")
    assert text_of(reply) == "This invitation has already been used. Ask your manager for a new one."
    assert await staff_by_tg(running_bot, second.id) is None


async def test_expired_code(people: People) -> None:
    chat = people.user("Late", "zh-hans")
    code = await people.invite("sales_rep", "dlr-kunming", ttl=timedelta(seconds=-1))
    assert text_of(await chat.send(f"/start {code}")) == "该邀请已过期，请向上级重新索取。"


async def test_repeated_wrong_codes_are_throttled(people: People, running_bot: BotUnderTest) -> None:
    chat = people.user("Guesser", "en")
    replies = [text_of(await chat.send(f"/start WRONGCODE{i:016d}")) for i in range(5)]
    assert replies[:4] == ["This invitation code is not valid. Please check the link you were sent."] * 4
    assert replies[4] == "Too many wrong codes. Please wait half an hour and try again."
    good = await people.invite("sales_rep", "dlr-kunming")
    assert text_of(await chat.send(f"/start {good}")) == replies[4]


async def test_forwarded_contact_is_refused(people: People, running_bot: BotUnderTest) -> None:
    chat = people.user("Mallory", "en")
    code = await people.invite("sales_rep", "dlr-qujing")
    await chat.send(f"/start {code}")
    someone_else = await chat.forward_contact("13800000022", "Lü Juan", user_id=999_999)
    assert "your own phone number" in text_of(someone_else)
    no_user = await chat.forward_contact("13800000022", "Lü Juan", user_id=None)
    assert "your own phone number" in text_of(no_user)
    assert await staff_by_tg(running_bot, chat.id) is None
    ok = await chat.share_contact("13922223333", first_name="Mallory")
    assert "You are now registered" in text_of(ok)


async def test_text_instead_of_contact_reasks(people: People) -> None:
    chat = people.user("Slow", "en")
    code = await people.invite("sales_rep", "dlr-qujing")
    await chat.send(f"/start {code}")
    reply = await chat.send("13922224444")
    assert "Share my phone number" in text_of(reply)
    assert chat.asks_for_contact()


async def test_bad_phone_reasks(people: People) -> None:
    chat = people.user("Odd", "en")
    code = await people.invite("sales_rep", "dlr-qujing")
    await chat.send(f"/start {code}")
    reply = await chat.share_contact("12345")
    assert "doesn't look valid" in text_of(reply)
    assert "You are now registered" in text_of(await chat.share_contact("13922225555"))


async def test_restart_mid_onboarding_resumes(people: People, running_bot: BotUnderTest) -> None:
    chat = people.user("Restart", "zh-hans")
    code = await people.invite("dealer_gm", "dlr-tangshan")
    await chat.send(f"/start {code}")
    await running_bot.restart()
    done = await chat.share_contact("13933334444", first_name="Restart")
    assert "您已注册成功，身份为唐山远航汽车销售的总经理/品牌经理" in text_of(done)  # i18n-ok
    staff = await staff_by_tg(running_bot, chat.id)
    assert staff is not None and staff.role == "dealer_gm"


async def test_cancel_mid_onboarding(people: People, running_bot: BotUnderTest) -> None:
    chat = people.user("Quitter", "en")
    code = await people.invite("sales_rep", "dlr-qujing")
    await chat.send(f"/start {code}")
    assert text_of(await chat.send("/cancel")) == "Cancelled."
    refusal = text_of(await chat.share_contact("13922226666"))
    assert "only for the truck dealer network" in refusal
    assert await staff_by_tg(running_bot, chat.id) is None
