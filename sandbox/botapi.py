"""A local Telegram Bot API server for tests, benchmarks and the sandbox.

It speaks the Bot API over HTTP to a real aiogram bot (``TelegramAPIServer.from_base(api.base_url)``),
validates every call against the machine-readable reference in ``telegram-bot-api/api.json``, records every
call, and lets Python code act as Telegram users (send text, contacts, locations, photos, press buttons).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import itertools
import json
import logging
import random
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import ClientError, ClientSession, ClientTimeout, MultipartReader, web

log = logging.getLogger(__name__)

DEFAULT_SPEC_PATH = Path(__file__).with_name("telegram-bot-api") / "api.json"

MARKUP_ERROR = "Bad Request: can't parse reply keyboard markup JSON object"
CALLBACK_ERROR = "Bad Request: query is too old and response timeout expired or query ID is invalid"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
TOO_LONG, TEXT_EMPTY = "Bad Request: message is too long", "Bad Request: message text is empty"
CAPTION_TOO_LONG = "Bad Request: message caption is too long"
MARKUP_KINDS = {
    "inline_keyboard": "InlineKeyboardMarkup",
    "keyboard": "ReplyKeyboardMarkup",
    "remove_keyboard": "ReplyKeyboardRemove",
    "force_reply": "ForceReply",
}
INLINE_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query", "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat", "copy_text", "callback_game", "pay",
)
# Telegram still accepts these pre-7.0 parameters although the reference no longer lists them.
LEGACY_PARAMS = {"reply_to_message_id": ["Integer"], "allow_sending_without_reply": ["Boolean"],
                 "disable_web_page_preview": ["Boolean"]}
# Update types Telegram leaves out unless allowed_updates names them explicitly.
OPT_IN_UPDATES = {"chat_member", "message_reaction", "message_reaction_count"}
HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "tg-spoiler": "spoiler",
    "span": "spoiler", "a": "text_link", "code": "code", "pre": "pre", "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
TEXT_LIMIT, CAPTION_LIMIT = 4096, 1024
KEEP_UPLOAD_BYTES = 20 * 1024 * 1024  # uploads up to this size are kept so the chat page can show them
_INT_RE = re.compile(r"-?\d+")
_ATTACH_RE = re.compile(r"attach://([\w\-.]+)")


class ApiError(Exception):
    """A Bot API error reply; ``status`` doubles as Telegram's error_code."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    ok: bool
    result: Any = None
    error: str | None = None
    chat_id: int | str | None = None
    at: float = field(default_factory=time.monotonic)
    token: str = ""
    status: int = 200


def utf16_len(text: str) -> int:
    # Telegram measures entity offsets and lengths in UTF-16 code units.
    return len(text.encode("utf-16-le")) // 2


