"""Who sent an update: their active staff record and org unit, in one Core query (it runs for every update).

The records come back detached with every column loaded, so handlers read them freely, even after the update's
session rolled back. A handler that changes the sender adds it to the session (`uow.session.add(staff)`), which
then writes an UPDATE as for any loaded record.

The same query says whether the sender's Telegram address is marked unreachable (they had blocked the bot): an
EXISTS on `unreachable_recipient`'s unique (channel, address) index, so the common case costs nothing extra and
the middleware (app/middlewares.py) deletes the mark only when there is one.

An update reads its sender and its conversation row first thing, and on PostgreSQL each read is a trip that
costs more than the query (storage/postgres_driver.py): `sender_and_conversation` reads both in one statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import bindparam, exists, literal, select, true
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import class_mapper, make_transient_to_detached

from storage import driver_sql
from storage.conversation_rows import ConversationRow, row_from
from storage.driver_sql import Statement
from storage.models import FsmRecord, OrgUnit, Staff, UnreachableRecipient

_STAFF = Staff.__table__  # type: ignore[attr-defined]
_UNIT = OrgUnit.__table__  # type: ignore[attr-defined]
_UNREACHABLE = UnreachableRecipient.__table__  # type: ignore[attr-defined]
_STAFF_KEYS = [column.key for column in _STAFF.columns]
_UNIT_KEYS = [column.key for column in _UNIT.columns]
# A private chat's id is the user's id: the address pushes to this sender go to.
TELEGRAM_UNREACHABLE = exists().where(_UNREACHABLE.c.channel == literal("telegram"),
                                      _UNREACHABLE.c.address == bindparam("tg_address"))
_SENDER = (
    select(*_STAFF.columns, *_UNIT.columns, TELEGRAM_UNREACHABLE.label("unreachable"))
    .join_from(_STAFF, _UNIT, _STAFF.c.org_unit_id == _UNIT.c.id)
    .where(_STAFF.c.tg_user_id == bindparam("tg_user_id"), _STAFF.c.active == true())
)
_QUERY = Statement(_SENDER)  # straight to the driver (storage/driver_sql.py), with the column types applied
# The same, and the conversation row: one row always (from a one-row base), the sender's columns and the
# conversation's each NULL when there is none.
_FSM = FsmRecord.__table__  # type: ignore[attr-defined]
_SENDER_ROW = _SENDER.subquery("sender")
_BASE = select(literal(1).label("one")).subquery("base")
_WITH_CONVERSATION = Statement(
    select(*_SENDER_ROW.columns, _FSM.c.state, _FSM.c.data, _FSM.c.key.is_not(None).label("stored"))
    .select_from(_BASE.outerjoin(_SENDER_ROW, true()).outerjoin(_FSM, _FSM.c.key == bindparam("conversation_key")))
)


Record = TypeVar("Record", Staff, OrgUnit)
_MANAGERS: dict[type, Any] = {}  # class_mapper's lookup cost a fifth of this function


def detached(model: type[Record], keys: Sequence[str], values: Sequence[Any]) -> Record:
    """A record made as the ORM makes one it loads (no __init__, so no per-field checks: the values come from the
    database), then detached. Calling the model's __init__ instead cost half of this query's time.
    class_mapper configures the mappers if nothing has yet (a fresh process): __init__ used to do that; its
    answer is kept."""
    manager = _MANAGERS.get(model)
    if manager is None:
        manager = _MANAGERS[model] = class_mapper(model).class_manager
    record: Record = manager.new_instance()
    record.__dict__.update(zip(keys, values, strict=True))
    make_transient_to_detached(record)
    return record


@dataclass(frozen=True)
class Sender:
    staff: Staff
    unit: OrgUnit
    unreachable: bool  # their Telegram address is marked unreachable: they are back, so it must be cleared


async def active_sender(connection: AsyncConnection, tg_user_id: int) -> Sender | None:
    """The active staff member bound to this Telegram account and their unit, or None for a stranger."""
    rows = await driver_sql.fetch(connection, _QUERY, {"tg_user_id": tg_user_id, "tg_address": str(tg_user_id)})
    return _sender(rows[0]) if rows else None


async def sender_and_conversation(connection: AsyncConnection, tg_user_id: int, conversation_key: str
                                  ) -> tuple[Sender | None, ConversationRow]:
    """`active_sender`, and the conversation row under that key (storage/conversation_rows.py), in one query."""
    rows = await driver_sql.fetch(connection, _WITH_CONVERSATION, {
        "tg_user_id": tg_user_id, "tg_address": str(tg_user_id), "conversation_key": conversation_key})
    row = rows[0]
    sender = _sender(row[:-3]) if row[0] is not None else None  # staff.id is never NULL in a staff row
    return sender, row_from(row[-3:] if row[-1] else None)


def _sender(row: Sequence[Any]) -> Sender:
    split = len(_STAFF_KEYS)
    staff = detached(Staff, _STAFF_KEYS, row[:split])
    unit = detached(OrgUnit, _UNIT_KEYS, row[split:split + len(_UNIT_KEYS)])
    return Sender(staff, unit, bool(row[split + len(_UNIT_KEYS)]))
