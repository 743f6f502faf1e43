"""Conversation state in the database, so a restart resumes a half-finished report where it was.

Inside an update the state is written through that update's own session, so the new step and the data the
step stored commit together or not at all (and SQLite never sees two writers from one handler). Outside an
update (the scheduler, tests) each write opens a session of its own and commits at once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import FsmRecord
from storage.types import utcnow

update_session: ContextVar[AsyncSession | None] = ContextVar("fieldbot_update_session", default=None)


class DatabaseStorage(BaseStorage):
    """aiogram FSM storage on the fsm_record table."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], key_builder: KeyBuilder | None = None):
        self._sessionmaker = sessionmaker
        self._key_builder = key_builder or DefaultKeyBuilder(with_destiny=True)

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        shared = update_session.get()
        if shared is not None:
            yield shared
            await shared.flush()
            return
        async with self._sessionmaker() as own:
            yield own
            await own.commit()

    async def _write(self, key: StorageKey, *, state: str | None = None, data: str | None = None,
                     touch_state: bool = False) -> None:
        record_key = self._key_builder.build(key)
        async with self._session() as session:
            existing = await session.get(FsmRecord, record_key)
            record = existing or FsmRecord(key=record_key)
            if touch_state:
                record.state = state
            if data is not None:
                record.data = data
            record.updated_at = utcnow()
            if record.state is None and record.data == "{}":
                # A finished conversation leaves no row behind.
                if existing is not None:
                    await session.delete(existing)
            else:
                session.add(record)

    async def _read(self, key: StorageKey) -> FsmRecord | None:
        async with self._session() as session:
            return await session.get(FsmRecord, self._key_builder.build(key))

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        await self._write(key, state=value, touch_state=True)

    async def get_state(self, key: StorageKey) -> str | None:
        record = await self._read(key)
        return record.state if record else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._write(key, data=json.dumps(dict(data), ensure_ascii=False, default=str))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        record = await self._read(key)
        return json.loads(record.data) if record else {}

    async def close(self) -> None:
        """The engine belongs to the app, which disposes of it."""
