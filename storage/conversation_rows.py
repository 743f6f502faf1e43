"""Conversation rows (fsm_record) in raw SQL, and the per-update copy of them that the FSM storage works on.

Kept off the ORM, and off SQLAlchemy's execution layer (storage/driver_sql.py), on purpose: these statements run
for every update (docs/BENCHMARKS.md). No aiogram here: UnitOfWork.commit writes what an update changed right
before it commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import driver_sql
from storage.driver_sql import Statement
from storage.types import UTCDateTime, utcnow

EMPTY_DATA = "{}"

_SELECT = Statement(text("SELECT state, data FROM fsm_record WHERE key = :key"))
_UPSERT = Statement(text(
    "INSERT INTO fsm_record (key, state, data, updated_at) VALUES (:key, :state, :data, :now) "
    "ON CONFLICT (key) DO UPDATE SET state = excluded.state, data = excluded.data, updated_at = excluded.updated_at"
).bindparams(bindparam("now", type_=UTCDateTime())))
_DELETE = Statement(text("DELETE FROM fsm_record WHERE key = :key"))


@dataclass
class ConversationRow:
    """One conversation as this update sees it. `data` stays JSON text: every get_data hands out a fresh copy,
    as a row read from the database would be."""

    state: str | None
    data: str
    stored: bool  # a row exists in the database (as of the read or the last write)
    dirty: bool = False

    @property
    def finished(self) -> bool:
        return self.state is None and self.data == EMPTY_DATA


class UpdateUnit(Protocol):
    """What the FSM storage needs of the update's unit of work (storage/uow.py)."""

    conversations: dict[str, ConversationRow]

    async def connection(self) -> AsyncConnection: ...


# The unit of work of the update being handled in this task; None outside an update.
update_unit: ContextVar[UpdateUnit | None] = ContextVar("fieldbot_update_unit", default=None)


async def read_row(connection: AsyncConnection, key: str) -> ConversationRow:
    found = await driver_sql.fetch(connection, _SELECT, {"key": key})
    return row_from(found[0] if found else None)


def row_from(found: Sequence[Any] | None) -> ConversationRow:
    """The conversation as read: (state, data, ...) of the stored row, or None when there is none."""
    if found is None:
        return ConversationRow(state=None, data=EMPTY_DATA, stored=False)
    return ConversationRow(state=found[0], data=found[1], stored=True)


def write_step(key: str, row: ConversationRow) -> driver_sql.Step | None:
    """The statement that stores the row as it now is, for the update's commit; None when nothing is to write."""
    if row.finished:
        # A finished conversation leaves no row behind.
        return driver_sql.Step(_DELETE, {"key": key}) if row.stored else None
    return driver_sql.Step(_UPSERT, {"key": key, "state": row.state, "data": row.data, "now": utcnow()})


def written(row: ConversationRow) -> None:
    """After the commit that wrote the row."""
    row.stored = not row.finished
    row.dirty = False


async def write_row(connection: AsyncConnection, key: str, row: ConversationRow) -> None:
    step = write_step(key, row)
    if step is not None:
        await driver_sql.execute(connection, step.statement, step.params)
    written(row)
