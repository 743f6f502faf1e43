"""Staff leaving: access ends and their work goes to a named colleague, all in one transaction, audited."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.errors import DomainError
from bot.domain.org import MANAGER_ROLES, in_subtree
from bot.domain.phones import mask_phone, normalize_phone
from bot.services.clock import Clock
from storage.models import Staff
from storage.uow import UnitOfWork

# Activities whose requester still has something to do; rejected, completed and evaluated ones stay as history.
OPEN_ACTIVITY_STATES = ("draft", "pending", "changes_requested", "approved")


@dataclass(frozen=True)
class Handover:
    leaving: Staff
    successor: Staff
    customers: int
    follow_ups: int
    leaders: int
    activities: int
    invites_revoked: int


class StaffAdminService:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    async def by_phone(self, phone: str) -> Staff:
        try:
            normalized = normalize_phone(phone)
        except DomainError:
            raise DomainError("bad_phone") from None
        staff = await self.uow.staff.by_phone(normalized)
        if staff is None:
            raise DomainError("unknown_staff_phone", phone=mask_phone(normalized))
        return staff

    async def leaving_in_scope(self, manager: Staff, staff_id: int) -> Staff:
        """A person a manager may deactivate: active, below or beside them in their subtree, not themselves."""
        if manager.role not in MANAGER_ROLES:
            raise DomainError("not_allowed")
        person = await self.uow.staff.get(staff_id)
        own = await self.uow.org.get(manager.org_unit_id)
        unit = await self.uow.org.get(person.org_unit_id) if person is not None else None
        if person is None or own is None or unit is None or not in_subtree(unit.path, own.path):
            raise DomainError("staff_not_found")
        if person.id == manager.id:
            raise DomainError("cannot_deactivate_self")
        if not person.active:
            raise DomainError("already_inactive")
        return person

    async def people_in_scope(self, manager: Staff) -> list[Staff]:
        """Active people a manager may deactivate: everyone in their subtree but themselves."""
        if manager.role not in MANAGER_ROLES:
            raise DomainError("not_allowed")
        own = await self.uow.org.get(manager.org_unit_id)
        assert own is not None
        return [s for s, _unit in await self.uow.staff.in_subtree(own.path) if s.active and s.id != manager.id]

    async def successor_for(self, leaving: Staff, successor_id: int) -> Staff:
        """The colleague named on a button, checked again: active, at the same unit, someone else."""
        successor = await self.uow.staff.get(successor_id)
        if successor is None or successor.org_unit_id != leaving.org_unit_id:
            raise DomainError("successor_elsewhere")
        if successor.id == leaving.id:
            raise DomainError("successor_is_leaving")
        if not successor.active:
            raise DomainError("successor_inactive")
        return successor

    async def colleagues(self, person: Staff) -> list[Staff]:
        """Active people of the same unit who can take over the work."""
        unit = await self.uow.org.get(person.org_unit_id)
        assert unit is not None
        return [s for s, u in await self.uow.staff.in_subtree(unit.path)
                if u.id == unit.id and s.active and s.id != person.id]

    async def deactivate(self, leaving: Staff, successor: Staff, *, actor: Staff | None = None,
                         via: str = "cli") -> Handover:
        """Ends the person's access and hands their customers (with follow-ups), opinion leaders and open
        activities to a colleague of the same unit; their unused invites are revoked. Recorded in the audit log."""
        if not leaving.active:
            raise DomainError("already_inactive")
        if successor.id == leaving.id:
            raise DomainError("successor_is_leaving")
        if not successor.active:
            raise DomainError("successor_inactive")
        if successor.org_unit_id != leaving.org_unit_id:
            # Customers and leaders belong to a dealer: a colleague elsewhere could not even see them.
            raise DomainError("successor_elsewhere")
        now = self.clock()
        assert leaving.id is not None and successor.id is not None
        follow_ups = await self.uow.handover.follow_ups_of(leaving.id)
        customers = await self.uow.handover.move_customers(leaving.id, successor.id)
        leaders = await self.uow.handover.move_leaders(leaving.id, successor.id)
        activities = await self.uow.handover.move_activities(leaving.id, successor.id, OPEN_ACTIVITY_STATES)
        invites = await self.uow.handover.expire_invites_for(leaving.id, now)
        leaving.active = False
        await self.uow.staff.add(leaving)
        await self.uow.audit.record(
            "staff.deactivated", actor_staff_id=actor.id if actor else None, subject=f"staff:{leaving.id}",
            detail={"successor": successor.id, "customers": customers, "follow_ups": follow_ups, "leaders": leaders,
                    "activities": activities, "invites_revoked": invites, "via": via}, at=now)
        return Handover(leaving, successor, customers, follow_ups, leaders, activities, invites)

