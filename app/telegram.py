"""Calls to the Bot API that survive it: 429 waits retry_after, 5xx and timeouts retry with backoff, and an
update that is attempted again does not send what its earlier attempt already sent.

A call that still fails after the retries is remembered on the update's claim: the unit of work then commits
what the handler wrote and the intake sends that call again later (a failed reply never rolls back a submission).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramBadRequest, TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import AnswerCallbackQuery, GetUpdates, Response, TelegramMethod
from aiogram.methods.base import TelegramType

from storage.inbox import current_claim

log = logging.getLogger(__name__)

TRANSIENT = (TelegramRetryAfter, TelegramServerError, TelegramNetworkError)
RESENT_AFTER_APOLOGY = frozenset({"SendMessage", "SendPhoto", "SendDocument"})

# aiogram reads every answer as `Response[<the method's return type>]`. pydantic (2.13) caches such classes only
# weakly, so the garbage collector drops them between calls and each answer rebuilt its class and schema: a quarter
# of the bot's CPU under load (docs/BENCHMARKS.md). Holding each one here builds it once.
_RESPONSE_TYPES: dict[Any, Any] = {}


def keep_response_type(method: TelegramMethod[Any]) -> None:
    returning = method.__returning__
    if returning not in _RESPONSE_TYPES:
        _RESPONSE_TYPES[returning] = Response[returning]  # type: ignore[valid-type]


def call_record(method: TelegramMethod[Any]) -> dict[str, Any]:
    """A call as plain JSON, to send again later (see `replay`); bot-wide defaults apply again then."""
    params = method.model_dump(exclude_none=True, exclude_unset=True)
    params = {name: value for name, value in params.items() if not isinstance(value, Default)}
    return {"method": type(method).__name__, "params": json.loads(json.dumps(params, default=str))}


async def replay(bot: Bot, record: dict[str, Any]) -> Any:
    import aiogram.methods

    method_type = getattr(aiogram.methods, record["method"])
    return await bot(method_type.model_validate(record["params"]))


def call_key(method: TelegramMethod[Any]) -> str:
    return json.dumps(call_record(method), sort_keys=True, default=str)


@dataclass
class SentCall:
    """A call an update made. Its key (the whole call as JSON) is worked out only when a later call of the same
    update needs comparing: most updates make one call, and building the key cost as much as a filter walk."""

    method: TelegramMethod[Any]
    response: Any
    _key: str | None = None

    def key(self) -> str:
        if self._key is None:
            self._key = call_key(self.method)
        return self._key


class ResilientCalls(BaseRequestMiddleware):
    """Retries transient failures, and remembers each update's successful calls so a retry never repeats them."""

    def __init__(self, *, attempts: int = 4, base_delay_s: float = 0.2, max_retry_after_s: float = 10.0,
                 remembered_updates: int = 2000) -> None:
        self.attempts = attempts
        self.base_delay_s = base_delay_s
        self.max_retry_after_s = max_retry_after_s
        self.remembered_updates = remembered_updates
        # update_id -> the calls it made. In memory: a retry after a crash may send once more (docs).
        self._sent: OrderedDict[int, list[SentCall]] = OrderedDict()

    def forget(self, update_id: int) -> None:
        self._sent.pop(update_id, None)

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        keep_response_type(method)
        polling = isinstance(method, GetUpdates)  # a flag, not a narrowing: the method keeps its generic type
        if polling:
            return await make_request(bot, method)
        claim = current_claim.get()
        key = None
        if claim is not None:
            earlier_calls = self._sent.get(claim.update_id)
            if earlier_calls:
                key = call_key(method)
                earlier = next((call.response for call in earlier_calls if call.key() == key), None)
                if earlier is not None:
                    return earlier
        try:
            response = await self._with_retries(make_request, bot, method)
        except TelegramBadRequest:
            if claim is not None and isinstance(method, AnswerCallbackQuery):
                # Answered already (by an earlier attempt, or the error handler after the handler): nothing lost.
                return True  # type: ignore[return-value]
            raise
        if claim is not None:
            sent = self._sent.setdefault(claim.update_id, [])
            if claim.apologizing:
                # The user now reads "I will try it again" below this update's replies: the next attempt sends
                # its messages again instead of staying silent. Edits stay remembered (the message shows them).
                sent[:] = [call for call in sent if type(call.method).__name__ not in RESENT_AFTER_APOLOGY]
            sent.append(SentCall(method, response, key))
            self._sent.move_to_end(claim.update_id)
            while len(self._sent) > self.remembered_updates:
                self._sent.popitem(last=False)
        return response

    async def _with_retries(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                            method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                if attempt == self.attempts or error.retry_after > self.max_retry_after_s:
                    self._give_up(method, error)
                    raise
                delay, reason = float(error.retry_after), "429"
            except (TelegramServerError, TelegramNetworkError) as error:
                if attempt == self.attempts:
                    self._give_up(method, error)
                    raise
                delay, reason = self.base_delay_s * (2 ** (attempt - 1)) * (0.5 + random.random()), type(error).__name__
            log.info("%s failed (%s), retry %d in %.1fs", type(method).__name__, reason, attempt, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    @staticmethod
    def _give_up(method: TelegramMethod[Any], error: Exception) -> None:
        claim = current_claim.get()
        log.warning("%s failed after retries: %s", type(method).__name__, type(error).__name__)
        if claim is not None:
            claim.failed_sends.append(call_record(method))
