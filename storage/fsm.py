"""Conversation state in the database, so a restart resumes a half-finished report where it was.

Inside an update the state goes through that update's own unit of work (`update_unit`): the row is read once, every
later get/set of the update works on that copy, and the final state and data are written in one statement just
before the update's commit (storage/conversation_rows.py, called by UnitOfWork.commit). So the new step and the data
the step stored commit together or not at all, and SQLite never sees two writers from one handler. Outside an
update (the scheduler, tests) each call runs and commits at once on a connection of its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.conversation_rows import ConversationRow, UpdateUnit, read_row, update_unit, write_row

__all__ = ["DatabaseStorage", "update_unit"]


class DatabaseStorage(BaseStorage):
    """aiogram FSM storage on the fsm_record table."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], key_builder: KeyBuilder | None = None):
        self._engine: AsyncEngine = sessionmaker.kw["bind"]
        self._key_builder = key_builder or DefaultKeyBuilder(with_destiny=True)

    @staticmethod
    async def _row(unit: UpdateUnit, key: str) -> ConversationRow:
        row = unit.conversations.get(key)
        if row is None:
            row = unit.conversations[key] = await read_row(await unit.connection(), key)
        return row

    def record_key(self, key: StorageKey) -> str:
        """The fsm_record key of a conversation."""
        return self._key_builder.build(key)

    async def _get(self, key: StorageKey) -> ConversationRow:
        record_key = self.record_key(key)
        unit = update_unit.get()
        if unit is not None:
            return await self._row(unit, record_key)
        async with self._engine.connect() as connection:
            return await read_row(connection, record_key)

    async def _set(self, key: StorageKey, *, state: str | None = None, data: str | None = None,
                   touch_state: bool = False) -> None:
        record_key = self.record_key(key)
        unit = update_unit.get()
        if unit is not None:
            row = await self._row(unit, record_key)
            self._change(row, state, data, touch_state)
            row.dirty = True  # written by UnitOfWork.commit, right before the update's commit
            return
        async with self._engine.begin() as connection:
            row = await read_row(connection, record_key)
            self._change(row, state, data, touch_state)
            await write_row(connection, record_key, row)

    @staticmethod
    def _change(row: ConversationRow, state: str | None, data: str | None, touch_state: bool) -> None:
        if touch_state:
            row.state = state
        if data is not None:
            row.data = data

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        await self._set(key, state=value, touch_state=True)

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._get(key)).state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._set(key, data=json.dumps(dict(data), ensure_ascii=False, default=str))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return json.loads((await self._get(key)).data)

    async def close(self) -> None:
        """The engine belongs to the app, which disposes of it."""
