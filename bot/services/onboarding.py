"""Invites and onboarding: binding a Telegram account to a staff record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain import invites as rules
from bot.domain.errors import DomainError
from bot.domain.org import check_role, closest_codes, in_subtree, parse_kind
from bot.domain.phones import mask_phone, normalize_phone
from bot.services.clock import Clock
from storage.models import Invite, OrgUnit, Staff, StartAttempt
from storage.uow import UnitOfWork


@dataclass(frozen=True)
class IssuedInvite:
    code: str
    invite: Invite
    unit: OrgUnit


@dataclass(frozen=True)
class ContactCard:
    """What Telegram tells us about a shared contact."""

    phone_number: str
    first_name: str
    last_name: str | None
    user_id: int | None


class OnboardingService:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    async def issue_invite(self, role: str, org_code: str, ttl: timedelta, *, phone: str | None = None,
                           issued_by: Staff | None = None) -> IssuedInvite:
        """A new single-use code for a role at a unit; an inviter may only invite into their own subtree."""
        unit = await self.uow.org.by_code(org_code)
        if unit is None:
            codes = [u.code for u in await self.uow.org.all()]
            raise DomainError("unknown_unit", unit=org_code, suggestions=closest_codes(org_code, codes))
        try:
            check_role(role, parse_kind(unit.kind))
        except ValueError as error:
            raise DomainError("role_not_here", reason=str(error)) from None
        if issued_by is not None:
            own_unit = await self.uow.org.get(issued_by.org_unit_id)
            if own_unit is None or not in_subtree(unit.path, own_unit.path):
                raise DomainError("outside_scope")
        staff_id = None
        if phone:
            staff = await self.uow.staff.by_phone(normalize_phone(phone))
            if staff is None or staff.org_unit_id != unit.id:
                raise DomainError("unknown_staff")
            staff_id = staff.id
        code = rules.new_code()
        now = self.clock()
        assert unit.id is not None
        invite = await self.uow.invites.add(Invite(
            code_hash=rules.hash_code(code), role=role, org_unit_id=unit.id, staff_id=staff_id,
            created_at=now, expires_at=now + ttl))
        await self.uow.audit.record("invite.issued", actor_staff_id=issued_by.id if issued_by else None,
                                    subject=f"invite:{invite.id}", detail={"role": role, "org": org_code}, at=now)
        return IssuedInvite(code=code, invite=invite, unit=unit)

    async def check_code(self, tg_user_id: int, code: str) -> Invite:
        """The invite behind a code, or DomainError: throttled, invite_invalid, invite_used, invite_expired."""
        now = self.clock()
        attempt = await self.uow.attempts.get(tg_user_id)
        throttle = rules.Throttle(attempt.failures, attempt.window_started_at, attempt.locked_until) \
            if attempt else None
        if throttle and throttle.is_locked(now):
            raise DomainError("throttled", until=throttle.locked_until)
        invite = await self.uow.invites.by_hash(rules.hash_code(code)) if rules.looks_like_code(code) else None
        failure = None
        if invite is None or invite.revoked_at is not None:  # a revoked code reads as any wrong code
            failure = "invite_invalid"
        elif invite.used_at is not None:
            failure = "invite_used"
        elif invite.expires_at <= now:
            failure = "invite_expired"
        if failure is None:
            assert invite is not None
            return invite
        updated = (throttle or rules.Throttle(0, now, None)).after_failure(now)
        await self.uow.attempts.save(StartAttempt(
            tg_user_id=tg_user_id, failures=updated.failures, window_started_at=updated.window_started_at,
            locked_until=updated.locked_until) if attempt is None else self._apply(attempt, updated))
        await self.uow.audit.record("invite.refused", subject=f"tg:{tg_user_id}", detail={"why": failure}, at=now)
        if updated.is_locked(now):
            raise DomainError("throttled", until=updated.locked_until)
        raise DomainError(failure)

    @staticmethod
    def _apply(attempt: StartAttempt, throttle: rules.Throttle) -> StartAttempt:
        attempt.failures = throttle.failures
        attempt.window_started_at = throttle.window_started_at
        attempt.locked_until = throttle.locked_until
        return attempt

    async def complete(self, invite_id: int, tg_user_id: int, contact: ContactCard, locale: str) -> Staff:
        """Binds the sender to a staff record using their own shared contact, consuming the invite once."""
        if contact.user_id != tg_user_id:
            raise DomainError("contact_not_own")
        phone = normalize_phone(contact.phone_number)
        now = self.clock()
        invite = await self.uow.invites.get(invite_id)
        if invite is None or invite.revoked_at is not None:  # revoked while the person was sharing the contact
            raise DomainError("invite_invalid")
        if invite.expires_at <= now:
            raise DomainError("invite_expired")
        if await self.uow.staff.by_tg_user(tg_user_id) is not None:
            raise DomainError("already_onboarded")
        staff = await self._staff_for(invite, phone, contact)
        if not await self.uow.invites.consume(invite.id, tg_user_id, now):  # type: ignore[arg-type]
            raise DomainError("invite_used")
        staff.tg_user_id = tg_user_id
        staff.locale = staff.locale or locale
        staff.onboarded_at = now
        staff.active = True
        await self.uow.staff.add(staff)
        await self.uow.attempts.clear(tg_user_id)
        await self.uow.audit.record("staff.onboarded", actor_staff_id=staff.id, subject=f"staff:{staff.id}",
                                    detail={"invite": invite.id, "phone": mask_phone(phone)}, at=now)
        return staff

    async def _staff_for(self, invite: Invite, phone: str, contact: ContactCard) -> Staff:
        """The pre-registered record the invite or phone points at, or a new one from the contact card."""
        if invite.staff_id is not None:
            staff = await self.uow.staff.get(invite.staff_id)
            if staff is None or (staff.phone and staff.phone != phone):
                raise DomainError("phone_mismatch")
            staff.phone = phone
            return staff
        staff = await self.uow.staff.by_phone(phone)
        if staff is not None:
            if staff.tg_user_id is not None or staff.org_unit_id != invite.org_unit_id:
                raise DomainError("phone_taken")
            staff.role = invite.role
            return staff
        name = " ".join(part for part in (contact.first_name, contact.last_name) if part).strip() or phone
        return Staff(name=name, phone=phone, role=invite.role, org_unit_id=invite.org_unit_id)


@dataclass(frozen=True)
class InviteLine:
    invite: Invite
    org_code: str
    status: str  # open, used, expired, revoked


def invite_status(invite: Invite, now: datetime) -> str:
    if invite.revoked_at is not None:
        return "revoked"
    if invite.used_at is not None:
        return "used"
    if invite.expires_at <= now:
        return "expired"
    return "open"


class InviteAdmin:
    """What an administrator does with invites from the command line: list them, revoke one."""

    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    async def list(self, *, include_closed: bool = False) -> list[InviteLine]:
        now = self.clock()
        codes = {u.id: u.code for u in await self.uow.org.all()}
        lines = [InviteLine(i, codes.get(i.org_unit_id, "?"), invite_status(i, now))
                 for i in await self.uow.invites.all()]
        return lines if include_closed else [line for line in lines if line.status == "open"]

    async def revoke(self, invite_id: int) -> Invite:
        invite = await self.uow.invites.get(invite_id)
        if invite is None:
            raise DomainError("unknown_invite", id=invite_id)
        status = invite_status(invite, self.clock())
        if status != "open":
            raise DomainError("invite_not_open", id=invite_id, status=status)
        invite.revoked_at = self.clock()
        await self.uow.invites.add(invite)
        await self.uow.audit.record("invite.revoked", subject=f"invite:{invite.id}", at=invite.revoked_at)
        return invite
