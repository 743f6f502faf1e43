"""`make bench`: fieldbot beside a bare aiogram echo bot, against the same fast fake Bot API, in the same run.

    make bench                                          # 20,000 updates from 200 users, SQLite and PostgreSQL
    BENCH_UPDATES=4000 BENCH_ROUNDS=1 make bench        # a quick look
    .venv/bin/python -m bench --databases sqlite --rounds 3 --profile

The fake Bot API (bench/fakeapi.py) runs in a process of its own and floods getUpdates with customer-flow steps
(/newcustomer → name → phone → /cancel, over and over) from onboarded demo staff. Each bot (bench/bots.py) runs in
a fresh process on a fresh copy of the same database, alternating echo, fieldbot, echo, fieldbot, ...; the figure
of each run is updates per second from the first update served to the reply of the last one. Printed: medians,
fieldbot's ratio to the echo of the same run, bot CPU per update, and peak RSS of the bot process. What limits
each figure: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "bot" / "data" / "demo_org.yaml"
DEALERS = ("dlr-shijiazhuang", "dlr-tangshan", "dlr-jinan", "dlr-kunming", "dlr-qujing")
FIRST_USER_ID = 7_000_000
POSTGRES_ADMIN = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET_RATIO = 0.70
TARGET_RSS_MB = 150


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_json(url: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


# --- databases ------------------------------------------------------------------------------------------------

async def populate(database_url: str, users: int) -> None:
    """Migrates, loads the demo org and onboards `users` salespeople spread over the five demo dealers."""
    from bot.services.org_import import OrgImporter
    from storage import migrate
    from storage.engine import make_engine, make_sessionmaker
    from storage.models import Staff
    from storage.uow import UnitOfWork

    engine = make_engine(database_url)
    try:
        await migrate.upgrade(engine)
        async with UnitOfWork(make_sessionmaker(engine)) as uow:
            await OrgImporter(uow).import_file(DEMO)
            dealers = [await uow.org.by_code(code) for code in DEALERS]
            now = datetime.now(UTC)
            for i in range(users):
                unit = dealers[i % len(dealers)]
                assert unit is not None and unit.id is not None
                await uow.staff.add(Staff(name=f"Bench {i}", phone=f"+86137{i:08d}", role="sales_rep",
                                          org_unit_id=unit.id, tg_user_id=FIRST_USER_ID + i,
                                          locale="zh_CN" if i % 2 else "en", active=True, onboarded_at=now))
            await uow.commit()
    finally:
        await engine.dispose()


class Databases:
    """A populated template per database kind, and a fresh copy of it for every run."""

    def __init__(self, workdir: Path, users: int) -> None:
        self.workdir = workdir
        self.users = users
        self.template_sqlite = workdir / "template.sqlite3"
        self.pg_template: str | None = None
        self.pg_created: list[str] = []

    async def prepare(self, kinds: list[str]) -> list[str]:
        """The kinds that can run here (PostgreSQL is skipped, saying why, when it is not reachable)."""
        ready = []
        if "sqlite" in kinds:
            await populate(f"sqlite+aiosqlite:///{self.template_sqlite}", self.users)
            ready.append("sqlite")
        if "postgres" in kinds:
            try:
                self.pg_template = await self._pg_create(None)
                await populate(self._pg_url(self.pg_template), self.users)
                ready.append("postgres")
            except OSError as error:
                print(f"PostgreSQL skipped: not reachable at {POSTGRES_ADMIN} ({error})")
        return ready

    def _pg_url(self, name: str) -> str:
        base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        return f"{base}/{name}"

    async def _pg_create(self, template: str | None) -> str:
        import asyncpg

        name = f"fieldbot_bench_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(POSTGRES_ADMIN)
        try:
            suffix = f' TEMPLATE "{template}"' if template else ""
            await admin.execute(f'CREATE DATABASE "{name}"{suffix}')
        finally:
            await admin.close()
        self.pg_created.append(name)
        return name

    async def fresh(self, kind: str) -> str:
        if kind == "sqlite":
            copy = self.workdir / f"run-{uuid.uuid4().hex[:8]}.sqlite3"
            shutil.copyfile(self.template_sqlite, copy)
            return f"sqlite+aiosqlite:///{copy}"
        assert self.pg_template is not None
        return self._pg_url(await self._pg_create(self.pg_template))

    async def drop_all(self) -> None:
        if not self.pg_created:
            return
        import asyncpg

        admin = await asyncpg.connect(POSTGRES_ADMIN)
        try:
            for name in reversed(self.pg_created):
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


# --- runs -----------------------------------------------------------------------------------------------------

@dataclass
class Result:
    bot: str
    database: str
    updates: int
    seconds: float
    cpu_s: float
    peak_rss_mb: float
    rss_at_start_mb: float
    echo_per_second: float | None = None  # the echo run just before this one

    @property
    def per_second(self) -> float:
        return self.updates / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.updates * 1e6


class Bench:
    def __init__(self, api: str, users: int, updates: int, in_flight: int, timeout_s: float,
                 profile_dir: Path | None) -> None:
        self.api = api
        self.users = users
        self.updates = updates
        self.in_flight = in_flight
        self.timeout_s = timeout_s
        self.profile_dir = profile_dir
        self.next_update_id = 1

    def run_one(self, bot: str, database: str, database_url: str | None, intake: str = "off") -> Result:
        command = [sys.executable]
        label = bot if bot == "echo" else f"fieldbot (intake {intake})" if intake != "none" else bot
        if self.profile_dir is not None and bot == "fieldbot":
            out = self.profile_dir / f"fieldbot-{database}-{int(time.time())}.prof"
            command += ["-m", "cProfile", "-o", str(out)]
            print(f"  profiling into {out}")
        command += ["-m", "bench.bots", bot, "--api", self.api, "--in-flight", str(self.in_flight)]
        if bot == "fieldbot":
            command += ["--database-url", str(database_url), "--intake", intake]
        # The bot's log goes to a file: a pipe read only at the end fills up when the bot logs a lot (every update
        # failing, say), and the bot then blocks in its logger and never finishes.
        log_file = tempfile.TemporaryFile()
        child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log_file)
        first = self.next_update_id
        self.next_update_id += self.updates
        http_json(f"{self.api}/control/load", {"users": self.users, "updates": self.updates,
                                               "first_update_id": first, "first_user_id": FIRST_USER_ID,
                                               "pid": child.pid})
        deadline = time.monotonic() + self.timeout_s
        stats: dict[str, Any] = {}
        while time.monotonic() < deadline:
            time.sleep(0.2)
            stats = http_json(f"{self.api}/control/stats")
            if stats.get("finished") or child.poll() is not None:
                break
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
        try:
            _, status, usage = os.wait4(child.pid, 0)
        except ChildProcessError:  # already reaped by poll()
            status, usage = child.returncode or 0, None
        child.returncode = status
        log_file.seek(0)
        stderr = log_file.read().decode(errors="replace")
        log_file.close()
        if not stats.get("finished"):
            raise SystemExit(f"{label} on {database}: {stats.get('replies')} of {self.updates} replies within "
                             f"{self.timeout_s:.0f}s\n{stderr[-3000:]}")
        if stats["chats"] != self.users:
            raise SystemExit(f"{label}: replies reached {stats['chats']} chats of {self.users}")
        return Result(label, database, self.updates, stats["seconds"], stats["cpu_s"] or 0.0,
                      usage.ru_maxrss / 1024 if usage else 0.0, stats["rss_at_start_mb"] or 0.0)


def line(result: Result) -> str:
    return (f"  {result.bot:<22} {result.database:<9} {result.per_second:8.0f} updates/s  "
            f"{result.cpu_us:7.0f} µs CPU/update  peak RSS {result.peak_rss_mb:4.0f} MB "
            f"(idle {result.rss_at_start_mb:3.0f} MB)")


def summary(results: list[Result], databases: list[str], modes: list[str]) -> list[str]:
    rows = ["", "| database | bot | updates/s (median) | ratio to echo | CPU µs/update | peak RSS MB |",
            "|---|---|---:|---:|---:|---:|"]
    verdicts = []
    for database in databases:
        echo = [r for r in results if r.database == database and r.bot == "echo"]
        echo_rate = statistics.median(r.per_second for r in echo)
        rows.append(f"| {database} | aiogram echo | {echo_rate:.0f} | 1.00 | "
                    f"{statistics.median(r.cpu_us for r in echo):.0f} | {max(r.peak_rss_mb for r in echo):.0f} |")
        for mode in modes:
            ours = [r for r in results if r.database == database and r.bot == mode]
            if not ours:
                continue
            rate = statistics.median(r.per_second for r in ours)
            # Each fieldbot run against the echo run just before it: the machine's load drifts between pairs.
            pairs = [o.per_second / o.echo_per_second for o in ours if o.echo_per_second]
            ratio = statistics.median(pairs)
            rss = max(r.peak_rss_mb for r in ours)
            rows.append(f"| {database} | {mode} | {rate:.0f} | {ratio:.2f} "
                        f"({', '.join(f'{p:.2f}' for p in pairs)}) | "
                        f"{statistics.median(r.cpu_us for r in ours):.0f} | {rss:.0f} |")
            verdicts.append(f"{database}, {mode}: ratio {ratio:.2f} "
                            f"{'meets' if ratio >= TARGET_RATIO else 'misses'} the {TARGET_RATIO:.2f} target; "
                            f"peak RSS {rss:.0f} MB {'meets' if rss <= TARGET_RSS_MB else 'misses'} "
                            f"the {TARGET_RSS_MB} MB target")
    return [*rows, "", *verdicts]


def intake_available() -> bool:
    from bench.bots import has_intake

    return has_intake()


def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="fieldbot-bench-"))
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    databases = Databases(workdir, args.users)
    modes = ["fieldbot (intake on)", "fieldbot (intake off)"] if intake_available() else ["fieldbot"]
    if args.intake != "both" and len(modes) > 1:
        modes = [f"fieldbot (intake {args.intake})"]
    server = subprocess.Popen([sys.executable, "-m", "bench.fakeapi", "--port", str(port)], cwd=ROOT)
    try:
        for _ in range(100):
            try:
                http_json(f"{api}/control/stats")
                break
            except OSError:
                time.sleep(0.05)
        kinds = asyncio.run(databases.prepare(args.databases.split(",")))
        print(f"{args.updates} updates from {args.users} users per run, {args.rounds} round(s), "
              f"{args.in_flight} in flight; {os.cpu_count()} CPUs, load average "
              f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        bench = Bench(api, args.users, args.updates, args.in_flight, args.timeout, args.profile_dir)
        results: list[Result] = []
        for kind in kinds:
            for _round in range(args.rounds):
                for mode in modes:
                    echo = bench.run_one("echo", kind, None)
                    print(line(echo), flush=True)
                    intake = "none" if mode == "fieldbot" else mode.split()[-1].rstrip(")")
                    ours = bench.run_one("fieldbot", kind, asyncio.run(databases.fresh(kind)), intake)
                    ours.echo_per_second = echo.per_second
                    print(line(ours), flush=True)
                    results += [echo, ours]
        for row in summary(results, kinds, modes):
            print(row)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(10)
        asyncio.run(databases.drop_all())
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=env_int("BENCH_UPDATES", 20_000))
    parser.add_argument("--users", type=int, default=env_int("BENCH_USERS", 200))
    parser.add_argument("--rounds", type=int, default=env_int("BENCH_ROUNDS", 2),
                        help="echo/fieldbot pairs per database")
    parser.add_argument("--databases", default=os.environ.get("BENCH_DATABASES", "sqlite,postgres"))
    parser.add_argument("--in-flight", type=int, default=env_int("BENCH_IN_FLIGHT", 64))
    parser.add_argument("--intake", choices=("on", "off", "both"), default=os.environ.get("BENCH_INTAKE", "both"))
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a run may take")
    parser.add_argument("--profile-dir", type=Path, default=None,
                        help="run fieldbot under cProfile and keep the .prof files here")
    args = parser.parse_args()
    if args.users < 1 or args.updates < args.users:
        parser.error("need at least one update per user")
    run(args)


if __name__ == "__main__":
    main()
