"""A manager deactivates someone who leaves from /team: their access ends and their customers (with follow-ups),
opinion leaders and open activities go to the colleague chosen, recorded in the audit log."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import select

from handlers.staff_leave import StaffLeave
from storage.models import Activity, AuditLog, Customer, OpinionLeader, Staff
from storage.uow import UnitOfWork
from tests.conftest import People
from tests.flows.test_activities import t
from tests.flows.test_customers import tap_data
from tests.flows.test_sales import add_customer, add_leader, unit_and_staff
from tests.support.harness import BotUnderTest, text_of

REFUSAL = "This assistant is only for the truck dealer network. If you work with us, please ask your manager for an " \
          "invitation link."


async def staff_named(runner: BotUnderTest, phone: str) -> Staff:
    async with runner.sessionmaker() as session:
        return (await session.execute(select(Staff).where(Staff.phone == phone))).scalar_one()


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_manager_hands_a_leavers_work_to_a_colleague(people: People, running_bot: BotUnderTest,
                                                           lang: str) -> None:
    leaver = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13911117701", language_code=lang,
                                    first_name="Leaver")
    unit, leaving = await unit_and_staff(running_bot, "dlr-shijiazhuang", leaver)
    customer = await add_customer(running_bot, unit, leaving, "Fleet To Hand Over", "unit", "13600007701")
    leader = await add_leader(running_bot, unit, leaving, "Old Ma", "13700007701")
    async with UnitOfWork(running_bot.sessionmaker) as uow:
        stored = await uow.session.get(Customer, customer.id)
        assert stored is not None
        stored.next_follow_up = stored.created_at.date() + timedelta(days=2)
        uow.session.add(Activity(
            client_token="leave-open", requester_staff_id=leaving.id, dealer_unit_id=unit.id, org_path=unit.path,
            activity_type="test_drive", kpi="promotion", product_line="tx", series="tx_tractor_gtl",
            starts_at=stored.created_at + timedelta(days=9), city="Zhengding", address="4S store",
            expected_attendance=20, budget_fen=100_000, state="pending"))
        await uow.commit()
    successor = await staff_named(running_bot, "+8613800000016")  # 杨帆, a sales consultant of the same dealer
    manager = await people.onboarded("dealer_gm", "dlr-shijiazhuang", "13800000013", language_code=lang)

    team = await manager.send("/team")
    assert text_of(team).endswith(t("Someone leaving? End their access and hand their work to a colleague:", lang))
    asked = text_of(await tap_data(manager, StaffLeave(step="pick").pack()))
    assert asked == t("Who is leaving? Their access ends, and their customers, follow-ups, opinion leaders and open "
                      "activities go to a colleague you choose next.", lang)
    labels = [label for label, _ in manager.inline_buttons()]
    assert any(label.startswith("Leaver · ") for label in labels) and not any("蒋勇" in x for x in labels)  # i18n-ok
    who = await tap_data(manager, StaffLeave(step="who", staff=leaving.id).pack())  # type: ignore[arg-type]
    assert t("Who takes over the work of {name}?", lang).format(name="Leaver") in text_of(who)
    colleague_buttons = [data for _, data in manager.inline_buttons()]
    assert StaffLeave(step="to", staff=leaving.id, to=successor.id).pack() in colleague_buttons  # type: ignore[arg-type]
    await tap_data(manager, StaffLeave(step="to", staff=leaving.id, to=successor.id).pack())  # type: ignore[arg-type]
    done = text_of(await tap_data(manager, StaffLeave(step="ok", staff=leaving.id, to=successor.id).pack()))  # type: ignore[arg-type]
    assert done == t("{name} is deactivated. Handed to {successor}: {customers} customers ({follow_ups} with a "
                     "follow-up), {leaders} opinion leaders, {activities} open activities.", lang).format(
        name="Leaver", successor=successor.name, customers=1, follow_ups=1, leaders=1, activities=1)

    async with running_bot.sessionmaker() as session:
        assert (await session.get(Staff, leaving.id)).active is False  # type: ignore[union-attr]
        assert (await session.get(Customer, customer.id)).owner_staff_id == successor.id  # type: ignore[union-attr]
        assert (await session.get(OpinionLeader, leader.id)).maintainer_staff_id == successor.id  # type: ignore[union-attr]
        activity = (await session.execute(select(Activity))).scalar_one()
        [entry] = (await session.execute(select(AuditLog).where(AuditLog.action == "staff.deactivated"))).scalars()
    assert activity.requester_staff_id == successor.id
    assert entry.subject == f"staff:{leaving.id}"
    assert json.loads(entry.detail) | {} == {"successor": successor.id, "customers": 1, "follow_ups": 1, "leaders": 1,
                                             "activities": 1, "invites_revoked": 0, "via": "chat"}
    manager_row = await staff_named(running_bot, "+8613800000013")
    assert entry.actor_staff_id == manager_row.id

    # the leaver's access has ended: the stranger's refusal, and no customer data
    assert REFUSAL in text_of(await leaver.send("/customer " + str(customer.id)))
    # a second tap on the old button is refused politely, nothing changes twice
    await manager.press(manager.runner.api.sent_messages(manager.id)[-2],
                        StaffLeave(step="ok", staff=leaving.id, to=successor.id).pack())  # type: ignore[arg-type]
    answers = [c for c in running_bot.api.calls if c.method == "answerCallbackQuery"]
    assert answers[-1].params.get("text") == t("That person has been deactivated already.", lang)


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
async def test_a_sales_rep_cannot_deactivate_and_a_forged_tap_outside_scope_is_refused(
        people: People, running_bot: BotUnderTest, lang: str) -> None:
    rep = await people.onboarded("sales_rep", "dlr-tangshan", "13911117702", language_code=lang)
    assert t("Someone leaving? End their access and hand their work to a colleague:", lang) not in text_of(
        await rep.send("/team"))
    other = await staff_named(running_bot, "+8613800000019")  # a Jinan sales consultant
    manager = await people.onboarded("dealer_gm", "dlr-tangshan", "13911117703", language_code=lang)
    await manager.send("/team")
    message = manager.runner.api.sent_messages(manager.id)[-1]
    await manager.press(message, StaffLeave(step="who", staff=other.id).pack())  # type: ignore[arg-type]
    answers = [c for c in running_bot.api.calls if c.method == "answerCallbackQuery"]
    assert answers[-1].params.get("text") == t("That person is not in your part of the organisation.", lang)
    assert (await staff_named(running_bot, "+8613800000019")).active is True


async def test_someone_let_go_mid_flow_who_taps_back_is_refused_not_failed(people: People,
                                                                         running_bot: BotUnderTest) -> None:
    """Found by the fuzz: a salesperson let go while a flow was open tapped Back, and the step asked again
    read their (now missing) staff record and failed three times. Back and Cancel are staff buttons: the
    stranger's refusal answers the tap."""
    from ui.flow import Nav

    chat = await people.onboarded("sales_rep", "dlr-shijiazhuang", "13911117709", language_code="en")
    assert "customer's name" in text_of(await chat.send("/newcustomer"))
    assert "phone number" in text_of(await chat.send("Late Leaver Logistics"))
    leaving = await staff_named(running_bot, "+8613911117709")
    async with UnitOfWork(running_bot.sessionmaker) as uow:
        stored = await uow.session.get(Staff, leaving.id)
        assert stored is not None
        stored.active = False
        await uow.commit()
    before = len(chat.texts())
    for action in ("back", "cancel"):
        await tap_data(chat, Nav(action=action).pack())
        answer = [c for c in running_bot.api.calls if c.method == "answerCallbackQuery"][-1]
        assert answer.ok and answer.params.get("text", "").startswith("This assistant is only for"), answer
    assert len(chat.texts()) == before  # nothing asked again, no apology
