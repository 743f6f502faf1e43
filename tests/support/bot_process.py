"""The bot as a real process (`fieldbot run`) against the local Bot API server of the test, so a test can kill -9
it at any point and start it again on the same database. Processes are forked from one that has imported fieldbot
already (tests/support/bot_zygote.py): a restart costs a fraction of a second instead of the imports."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sandbox.botapi import LocalBotAPI
from tests.support.harness import BOT_USERNAME, TOKEN

READY_S = 120.0


class Zygote:
    """The forking parent, shared by the tests of a session."""

    _shared: Zygote | None = None

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "tests.support.bot_zygote"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2])

    @classmethod
    def shared(cls) -> Zygote:
        if cls._shared is None or cls._shared.process.poll() is not None:
            cls._shared = cls()
        return cls._shared

    def fork(self, env: dict[str, str], cwd: Path, log: Path) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write((json.dumps({"env": env, "cwd": str(cwd), "log": str(log)}) + "\n").encode())
        self.process.stdin.flush()
        return int(self.process.stdout.readline())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class BotProcess:
    def __init__(self, api: LocalBotAPI, database_url: str, workdir: Path, *, redis_url: str | None = None,
                 **settings: object) -> None:
        self.api = api
        self.workdir = workdir
        self.env = {**os.environ, "BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE": api.base_url,
                    "DATABASE_URL": database_url, "REDIS_URL": redis_url or "", "BOT_USERNAME": BOT_USERNAME,
                    "LOG_LEVEL": "WARNING", "INTAKE_CLAIM_TTL_S": "2", "INTAKE_RETRY_S": "0.3"}
        self.env.update({name.upper(): str(value) for name, value in settings.items()})
        self.pid: int | None = None
        self.kills = 0
        self.starts = 0
        self.ready_at = 0.0

    @property
    def alive(self) -> bool:
        return self.pid is not None and _alive(self.pid)

    async def start(self) -> None:
        """Starts the bot and returns once it polls (its deleteWebhook comes right before the first getUpdates)."""
        began = time.monotonic()
        log_path = self.workdir / f"bot-{self.starts}.log"
        zygote = await asyncio.to_thread(Zygote.shared)
        self.pid = await asyncio.to_thread(zygote.fork, self.env, self.workdir, log_path)
        self.starts += 1
        ready = asyncio.ensure_future(self.api.wait_for_call(
            lambda call: call.method == "deleteWebhook" and call.at > began, timeout=READY_S))
        while not ready.done():
            if not self.alive:
                ready.cancel()
                break
            await asyncio.wait({ready}, timeout=0.1)
        if ready.cancelled() or ready.exception() is not None:
            self.kill()
            tail = await asyncio.to_thread(log_path.read_text, errors="replace")
            raise AssertionError(f"the bot did not start; {log_path}:\n{tail[-3000:]}")
        self.ready_at = time.monotonic()

    def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        if self.pid is not None and _alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
            while _alive(self.pid):
                time.sleep(0.005)
            self.kills += 1

    async def stop(self) -> None:
        if self.pid is not None and _alive(self.pid):
            os.kill(self.pid, signal.SIGINT)
            deadline = time.monotonic() + 10
            while _alive(self.pid) and time.monotonic() < deadline:  # noqa: ASYNC110 - not our child to wait on
                await asyncio.sleep(0.05)
            if _alive(self.pid):
                os.kill(self.pid, signal.SIGKILL)
