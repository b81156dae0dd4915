"""Memory: peak RSS of the running bot with a large directory and a long history.

    python bench/memory.py [INCIDENTS] [--people N] [--postgres URL] [--active N]

Fills a scratch database (SQLite by default) with ``--people`` people (about
92 % carers with one child each, the rest social workers, 12 children each, in
teams of 18 with a manager and a duty worker) and INCIDENTS past incidents with their recipients,
deliveries and audit events (bulk INSERTs, see bench/_data.py). Then starts the
real bot in its own process (bench/_botproc.py), lets ``--active`` carers
each complete a report and ask for /myreports while workers receive and
acknowledge the alerts, and prints the bot process's RSS after start-up, after
the activity, and its peak. For comparison it does the same with an empty
history. Target: peak ≤ 150 MB with 10 000 people and 100 000
incidents.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import TOKEN, BotProcess, machine, scratch_database  # noqa: E402
from bench._data import carers_for, fixed_now, populate_directory, populate_incidents  # noqa: E402
from bench.report_throughput import one_report  # noqa: E402
from bot.config import parse_settings  # noqa: E402
from bot.emulator import FakeBotAPI, FakeUser  # noqa: E402
from storage.db import Database  # noqa: E402


async def activity(fake: FakeBotAPI, carers: list[FakeUser], workers: dict[int, FakeUser]) -> None:
    await asyncio.gather(*(one_report(u, 120) for u in carers))
    for u in carers:
        u.mark()
        await u.send("/myreports")
        await u.wait_for("Your recent reports", timeout=60)
    # Every worker who got an alert acknowledges it.
    for w in workers.values():
        for m in list(w.messages):
            if "Acknowledge" in " ".join(m.button_labels):
                w.mark()
                await w.click("Acknowledge", message_id=m.message_id)
                await w.wait_for_answer(timeout=60)


async def measure(people: int, incidents: int, active: int, postgres: str | None) -> dict:
    now = fixed_now()
    carers_n = max(active, carers_for(people))
    async with scratch_database(postgres) as url:
        db = Database(url)
        t0 = time.perf_counter()
        pop = await populate_directory(db, carers_n, now=now)
        events = 0
        if incidents:
            settings = parse_settings({"database": {"url": url}})
            events = await populate_incidents(db, settings, pop, incidents, now=now)
        fill = time.perf_counter() - t0
        await db.dispose()
        async with FakeBotAPI(token=TOKEN) as fake:
            workers = {}
            for pid, tg in pop.workers:
                u = fake.user(tg, pid)
                u.started = True
                workers[tg] = u
            carers = [fake.user(tg, pid) for pid, tg, _ in pop.carers[:active]]
            bot = BotProcess("fosterbot", url, fake, fake_time=now.isoformat())
            await bot.start()
            try:
                started = await bot.stats()
                await activity(fake, carers, workers)
                busy = await bot.stats()
            finally:
                final = await bot.stop()
    return {"people": pop.people, "incidents": incidents, "events": events, "fill": fill,
            "start_rss": started.rss_mb, "busy_rss": busy.rss_mb,
            "peak_rss": final.peak_rss_mb if final else busy.peak_rss_mb}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("incidents", nargs="?", type=int, default=100_000)
    ap.add_argument("--people", type=int, default=10_000)
    ap.add_argument("--active", type=int, default=50,
                    help="carers who report during the measurement")
    ap.add_argument("--postgres", metavar="URL", help="PostgreSQL admin URL (default: SQLite)")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print(f"database: {'PostgreSQL' if args.postgres else 'SQLite (temporary file)'}")
    for people, incidents in ((args.people, 0), (args.people, args.incidents)):
        r = await measure(people, incidents, args.active, args.postgres)
        print(f"{r['people']:,} people, {r['incidents']:,} incidents ({r['events']:,} audit "
              f"events; filled in {r['fill']:.1f} s): RSS after start {r['start_rss']:.0f} MB, "
              f"after {args.active} reports + /myreports + acknowledgements "
              f"{r['busy_rss']:.0f} MB, peak {r['peak_rss']:.0f} MB (target ≤ 150 MB)")


if __name__ == "__main__":
    asyncio.run(main())
