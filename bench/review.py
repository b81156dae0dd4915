"""Benchmark the managers' review: timeline, CSV export and audit verify on a big log.

    python bench/review.py                       # SQLite, 1 000 000 audit rows
    python bench/review.py --size 200000         # smaller
    python bench/review.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

Builds a fresh database (a temporary SQLite file, or a new database on the
given PostgreSQL server, dropped afterwards), loads the example directory,
submits one real report (the incident whose timeline is read), then bulk-loads
``--size`` audit events with a correct hash chain (``executemany`` in batches),
about forty of them about that incident and spread through the whole table.
Prints figures; asserts nothing about speed.

1. timeline of the one incident (``bot.review.timeline.build`` + ``pages``):
   median and p95 over repeated runs (target ≤ 10 ms);
2. CSV export of ``--export`` events (default 100 000; target ≥ 20 000 rows/s),
   timed, then again under ``tracemalloc`` for the peak Python memory;
3. ``audit verify`` over the whole chain: events per second.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, update  # noqa: E402

from bot import audit, incidents  # noqa: E402
from bot.app import make_services  # noqa: E402
from bot.clock import FakeClock  # noqa: E402
from bot.config import parse_settings  # noqa: E402
from bot.people.directory import apply_directory, parse_directory  # noqa: E402
from bot.review import export, timeline  # noqa: E402
from bot.review.periods import Period  # noqa: E402
from storage import migrate  # noqa: E402
from storage.models import AuditHead, Person  # noqa: E402

START = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)
STEP = timedelta(seconds=30)
EVENTS = ["delivered", "acknowledged", "reminded", "escalated", "routed", "reported"]


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores, {cpu or platform.processor() or platform.machine()}, "
            f"Python {platform.python_version()}")


async def make_database(pg_url: str | None) -> tuple[str, callable]:
    if pg_url is None:
        tmp = Path(tempfile.mkdtemp(prefix="fosterbot-bench-"))
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"

        async def cleanup():
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        import asyncpg

        name = f"fosterbot_bench_{uuid.uuid4().hex[:8]}"
        dsn = pg_url.replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(dsn)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        base, _, _ = pg_url.rpartition("/")
        url = f"{base}/{name}"

        async def cleanup():
            c = await asyncpg.connect(dsn)
            await c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await c.close()
    await migrate.upgrade(url)
    return url, cleanup


async def _insert(services, rows: list[tuple]) -> None:
    """Insert rows straight through the driver (executemany / COPY): the fast path."""
    async with services.db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        if services.db.is_sqlite:
            await driver.executemany(
                "INSERT INTO audit_events (id, at, event, actor_id, telegram_user_id, "
                "incident_id, details, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?)",
                [(r[0], r[1].replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"), *r[2:6],
                  json.dumps(r[6]), r[7], r[8]) for r in rows])
            await driver.commit()
        else:
            await driver.copy_records_to_table(
                "audit_events", columns=["id", "at", "event", "actor_id", "telegram_user_id",
                                         "incident_id", "details", "prev_hash", "hash"],
                records=[(*r[:6], json.dumps(r[6]), r[7], r[8]) for r in rows])
        await conn.commit()


async def bulk_load(services, size: int, target_id: int, batch: int = 20_000) -> None:
    """Append ``size`` events to the chain, computing each hash as ``audit.record`` would."""
    rng = random.Random(5)
    async with services.db.write() as s:  # the head row exists once anything was recorded
        await audit.record(s, "bench_started", at=START, size=size)
    async with services.db.read() as s:
        head = (await s.execute(select(AuditHead))).scalar_one()
        last_id, prev = head.last_event_id, head.last_hash
    every = max(1, size // 40)
    t0 = time.perf_counter()
    at = START + timedelta(days=1)
    rows: list[tuple] = []
    for n in range(1, size + 1):
        eid = last_id + n
        at = at + STEP
        incident = target_id if n % every == 0 else (rng.randint(2, 20_000) if n % 10 else None)
        event = EVENTS[n % len(EVENTS)]
        details = {"delivery": n, "kind": "alert", "to": "sw-patel", "note": "bulk"}
        h = hashlib.sha256(audit.canonical(
            id=eid, at=at, event=event, actor_id="sw-patel", telegram_user_id=None,
            incident_id=incident, details=details, prev_hash=prev)).hexdigest()
        rows.append((eid, at, event, "sw-patel", None, incident, details, prev, h))
        prev = h
        if len(rows) == batch or n == size:
            await _insert(services, rows)
            rows = []
            if n % 200_000 == 0:
                print(f"  loaded {n:,} events ({n / (time.perf_counter() - t0):,.0f}/s)", flush=True)
    async with services.db.write() as s:
        await s.execute(update(AuditHead).where(AuditHead.id == 1)
                        .values(last_event_id=last_id + size, last_hash=prev,
                                count=AuditHead.count + size))
    dt = time.perf_counter() - t0
    print(f"bulk load: {size:,} events in {dt:.1f} s ({size / dt:,.0f} events/s)")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_000_000, help="audit rows to load")
    ap.add_argument("--export", type=int, default=100_000, help="events in the export")
    ap.add_argument("--postgres", metavar="URL", help="run on this PostgreSQL server instead")
    ap.add_argument("--repeat", type=int, default=50, help="timeline runs")
    args = ap.parse_args()

    url, cleanup = await make_database(args.postgres)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"fosterbot review benchmark — {backend}, {args.size:,} audit rows — {machine()}")
    clock = FakeClock(START)
    services = make_services(parse_settings({"database": {"url": url}}), clock=clock)
    try:
        async with services.db.write() as s:
            text = (ROOT / "examples" / "directory.toml").read_text()
            await apply_directory(s, parse_directory(text), now=clock.now(), actor="bench")
            # Everyone "linked" (routing only alerts linked people; nothing is sent here).
            await s.execute(update(Person).values(telegram_chat_id=1))
        async with services.db.write() as s:
            carer = await s.get(Person, "carer-smith")
            sub = await incidents.submit_report(s, services, carer=carer, child_ref="A1",
                                                category_key="allegation",
                                                description="Benchmark incident. " * 20)
            target = sub.incident
        await bulk_load(services, args.size, target.id)
        clock.set(START + timedelta(days=400))

        # 1. timeline
        times, cpu = [], []
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            async with services.db.read() as s:
                tl = await timeline.build(s, services, target)
            pages = timeline.pages(tl, services.tz)
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        times.sort()
        print(f"timeline of {target.reference}: {len(tl.entries)} entries, {len(pages)} page(s); "
              f"median {statistics.median(times):.2f} ms, p95 "
              f"{times[int(0.95 * len(times)) - 1]:.2f} ms, best {times[0]:.2f} ms; "
              f"CPU median {statistics.median(cpu):.2f} ms (target ≤ 10 ms)")

        # 2. export of N events: a period holding exactly that many bulk events
        n = min(args.export, args.size)
        first_at = START + timedelta(days=1) + STEP * (args.size // 2 - n // 2)
        period = Period(first_at, first_at + STEP * n, "bench")
        out = Path(tempfile.mkdtemp(prefix="fosterbot-bench-export-"))
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            res = await export.export(services.db, services.settings, period=period, scope=None,
                                      out_dir=out / "a", now=clock.now(), actor_id="bench")
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            size_mb = res.files[1].stat().st_size / 1e6
            print(f"export: {res.events:,} audit events (+{res.incidents} incidents) in "
                  f"{dt:.2f} s = {res.events / dt:,.0f} rows/s (target ≥ 20 000); "
                  f"CPU {dc:.2f} s = {res.events / dc:,.0f} rows per CPU-second; "
                  f"audit CSV {size_mb:.1f} MB")
            tracemalloc.start()
            t0 = time.perf_counter()
            await export.export(services.db, services.settings, period=period, scope=None,
                                out_dir=out / "b", now=clock.now(), actor_id="bench")
            dt = time.perf_counter() - t0
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"export under tracemalloc: peak Python memory {peak / 1e6:.1f} MB "
                  f"({dt:.2f} s with tracing on)")
        finally:
            shutil.rmtree(out, ignore_errors=True)

        # 3. verify
        t0, c0 = time.perf_counter(), time.process_time()
        async with services.db.read() as s:
            result = await audit.verify(s)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        print(f"audit verify: {result.message} in {dt:.1f} s = {result.count / dt:,.0f} events/s "
              f"(CPU {dc:.1f} s = {result.count / dc:,.0f} events per CPU-second)")
        import resource

        print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    finally:
        await services.db.dispose()
        await cleanup()


if __name__ == "__main__":
    asyncio.run(main())
