"""Benchmark the handed-over replies check (issue 14's limit): the cost, on every handler
send to a chat, of asking the outbox whether that chat still owes handed-over replies.

    python bench/handoff.py                 # SQLite, 200 000 deliveries
    python bench/handoff.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

Builds a fresh migrated database (a temporary SQLite file, or a new PostgreSQL database
dropped afterwards), bulk-loads ``--rows`` deliveries over 5 000 chats (alerts, receipts,
reminders, edits; nearly all sent, some pending, a few handed-over replies of which
``--waiting`` still pending), then times ``Handoff.owes`` for a chat that owes nothing (the
usual case) and for one that does, and ``Handoff.take``'s read of the last due time inside
a write transaction; median and 95th percentile of ``--calls`` calls each, with the query
plan. Before this change the check was a dict lookup in memory (no database), which a
restart forgot. Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text

from bench._common import machine, scratch_database
from bot.clock import FakeClock
from bot.delivery import handoff
from storage.db import Database
from storage.models import Delivery

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
CHATS = 5000
KINDS = ("alert", "copy", "receipt", "reminder", "escalation", "edit", "notice")


async def _load(db: Database, rows: int, waiting: int) -> tuple[int, int]:
    rnd = random.Random(7)
    batch: list[dict] = []
    owing = 1_000_000 + 1  # the chat that owes a reply
    for i in range(rows):
        handed = i < 500  # a few handed-over replies in the history, all sent but ``waiting``
        status = ("pending" if i < waiting else "sent") if handed else \
            ("pending" if rnd.random() < 0.02 else "sent")
        at = NOW - timedelta(minutes=rnd.randint(0, 60 * 24 * 90))
        chat = owing if handed and i < waiting else 1_000_000 + rnd.randint(2, CHATS)
        batch.append({"idempotency_key": f"b:{i}", "chat_id": chat,
                      "kind": handoff.KIND if handed else rnd.choice(KINDS), "method": "send",
                      "payload": {"text": "x"}, "priority": 5, "status": status,
                      "attempts": 1, "next_attempt_at": at, "created_at": at})
        if len(batch) == 5000:
            async with db.write() as s:
                await s.execute(insert(Delivery), batch)
            batch = []
    if batch:
        async with db.write() as s:
            await s.execute(insert(Delivery), batch)
    return 1_000_000 + 2, owing


async def _time(fn, calls: int) -> tuple[float, float]:
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t0) * 1e6)
    out.sort()
    return statistics.median(out), out[int(len(out) * 0.95)]


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--waiting", type=int, default=3)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--postgres", metavar="URL", help="run on this PostgreSQL server instead")
    args = ap.parse_args()
    print(machine())
    async with scratch_database(args.postgres) as url:
        db = Database(url)
        try:
            t0 = time.perf_counter()
            quiet, owing = await _load(db, args.rows, args.waiting)
            print(f"{'PostgreSQL' if args.postgres else 'SQLite'}: {args.rows} deliveries over "
                  f"{CHATS} chats loaded in {time.perf_counter() - t0:.1f} s; "
                  f"{args.waiting} handed-over replies waiting")
            async with db.write() as s:
                await s.execute(text("ANALYZE"))
            h = handoff.Handoff(db, FakeClock(NOW), lambda: None)
            assert not await h.owes(quiet) and await h.owes(owing) == (args.waiting > 0)
            # What any read costs here, for scale: an empty read session, and SELECT 1.
            async def empty() -> None:
                async with db.read():
                    pass

            async def one() -> None:
                async with db.read() as s:
                    await s.execute(text("SELECT 1"))
            for label, fn in (("an empty read session", empty), ("a read of SELECT 1", one)):
                med, p95 = await _time(fn, args.calls)
                print(f"  {label:34} median {med:7.0f} µs, 95th {p95:7.0f} µs")
            for label, chat in (("owes(): a chat owing nothing", quiet),
                                ("owes(): a chat owing replies", owing)):
                med, p95 = await _time(lambda c=chat: h.owes(c), args.calls)
                print(f"  {label:34} median {med:7.0f} µs, 95th {p95:7.0f} µs")

            async def last_due() -> None:
                async with db.write() as s:
                    await handoff._last_due(s, owing)
            med, p95 = await _time(last_due, args.calls // 4)
            label = "take()'s read, in a write txn"
            print(f"  {label:34} median {med:7.0f} µs, 95th {p95:7.0f} µs")
            sql = (f"SELECT max(next_attempt_at) FROM deliveries WHERE chat_id = {owing} AND "
                   "kind = 'handler_reply' AND status = 'pending'")
            async with db.read() as s:
                plan = (await s.execute(text(("EXPLAIN QUERY PLAN " if not args.postgres
                                              else "EXPLAIN ") + sql))).all()
            print("  plan: " + " | ".join(str(r[-1]) for r in plan))
        finally:
            await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
