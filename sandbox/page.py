"""The chat page: a browser front end to the local Bot API server, acting as any registered persona.

The page (sandbox/web/, plain HTML/CSS/JS) talks to the JSON endpoints below; the Bot API side is the server's
own state (messages, reply keyboards, callback answers, command lists), so the page shows exactly what the bot
sent. Whoever starts the server registers the personas, location presets and, optionally, a clock control
(``ChatPage.set_personas``, ``ChatPage.presets``, ``ChatPage.clock``); this module knows nothing of fieldbot.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import mimetypes
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from aiohttp import web

# The server (sandbox.botapi.LocalBotAPI) and its per-bot state (BotState) are passed in, not imported: botapi
# builds this page, so importing it back would make a circle.
LocalBotAPI = Any
BotState = Any

WEB_DIR = Path(__file__).with_name("web")
EVENTS_TIMEOUT_S = 25.0  # a long poll returns at least this often, so proxies and browsers keep it alive


class ClockControl(Protocol):
    """The sandbox clock as the app shell exposes it: where it stands, and jumps that run due jobs."""

    async def state(self) -> dict[str, Any]:
        """{"now": ISO time, "tz": name, "targets": [{"id", "at", "label": {"zh": .., "en": ..}}]}"""

    async def advance(self, target: str) -> dict[str, Any]:
        """Moves the clock to a target id (or an ISO time); returns the new state plus "ran": [job names]."""


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data.startswith(b"GIF8"):
        return "image/gif"
    return None


class ChatPage:
    def __init__(self, api: LocalBotAPI) -> None:
        self.api = api
        self.personas: list[dict[str, Any]] = []
        self.presets: list[dict[str, Any]] = []  # {"label": {"zh", "en"}, "latitude", "longitude"}
        self.clock: ClockControl | None = None
        self.read_upto: dict[tuple[str, int], int] = {}  # (token, chat id) -> last message id seen

    # ---- set-up by whoever runs the server ----------------------------------------------------------------
    def set_personas(self, personas: list[dict[str, Any]], *, token: str | None = None) -> None:
        """Registers each persona as a Telegram user with a private chat, so the bot can push to them.

        A persona: {"user_id", "first_name", "last_name"?, "language_code"?, "phone"?, "kind": staff|customer|
        newcomer, "group": {"zh", "en"}, "title": {"zh", "en"}, "start"?: text the newcomer sends first}.
        """
        for persona in personas:
            self.api.user(int(persona["user_id"]), persona.get("first_name") or "User", persona.get("last_name"),
                          None, persona.get("language_code"), token=token)
        self.personas = [dict(p) for p in personas]

    # ---- routes ---------------------------------------------------------------------------------------------
    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/", self._index)
        router.add_static("/web/", WEB_DIR, name="web")
        router.add_get("/sandbox/info", self._info)
        router.add_get("/sandbox/clock", self._clock_state)
        router.add_post("/sandbox/clock", self._clock_advance)
        router.add_get("/sandbox/{token}/history/{user_id}", self._history)
        router.add_post("/sandbox/{token}/read", self._read)
        router.add_get("/sandbox/{token}/events", self._events)
        router.add_get("/sandbox/{token}/commands", self._commands)
        router.add_get("/sandbox/{token}/file/{file_id}", self._file)

    def _bot_of(self, request: web.Request) -> BotState:
        bot = self.api._bots.get(request.match_info["token"])
        if bot is None:
            raise web.HTTPUnauthorized(text='{"error": "unknown bot token"}', content_type="application/json")
        return bot

    async def _index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-store"})

    async def _info(self, request: web.Request) -> web.Response:
        bot = self.api._bot(None)
        clock = await self.clock.state() if self.clock else None
        return web.json_response({"bot": bot.user, "token": bot.token, "personas": self.personas,
                                  "presets": self.presets, "clock": clock,
                                  "unread": self._unread(bot), "version": bot.version})

    async def _clock_state(self, request: web.Request) -> web.Response:
        if self.clock is None:
            return web.json_response({"error": "no clock control registered"}, status=404)
        return web.json_response(await self.clock.state())

    async def _clock_advance(self, request: web.Request) -> web.Response:
        if self.clock is None:
            return web.json_response({"error": "no clock control registered"}, status=404)
        body = await request.json()
        try:
            return web.json_response(await self.clock.advance(str(body["target"])))
        except (KeyError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)

    # ---- chats ------------------------------------------------------------------------------------------------
    def _unread(self, bot: BotState) -> dict[str, int]:
        counts: dict[str, int] = {}
        for persona in self.personas:
            chat_id = int(persona["user_id"])
            seen = self.read_upto.get((bot.token, chat_id), 0)
            counts[str(chat_id)] = sum(1 for message_id, message in bot.messages.get(chat_id, {}).items()
                                       if message_id > seen and message["from"]["id"] == bot.user["id"])
        return counts

    def _mark_read(self, bot: BotState, chat_id: int) -> None:
        latest = max(bot.messages.get(chat_id, {}), default=0)
        if latest > self.read_upto.get((bot.token, chat_id), 0):
            self.read_upto[(bot.token, chat_id)] = latest
            bot.touch(chat_id)  # other open pages refresh their badges

    def _file_url(self, bot: BotState, file_id: str) -> str:
        return f"/sandbox/{bot.token}/file/{file_id}"

    def _view(self, bot: BotState, message: dict[str, Any]) -> dict[str, Any]:
        """One message as the page draws it."""
        view: dict[str, Any] = {"id": message["message_id"], "from_bot": message["from"]["id"] == bot.user["id"],
                                "date": message["date"], "edited": "edit_date" in message}
        for key in ("text", "entities", "caption", "caption_entities", "location", "contact"):
            if key in message:
                view[key] = message[key]
        if "photo" in message:
            view["photo"] = {"url": self._file_url(bot, message["photo"][-1]["file_id"])}
        if "document" in message:
            doc = message["document"]
            view["document"] = {"url": self._file_url(bot, doc["file_id"]) + "?download=1",
                                "file_name": doc.get("file_name") or "file", "file_size": doc.get("file_size"),
                                "mime_type": doc.get("mime_type")}
        if "reply_to_message" in message:
            view["reply_to"] = message["reply_to_message"]["message_id"]
        rows = (message.get("reply_markup") or {}).get("inline_keyboard")
        if rows:
            view["inline_keyboard"] = [[{k: b[k] for k in ("text", "callback_data", "url", "copy_text") if k in b}
                                        for b in row] for row in rows]
        return view

    async def _history(self, request: web.Request) -> web.Response:
        """A persona's whole chat, both sides, with the current reply keyboard; ?read=1 marks it read."""
        bot = self._bot_of(request)
        chat_id = int(request.match_info["user_id"])
        messages = [self._view(bot, m) for _, m in sorted(bot.messages.get(chat_id, {}).items())]
        markup = bot.reply_keyboards.get(chat_id)
        keyboard = None
        if markup:
            keyboard = {"rows": [[{"text": b} if isinstance(b, str) else b for b in row] for row in markup["keyboard"]],
                        "one_time": bool(markup.get("one_time_keyboard")),
                        "placeholder": markup.get("input_field_placeholder")}
        if request.query.get("read") == "1":
            self._mark_read(bot, chat_id)
        return web.json_response({"messages": messages, "reply_keyboard": keyboard, "version": bot.version})

    async def _read(self, request: web.Request) -> web.Response:
        bot = self._bot_of(request)
        body = await request.json()
        self._mark_read(bot, int(body["user_id"]))
        return web.json_response({"unread": self._unread(bot)})

    async def _events(self, request: web.Request) -> web.Response:
        """Long poll: returns once anything changed after version `since` (or after the timeout)."""
        bot = self._bot_of(request)
        since = int(request.query.get("since", "0"))
        timeout = min(float(request.query.get("timeout", EVENTS_TIMEOUT_S)), EVENTS_TIMEOUT_S)
        if bot.version <= since and not self.api._closing:
            try:
                await asyncio.wait_for(bot.page_wakeup.wait(), timeout)
            except TimeoutError:
                pass
        changed = sorted(chat_id for chat_id, version in bot.changed.items() if version > since)
        answers = [{"query_id": query_id, "text": answer.get("text"), "show_alert": bool(answer.get("show_alert"))}
                   for version, query_id, answer in bot.answers if version > since]
        return web.json_response({"version": bot.version, "changed": changed, "unread": self._unread(bot),
                                  "answers": answers})

    async def _commands(self, request: web.Request) -> web.Response:
        """The command menu a user sees: the most specific setMyCommands list, as Telegram resolves it."""
        bot = self._bot_of(request)
        language = (request.query.get("language_code") or "")[:2].lower()
        chat_id = request.query.get("user_id")
        scopes: list[dict[str, Any]] = []
        if chat_id:
            scopes.append({"type": "chat", "chat_id": int(chat_id)})
        scopes += [{"type": "all_private_chats"}, {"type": "default"}]
        for scope, lang in itertools.product(scopes, (language, "")):
            found = bot.commands.get((json.dumps(scope, sort_keys=True), lang))
            if found:
                return web.json_response({"commands": found})
        return web.json_response({"commands": []})

    async def _file(self, request: web.Request) -> web.Response:
        bot = self._bot_of(request)
        info = bot.files.get(request.match_info["file_id"])
        if info is None:
            return web.json_response({"error": "no such file"}, status=404)
        data: bytes = info.get("_data") or b""
        meta = info.get("_meta", {})
        name = meta.get("file_name") or Path(info["file_path"]).name
        content_type = meta.get("mime_type") or _sniff(data) or mimetypes.guess_type(name)[0] \
            or "application/octet-stream"
        headers = {"Cache-Control": "max-age=3600"}
        if request.query.get("download") == "1":
            headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name, safe='')}"
        return web.Response(body=data, content_type=content_type, headers=headers)

