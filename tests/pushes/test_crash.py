"""A bot process killed (SIGKILL) in the middle of sending: after a restart nothing is lost or doubled; the one
documented exception is a message Telegram accepted just before the kill, before its "sent" mark committed."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.pushes.support import Rig, rig

ROOT = Path(__file__).resolve().parents[2]


async def _run_child_until(r: Rig, database_url: str, chats: list[int],
                           arm: Callable[[Callable[[], None]], None]) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.pushes.crash_child", database_url, r.api.base_url,
        ",".join(map(str, chats)), cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    killed = asyncio.Event()

    def kill() -> None:
        if not killed.is_set():
            os.kill(child.pid, signal.SIGKILL)
            killed.set()

    arm(kill)
    try:
        await asyncio.wait_for(killed.wait(), 300)  # a loaded machine may take a minute to import
    finally:
        if not killed.is_set():
            child.kill()
        await child.wait()
    assert child.returncode == -signal.SIGKILL


def _later() -> datetime:
    """The restarted process's clock: past the dead one's claims (2 minutes)."""
    return datetime.now(UTC) + timedelta(minutes=3)


async def test_killed_before_the_send_reaches_telegram_loses_nothing_and_doubles_nothing(sqlite_url: str) -> None:
    async with rig(sqlite_url) as r:
        chats = r.chats(5)

        def arm(kill: Callable[[], None]) -> None:
            def on_send(method: str, raw: dict[str, Any]) -> bool:
                kill()
                return True  # the request dies with its sender: nothing delivered

            r.api.before_send.append(on_send)

        await _run_child_until(r, sqlite_url, chats, arm)
        r.api.before_send.clear()
        assert r.delivered() == {}
        stuck = await r.statuses()
        assert stuck["sending"] >= 1, "the dead process had claimed rows"
        # Restart, once the dead process's claims have expired: every note exactly once.
        await r.dispatcher(clock=_later).drain(within_s=60)
        expected = {f"note {chat}-{n} [en]": 1 for chat in chats for n in range(2)}
        assert r.delivered() == expected
        assert await r.statuses() == {"sent": 10}
        # And a second restart sends nothing more.
        await r.dispatcher(clock=_later).drain(within_s=10)
        assert r.delivered() == expected


async def test_killed_after_telegram_accepted_a_message_repeats_at_most_that_one(sqlite_url: str) -> None:
    async with rig(sqlite_url) as r:
        chats = r.chats(5)

        def arm(kill: Callable[[], None]) -> None:
            r.api.after_send.append(lambda method, raw: kill())

        await _run_child_until(r, sqlite_url, chats, arm)
        r.api.after_send.clear()
        await asyncio.sleep(0.2)
        before = r.delivered()
        assert sum(before.values()) >= 1
        await r.dispatcher(clock=_later).drain(within_s=60)
        delivered = r.delivered()
        assert set(delivered) == {f"note {chat}-{n} [en]" for chat in chats for n in range(2)}, "nothing lost"
        doubled = [text for text, count in delivered.items() if count > 1]
        assert len(doubled) <= len(before), "only what was in flight at the kill may arrive twice"
        assert all(before[text] == 1 for text in doubled)
        assert await r.statuses() == {"sent": 10}
