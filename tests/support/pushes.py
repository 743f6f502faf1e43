"""Reading the outbox in tests, and draining it through the dispatcher to the local Bot API."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import col, select

from app.driver import BotUnderTest
from storage.models import OutboxMessage


async def outbox_rows(runner: BotUnderTest, key: str | None = None) -> list[dict[str, Any]]:
    """Every outbox row (of one message key), oldest first, params decoded."""
    async with runner.sessionmaker() as session:
        query = select(OutboxMessage).order_by(col(OutboxMessage.id))
        if key:
            query = query.where(OutboxMessage.message_key == key)
        rows = [row.model_dump() for row in (await session.execute(query)).scalars()]
    for row in rows:
        row["params"] = json.loads(row["params"])
    return rows


async def deliver_pushes(runner: BotUnderTest, *, sms: Any = None) -> int:
    """Runs the outbox dispatcher once over the runner's bot (and an SMS gateway): every row due now is sent,
    rendered in its recipient's language. Returns how many were sent."""
    from bot.domain.playbook import default_playbook
    from pushes import catalog
    from pushes.dispatcher import OutboxDispatcher

    catalog.load()
    dispatcher = OutboxDispatcher(
        runner.sessionmaker, runner.bot, runner.dispatcher["i18n_core"], tz=runner.settings.tz, clock=runner.clock,
        sms=sms, sms_signature=runner.settings.sms_signature, sms_codes=runner.settings.sms_templates,
        owner="tests", quiet_hours=default_playbook().schedule.quiet_hours)  # as from_settings does
    report = await dispatcher.drain()
    return report.outcomes.get("sent", 0)
