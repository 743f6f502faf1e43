"""Repositories: queries and writes over one session. They never commit; the unit of work does."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import AuditLog, Invite, OrgUnit, Staff, StartAttempt


class OrgRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, unit_id: int) -> OrgUnit | None:
        return await self.session.get(OrgUnit, unit_id)

    async def by_code(self, code: str) -> OrgUnit | None:
        result = await self.session.execute(select(OrgUnit).where(OrgUnit.code == code))
        return result.scalar_one_or_none()

    async def all(self) -> Sequence[OrgUnit]:
        result = await self.session.execute(select(OrgUnit).order_by(col(OrgUnit.path)))
        return result.scalars().all()

    async def subtree(self, path: str) -> Sequence[OrgUnit]:
        query = select(OrgUnit).where(col(OrgUnit.path).startswith(path)).order_by(col(OrgUnit.path))
        result = await self.session.execute(query)
        return result.scalars().all()

    async def ancestors(self, unit: OrgUnit) -> Sequence[OrgUnit]:
        """Root first, the unit itself last."""
        ids = [int(part) for part in unit.path.strip("/").split("/") if part]
        if not ids:
            return [unit]
        result = await self.session.execute(select(OrgUnit).where(col(OrgUnit.id).in_(ids)))
        by_id = {u.id: u for u in result.scalars().all()}
        return [by_id[i] for i in ids if i in by_id]

    async def add(self, unit: OrgUnit, parent: OrgUnit | None) -> OrgUnit:
        unit.parent_id = parent.id if parent else None
        self.session.add(unit)
        await self.session.flush()
        assert unit.id is not None
        unit.path = f"{parent.path if parent else '/'}{unit.id}/"
        await self.session.flush()
        return unit

    async def count(self) -> int:
        result = await self.session.execute(select(func.count()).select_from(OrgUnit))
        return int(result.scalar_one())


class StaffRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, staff_id: int) -> Staff | None:
        return await self.session.get(Staff, staff_id)

    async def by_tg_user(self, tg_user_id: int) -> Staff | None:
        result = await self.session.execute(select(Staff).where(Staff.tg_user_id == tg_user_id))
        return result.scalar_one_or_none()

    async def by_phone(self, phone: str) -> Staff | None:
        result = await self.session.execute(select(Staff).where(Staff.phone == phone))
        return result.scalar_one_or_none()

    async def in_subtree(self, path: str) -> Sequence[tuple[Staff, OrgUnit]]:
        query = (
            select(Staff, OrgUnit)
            .join(OrgUnit, col(Staff.org_unit_id) == col(OrgUnit.id))
            .where(col(OrgUnit.path).startswith(path))
            .order_by(col(OrgUnit.path), col(Staff.name))
        )
        result = await self.session.execute(query)
        return [(row[0], row[1]) for row in result.all()]

    async def all(self) -> Sequence[Staff]:
        result = await self.session.execute(select(Staff))
        return result.scalars().all()

    async def add(self, staff: Staff, *, flush: bool = True) -> Staff:
        """Adds the record; `flush=False` lets a bulk import write many rows in one flush."""
        self.session.add(staff)
        if flush:
            await self.session.flush()
        return staff


class InviteRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, invite_id: int) -> Invite | None:
        return await self.session.get(Invite, invite_id)

    async def by_hash(self, code_hash: str) -> Invite | None:
        result = await self.session.execute(select(Invite).where(Invite.code_hash == code_hash))
        return result.scalar_one_or_none()

    async def all(self) -> Sequence[Invite]:
        result = await self.session.execute(select(Invite).order_by(col(Invite.id)))
        return result.scalars().all()

    async def add(self, invite: Invite) -> Invite:
        self.session.add(invite)
        await self.session.flush()
        return invite

    async def consume(self, invite_id: int, tg_user_id: int, now: datetime) -> bool:
        """Marks the invite used unless somebody already did: one conditional update, so two taps can't both win."""
        statement = (
            update(Invite)
            .where(col(Invite.id) == invite_id, col(Invite.used_at).is_(None))
            .values(used_at=now, used_by_tg_user_id=tg_user_id)
        )
        result = await self.session.execute(statement)
        return result.rowcount == 1  # type: ignore[attr-defined]


class AttemptRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tg_user_id: int) -> StartAttempt | None:
        return await self.session.get(StartAttempt, tg_user_id)

    async def save(self, attempt: StartAttempt) -> None:
        self.session.add(attempt)
        await self.session.flush()

    async def clear(self, tg_user_id: int) -> None:
        attempt = await self.get(tg_user_id)
        if attempt is not None:
            await self.session.delete(attempt)


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, action: str, *, actor_staff_id: int | None = None, subject: str = "",
                     detail: dict[str, object] | None = None, at: datetime | None = None) -> AuditLog:
        entry = AuditLog(action=action, actor_staff_id=actor_staff_id, subject=subject,
                         detail=json.dumps(detail or {}, ensure_ascii=False, default=str))
        if at is not None:
            entry.at = at
        self.session.add(entry)
        await self.session.flush()
        return entry

    async def entries(self, action: str | None = None) -> Sequence[AuditLog]:
        query = select(AuditLog).order_by(col(AuditLog.id))
        if action is not None:
            query = query.where(AuditLog.action == action)
        result = await self.session.execute(query)
        return result.scalars().all()
