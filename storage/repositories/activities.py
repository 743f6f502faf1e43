"""Marketing activities, their decisions, receipts and leads. Reads are scoped by org path by the caller."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Activity, ActivityDecision, ActivityLead, ActivityReceipt, AuditLog, OrgUnit, Staff

LIST_LIMIT = 20


class ActivityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, activity_id: int) -> Activity | None:
        return await self.session.get(Activity, activity_id)

    async def by_token(self, client_token: str) -> Activity | None:
        result = await self.session.execute(select(Activity).where(Activity.client_token == client_token))
        return result.scalar_one_or_none()

    async def add(self, activity: Activity) -> Activity:
        self.session.add(activity)
        await self.session.flush()
        return activity

    async def advance(self, activity_id: int, expected_version: int, values: dict[str, Any]) -> bool:
        """Writes `values` only if nobody moved the activity on since `expected_version`: one conditional update,
        so two approvers tapping at once can't both win."""
        statement = (update(Activity)
                     .where(col(Activity.id) == activity_id, col(Activity.version) == expected_version)
                     .values(**values)
                     .execution_options(synchronize_session=False))
        result = await self.session.execute(statement)
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        activity = await self.session.get(Activity, activity_id)
        if activity is not None:
            await self.session.refresh(activity)
        return True

    async def mark_once(self, activity_id: int, version: int, column: str, at: datetime) -> bool:
        """Sets reminded_at / escalated_at / results_asked_at if still unset at this version: one conditional
        update, so two watches running at once (or one run twice) mark, and push, a step once."""
        field = {"reminded_at": Activity.reminded_at, "escalated_at": Activity.escalated_at,
                 "results_asked_at": Activity.results_asked_at}[column]
        statement = (update(Activity)
                     .where(col(Activity.id) == activity_id, col(Activity.version) == version, col(field).is_(None))
                     .values({column: at})
                     .execution_options(synchronize_session=False))
        result = await self.session.execute(statement)
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def for_requester(self, staff_id: int, limit: int = LIST_LIMIT) -> Sequence[Activity]:
        query = (select(Activity).where(Activity.requester_staff_id == staff_id)
                 .order_by(col(Activity.id).desc()).limit(limit))
        return (await self.session.execute(query)).scalars().all()

    async def in_scope(self, scope_path: str, states: Sequence[str], limit: int = 200) -> Sequence[Activity]:
        query = (select(Activity).where(col(Activity.org_path).startswith(scope_path),
                                        col(Activity.state).in_(list(states)))
                 .order_by(col(Activity.id)).limit(limit))
        return (await self.session.execute(query)).scalars().all()

    async def pending(self) -> Sequence[Activity]:
        query = select(Activity).where(Activity.state == "pending").order_by(col(Activity.id))
        return (await self.session.execute(query)).scalars().all()

    async def approved_unasked_before(self, moment: datetime) -> Sequence[Activity]:
        query = (select(Activity)
                 .where(Activity.state == "approved", col(Activity.starts_at) <= moment,
                        col(Activity.results_asked_at).is_(None))
                 .order_by(col(Activity.id)))
        return (await self.session.execute(query)).scalars().all()

    async def count_by_kpi(self, scope_path: str, states: Sequence[str], start: datetime, end: datetime
                           ) -> dict[str, int]:
        query = (select(Activity.kpi, func.count())
                 .where(col(Activity.org_path).startswith(scope_path), col(Activity.state).in_(list(states)),
                        col(Activity.starts_at) >= start, col(Activity.starts_at) < end)
                 .group_by(Activity.kpi))
        return {str(kpi): int(count) for kpi, count in (await self.session.execute(query)).all()}

    async def add_decision(self, decision: ActivityDecision) -> ActivityDecision:
        self.session.add(decision)
        await self.session.flush()
        return decision

    async def decisions(self, activity_id: int) -> Sequence[ActivityDecision]:
        query = (select(ActivityDecision).where(ActivityDecision.activity_id == activity_id)
                 .order_by(col(ActivityDecision.id)))
        return (await self.session.execute(query)).scalars().all()

    async def escalations(self, activity_id: int) -> Sequence[AuditLog]:
        """The audit entries of the periodic watch escalating this activity's steps, oldest first."""
        query = (select(AuditLog).where(AuditLog.action == "activity.escalate",
                                        AuditLog.subject == f"activity:{activity_id}")
                 .order_by(col(AuditLog.id)))
        return (await self.session.execute(query)).scalars().all()

    async def add_receipt(self, receipt: ActivityReceipt) -> None:
        self.session.add(receipt)
        await self.session.flush()

    async def receipts(self, activity_id: int) -> Sequence[ActivityReceipt]:
        query = select(ActivityReceipt).where(ActivityReceipt.activity_id == activity_id)
        return (await self.session.execute(query.order_by(col(ActivityReceipt.id)))).scalars().all()

    async def add_lead(self, lead: ActivityLead) -> None:
        self.session.add(lead)
        await self.session.flush()

    async def leads(self, activity_id: int) -> Sequence[ActivityLead]:
        query = select(ActivityLead).where(ActivityLead.activity_id == activity_id)
        return (await self.session.execute(query.order_by(col(ActivityLead.id)))).scalars().all()

    async def staff_at(self, unit_path: str, roles: Sequence[str]) -> Sequence[Staff]:
        """Active staff of exactly the unit at `unit_path` holding one of `roles`."""
        query = (select(Staff).join(OrgUnit, col(Staff.org_unit_id) == col(OrgUnit.id))
                 .where(OrgUnit.path == unit_path, col(Staff.role).in_(list(roles)), col(Staff.active).is_(True))
                 .order_by(col(Staff.id)))
        return (await self.session.execute(query)).scalars().all()
