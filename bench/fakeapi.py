"""A fast fake Bot API server for `make bench`, run in a process of its own.

Not the validating sandbox (sandbox/botapi.py): it only serves a pre-generated flood of updates through getUpdates,
answers every other method with a valid result at once, and times the run. The clock starts when the first
non-empty getUpdates is answered and stops at the reply that completes the flood (one reply per update), so
start-up, migrations and shutdown are not counted. The bot's CPU time over exactly that window is read from
/proc/<pid>/stat when the benchmark gives the bot's pid.

    python -m bench.fakeapi --port 18999     # then POST /control/load, poll GET /control/stats
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The customer flow, one step per update: start, name, phone (a valid mobile, unique per user and round), cancel.
CUSTOMER_STEPS = ("/newcustomer", "name", "phone", "/cancel")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def step_text(step: str, user: int, round_: int) -> str:
    if step == "name":
        return f"Customer {user}-{round_} Logistics"
    if step == "phone":
        return f"139{user % 10_000:04d}{round_ % 10_000:04d}"
    return step


def generate(users: int, updates: int, first_update_id: int, first_user_id: int) -> list[str]:
    """`updates` updates from `users` users, round-robin, each user walking the customer flow over and over."""
    out: list[str] = []
    now = int(time.time())
    for n in range(updates):
        user, position = n % users, n // users
        round_, step = divmod(position, len(CUSTOMER_STEPS))
        text = step_text(CUSTOMER_STEPS[step], user, round_)
        user_id = first_user_id + user
        message: dict[str, Any] = {
            "message_id": position + 1, "date": now,
            "chat": {"id": user_id, "type": "private", "first_name": f"U{user}"},
            "from": {"id": user_id, "is_bot": False, "first_name": f"U{user}",
                     "language_code": "zh-hans" if user % 2 else "en"},
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
        out.append(json.dumps({"update_id": first_update_id + n, "message": message}, separators=(",", ":")))
    return out


@dataclass
class Run:
    updates: list[str]
    first_update_id: int
    pid: int | None = None
    served: int = 0  # index of the first update not yet confirmed
    replies: int = 0
    replies_by_chat: dict[int, int] = field(default_factory=dict)
    started: float | None = None
    finished: float | None = None
    cpu_at_start: float | None = None
    cpu_at_end: float | None = None
    rss_at_start_mb: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def stats(self) -> dict[str, Any]:
        return {"updates": len(self.updates), "replies": self.replies, "started": self.started,
                "finished": self.finished, "chats": len(self.replies_by_chat),
                "seconds": (self.finished - self.started) if self.finished and self.started else None,
                "cpu_s": (self.cpu_at_end - self.cpu_at_start)
                if self.cpu_at_end is not None and self.cpu_at_start is not None else None,
                "rss_at_start_mb": self.rss_at_start_mb}


class FakeBotAPI:
    def __init__(self) -> None:
        self.run: Run | None = None
        self.loaded = asyncio.Event()
        self.message_ids = 0
        self.app = web.Application(client_max_size=4 * 1024 * 1024)
        self.app.router.add_post("/control/load", self.load)
        self.app.router.add_get("/control/stats", self.stats)
        self.app.router.add_route("*", "/bot{token}/{method}", self.method)

    async def load(self, request: web.Request) -> web.Response:
        spec = await request.json()
        self.run = Run(generate(spec["users"], spec["updates"], spec["first_update_id"], spec["first_user_id"]),
                       spec["first_update_id"], pid=spec.get("pid"))
        self.loaded.set()
        return web.json_response({"ok": True, "updates": len(self.run.updates)})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.run.stats() if self.run else {})

    async def method(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        params: dict[str, Any] = dict(await request.post()) if request.can_read_body else {}
        if request.content_type == "application/json":
            params = await request.json()
        name = method.lower()
        if name == "getupdates":
            return await self.get_updates(params)
        if name == "sendmessage":
            return self.send_message(params)
        if name == "getme":
            bot_id = int(token.split(":", 1)[0])
            return web.json_response({"ok": True, "result": {
                "id": bot_id, "is_bot": True, "first_name": "bench", "username": "bench_bot",
                "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}})
        return web.json_response({"ok": True, "result": True})

    async def get_updates(self, params: dict[str, Any]) -> web.Response:
        run = self.run
        if run is None:
            try:
                await asyncio.wait_for(self.loaded.wait(), float(params.get("timeout") or 0))
            except TimeoutError:
                pass
            return web.json_response({"ok": True, "result": []})
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        run.served = max(run.served, offset - run.first_update_id)
        start = max(0, run.served)
        batch = run.updates[start:start + limit]
        if not batch:
            try:
                await asyncio.wait_for(run.done.wait(), float(params.get("timeout") or 0))
            except TimeoutError:
                pass
            return web.json_response({"ok": True, "result": []})
        if run.started is None:
            run.started = time.perf_counter()
            if run.pid:
                run.cpu_at_start = cpu_seconds(run.pid)
                run.rss_at_start_mb = rss_mb(run.pid)
        return web.Response(text='{"ok":true,"result":[' + ",".join(batch) + "]}", content_type="application/json")

    def send_message(self, params: dict[str, Any]) -> web.Response:
        chat_id = int(params["chat_id"])
        self.message_ids += 1
        run = self.run
        if run is not None and run.finished is None:
            run.replies += 1
            run.replies_by_chat[chat_id] = run.replies_by_chat.get(chat_id, 0) + 1
            if run.replies >= len(run.updates):
                run.finished = time.perf_counter()
                if run.pid:
                    run.cpu_at_end = cpu_seconds(run.pid)
                run.done.set()
        return web.json_response({"ok": True, "result": {
            "message_id": self.message_ids, "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": 1, "is_bot": True, "first_name": "bench"},
            "text": str(params.get("text", ""))}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(FakeBotAPI().app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
