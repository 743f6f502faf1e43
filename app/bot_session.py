"""How the bot's calls travel: aiogram's aiohttp session, with a call that carries no file sent as one JSON body.

aiogram sends every call as a form (each value quoted, nested objects as JSON strings) and reads every answer twice
(json.loads, then pydantic over the dicts). Building the form and reading the answer cost about a fifth of the
bot's CPU per update (docs/BENCHMARKS.md). Here a call without files goes as JSON, as the Bot API accepts it, and
the answer is read once, by pydantic's own JSON parser. The plain calls a conversation makes (a message, an edit,
a callback answer) are written by pydantic's serializer in one pass (`plain_body`). Files, and any answer that is
not a success, go aiogram's way, so errors are the same exceptions with the same messages.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, cast

import aiohttp
from aiogram import Bot
from aiogram.client.default import Default
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    DeleteMyCommands,
    DeleteWebhook,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    Response,
    SendChatAction,
    SendMessage,
    SetMyCommands,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

_JSON = {"Content-Type": "application/json"}

# Calls whose fields hold no file, date or period (aiogram turns those into form parts and Unix times): pydantic's
# own JSON serializer writes them whole, a quarter of the cost of aiogram's walk over the dumped values.
PLAIN_CALLS = (SendMessage, EditMessageText, EditMessageReplyMarkup, AnswerCallbackQuery, DeleteMessage,
               SendChatAction, SetMyCommands, DeleteMyCommands, DeleteWebhook, GetMe)


def plain_body(method: TelegramMethod[Any], bot: Bot) -> str | None:
    """The call as the Bot API's JSON, or None when it is not a plain call (aiogram's walk then builds it). A field
    left to the bot's defaults takes their value, and is left out where they have none, as aiogram does."""
    if not isinstance(method, PLAIN_CALLS):
        return None
    defaults = bot.default
    unset = {name for name, value in method.__dict__.items()
             if isinstance(value, Default) and defaults[value.name] is None}

    def resolve(value: Any) -> Any:
        if isinstance(value, Default):
            return defaults[value.name]
        raise TypeError(type(value).__name__)

    try:
        return method.model_dump_json(exclude=unset, exclude_none=True, fallback=resolve)
    except (PydanticSerializationError, TypeError):
        return None


class JsonBodySession(AiohttpSession):
    def walked_fields(self, method: TelegramMethod[Any], bot: Bot, files: dict[str, InputFile]) -> dict[str, Any]:
        """The call's fields as aiogram's own walk prepares them (the bot's defaults resolved, files moved to
        `files`), for any call `plain_body` does not write."""
        fields: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is not None:
                fields[key] = prepared
        return fields

    async def make_request(self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None  # noqa: ASYNC109 - aiogram's signature
                           ) -> TelegramType:
        body = plain_body(method, bot)
        if body is None:
            files: dict[str, InputFile] = {}
            fields = self.walked_fields(method, bot, files)
            if files:  # uploads need a multipart form
                return await super().make_request(bot, method, timeout)
            body = self.json_dumps(fields)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        total = self.timeout if timeout is None else timeout
        try:
            async with session.post(url, data=body, headers=_JSON,
                                    timeout=aiohttp.ClientTimeout(total=total)) as answer:
                status, content = answer.status, await answer.read()
        except TimeoutError as error:
            raise TelegramNetworkError(method=method, message="Request timeout error") from error
        except aiohttp.ClientError as error:
            raise TelegramNetworkError(method=method, message=f"{type(error).__name__}: {error}") from error
        if HTTPStatus.OK <= status <= HTTPStatus.IM_USED:
            try:
                response_type: Any = Response[method.__returning__]  # type: ignore[name-defined]
                response = response_type.model_validate_json(content, context={"bot": bot})
            except ValidationError:
                response = None  # not the Bot API's JSON: aiogram's check below says so, as it always has
            if response is not None and response.ok:
                return cast(TelegramType, response.result)
        # An error, or an answer that is not what it should be: aiogram's reading, and its exceptions.
        text = content.decode("utf-8", errors="replace")
        return cast(TelegramType, self.check_response(bot=bot, method=method, status_code=status,
                                                      content=text).result)
