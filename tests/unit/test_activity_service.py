"""ActivityService over a real SQLite database with the demo org and a fixed clock: chains, approvers, scope,
versions, the watch, results and evaluation, quarterly counts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.approvals import ApprovalError, BudgetLine
from bot.domain.errors import DomainError
from bot.services.activities import ActivityDraft, ActivityService
from bot.services.org_import import OrgImporter
from storage import migrate
from storage.engine import make_engine, make_sessionmaker
from storage.models import OrgUnit, Staff
from storage.uow import UnitOfWork

DEMO_ORG = Path(__file__).resolve().parents[2] / "bot" / "data" / "demo_org.yaml"
TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2030, 3, 1, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def sessionmaker(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'activities.sqlite3'}")
    await migrate.upgrade(engine)
    maker = make_sessionmaker(engine)
    async with UnitOfWork(maker) as uow:
        await OrgImporter(uow).import_file(DEMO_ORG)
        await uow.commit()
    yield maker
    await engine.dispose()


def draft(activity_type: str = "roadshow", budget_fen: int = 500_000, attendance: int = 30,
          starts_at: datetime = NOW + timedelta(days=10)) -> ActivityDraft:
    return ActivityDraft(activity_type=activity_type, product_line="tx", series="tx_tractor_gtl", starts_at=starts_at,
                         city="Zhengding", address="Depot", natures=("individual",), expected_attendance=attendance,
                         budget_lines=(BudgetLine("Venue", budget_fen),), description="")


async def person(uow: UnitOfWork, phone: str) -> tuple[Staff, OrgUnit]:
    staff = await uow.staff.by_phone(phone)
    assert staff is not None
    unit = await uow.org.get(staff.org_unit_id)
    assert unit is not None
    return staff, unit


REQUESTER = "+8613800000014"  # dealer_marketing_manager, dlr-shijiazhuang
SPECIALIST = "+8613800000010"  # activity_specialist, mkt-hebei
MARKETING = "+8613800000007"  # marketing_manager, mkt-hebei
REGION = "+8613800000003"  # region_manager, north
HQ_STAFF = "+8613800000002"
SHANDONG = "+8613800000011"  # marketing_manager, mkt-shandong


async def submit(maker: async_sessionmaker[AsyncSession], clock: Clock, **kwargs: object) -> int:
    async with UnitOfWork(maker) as uow:
        staff, unit = await person(uow, REQUESTER)
        done = await ActivityService(uow, clock, TZ).submit(staff, unit, draft(**kwargs), f"token-{kwargs}")  # type: ignore[arg-type]
        await uow.commit()
        assert done.activity.id is not None
        return done.activity.id


async def decide(maker: async_sessionmaker[AsyncSession], clock: Clock, phone: str, activity_id: int, version: int,
                 decision: str = "approve", comment: str | None = None) -> None:
    async with UnitOfWork(maker) as uow:
        staff, unit = await person(uow, phone)
        await ActivityService(uow, clock, TZ).decide(staff, unit, activity_id, version, decision, comment)
        await uow.commit()


@pytest.mark.parametrize(("kwargs", "chain"), [
    ({}, ("market",)),
    ({"budget_fen": 2_000_000}, ("market",)),
    ({"budget_fen": 2_000_001}, ("market", "region")),
    ({"attendance": 51}, ("market", "region")),
    ({"activity_type": "launch_event"}, ("market", "region", "hq")),
])
async def test_chain_is_fixed_at_submission(sessionmaker: async_sessionmaker[AsyncSession], kwargs: dict,
                                            chain: tuple[str, ...]) -> None:
    clock = Clock(NOW)
    activity_id = await submit(sessionmaker, clock, **kwargs)
    async with UnitOfWork(sessionmaker) as uow:
        activity = await uow.activities.get(activity_id)
        assert activity is not None
        assert tuple(activity.chain.split(",")) == chain
        assert (activity.state, activity.version, activity.step_started_at) == ("pending", 1, NOW)
        assert activity.kpi == "promotion"


async def test_same_token_submits_once_and_only_dealers_request(sessionmaker: async_sessionmaker[AsyncSession]
                                                                ) -> None:
    clock = Clock(NOW)
    async with UnitOfWork(sessionmaker) as uow:
        staff, unit = await person(uow, REQUESTER)
        service = ActivityService(uow, clock, TZ)
        first = await service.submit(staff, unit, draft(), "same")
        second = await service.submit(staff, unit, draft(), "same")
        assert first.created and not second.created and first.activity.id == second.activity.id
        assert sorted(s.phone or "" for s in first.approvers) == [MARKETING, SPECIALIST]
        manager, market = await person(uow, MARKETING)
        with pytest.raises(DomainError) as caught:
            await service.submit(manager, market, draft(), "other")
        assert caught.value.code == "not_allowed"
        with pytest.raises(DomainError) as caught:
            await service.submit(staff, unit, draft(starts_at=NOW - timedelta(minutes=1)), "past")
        assert caught.value.code == "starts_in_past"


async def test_approvers_are_the_requesters_ancestors_only(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    activity_id = await submit(sessionmaker, Clock(NOW), activity_type="launch_event")
    async with UnitOfWork(sessionmaker) as uow:
        service = ActivityService(uow, Clock(NOW), TZ)
        activity = await uow.activities.get(activity_id)
        assert activity is not None
        phones = {level: sorted(s.phone or "" for s in await service.approvers_for(activity, level))
                  for level in ("market", "region", "hq")}
    assert phones == {"market": [MARKETING, SPECIALIST], "region": [REGION, "+8613800000005"],
                      "hq": ["+8613800000001", HQ_STAFF]}


async def test_scope_version_and_step_are_rechecked(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock(NOW)
    activity_id = await submit(sessionmaker, clock, activity_type="launch_event")

    async def refused(phone: str, version: int, decision: str = "approve") -> str:
        with pytest.raises(DomainError) as caught:
            await decide(sessionmaker, clock, phone, activity_id, version, decision)
        return caught.value.code

    assert await refused(SHANDONG, 1) == "activity_not_found"
    assert await refused(REGION, 1) == "wrong_step"
    assert await refused(REQUESTER, 1) == "not_an_approver"
    assert await refused(SPECIALIST, 0) == "stale"
    assert await refused(SPECIALIST, 1, "reject") == "comment_required"
    await decide(sessionmaker, clock, SPECIALIST, activity_id, 1)
    assert await refused(MARKETING, 1) == "stale"
    await decide(sessionmaker, clock, REGION, activity_id, 2)
    await decide(sessionmaker, clock, HQ_STAFF, activity_id, 3)
    assert await refused(HQ_STAFF, 4) == "not_pending"
    async with UnitOfWork(sessionmaker) as uow:
        activity = await uow.activities.get(activity_id)
        assert activity is not None and (activity.state, activity.version) == ("approved", 4)
        assert [d.version for d in await uow.activities.decisions(activity_id)] == [1, 2, 3]


async def test_two_approvers_at_once_only_one_wins(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock(NOW)
    activity_id = await submit(sessionmaker, clock)
    async with UnitOfWork(sessionmaker) as first_uow, UnitOfWork(sessionmaker) as second_uow:
        first, first_unit = await person(first_uow, SPECIALIST)
        second, second_unit = await person(second_uow, MARKETING)
        # Both read version 1 before either writes.
        await ActivityService(second_uow, clock, TZ).check_decision(second, second_unit, activity_id, 1, "approve")
        await ActivityService(first_uow, clock, TZ).decide(first, first_unit, activity_id, 1, "approve")
        await first_uow.commit()
        with pytest.raises(ApprovalError) as caught:
            await ActivityService(second_uow, clock, TZ).decide(second, second_unit, activity_id, 1, "reject", "no")
        assert caught.value.code in ("stale", "not_pending")
    async with UnitOfWork(sessionmaker) as uow:
        assert [d.decision for d in await uow.activities.decisions(activity_id)] == ["approve"]
        # The write itself is conditional on the version read: a late writer changes nothing.
        assert not await uow.activities.advance(activity_id, 1, {"state": "rejected", "version": 2})
        activity = await uow.activities.get(activity_id)
        assert activity is not None and (activity.state, activity.version) == ("approved", 2)


async def test_watch_reminds_then_escalates_once(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    activity_id = await submit(sessionmaker, Clock(NOW))

    async def watch(hours: float) -> list[tuple[str, str | None, list[str], list[str]]]:
        async with UnitOfWork(sessionmaker) as uow:
            steps = await ActivityService(uow, Clock(NOW + timedelta(hours=hours)), TZ).overdue_steps()
            await uow.commit()
            return [(s.action, s.upper_level, sorted(a.phone or "" for a in s.approvers),
                     sorted(a.phone or "" for a in s.upper_approvers)) for s in steps]

    assert await watch(23.9) == []
    assert await watch(24) == [("remind", None, [MARKETING, SPECIALIST], [])]
    assert await watch(30) == []
    assert await watch(48) == [("escalate", "region", [MARKETING, SPECIALIST], [REGION, "+8613800000005"])]
    assert await watch(100) == []
    async with UnitOfWork(sessionmaker) as uow:
        activity = await uow.activities.get(activity_id)
        assert activity is not None
        assert (activity.reminded_at, activity.escalated_at) == (NOW + timedelta(hours=24), NOW + timedelta(hours=48))


async def test_results_evaluation_and_quarter_counts(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock(NOW)
    held = await submit(sessionmaker, clock, activity_type="thank_you_meeting")
    only_approved = await submit(sessionmaker, clock, activity_type="roadshow")
    await decide(sessionmaker, clock, SPECIALIST, held, 1)
    await decide(sessionmaker, clock, SPECIALIST, only_approved, 1)
    async with UnitOfWork(sessionmaker) as uow:
        service = ActivityService(uow, clock, TZ)
        requester, dealer = await person(uow, REQUESTER)
        reviewer, market = await person(uow, MARKETING)
        with pytest.raises(DomainError) as caught:
            await service.check_evaluation(reviewer, market, held)
        assert caught.value.code == "not_completed"
        other, _unit = await person(uow, "+8613800000013")  # the dealer's GM did not request it
        with pytest.raises(DomainError):
            await service.report_results(other, held, 10, 2, 1, 100)
        reported = await service.report_results(requester, held, 40, 8, 2, 480_000, ["13955550001"],
                                                [("file-1", "u-1")])
        assert sorted(s.phone or "" for s in reported.reviewers) == [MARKETING, SPECIALIST]
        with pytest.raises(ApprovalError) as caught:
            await service.report_results(requester, held, 40, 8, 2, 480_000)
        assert caught.value.code == "not_approved"
        with pytest.raises(ApprovalError) as caught:
            await service.evaluate(reviewer, market, held, 6, None)
        assert caught.value.code == "bad_score"
        evaluated = await service.evaluate(reviewer, market, held, 5, "  ")
        assert (evaluated.activity.state, evaluated.activity.score, evaluated.activity.evaluation_comment) == \
            ("evaluated", 5, None)
        # Only held activities count, in the quarter they took place (Shanghai time).
        assert await service.quarter_counts(dealer, 2030, 1) == {"promotion": 0, "relationship": 1}
        assert await service.quarter_counts(market, 2030, 1) == {"promotion": 0, "relationship": 1}
        assert await service.quarter_counts(market, 2030, 2) == {"promotion": 0, "relationship": 0}
        shandong_staff, shandong = await person(uow, SHANDONG)
        assert await service.quarter_counts(shandong, 2030, 1) == {"promotion": 0, "relationship": 0}
        assert [a.id for a in await service.waiting_for(shandong_staff, shandong)] == []
        view = await service.view(requester, dealer, held)
        assert (view.receipts, view.leads, view.linked_leads) == (1, 1, 0)
        with pytest.raises(DomainError):
            await service.view(shandong_staff, shandong, held)


async def test_this_quarter_follows_the_clock_in_shanghai(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with UnitOfWork(sessionmaker) as uow:
        _staff, market = await person(uow, MARKETING)
        # 31 March 17:00 UTC is already 1 April in Shanghai: the second quarter.
        service = ActivityService(uow, Clock(datetime(2030, 3, 31, 17, 0, tzinfo=UTC)), TZ)
        assert await service.this_quarter(market) == (2030, 2, {"promotion": 0, "relationship": 0})


async def test_the_watch_is_scheduled_every_n_minutes(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    from app.scheduler import start_scheduler
    from pushes.approval_watch import approval_watch

    scheduler = start_scheduler(sessionmaker, Clock(NOW), TZ, every_minutes=7)
    try:
        job = scheduler.get_job("approval_watch")
        assert job is not None and job.func.__wrapped__ is approval_watch  # type: ignore[attr-defined]
        assert asyncio.iscoroutinefunction(job.func)  # else APScheduler runs it in a thread, never awaited
        assert job.trigger.interval == timedelta(minutes=7)
    finally:
        scheduler.shutdown(wait=False)


async def test_requester_is_asked_for_results_once_after_the_activity(
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    clock = Clock(NOW)
    activity_id = await submit(sessionmaker, clock, starts_at=NOW + timedelta(days=2))
    pending_only = await submit(sessionmaker, clock, starts_at=NOW + timedelta(days=1))
    await decide(sessionmaker, clock, SPECIALIST, activity_id, 1)

    async def due(days: float) -> list[tuple[int | None, str | None]]:
        async with UnitOfWork(sessionmaker) as uow:
            found = await ActivityService(uow, Clock(NOW + timedelta(days=days)), TZ).results_due()
            await uow.commit()
            return [(d.activity.id, d.requester.phone if d.requester else None) for d in found]

    assert await due(1.9) == []
    assert await due(2) == [(activity_id, REQUESTER)]
    assert await due(3) == []
    assert pending_only not in [a for a, _ in await due(5)]
