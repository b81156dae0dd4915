"""Benchmark: a burst of 1 000 alerts to 200 workers through the outbox dispatcher.

Runs the real dispatcher (default ``[delivery]`` settings: 28/s overall, 1/s and
burst 3 per chat) against the fake Bot API with Telegram's flood limits
enforced (``enforce_rate_limits=True``: 30/s overall, 1/s per chat, burst 3 —
any excess is answered 429). Prints the sustained rate and the number of 429s.
Targets: >= 28 messages/s, zero 429s.

    python bench/delivery.py [--alerts 1000] [--workers 200] [--db URL]

Without --db a temporary SQLite file is used; pass a PostgreSQL URL
(postgresql+asyncpg://postgres@127.0.0.1:5432/<an empty database>) to measure there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PTB_TIMEDELTA", "1")

from telegram import Bot  # noqa: E402
from telegram.request import HTTPXRequest  # noqa: E402

from bot import callbacks  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.delivery.outbox import PRIORITY, Dispatcher, enqueue  # noqa: E402
from bot.emulator import FakeBotAPI  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import Database  # noqa: E402

TOKEN = "123456:BENCH"


async def run(alerts: int, workers: int, url: str, seed: int) -> dict:
    await migrate.upgrade(url)
    db = Database(url)
    clock = SystemClock()
    rng = random.Random(seed)
    async with FakeBotAPI(token=TOKEN, enforce_rate_limits=True) as fake:
        users = [fake.user(700000 + i, f"W{i}") for i in range(workers)]
        for u in users:
            u.started = True
        targets = [users[i % workers] for i in range(alerts)]
        rng.shuffle(targets)
        async with db.write() as s:
            for n, u in enumerate(targets):
                urgency = rng.choice(("urgent", "high", "routine"))
                await enqueue(s, key=f"bench:{n}", kind="alert", now=clock.now(),
                              chat_id=u.id, priority=PRIORITY[urgency],
                              text=f"<b>INC-2026-{n:06d}</b> {urgency} alert number {n}",
                              buttons=[[("✅ Acknowledge", callbacks.ACK.data(n))]])
        bot = Bot(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url,
                  request=HTTPXRequest(connection_pool_size=32))
        await bot.initialize()
        dispatcher = Dispatcher.from_settings(db, bot, clock, Settings().delivery)
        arrivals: list[float] = []
        fake.on_message(lambda chat_id, m: arrivals.append(time.perf_counter()))
        started = time.perf_counter()
        await dispatcher.drain()
        elapsed = time.perf_counter() - started
        await bot.shutdown()
        per_chat = Counter(m.chat_id for m in fake.sent_messages)
        # Sustained: the rate between the 5th and the 95th percentile message, without
        # the start (first claim) and the tail (the last few chats at one a second).
        lo, hi = int(len(arrivals) * 0.05), int(len(arrivals) * 0.95)
        result = {
            "sustained": (hi - lo) / (arrivals[hi] - arrivals[lo]),
            "sent": len(fake.sent_messages),
            "seconds": elapsed,
            "rate": len(fake.sent_messages) / elapsed,
            "429": fake.counters["429"],
            "exactly_once": all(per_chat[u.id] == alerts // workers for u in users),
        }
    await db.dispose()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=200)
    ap.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    ap.add_argument("--seed", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite+aiosqlite:///{tmp}/bench.db"
        r = asyncio.run(run(args.alerts, args.workers, url, args.seed))
    print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}")
    print(f"database: {url.split('://')[0]}")
    print(f"{args.alerts} alerts to {args.workers} workers: {r['sent']} sent in "
          f"{r['seconds']:.1f} s = {r['rate']:.1f} messages/s overall, "
          f"{r['sustained']:.1f} messages/s sustained (5th-95th percentile message); "
          f"429 answers: {r['429']}; "
          f"each worker got each alert exactly once: {r['exactly_once']}")


if __name__ == "__main__":
    main()
