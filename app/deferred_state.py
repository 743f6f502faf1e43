"""Conversation state in Redis that moves with the update's commit.

Redis writes cannot join the database transaction, so inside an update they are buffered on the update's claim,
kept in its inbox row by the commit that marks it done, and written after the commit (app/middlewares.py).
A failed or retried attempt leaves Redis as it was: the retry sees the step the
user was at, not the one the failed attempt moved to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

from storage.inbox import Claim, current_claim

_UNSET = object()


class DeferredStateStorage(BaseStorage):
    def __init__(self, inner: BaseStorage) -> None:
        self.inner = inner

    @staticmethod
    def _buffer(claim: Claim | None) -> dict[StorageKey, dict[str, Any]] | None:
        return claim.deferred_state if claim is not None else None

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        buffer = self._buffer(current_claim.get())
        value = state.state if isinstance(state, State) else state
        if buffer is None:
            await self.inner.set_state(key, value)
        else:
            buffer.setdefault(key, {})["state"] = value

    async def get_state(self, key: StorageKey) -> str | None:
        buffer = self._buffer(current_claim.get())
        if buffer is not None and "state" in buffer.get(key, {}):
            return buffer[key]["state"]
        return await self.inner.get_state(key)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        buffer = self._buffer(current_claim.get())
        if buffer is None:
            await self.inner.set_data(key, data)
        else:
            buffer.setdefault(key, {})["data"] = dict(data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        buffer = self._buffer(current_claim.get())
        if buffer is not None and "data" in buffer.get(key, {}):
            return dict(buffer[key]["data"])
        return await self.inner.get_data(key)

    async def flush(self, claim: Claim) -> None:
        """After the commit: the buffered writes go to Redis."""
        for key, changes in claim.deferred_state.items():
            await self._write(key, changes)
        claim.deferred_state.clear()

    async def write_records(self, records: list[dict[str, Any]]) -> None:
        """Writes state kept in an inbox row (storage/inbox.py, STATE_PENDING): a process died before Redis had it.
        Writing it again is harmless: the same values, and the sender's next update has not run yet."""
        for record in records:
            await self._write(StorageKey(**record["key"]), record)

    async def _write(self, key: StorageKey, changes: Mapping[str, Any]) -> None:
        if "state" in changes:
            await self.inner.set_state(key, changes["state"])
        if "data" in changes:
            await self.inner.set_data(key, changes["data"])

    async def close(self) -> None:
        await self.inner.close()
