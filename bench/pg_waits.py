"""Who waits for which lock on a PostgreSQL database while a benchmark runs.

``async with sampling(url) as waits:`` samples ``pg_stat_activity`` of that database every
0.1 s on a connection of its own; afterwards ``waits.summary()`` gives, per lock, the mean
number of sessions waiting for it (over the samples in which any session was busy, so the
idle start-up does not dilute it) and the most seen at once, and the same for sessions
"idle in transaction" (a client holding its locks while its event loop does other work).

A session waiting for a row lock waits on the holder's transaction id, so the lock is named
from the statement the waiting session runs: the reference counter (``incident_counters``),
the audit chain's head (``audit_head``), the shared send budget (``send_buckets``), an
advisory lock (a chat or the leader), else the statement's first words.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import asynccontextmanager
from typing import AsyncIterator

import asyncpg

_SAMPLE = """
select state, wait_event_type, left(query, 120)
from pg_stat_activity
where datname = current_database() and pid <> pg_backend_pid()
"""

_NAMED = (("incident_counters", "incident_counters (the reference)"),
          ("audit_head", "audit_head (the chain's head)"),
          ("send_buckets", "send_buckets"), ("fosterbot_take_send", "send_buckets"),
          ("advisory", "advisory lock (chat / leader)"))


def lock_name(query: str) -> str:
    low = query.lower()
    for needle, name in _NAMED:
        if needle in low:
            return name
    return "other: " + " ".join(query.split()[:4])


class Waits:
    def __init__(self) -> None:
        self.samples = 0
        self.busy_samples = 0
        self.total: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()

    def take(self, rows: list[asyncpg.Record]) -> None:
        self.samples += 1
        now: Counter[str] = Counter()
        busy = False
        for state, wait_type, query in rows:
            if state == "idle in transaction":
                now["idle in transaction"] += 1
                busy = True
            elif state == "active":
                busy = True
                if wait_type == "Lock":
                    now["waiting: " + lock_name(query or "")] += 1
        if not busy:
            return
        self.busy_samples += 1
        self.total.update(now)
        for key, n in now.items():
            self.peak[key] = max(self.peak[key], n)

    def summary(self) -> dict[str, str]:
        n = max(self.busy_samples, 1)
        out = {"lock_samples": f"{self.busy_samples} busy of {self.samples} (every 0.1 s)"}
        for key in sorted(self.total, key=lambda k: -self.total[k]):
            out[key] = f"mean {self.total[key] / n:.2f}, peak {self.peak[key]}"
        return out


@asynccontextmanager
async def sampling(url: str, every: float = 0.1) -> AsyncIterator[Waits]:
    """Sample the database at ``url`` (a SQLAlchemy or libpq URL) until the block ends."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    waits = Waits()

    async def loop() -> None:
        while True:
            waits.take(list(await conn.fetch(_SAMPLE)))
            await asyncio.sleep(every)

    task = asyncio.create_task(loop())
    try:
        yield waits
    finally:
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - a sampler never fails the run
            pass
        await conn.close()