class _HtmlText(HTMLParser):
    """Turns parse_mode=HTML text into (plain text, entities) and rejects what Telegram rejects."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.parts: list[str] = []
        self.pos = 0
        self.stack: list[tuple[str, int, dict[str, str | None]]] = []
        self.entities: list[dict[str, Any]] = []

    def _byte_offset(self) -> int:
        line, col = self.getpos()
        lines = self.source.splitlines(keepends=True)
        index = sum(len(item) for item in lines[: line - 1]) + col
        return len(self.source[:index].encode("utf-8"))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            raise ApiError(400, f'Bad Request: can\'t parse entities: Unsupported start tag "{tag}" '
                                f"at byte offset {self._byte_offset()}")
        self.stack.append((tag, self.pos, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1][0] != tag:
            expected = f'"</{self.stack[-1][0]}>"' if self.stack else "no end tag"
            raise ApiError(400, f"Bad Request: can't parse entities: Unmatched end tag at byte offset "
                                f'{self._byte_offset()}, expected {expected}, found "</{tag}>"')
        name, start, attrs = self.stack.pop()
        if self.pos == start:
            return
        entity: dict[str, Any] = {"type": HTML_TAGS[name], "offset": start, "length": self.pos - start}
        if name == "a":
            entity["url"] = attrs.get("href") or ""
        elif name == "tg-emoji":
            entity["custom_emoji_id"] = attrs.get("emoji-id") or ""
        elif name == "blockquote" and "expandable" in attrs:
            entity["type"] = "expandable_blockquote"
        elif name == "code" and self.stack and self.stack[-1][0] == "pre":
            # <pre><code class="language-x"> is one pre entity with a language, not two entities.
            language = (attrs.get("class") or "").removeprefix("language-")
            self.stack[-1][2]["_language"] = language
            return
        elif name == "pre" and attrs.get("_language"):
            entity["language"] = attrs["_language"]
        self.entities.append(entity)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self.pos += utf16_len(data)

    def parse(self) -> tuple[str, list[dict[str, Any]]]:
        self.feed(self.source)
        self.close()
        if self.stack:
            raise ApiError(400, "Bad Request: can't parse entities: Can't find end tag corresponding to "
                                f'start tag "{self.stack[-1][0]}"')
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), self.entities


_MD_V1 = (("```", "pre"), ("*", "bold"), ("_", "italic"), ("`", "code"))
_MD_V2 = (("```", "pre"), ("||", "spoiler"), ("__", "underline"), ("*", "bold"), ("_", "italic"),
          ("~", "strikethrough"), ("`", "code"))
_MD_V2_RESERVED = set("_*[]()~`>#+-=|{}.!")


def _entity_error(text: str, index: int) -> ApiError:
    offset = len(text[:index].encode("utf-8"))
    return ApiError(400, f"Bad Request: can't parse entities: Can't find end of the entity starting at byte "
                         f"offset {offset}")


def parse_markdown(text: str, v2: bool) -> tuple[str, list[dict[str, Any]]]:
    """parse_mode=Markdown / MarkdownV2 into (plain text, entities), rejecting what Telegram rejects.

    Covers bold, italic, underline, strikethrough, spoiler, code, pre (with a language) and [label](url) links;
    MarkdownV2's nesting and backslash escapes, and its refusal of unescaped reserved characters.
    """
    marks = _MD_V2 if v2 else _MD_V1
    out: list[str] = []
    pos = 0  # in UTF-16 units, as Telegram counts
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, str, int, int]] = []  # (mark, type, text offset, source index)
    link: tuple[int, int] | None = None  # (text offset, source index) of an open "["
    languages: dict[int, str] = {}  # text offset of a pre entity -> its language
    i = 0

    def emit(chunk: str) -> None:
        nonlocal pos
        out.append(chunk)
        pos += utf16_len(chunk)

    while i < len(text):
        ch = text[i]
        in_code = bool(stack) and stack[-1][1] in ("code", "pre")
        if ch == "\\" and v2 and i + 1 < len(text):
            emit(text[i + 1])
            i += 2
            continue
        if in_code:
            mark = stack[-1][0]
            if text.startswith(mark, i):
                _, kind, start, _source = stack.pop()
                if pos > start:
                    entities.append({"type": kind, "offset": start, "length": pos - start})
                i += len(mark)
            else:
                emit(ch)
                i += 1
            continue
        if ch == "[" and link is None and text.find("](", i) > 0:
            link = (pos, i)
            i += 1
            continue
        if ch == "]" and link is not None and text.startswith("(", i + 1):
            close = text.find(")", i + 2)
            if close < 0:
                raise _entity_error(text, link[1])
            url = text[i + 2:close]
            if pos > link[0]:
                entities.append({"type": "text_link", "offset": link[0], "length": pos - link[0], "url": url})
            link = None
            i = close + 1
            continue
        matched = next(((m, kind) for m, kind in marks if text.startswith(m, i)), None)
        if matched is not None:
            mark, kind = matched
            if stack and stack[-1][0] == mark:
                _, kind, start, _source = stack.pop()
                if pos > start:
                    entities.append({"type": kind, "offset": start, "length": pos - start})
            elif stack and not v2:
                emit(mark)  # legacy Markdown does not nest: a mark inside another entity is literal text
            else:
                stack.append((mark, kind, pos, i))
                if kind == "pre":
                    newline = text.find("\n", i + 3)
                    language = text[i + 3:newline] if newline >= 0 else ""
                    if newline >= 0 and language and re.fullmatch(r"[\w+#.-]+", language):
                        i = newline + 1
                        stack[-1] = (mark, kind, pos, i)
                        languages[pos] = language
                        continue
            i += len(mark)
            continue
        if v2 and ch in _MD_V2_RESERVED:
            raise ApiError(400, f"Bad Request: can't parse entities: Character '{ch}' is reserved and must be "
                                f"escaped with the preceding '\\'")
        emit(ch)
        i += 1
    if stack:
        raise _entity_error(text, stack[-1][3])
    if link is not None and v2:
        raise _entity_error(text, link[1])
    for entity in entities:
        if entity["type"] == "pre" and entity["offset"] in languages:
            entity["language"] = languages[entity["offset"]]
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def format_text(text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None) -> tuple[str, list]:
    """The text and entities Telegram would store for ``text`` sent with ``parse_mode``/``entities``."""
    if entities:
        return text, entities
    mode = (parse_mode or "").lower()
    if mode == "html":
        return _HtmlText(text).parse()
    if mode in ("markdown", "markdownv2"):
        return parse_markdown(text, mode == "markdownv2")
    return text, []


class Spec:
    """The Bot API reference: methods (matched case-insensitively) and types."""

    def __init__(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        self.version: str = data.get("version", "")
        self.methods: dict[str, dict[str, Any]] = {name.lower(): m for name, m in data["methods"].items()}
        self.types: dict[str, dict[str, Any]] = data["types"]

    def method(self, name: str) -> dict[str, Any] | None:
        return self.methods.get(name.lower())

    def fields(self, method: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {f["name"]: f for f in method.get("fields", [])}

    def check(self, value: Any, types: list[str]) -> bool:
        return any(self._check_one(value, t) for t in types)

    def _check_one(self, value: Any, type_name: str) -> bool:
        if type_name.startswith("Array of "):
            return isinstance(value, list) and all(self._check_one(v, type_name[9:]) for v in value)
        simple: dict[str, Callable[[Any], bool]] = {
            "Integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "Float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "Boolean": lambda v: isinstance(v, bool),
            "String": lambda v: isinstance(v, str),
            "InputFile": lambda v: (isinstance(v, dict) and "_upload" in v)
            or (isinstance(v, str) and v.startswith("attach://")),
        }
        if type_name in simple:
            return simple[type_name](value)
        spec = self.types.get(type_name)
        if spec is None:
            return True
        if not isinstance(value, dict):
            return False
        if spec.get("subtypes"):
            return any(self._check_one(value, sub) for sub in spec["subtypes"])
        for f in spec.get("fields", []):
            if f["name"] in value:
                if not self.check(value[f["name"]], f["types"]):
                    return False
            elif f["required"]:
                return False
        return True


def decode_value(raw: Any, types: list[str]) -> Any:
    """Decode one form value: JSON unless the declared type is plain String (``text="123"`` stays a str)."""
    if not isinstance(raw, str):
        if types == ["String"] and isinstance(raw, int | float) and not isinstance(raw, bool):
            return str(raw)
        return raw
    if types == ["String"]:
        return raw
    if "Integer" in types and _INT_RE.fullmatch(raw.strip()):
        return int(raw)
    if "String" in types or ("InputFile" in types and raw.startswith("attach://")):
        return raw
    if types == ["Boolean"] and raw in ("True", "False", "1", "0"):
        return raw in ("True", "1")
    return json.loads(raw)


def validate_markup(markup: Any, allowed: list[str]) -> str:
    """Check a reply_markup object; return its kind (one of MARKUP_KINDS' values)."""
    if not isinstance(markup, dict):
        raise ApiError(400, MARKUP_ERROR)
    kind = next((MARKUP_KINDS[key] for key in MARKUP_KINDS if key in markup), None)
    if kind is None or kind not in allowed:
        raise ApiError(400, MARKUP_ERROR)
    if kind in ("ReplyKeyboardRemove", "ForceReply"):
        if markup[next(k for k, v in MARKUP_KINDS.items() if v == kind)] is not True:
            raise ApiError(400, MARKUP_ERROR)
        return kind
    rows = markup["inline_keyboard" if kind == "InlineKeyboardMarkup" else "keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError(400, MARKUP_ERROR)
    for button in itertools.chain.from_iterable(rows):
        if kind == "ReplyKeyboardMarkup" and isinstance(button, str):
            continue  # Telegram accepts bare strings as reply keyboard buttons.
        if not isinstance(button, dict) or not isinstance(button.get("text"), str) or not button["text"]:
            raise ApiError(400, MARKUP_ERROR)
        if kind != "InlineKeyboardMarkup":
            continue
        actions = [a for a in INLINE_ACTIONS if a in button]
        if not actions:
            raise ApiError(400, "Bad Request: can't parse inline keyboard button: "
                                "Text buttons are unallowed in the inline keyboard")
        data = button.get("callback_data")
        if data is not None and (not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64):
            raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return kind


def _update_type(update: dict[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


class BotState:
    """Everything the server knows on behalf of one bot token."""

    def __init__(self, token: str, user: dict[str, Any]) -> None:
        self.token = token
        self.user = user
        self.chats: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}  # the latest User object of each person, language included
        self.messages: dict[int, dict[int, dict[str, Any]]] = {}
        self.reply_keyboards: dict[int, dict[str, Any] | None] = {}
        self.next_message_id: dict[int, int] = {}
        self.blocked: set[int] = set()
        self.queue: list[dict[str, Any]] = []
        self.redeliver: list[dict[str, Any]] = []  # acknowledged, to be delivered once more (Faults.deliver_twice)
        self.redelivered: set[int] = set()
        self.next_update_id = 1
        self.allowed_updates: list[str] = []
        self.wakeup = asyncio.Event()
        self.webhook: dict[str, Any] | None = None
        self.webhook_errors: dict[str, Any] = {}
        self.webhook_task: asyncio.Task[None] | None = None
        self.callbacks: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        # Change feed for the chat page: every stored, edited or deleted message bumps `version`.
        self.version = 0
        self.changed: dict[int, int] = {}  # chat id -> version of its latest change
        self.answers: list[tuple[int, str, dict[str, Any]]] = []  # (version, callback query id, answer)
        self.page_wakeup = asyncio.Event()
        # Message dates: the real time, or the sandbox's moved clock (LocalBotAPI.set_clock).
        self.now: Callable[[], float] = time.time

    def touch(self, chat_id: int) -> None:
        self.version += 1
        self.changed[chat_id] = self.version
        self.page_wakeup.set()
        self.page_wakeup = asyncio.Event()

    def wake(self) -> None:
        # Replace the event so every current waiter wakes and later waiters block again.
        self.wakeup.set()
        self.wakeup = asyncio.Event()

    def deliverable(self) -> list[dict[str, Any]]:
        allowed = set(self.allowed_updates)
        def wanted(update: dict[str, Any]) -> bool:
            kind = _update_type(update)
            return kind in allowed if allowed else kind not in OPT_IN_UPDATES

        self.queue = [u for u in self.queue if wanted(u)]  # Telegram never produces unrequested update types
        return list(self.queue)

    def add_message(self, chat: dict[str, Any], sender: dict[str, Any], content: dict[str, Any]) -> dict:
        chat_id = chat["id"]
        message_id = self.next_message_id.get(chat_id, 1)
        self.next_message_id[chat_id] = message_id + 1
        message = {"message_id": message_id, "from": sender, "chat": chat, "date": int(self.now())}
        message.update(content)
        self.messages.setdefault(chat_id, {})[message_id] = message
        self.touch(chat_id)
        return message

    def new_file(self, kind: str, size: int, data: bytes | None = None, **extra: Any) -> dict[str, Any]:
        """A stored file; `data` (the uploaded bytes, when kept) is served by /file and the chat page."""
        file_id = f"{kind[:3].upper()}{secrets.token_urlsafe(16)}"
        info = {"file_id": file_id, "file_unique_id": secrets.token_hex(8), "file_size": size}
        self.files[file_id] = {**info, "file_path": f"{kind}s/file_{len(self.files)}.bin"}
        if data is not None:
            self.files[file_id]["_data"] = data
            self.files[file_id]["_meta"] = {k: v for k, v in extra.items() if k in ("file_name", "mime_type")}
        return {**info, **extra}


class FakeUser:
    """A Telegram user talking to one bot in their private chat (chat id == user id)."""

    def __init__(self, api: LocalBotAPI, bot: BotState, user: dict[str, Any]) -> None:
        self.api = api
        self.bot = bot
        self.user = user

    @property
    def id(self) -> int:
        return int(self.user["id"])

    @property
    def chat(self) -> dict[str, Any]:
        return self.bot.chats[self.id]

    def send_message(self, *, chat_id: int | None = None, **fields: Any) -> int:
        """Generic escape hatch: a message from this user with the given Message fields; returns update_id."""
        chat = self.bot.chats[chat_id if chat_id is not None else self.id]
        message = self.bot.add_message(chat, self.user, fields)
        return self.api.push_update({"message": copy.deepcopy(message)}, token=self.bot.token)

    def send_text(self, text: str, *, chat_id: int | None = None) -> int:
        fields: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            fields["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
        return self.send_message(chat_id=chat_id, **fields)

    def send_contact(self, phone_number: str, first_name: str | None = None, last_name: str | None = None,
                     user_id: int | None = None, vcard: str | None = None) -> int:
        contact = {"phone_number": phone_number, "first_name": first_name or self.user["first_name"],
                   "last_name": last_name, "user_id": user_id, "vcard": vcard}
        return self.send_message(contact={k: v for k, v in contact.items() if v is not None})

    def forward_contact(self, phone_number: str, first_name: str, last_name: str | None = None,
                        user_id: int | None = None, origin_name: str = "Hidden User") -> int:
        """A contact card forwarded from another chat (as when a user shares someone else's contact)."""
        contact = {"phone_number": phone_number, "first_name": first_name, "last_name": last_name,
                   "user_id": user_id}
        origin = {"type": "hidden_user", "sender_user_name": origin_name, "date": int(time.time()) - 60}
        return self.send_message(contact={k: v for k, v in contact.items() if v is not None},
                                 forward_origin=origin)

    def send_location(self, latitude: float, longitude: float, live_period: int | None = None,
                      horizontal_accuracy: float | None = None) -> int:
        location: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
        if live_period is not None:
            location["live_period"] = live_period
        if horizontal_accuracy is not None:
            location["horizontal_accuracy"] = horizontal_accuracy
        return self.send_message(location=location)

    def send_photo(self, caption: str | None = None, width: int = 1280, height: int = 960,
                   data: bytes | None = None) -> int:
        sizes = [self.bot.new_file("photo", len(data) if data else w * h // 10, data=data, width=w, height=h)
                 for w, h in ((90, 90 * height // width), (320, 320 * height // width), (width, height))]
        fields: dict[str, Any] = {"photo": sizes}
        if caption is not None:
            fields["caption"] = caption
        return self.send_message(**fields)

    def send_document(self, file_name: str = "file.pdf", mime_type: str = "application/pdf",
                      file_size: int = 1024, caption: str | None = None) -> int:
        document = self.bot.new_file("document", file_size, file_name=file_name, mime_type=mime_type)
        fields: dict[str, Any] = {"document": document}
        if caption is not None:
            fields["caption"] = caption
        return self.send_message(**fields)

    def _message(self, message: dict[str, Any] | int) -> dict[str, Any]:
        message_id = message["message_id"] if isinstance(message, dict) else message
        found = self.bot.messages.get(self.id, {}).get(message_id)
        if found is None:
            raise ValueError(f"message {message_id} does not exist in chat {self.id}")
        return found

    def press(self, message: dict[str, Any] | int, callback_data: str) -> int:
        """Press an inline button with ``callback_data`` under a message of this chat; returns update_id."""
        return self.press_query(message, callback_data)[0]

    def press_query(self, message: dict[str, Any] | int, callback_data: str) -> tuple[int, str]:
        """As press(), returning (update_id, callback query id) so the answer can be looked up."""
        query_id = str(secrets.randbits(62))
        query = {"id": query_id, "from": self.user, "message": copy.deepcopy(self._message(message)),
                 "chat_instance": str(abs(hash((self.bot.token, self.id)))), "data": callback_data}
        self.bot.callbacks[query_id] = {"chat_id": self.id, "answer": None}
        return self.api.push_update({"callback_query": query}, token=self.bot.token), query_id

    def _with_inline(self) -> list[dict[str, Any]]:
        return [m for m in reversed(self.api.sent_messages(self.id, token=self.bot.token))
                if m.get("reply_markup", {}).get("inline_keyboard")]

    def press_button(self, text: str) -> int:
        """Press the button labelled ``text`` on the bot's latest message that has it."""
        for message in self._with_inline():
            for label, data in self.inline_buttons(message):
                if label == text:
                    if data is None:
                        raise ValueError(f"button {text!r} has no callback_data")
                    return self.press(message, data)
        latest = self._with_inline()
        labels = [label for label, _ in self.inline_buttons(latest[0])] if latest else []
        raise LookupError(f"no inline button {text!r}; latest inline keyboard has {labels}")

    def inline_buttons(self, message: dict[str, Any] | int | None = None) -> list[tuple[str, str | None]]:
        if message is None:
            found = self._with_inline()
            if not found:
                return []
            message = found[0]
        current = self._message(message)
        rows = current.get("reply_markup", {}).get("inline_keyboard", [])
        return [(b["text"], b.get("callback_data")) for b in itertools.chain.from_iterable(rows)]

    def reply_keyboard(self) -> list[str] | None:
        markup = self.bot.reply_keyboards.get(self.id)
        if markup is None:
            return None
        buttons = itertools.chain.from_iterable(markup["keyboard"])
        return [b if isinstance(b, str) else b["text"] for b in buttons]

    def block(self) -> None:
        self.bot.blocked.add(self.id)

    def unblock(self) -> None:
        self.bot.blocked.discard(self.id)


class Faults:
    """Fault injection for tests: a share of sendMessage calls answered 429 (with retry_after) or 500, every
    update delivered twice, and hooks that see each call before it runs (e.g. to kill the bot at that point)."""

    def __init__(self) -> None:
        self.rate_limit_share = 0.0
        self.retry_after = 1
        self.server_error_share = 0.0
        self.deliver_twice = False
        self.methods = {"sendMessage"}
        self.random = random.Random(7)
        self.hooks: list[Callable[[str, dict[str, Any]], None]] = []
        self.injected = {"429": 0, "500": 0, "redelivered": 0}

    def off(self) -> None:
        self.rate_limit_share = self.server_error_share = 0.0
        self.deliver_twice = False

    def pick(self, name: str) -> tuple[int, dict[str, Any]] | None:
        """The error answer for this call, if one is due."""
        if name not in self.methods:
            return None
        roll = self.random.random()
        if roll < self.rate_limit_share:
            self.injected["429"] += 1
            return 429, {"ok": False, "error_code": 429,
                         "description": f"Too Many Requests: retry after {self.retry_after}",
                         "parameters": {"retry_after": self.retry_after}}
        if roll < self.rate_limit_share + self.server_error_share:
            self.injected["500"] += 1
            return 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        return None


class LocalBotAPI:
    """The server. Start it, add a bot, create users, point aiogram at ``base_url``."""

    def __init__(self, spec_path: str | Path | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.spec = Spec(Path(spec_path) if spec_path else DEFAULT_SPEC_PATH)
        self.host = host
        self.port = port
        self.calls: list[Call] = []
        self.webhook_retry_delay = 0.2
        self.faults = Faults()
        self._bots: dict[str, BotState] = {}
        self._default_token: str | None = None
        self._waiters: list[tuple[Callable[[Call], bool], asyncio.Future[Call]]] = []
        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None
        self._closing = False
        self._now: Callable[[], float] | None = None
        # method name (lower case) -> (status, body, content type): answered verbatim instead of the Bot API's JSON
        self.raw_answers: dict[str, tuple[int, str, str]] = {}
        self.app = web.Application()
        self.app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        self.app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self.app.router.add_post("/sandbox/{token}/send", self._handle_sandbox_send)
        self.app.router.add_post("/sandbox/{token}/press", self._handle_sandbox_press)
        self.app.router.add_get("/sandbox/{token}/chat/{user_id}", self._handle_sandbox_chat)
        # The chat page (sandbox/web/) and the JSON endpoints behind it.
        from sandbox.page import ChatPage

        self.page = ChatPage(self)
        self.page.add_routes(self.app.router)

    # ---- lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._closing = False
        self._client = ClientSession(timeout=ClientTimeout(total=10))
        self._runner = web.AppRunner(self.app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        for bot in self._bots.values():
            self._ensure_webhook_task(bot)
        log.info("local Bot API (%s) listening on %s", self.spec.version, self.base_url)

    async def stop(self) -> None:
        self._closing = True
        for bot in self._bots.values():
            bot.wake()  # release long polls so the runner can shut down promptly
            bot.page_wakeup.set()  # and the chat page's
            if bot.webhook_task:
                bot.webhook_task.cancel()
                await asyncio.gather(bot.webhook_task, return_exceptions=True)
                bot.webhook_task = None
        if self._runner:
            await self._runner.cleanup()
            self._runner = None
        if self._client:
            await self._client.close()
            self._client = None

    async def __aenter__(self) -> LocalBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ---- world set-up ----------------------------------------------------------------------------------
    def add_bot(self, token: str = "123456:TEST", username: str = "fieldbot_test_bot",
                first_name: str = "fieldbot") -> dict[str, Any]:
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else abs(hash(token)) % 10**9
        user = {"id": bot_id, "is_bot": True, "first_name": first_name, "username": username}
        self._bots[token] = BotState(token, user)
        if self._now is not None:
            self._bots[token].now = self._now
        self._default_token = self._default_token or token
        return dict(user)

    def set_clock(self, now: Callable[[], float]) -> None:
        """Dates messages by `now` (Unix seconds) instead of the real time: the sandbox's clock, once moved."""
        self._now = now
        for bot in self._bots.values():
            bot.now = now

    def _bot(self, token: str | None) -> BotState:
        token = token or self._default_token
        if token is None or token not in self._bots:
            raise RuntimeError("no such bot; call add_bot() first")
        return self._bots[token]

    def user(self, user_id: int, first_name: str = "User", last_name: str | None = None,
             username: str | None = None, language_code: str | None = None, *,
             token: str | None = None) -> FakeUser:
        """Create (or update) a user and register their private chat with the bot."""
        bot = self._bot(token)
        user = {"id": user_id, "is_bot": False, "first_name": first_name, "last_name": last_name,
                "username": username, "language_code": language_code}
        user = {k: v for k, v in user.items() if v is not None}
        chat = {"id": user_id, "type": "private", "first_name": first_name, "last_name": last_name,
                "username": username}
        bot.chats[user_id] = {k: v for k, v in chat.items() if v is not None}
        bot.users[user_id] = user
        return FakeUser(self, bot, user)

    def add_chat(self, chat_id: int, type: str = "group", title: str | None = None,
                 username: str | None = None, *, token: str | None = None) -> dict[str, Any]:
        """Register a group/supergroup/channel so the bot may post there."""
        chat = {"id": chat_id, "type": type, "title": title or f"Chat {chat_id}", "username": username}
        self._bot(token).chats[chat_id] = {k: v for k, v in chat.items() if v is not None}
        return chat

    def push_update(self, update: dict[str, Any], *, token: str | None = None) -> int:
        """Queue a raw update (update_id is assigned) for getUpdates or the webhook; returns update_id."""
        bot = self._bot(token)
        update = {**update, "update_id": bot.next_update_id}
        bot.next_update_id += 1
        bot.queue.append(update)
        bot.wake()
        return int(update["update_id"])

    # ---- inspection --------------------------------------------------------------------------------------
    def calls_to(self, chat_id: int | str, method: str | None = None) -> list[Call]:
        return [c for c in self.calls
                if c.chat_id == chat_id and (method is None or c.method.lower() == method.lower())]

    def sent_messages(self, chat_id: int, *, token: str | None = None) -> list[dict[str, Any]]:
        bot = self._bot(token)
        messages = sorted(bot.messages.get(chat_id, {}).items())
        return [copy.deepcopy(m) for _, m in messages if m["from"]["id"] == bot.user["id"]]

    def last_message(self, chat_id: int, *, token: str | None = None) -> dict[str, Any] | None:
        messages = self.sent_messages(chat_id, token=token)
        return messages[-1] if messages else None

    def answer_raw(self, method: str, status: int, body: str, content_type: str = "text/html") -> None:
        """Answers `method` with a body that is not the Bot API's JSON, as a proxy or an older Bot API server
        would (e.g. 502 with an HTML page, 404 "page not found"). The call is recorded as failed."""
        self.raw_answers[method.lower()] = (status, body, content_type)

    def clear_calls(self) -> None:
        self.calls.clear()

    def callback_answer(self, callback_query_id: str, *, token: str | None = None) -> dict[str, Any] | None:
        entry = self._bot(token).callbacks.get(callback_query_id)
        return entry["answer"] if entry else None

    async def wait_for_call(
        self, predicate: Callable[[Call], bool], timeout: float = 5.0  # noqa: ASYNC109 - simplest for tests
    ) -> Call:
        """The first recorded call (past or future) matching ``predicate``."""
        for call in self.calls:
            if predicate(call):
                return call
        future: asyncio.Future[Call] = asyncio.get_running_loop().create_future()
        waiter = (predicate, future)
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            recent = "\n".join(
                f"  {c.method} chat={c.chat_id} ok={c.ok} {c.error or ''}".rstrip() for c in self.calls[-15:]
            ) or "  (none)"
            message = f"no matching Bot API call within {timeout}s; recent calls:\n{recent}"
            raise TimeoutError(message) from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        for predicate, future in list(self._waiters):
            if future.done():
                continue
            try:
                if predicate(call):
                    future.set_result(call)
            except Exception as exc:  # a broken predicate should fail the waiting test, not the server
                future.set_exception(exc)

    # ---- HTTP handlers -----------------------------------------------------------------------------------
    async def _handle_api(self, request: web.Request) -> web.Response:
        bot = self._bots.get(request.match_info["token"])
        if bot is None:
            body = {"ok": False, "error_code": 401, "description": "Unauthorized"}
            return web.json_response(body, status=401)
        raw_answer = self.raw_answers.get(request.match_info["method"].lower())
        if raw_answer is not None:
            status, text, content_type = raw_answer
            self._record(Call(request.match_info["method"], {}, False, error=text, token=bot.token, status=status))
            return web.Response(status=status, text=text, content_type=content_type)
        try:
            raw, uploads = await self._read_params(request)
        except ApiError as exc:
            return web.json_response({"ok": False, "error_code": exc.status, "description": exc.description},
                                     status=exc.status)
        status, body = await self.call(bot.token, request.match_info["method"], raw, uploads)
        return web.json_response(body, status=status)

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        raw: dict[str, Any] = dict(request.query)
        uploads: dict[str, dict[str, Any]] = {}
        if request.method != "POST" or not request.body_exists:
            return raw, uploads
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse JSON request body") from None
            if not isinstance(body, dict):
                raise ApiError(400, "Bad Request: JSON request body must be an object")
            raw.update(body)
        elif request.content_type == "multipart/form-data":
            fields, uploads = await _read_multipart(await request.multipart())
            raw.update(fields)
        else:
            raw.update(await request.post())
        return raw, uploads

    async def _handle_file(self, request: web.Request) -> web.Response:
        bot = self._bots.get(request.match_info["token"])
        path = request.match_info["path"]
        info = next((f for f in bot.files.values() if f["file_path"] == path), None) if bot else None
        if info is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        if "_data" in info:
            return web.Response(body=info["_data"])
        return web.Response(body=b"\0" * int(info.get("file_size") or 0))

    async def _handle_sandbox_send(self, request: web.Request) -> web.Response:
        bot = self._bots.get(request.match_info["token"])
        if bot is None:
            return web.json_response({"error": "unknown bot token"}, status=401)
        body = await request.json()
        user = self.user(int(body["user_id"]), body.get("first_name") or "User", body.get("last_name"),
                         body.get("username"), body.get("language_code"), token=bot.token)
        # One of: text, contact (the user's own phone: {"phone": "..."}), location ({"latitude", "longitude"}),
        # photo ({"data": base64 of the image, "caption": optional}).
        try:
            if "contact" in body:
                update_id = user.send_contact(str(body["contact"]["phone"]), user_id=user.id)
            elif "location" in body:
                update_id = user.send_location(float(body["location"]["latitude"]),
                                               float(body["location"]["longitude"]))
            elif "photo" in body:
                photo = body["photo"] or {}
                data = base64.b64decode(photo["data"], validate=True) if photo.get("data") else None
                update_id = user.send_photo(photo.get("caption") or None, data=data)
            else:
                update_id = user.send_text(str(body["text"]))
        except (KeyError, TypeError, ValueError) as exc:
            return web.json_response({"error": f"bad request: {exc}"}, status=400)
        return web.json_response({"update_id": update_id})

    async def _handle_sandbox_press(self, request: web.Request) -> web.Response:
        bot = self._bots.get(request.match_info["token"])
        if bot is None:
            return web.json_response({"error": "unknown bot token"}, status=401)
        body = await request.json()
        user_id = int(body["user_id"])
        if user_id not in bot.chats:
            return web.json_response({"error": f"unknown user {user_id}"}, status=404)
        known = dict(bot.users.get(user_id) or _user_from_chat(bot.chats[user_id]))
        if body.get("language_code"):  # the page's language may have changed since the last message
            known["language_code"] = body["language_code"]
            bot.users[user_id] = known
        user = FakeUser(self, bot, known)
        try:
            if "label" in body:
                update_id = user.press_button(str(body["label"]))
                query_id = None
            else:
                update_id, query_id = user.press_query(int(body["message_id"]), str(body["data"]))
        except (LookupError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"update_id": update_id, "query_id": query_id})

    async def _handle_sandbox_chat(self, request: web.Request) -> web.Response:
        bot = self._bots.get(request.match_info["token"])
        if bot is None:
            return web.json_response({"error": "unknown bot token"}, status=401)
        return web.json_response(self.sent_messages(int(request.match_info["user_id"]), token=bot.token))

    # ---- the Bot API proper ------------------------------------------------------------------------------
    async def call(self, token: str, method_name: str, raw: dict[str, Any],
                   uploads: dict[str, dict[str, Any]] | None = None) -> tuple[int, dict[str, Any]]:
        """Validate, execute and record one Bot API call; returns (HTTP status, response body)."""
        bot = self._bot(token)
        method = self.spec.method(method_name)
        name = method["name"] if method else method_name
        params: dict[str, Any] = {}
        chat_id: int | str | None = None
        try:
            if method is None:
                raise ApiError(404, "Not Found")
            params = self._decode_params(method, raw, uploads or {})
            chat_id = params.get("chat_id")
            for hook in list(self.faults.hooks):
                hook(name, params)
            injected = self.faults.pick(name)
            if injected is not None:
                status, body = injected
                self._record(Call(name, params, False, error=body["description"], chat_id=chat_id, token=token,
                                  status=status))
                return status, body
            if name == "answerCallbackQuery" and params.get("callback_query_id") in bot.callbacks:
                chat_id = bot.callbacks[params["callback_query_id"]]["chat_id"]
            result = await self._execute(bot, name, method, params)
            chat_id = params.get("chat_id", chat_id)  # now resolved from @username to the numeric id
        except ApiError as exc:
            chat_id = params.get("chat_id", chat_id)
            self._record(Call(name, params, False, error=exc.description, chat_id=chat_id, token=token,
                              status=exc.status))
            return exc.status, {"ok": False, "error_code": exc.status, "description": exc.description}
        self._record(Call(name, params, True, result=result, chat_id=chat_id, token=token))
        return 200, {"ok": True, "result": result}

    def _decode_params(self, method: dict[str, Any], raw: dict[str, Any],
                       uploads: dict[str, dict[str, Any]]) -> dict[str, Any]:
        fields = self.spec.fields(method)
        referenced = {m for v in raw.values()
                      for m in _ATTACH_RE.findall(v if isinstance(v, str) else json.dumps(v))}
        params: dict[str, Any] = {}
        for key, value in raw.items():
            types = fields[key]["types"] if key in fields else LEGACY_PARAMS.get(key)
            if types is None:
                raise ApiError(400, f'Bad Request: unknown parameter "{key}"')
            try:
                params[key] = decode_value(value, types)
            except ValueError:
                if key == "reply_markup":
                    raise ApiError(400, MARKUP_ERROR) from None
                raise ApiError(400, f"Bad Request: can't parse {key} JSON object") from None
            if isinstance(params[key], str) and params[key].startswith("attach://") and "InputFile" in types:
                attached = uploads.get(params[key][len("attach://"):])
                if attached is None:
                    raise ApiError(400, f'Bad Request: file "{params[key]}" was not uploaded')
                params[key] = attached
        for key, upload in uploads.items():
            if key in referenced:
                continue
            if key not in fields or "InputFile" not in " ".join(fields[key]["types"]):
                raise ApiError(400, f'Bad Request: unknown parameter "{key}"')
            params[key] = upload
        for f in fields.values():
            if f["required"] and f["name"] not in params:
                raise ApiError(400, _missing(f["name"]))
        for key, value in params.items():
            types = fields[key]["types"] if key in fields else LEGACY_PARAMS[key]
            if key == "reply_markup":
                validate_markup(value, types)
            elif not self.spec.check(value, types):
                raise ApiError(400, f"Bad Request: can't parse {key}: expected {' or '.join(types)}")
        return params

    def _chat(self, bot: BotState, chat_id: int | str, sending: bool = False) -> dict[str, Any]:
        chat = bot.chats.get(chat_id) if isinstance(chat_id, int) else next(
            (c for c in bot.chats.values() if f"@{c.get('username')}" == chat_id), None)
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        if sending and chat["id"] in bot.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    async def _execute(self, bot: BotState, name: str, method: dict[str, Any], params: dict[str, Any]) -> Any:
        for key in ("chat_id", "from_chat_id"):
            if key in params:
                chat = self._chat(bot, params[key], sending=name.startswith(("send", "forward", "copy")))
                params[key] = chat["id"]  # resolve @username so calls_to() matches on the numeric id
        handler = getattr(self, f"_m_{name}", None)
        if handler is not None:
            return await handler(bot, params)
        returns = method.get("returns", ["Boolean"])
        if returns == ["Message"]:
            return self._send(bot, name, params)
        if returns == ["Array of Message"]:
            return [self._send(bot, name, params)]
        if returns == ["MessageId"]:
            return {"message_id": self._send(bot, name, params)["message_id"]}
        return True

    def _send(self, bot: BotState, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Store and return the Message a send* call produces."""
        chat = bot.chats[params["chat_id"]]
        content: dict[str, Any] = {}
        if "text" in params:
            text, entities = format_text(params["text"], params.get("parse_mode"), params.get("entities"))
            _check_length(text, TEXT_LIMIT, TOO_LONG, TEXT_EMPTY)
            content["text"] = text
            if entities:
                content["entities"] = entities
        if "caption" in params:
            caption, entities = format_text(params["caption"], params.get("parse_mode"),
                                            params.get("caption_entities"))
            _check_length(caption, CAPTION_LIMIT, CAPTION_TOO_LONG, None)
            if caption:
                content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
        media = name[4:].lower() if name.startswith("send") else ""
        if media == "photo":
            content["photo"] = self._photo(bot, params["photo"])
        elif media in ("document", "video", "audio", "voice", "animation", "sticker", "videonote"):
            key = "video_note" if media == "videonote" else media
            content[key] = self._file(bot, key, params.get(key))
        elif media == "location":
            content["location"] = {k: params[k] for k in ("latitude", "longitude", "horizontal_accuracy",
                                                          "live_period", "heading") if k in params}
        elif media == "contact":
            content["contact"] = {k: params[k] for k in ("phone_number", "first_name", "last_name", "vcard")
                                  if k in params}
        elif media == "dice":
            content["dice"] = {"emoji": params.get("emoji", "🎲"), "value": 1}
        reply_to = (params.get("reply_parameters") or {}).get("message_id")
        reply_to = reply_to or params.get("reply_to_message_id")
        if reply_to and reply_to in bot.messages.get(chat["id"], {}):
            content["reply_to_message"] = copy.deepcopy(bot.messages[chat["id"]][reply_to])
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            content["reply_markup"] = markup  # Telegram echoes only inline keyboards in the Message
        message = bot.add_message(chat, bot.user, content)
        if isinstance(markup, dict):
            if "keyboard" in markup:
                bot.reply_keyboards[chat["id"]] = markup
            elif "remove_keyboard" in markup:
                bot.reply_keyboards[chat["id"]] = None
            bot.touch(chat["id"])
        return copy.deepcopy(message)

    def _photo(self, bot: BotState, photo: Any) -> list[dict[str, Any]]:
        if isinstance(photo, str) and not photo.startswith(("http://", "https://")):
            known = bot.files.get(photo)
            if known is None:
                raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
            return [{k: known[k] for k in ("file_id", "file_unique_id", "file_size")} | {"width": 1280,
                                                                                         "height": 960}]
        size = int(photo.get("size", 0)) if isinstance(photo, dict) else 0
        data = photo.pop("data", None) if isinstance(photo, dict) else None
        # Every size shares the uploaded bytes: the page shows the picture the bot sent, not a thumbnail.
        return [bot.new_file("photo", size // div, data=data, width=w, height=w * 3 // 4)
                for div, w in ((16, 90), (4, 320), (1, 1280))]

    def _file(self, bot: BotState, kind: str, value: Any) -> dict[str, Any]:
        if isinstance(value, str) and not value.startswith(("http://", "https://")):
            known = bot.files.get(value)
            if known is None:
                raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
            return {k: known[k] for k in ("file_id", "file_unique_id", "file_size")}
        upload = value if isinstance(value, dict) else {}
        extra = {"file_name": upload.get("filename"), "mime_type": upload.get("content_type")}
        return bot.new_file(kind, int(upload.get("size", 0)), data=upload.pop("data", None),
                            **{k: v for k, v in extra.items() if v})

    def _target(self, bot: BotState, params: dict[str, Any], not_found: str) -> dict[str, Any] | None:
        if "inline_message_id" in params:
            return None
        if "chat_id" not in params or "message_id" not in params:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        message = bot.messages.get(params["chat_id"], {}).get(params["message_id"])
        if message is None:
            raise ApiError(400, not_found)
        return message

    def _edit(self, bot: BotState, params: dict[str, Any], changes: dict[str, Any]) -> Any:
        message = self._target(bot, params, "Bad Request: message to edit not found")
        if message is None:
            return True  # inline messages are not stored; Telegram answers True for them
        if message["from"]["id"] != bot.user["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        if "text" in changes and "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        if "caption" in changes and "text" in message:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        # Telegram drops the inline keyboard when an edit does not repeat it.
        markup = params.get("reply_markup")
        changes["reply_markup"] = markup if markup and markup.get("inline_keyboard") else None
        if all((message.get(k) or None) == (v or None) for k, v in changes.items()):
            raise ApiError(400, NOT_MODIFIED)
        for key, value in changes.items():
            if value is None or value == []:
                message.pop(key, None)
            else:
                message[key] = value
        message["edit_date"] = int(bot.now())
        bot.touch(message["chat"]["id"])
        return copy.deepcopy(message)

    # Method handlers are looked up as _m_<canonical method name>.
    async def _m_getMe(self, bot: BotState, params: dict[str, Any]) -> Any:
        return {**bot.user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}

    async def _m_getUpdates(self, bot: BotState, params: dict[str, Any]) -> Any:
        if bot.webhook is not None:
            raise ApiError(409, WEBHOOK_CONFLICT)
        if "allowed_updates" in params:
            bot.allowed_updates = list(params["allowed_updates"])
        offset = int(params.get("offset", 0))
        if offset > 0:  # acknowledges every update below offset, as Telegram does
            if self.faults.deliver_twice:
                bot.redeliver += [u for u in bot.queue if u["update_id"] < offset
                                  and u["update_id"] not in bot.redelivered]
            bot.queue = [u for u in bot.queue if u["update_id"] >= offset]
        elif offset < 0:
            bot.queue = bot.queue[offset:]
        limit = max(1, min(100, int(params.get("limit", 100))))
        deadline = time.monotonic() + max(0, int(params.get("timeout", 0)))
        while True:
            event = bot.wakeup
            pending = bot.deliverable()
            if bot.redeliver:  # a second delivery, whatever the offset says (what a duplicate looks like)
                again, bot.redeliver = bot.redeliver, []
                bot.redelivered.update(u["update_id"] for u in again)
                self.faults.injected["redelivered"] += len(again)
                pending = again + pending
            remaining = deadline - time.monotonic()
            if pending or remaining <= 0 or self._closing or bot.webhook is not None:
                return copy.deepcopy(pending[:limit])
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return []

    async def _m_setWebhook(self, bot: BotState, params: dict[str, Any]) -> Any:
        if not params["url"]:
            return await self._m_deleteWebhook(bot, params)
        if not params["url"].startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        if params.get("drop_pending_updates"):
            bot.queue.clear()
        if "allowed_updates" in params:
            bot.allowed_updates = list(params["allowed_updates"])
        bot.webhook = {"url": params["url"], "secret_token": params.get("secret_token"),
                       "max_connections": params.get("max_connections", 40)}
        bot.webhook_errors = {}
        self._ensure_webhook_task(bot)
        bot.wake()
        return True

    async def _m_deleteWebhook(self, bot: BotState, params: dict[str, Any]) -> Any:
        if params.get("drop_pending_updates"):
            bot.queue.clear()
        bot.webhook = None
        bot.wake()
        return True

    async def _m_getWebhookInfo(self, bot: BotState, params: dict[str, Any]) -> Any:
        info: dict[str, Any] = {"url": "", "has_custom_certificate": False,
                                "pending_update_count": len(bot.deliverable())}
        if bot.webhook:
            info.update(url=bot.webhook["url"], max_connections=bot.webhook["max_connections"],
                        **bot.webhook_errors)
            if bot.allowed_updates:
                info["allowed_updates"] = bot.allowed_updates
        return info

    async def _m_sendChatAction(self, bot: BotState, params: dict[str, Any]) -> Any:
        return True

    async def _m_editMessageText(self, bot: BotState, params: dict[str, Any]) -> Any:
        text, entities = format_text(params["text"], params.get("parse_mode"), params.get("entities"))
        _check_length(text, TEXT_LIMIT, TOO_LONG, TEXT_EMPTY)
        return self._edit(bot, params, {"text": text, "entities": entities})

    async def _m_editMessageCaption(self, bot: BotState, params: dict[str, Any]) -> Any:
        caption, entities = format_text(params.get("caption", ""), params.get("parse_mode"),
                                        params.get("caption_entities"))
        _check_length(caption, CAPTION_LIMIT, CAPTION_TOO_LONG, None)
        return self._edit(bot, params, {"caption": caption or None, "caption_entities": entities})

    async def _m_editMessageReplyMarkup(self, bot: BotState, params: dict[str, Any]) -> Any:
        return self._edit(bot, params, {})

    async def _m_deleteMessage(self, bot: BotState, params: dict[str, Any]) -> Any:
        self._target(bot, params, "Bad Request: message to delete not found")
        del bot.messages[params["chat_id"]][params["message_id"]]
        bot.touch(params["chat_id"])
        return True

    async def _m_deleteMessages(self, bot: BotState, params: dict[str, Any]) -> Any:
        for message_id in params["message_ids"]:
            bot.messages.get(params["chat_id"], {}).pop(message_id, None)
        bot.touch(params["chat_id"])
        return True

    async def _m_answerCallbackQuery(self, bot: BotState, params: dict[str, Any]) -> Any:
        entry = bot.callbacks.get(params["callback_query_id"])
        if entry is None or entry["answer"] is not None:
            raise ApiError(400, CALLBACK_ERROR)
        entry["answer"] = dict(params)
        bot.touch(entry["chat_id"])
        bot.answers.append((bot.version, params["callback_query_id"], dict(params)))
        return True

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), params.get("language_code", "")

    async def _m_setMyCommands(self, bot: BotState, params: dict[str, Any]) -> Any:
        bot.commands[self._commands_key(params)] = params["commands"]
        return True

    async def _m_getMyCommands(self, bot: BotState, params: dict[str, Any]) -> Any:
        return bot.commands.get(self._commands_key(params), [])

    async def _m_deleteMyCommands(self, bot: BotState, params: dict[str, Any]) -> Any:
        bot.commands.pop(self._commands_key(params), None)
        return True

    async def _m_setChatMenuButton(self, bot: BotState, params: dict[str, Any]) -> Any:
        bot.menu_buttons[params.get("chat_id")] = params.get("menu_button") or {"type": "default"}
        return True

    async def _m_getChatMenuButton(self, bot: BotState, params: dict[str, Any]) -> Any:
        return bot.menu_buttons.get(params.get("chat_id"), bot.menu_buttons.get(None, {"type": "commands"}))

    async def _m_getChat(self, bot: BotState, params: dict[str, Any]) -> Any:
        gifts = dict.fromkeys(("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription",
                               "gifts_from_channels"), True)
        return {**bot.chats[params["chat_id"]], "accent_color_id": 0, "max_reaction_count": 11,
                "accepted_gift_types": gifts}

    async def _m_getFile(self, bot: BotState, params: dict[str, Any]) -> Any:
        info = bot.files.get(params["file_id"])
        if info is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {k: v for k, v in info.items() if not k.startswith("_")}

    # ---- webhook delivery --------------------------------------------------------------------------------
    def _ensure_webhook_task(self, bot: BotState) -> None:
        running = bot.webhook_task is not None and not bot.webhook_task.done()
        if bot.webhook is not None and self._client is not None and not running:
            bot.webhook_task = asyncio.get_running_loop().create_task(self._webhook_loop(bot))

    async def _webhook_loop(self, bot: BotState) -> None:
        while bot.webhook is not None and not self._closing:
            event = bot.wakeup
            pending = bot.deliverable()
            if not pending:
                await event.wait()
                continue
            if await self._post_update(bot, bot.webhook, pending[0]):
                bot.queue = [u for u in bot.queue if u is not pending[0]]
                if self.faults.deliver_twice and pending[0]["update_id"] not in bot.redelivered:
                    bot.redelivered.add(pending[0]["update_id"])
                    self.faults.injected["redelivered"] += 1
                    await self._post_update(bot, bot.webhook, pending[0])
            else:
                await asyncio.sleep(self.webhook_retry_delay)

    async def _post_update(self, bot: BotState, webhook: dict[str, Any], update: dict[str, Any]) -> bool:
        assert self._client is not None
        secret = webhook["secret_token"]
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        try:
            async with self._client.post(webhook["url"], json=update, headers=headers) as resp:
                if not 200 <= resp.status < 300:
                    bot.webhook_errors = {"last_error_date": int(time.time()),
                                          "last_error_message": f"Wrong response from the webhook: "
                                                                f"{resp.status} {resp.reason}"}
                    return False
                reply = await _read_webhook_reply(resp)
        except (ClientError, TimeoutError) as exc:
            bot.webhook_errors = {"last_error_date": int(time.time()),
                                  "last_error_message": f"Connection failed: {type(exc).__name__}"}
            return False
        if reply and "method" in reply[0]:
            # The webhook may answer with a method call, which Telegram executes (without a reply).
            fields, uploads = reply
            await self.call(bot.token, str(fields.pop("method")), fields, uploads)
        return True


def _missing(name: str) -> str:
    known = {"chat_id": "Bad Request: chat_id is empty", "text": TEXT_EMPTY}
    return known.get(name, f'Bad Request: parameter "{name}" is required')


def _check_length(text: str, limit: int, too_long: str, empty: str | None) -> None:
    if len(text) > limit:
        raise ApiError(400, too_long)
    if empty and not text.strip():
        raise ApiError(400, empty)


def _user_from_chat(chat: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "first_name", "last_name", "username")
    return {"is_bot": False, **{k: chat[k] for k in keys if k in chat}}


async def _read_multipart(reader: MultipartReader) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Form fields as text; file parts reduced to their size (contents are discarded)."""
    fields: dict[str, Any] = {}
    uploads: dict[str, dict[str, Any]] = {}
    async for part in reader:
        name = getattr(part, "name", None)
        if name is None:
            continue
        if getattr(part, "filename", None) is not None:
            chunks: list[bytes] = []
            size = 0
            while chunk := await part.read_chunk():  # type: ignore[union-attr]
                size += len(chunk)
                if size <= KEEP_UPLOAD_BYTES:
                    chunks.append(chunk)
            # aiohttp (so aiogram) percent-encodes file names in the form; Telegram shows them decoded.
            filename = unquote(part.filename or "")  # type: ignore[union-attr]
            uploads[name] = {"_upload": True, "filename": filename, "size": size,
                             "content_type": part.headers.get("Content-Type")}  # type: ignore[union-attr]
            if size <= KEEP_UPLOAD_BYTES:
                uploads[name]["data"] = b"".join(chunks)  # taken out into the file store when the send succeeds
        else:
            fields[name] = await part.text()  # type: ignore[union-attr]
    return fields, uploads


async def _read_webhook_reply(resp: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]] | None:
    if resp.content_type == "application/json":
        body = await resp.json()
        return (body, {}) if isinstance(body, dict) and body else None
    if resp.content_type == "multipart/form-data":
        return await _read_multipart(MultipartReader(resp.headers, resp.content))
    return None
