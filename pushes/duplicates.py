"""A possible double claim (one customer phone on file at two dealers), told to the staff of the unit above both.

Written in the transaction that saved the record (`notify_reviewers(session, uow, flags)`), rendered at send time
from both records as they are then: the reviewers see both, the dealers are never sent either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.phones import mask_phone
from bot.i18n import N_
from pushes.outbox import Recipient, RenderContext, Rendered, enqueue, renderer
from storage.models import DuplicateFlag
from storage.uow import UnitOfWork

# Not "customer.*": those keys are pushes to customers (which must have an SMS template); this one goes to staff.
FLAGGED = "staff.duplicate_flagged"
TEXT = N_("⚠️ Possible double claim: the same customer phone ({phone}) is on file at two dealers.\n"
          "• #{id} {name} ({dealer})\n• #{other_id} {other_name} ({other_dealer})\n"
          "Neither dealer has been told about the other's record. /team lists the open cases.")


async def notify_reviewers(session: AsyncSession, uow: UnitOfWork, flags: Sequence[DuplicateFlag]) -> int:
    """One push per flag to each active, onboarded person at the reviewing unit."""
    written = 0
    for flag in flags:
        for person, unit in await uow.staff.in_subtree(flag.reviewer_path):
            if unit.id != flag.reviewer_unit_id or not person.active or person.tg_user_id is None:
                continue
            written += await enqueue(session, key=FLAGGED, params={"flag_id": flag.id},
                                     recipient=Recipient.staff(person.id, chat_id=person.tg_user_id,
                                                               locale=person.locale),
                                     idempotency_key=f"{FLAGGED}:{flag.id}:staff{person.id}")
    return written


@renderer(FLAGGED)
async def render_flagged(params: Mapping[str, Any], ctx: RenderContext) -> Rendered | None:
    async with ctx.uow() as uow:
        flag = await uow.session.get(DuplicateFlag, int(params["flag_id"]))
        if flag is None or flag.resolved_at is not None:
            return None
        first = await uow.customers.get_in_scope(flag.customer_id, flag.reviewer_path)
        second = await uow.customers.get_in_scope(flag.other_customer_id, flag.reviewer_path)
        if first is None or second is None:
            return None
        dealer = await uow.org.get(first.dealer_unit_id)
        other_dealer = await uow.org.get(second.dealer_unit_id)
        return Rendered(_(TEXT).format(
            phone=mask_phone(flag.phone), id=first.id, name=first.name, dealer=dealer.name if dealer else "",
            other_id=second.id, other_name=second.name, other_dealer=other_dealer.name if other_dealer else ""))
