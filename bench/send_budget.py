"""Benchmark: the shared send budget's take, one per send of every instance (issue 18).

The take as it is now — one call to the server's ``fosterbot_reserve_send`` on a
connection of its own (``storage/send_budget.py``) — against the take as it was
(a pooled SQLAlchemy transaction of two conditional upserts: pre-ping, begin,
two statements, commit), on the same scratch database at the same moment, so
the two figures compare fairly on a shared machine. ``--concurrency`` takers
at once (instances and chat workers) over ``--chats`` chats, generous limits
so every take succeeds: what is measured is the cost of asking.
Prints the client's CPU and the wall time per take for each.

    python bench/send_budget.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from bench._common import machine, scratch_database
from storage.db import Database
from storage.send_budget import SendBudget

# The take before migration 0019, kept here only to measure against.
_BEFORE_TAKE = text("""
INSERT INTO send_buckets AS b (key, tokens, at) VALUES (:key, :burst - 1, clock_timestamp())
ON CONFLICT (key) DO UPDATE SET
  tokens = LEAST(:burst, b.tokens
                 + GREATEST(0, EXTRACT(EPOCH FROM clock_timestamp() - b.at)) * :rate) - 1,
  at = clock_timestamp()
WHERE LEAST(:burst, b.tokens
            + GREATEST(0, EXTRACT(EPOCH FROM clock_timestamp() - b.at)) * :rate) >= 0.999999
RETURNING tokens
""")
LIMITS = {"global_per_second": 1e6, "global_burst": 1_000_000,
          "per_chat_per_second": 1e6, "per_chat_burst": 1_000_000}


async def before(db: Database, chat: int) -> float:
    async with db.write() as s:
        for key in (f"chat:{chat}", "global"):
            got = (await s.execute(_BEFORE_TAKE, {"key": key, "rate": 1e6, "burst": 1e6})).first()
            assert got is not None
    return 0.0


async def measure(take, takes: int, chats: int, concurrency: int) -> tuple[float, float]:
    """(client CPU ms, wall ms) per take."""
    turn = iter(range(takes))

    async def taker() -> None:
        for n in turn:
            assert await take(n % chats) in (0.0, (0.0, True))

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(taker() for _ in range(concurrency)))
    return ((time.process_time() - cpu) * 1000 / takes,
            (time.perf_counter() - wall) * 1000 / takes)


async def main(args: argparse.Namespace) -> None:
    async with scratch_database(args.postgres) as url:
        db = Database(url)
        budget = SendBudget(db, **LIMITS)
        try:
            await budget.reserve(0)
            await before(db, 0)  # connections open, statements prepared
            print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
            print(f"{args.takes} takes, {args.chats} chats, {args.concurrency} at once")
            for rnd in (1, 2):
                b = await measure(lambda c: before(db, c), args.takes, args.chats,
                                  args.concurrency)
                a = await measure(budget.reserve, args.takes, args.chats, args.concurrency)
                print(f"round {rnd}: before (pooled transaction): CPU {b[0]:.2f} ms, "
                      f"wall {b[1]:.2f} ms a take | now (server function): CPU {a[0]:.2f} ms, "
                      f"wall {a[1]:.2f} ms a take")
        finally:
            await budget.close()
            await db.dispose()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--postgres", required=True, help="an admin URL of a PostgreSQL server")
    ap.add_argument("--takes", type=int, default=2000)
    ap.add_argument("--chats", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=8)
    asyncio.run(main(ap.parse_args()))
