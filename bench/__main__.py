"""Throughput, latency and memory of the real bot under a burst of users, over the local Bot API server.

    make bench                      # 300 users
    .venv/bin/python -m bench --users 1000 --rounds 3

Each user is onboarded through the bot (invite, /start CODE, own contact), then every user sends the same
request at once, `rounds` times: the menu, the profile (a DB read of the org path), and an unknown text.
Peak RSS covers the whole process: bot, local Bot API server and driver together.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bot.config import load_settings
from bot.services.clock import system_clock
from bot.services.onboarding import OnboardingService
from bot.services.org_import import OrgImporter
from sandbox.botapi import LocalBotAPI
from sandbox.driver import BOT_USERNAME, TOKEN, BotUnderTest
from storage.uow import UnitOfWork

DEMO = Path(__file__).resolve().parents[1] / "bot" / "data" / "demo_org.yaml"
DEALERS = ("dlr-shijiazhuang", "dlr-tangshan", "dlr-jinan", "dlr-kunming", "dlr-qujing")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def burst(runner: BotUnderTest, api: LocalBotAPI, users: list, text: str) -> list[float]:
    """Everyone sends `text` at once; returns each update's seconds from sending to fully handled."""
    started: dict[int, float] = {}
    for user in users:
        update_id = user.send_text(text)
        started[update_id] = time.perf_counter()
    latencies: list[float] = []

    async def one(update_id: int) -> None:
        await runner.processed(update_id)
        latencies.append(time.perf_counter() - started[update_id])

    await asyncio.gather(*(one(update_id) for update_id in started))
    return latencies


async def main(user_count: int, rounds: int, in_flight: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="fieldbot-bench-"))
    api = LocalBotAPI()
    await api.start()
    api.add_bot(token=TOKEN, username=BOT_USERNAME)
    settings = load_settings(bot_token=TOKEN, database_url=f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}",
                             telegram_api_base=api.base_url, max_updates_in_flight=in_flight, _env_file=None)
    runner = BotUnderTest(api, settings)
    await runner.start()
    try:
        async with UnitOfWork(runner.sessionmaker) as uow:
            await OrgImporter(uow).import_file(DEMO)
            codes = [(await OnboardingService(uow, system_clock).issue_invite(
                "sales_rep", DEALERS[i % len(DEALERS)], timedelta(hours=1))).code for i in range(user_count)]
            await uow.commit()
        users = [api.user(user_id=5_000_000 + i, first_name=f"U{i}", language_code="zh-hans" if i % 2 else "en")
                 for i in range(user_count)]
        t0 = time.perf_counter()
        for user, code in zip(users, codes, strict=True):
            user.send_text(f"/start {code}")
        onboard_ids = [user.send_contact(f"+86139{i:08d}", user_id=user.id) for i, user in enumerate(users)]
        await asyncio.gather(*(runner.processed(update_id) for update_id in onboard_ids))
        onboarding_s = time.perf_counter() - t0
        print(f"onboarded {user_count} users (2 updates each) in {onboarding_s:.2f}s "
              f"= {2 * user_count / onboarding_s:.0f} updates/s")

        all_latencies: list[float] = []
        t0 = time.perf_counter()
        for _ in range(rounds):
            for text in ("/menu", "/profile", "what?"):
                all_latencies += await burst(runner, api, users, text)
        elapsed = time.perf_counter() - t0
        quantiles = statistics.quantiles(all_latencies, n=100)
        print(f"{len(all_latencies)} updates in bursts of {user_count}: {elapsed:.2f}s = "
              f"{len(all_latencies) / elapsed:.0f} updates/s; latency p50 {quantiles[49] * 1000:.0f} ms, "
              f"p95 {quantiles[94] * 1000:.0f} ms, max {max(all_latencies) * 1000:.0f} ms")
        print(f"max updates in flight {in_flight}; peak RSS {peak_rss_mb():.0f} MB (bot + local API + driver)")
    finally:
        await runner.stop()
        await api.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--in-flight", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(main(args.users, args.rounds, args.in_flight))
