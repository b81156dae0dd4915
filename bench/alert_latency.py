"""Alert latency at ordinary load (issue 18): Submit → the social worker's alert sent.

    python bench/alert_latency.py [--reports N] [--rate R] [--postgres URL]

The real bot (``bench/_botproc.py``, its own process, production settings: polling,
the outbox dispatcher woken after each commit, Telegram's pacing) talks to the Bot API
emulator in this process. A new carer starts a routine report every ``1/R`` seconds
(default one a second), whatever the others are doing, and walks it through: /report →
category → description → "Skip the rest" → Submit. Measured for each report: from the
moment the Submit tap is queued at the emulator (Telegram has it) to the moment the
emulator receives the ``sendMessage`` of the allocated worker's alert. Consecutive
reports go to different workers, as they would in a real service (one worker does not
get an alert a second). Printed: p50, p90, p99 and max against the targets p50 ≤ 100 ms,
p99 ≤ 300 ms, with the machine and its load average.

SQLite in a temporary directory by default; ``--postgres`` takes an admin URL
(postgresql+asyncpg://user@host/db) next to which a scratch database is made.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import TOKEN, BotProcess, machine, scratch_database
from bench._data import fixed_now, populate_directory
from bot.emulator import FakeBotAPI, FakeUser
from storage.db import Database

CATEGORY = "Other / general update"
WARMUP = 3


def interleaved(pop) -> list[tuple[int, int]]:
    """(carer chat, worker chat) pairs ordered so that consecutive reports reach different
    workers."""
    worker_chat = dict(pop.workers)
    by_worker: dict[int, list[int]] = {}
    for _pid, tg, child in pop.carers:
        by_worker.setdefault(worker_chat[pop.allocated[child]], []).append(tg)
    order: list[tuple[int, int]] = []
    queues = list(by_worker.items())
    while any(carers for _, carers in queues):
        for worker, carers in queues:
            if carers:
                order.append((carers.pop(0), worker))
    return order


async def one_report(u: FakeUser, marker: str, submitted: dict, timeout: float = 60) -> None:
    await u.send("/report")
    await u.wait_for("Choose one", timeout=timeout)
    await u.click(CATEGORY)
    await u.wait_for("write what happened", timeout=timeout)
    await u.send(f"{marker}: the usual weekly update, nothing of concern.")
    await u.wait_for("When did it happen", timeout=timeout)
    await u.click("Skip the rest")
    await u.wait_for("Please check your report", timeout=timeout)
    submitted[marker] = time.perf_counter()
    await u.click("Submit")
    await u.wait_for("received and recorded", timeout=timeout)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(reports: int, per_second: float, postgres: str | None) -> list[float]:
    now = fixed_now()
    async with scratch_database(postgres) as url:
        db = Database(url)
        pop = await populate_directory(db, reports + WARMUP, now=now)
        await db.dispose()
        async with FakeBotAPI(token=TOKEN) as fake:
            submitted: dict[str, float] = {}
            alerted: dict[str, float] = {}

            def on_message(chat_id: int, m) -> None:
                if not m.edited and m.content.startswith("🟢 Routine"):
                    marker = next((w for w in m.content.split() if w.startswith("R#")), None)
                    if marker:
                        alerted[marker.rstrip(":")] = time.perf_counter()

            fake.on_message(on_message)
            for pid, tg in pop.workers:
                fake.user(tg, pid).started = True
            pairs = interleaved(pop)
            carers = [fake.user(tg, f"carer-{tg}") for tg, _ in pairs]
            bot = BotProcess("fosterbot", url, fake, fake_time=now.isoformat())
            await bot.start()
            try:
                await asyncio.gather(*(one_report(u, f"R#w{i}", {})
                                       for i, u in enumerate(carers[:WARMUP])))
                tasks = []
                for i, u in enumerate(carers[WARMUP:]):
                    tasks.append(asyncio.create_task(one_report(u, f"R#{i}", submitted)))
                    await asyncio.sleep(1 / per_second)
                await asyncio.gather(*tasks)
                deadline = time.monotonic() + 30
                while len([k for k in submitted if k in alerted]) < reports:
                    if time.monotonic() > deadline:
                        raise AssertionError(f"only {len(alerted)} of {reports} alerts arrived")
                    await asyncio.sleep(0.01)
            finally:
                await bot.stop()
    return [alerted[k] - submitted[k] for k in submitted]  # in the order they were started


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=60, help="reports measured (default 60)")
    ap.add_argument("--rate", type=float, default=1.0, help="reports started per second")
    ap.add_argument("--postgres", metavar="URL", help="PostgreSQL admin URL (default: SQLite)")
    args = ap.parse_args()
    print(f"machine: {machine()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"database: {'PostgreSQL' if args.postgres else 'SQLite (temporary file)'}; "
          f"{args.reports} routine reports, one started every {1 / args.rate:g} s")
    lat = [x * 1000 for x in await run(args.reports, args.rate, args.postgres)]
    p50, p99 = statistics.median(lat), pct(lat, 99)
    slowest = sorted(range(len(lat)), key=lat.__getitem__, reverse=True)[:3]
    print("slowest: " + ", ".join(f"report {i + 1} of {len(lat)} {lat[i]:.0f} ms" for i in slowest))
    print(f"Submit → alert sent: p50 {p50:.0f} ms, p90 {pct(lat, 90):.0f} ms, p99 {p99:.0f} ms, "
          f"max {max(lat):.0f} ms (targets p50 ≤ 100 ms {'✔' if p50 <= 100 else '✘'}, "
          f"p99 ≤ 300 ms {'✔' if p99 <= 300 else '✘'})")
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    asyncio.run(main())
