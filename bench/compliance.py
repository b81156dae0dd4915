"""Benchmark the compliance report (issue 15): per team, over many children in care.

    python bench/compliance.py                    # SQLite, 2 000 children
    python bench/compliance.py --full             # 10 000 children (the target's size)
    python bench/compliance.py --full --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

Builds a fresh migrated database (a temporary SQLite file, or a new PostgreSQL database
dropped afterwards), bulk-loads 20 teams and the children, each entering care on a day of
2026 with a needs-assessment task (about 80 % done on time, 15 % late, 5 % not done) and
its placement visits since (every six weeks, one in ten late), and for one child in fifty
the three child protection steps of a baby removed at birth; then times
``bot.review.compliance.compute`` for the whole year and all teams (median and worst of
the runs) and prints each statement's query plan. Target: ≤ 2 s for 10 000 children.
Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, insert  # noqa: E402

from bench._common import machine, scratch_database  # noqa: E402
from bot.app import make_services  # noqa: E402
from bot.clock import FakeClock  # noqa: E402
from bot.config import parse_settings  # noqa: E402
from bot.review import compliance  # noqa: E402
from storage.models import Child, Person, Task, Team  # noqa: E402

YEAR = datetime(2026, 1, 1, tzinfo=timezone.utc)
NOW = datetime(2027, 1, 10, tzinfo=timezone.utc)
TEAMS = 20


async def load(services, children: int) -> None:
    rng = random.Random(15)
    async with services.db.write() as s:
        await s.execute(insert(Team), [{"id": f"t{i:02d}", "name": f"Team {i:02d}"}
                                       for i in range(TEAMS)])
        await s.execute(insert(Person), [
            {"id": f"sw{i:03d}", "name": f"Worker {i}", "team_id": f"t{i % TEAMS:02d}",
             "active": True, "created_at": NOW, "updated_at": NOW} for i in range(TEAMS * 10)])
        rows, tasks = [], []
        for n in range(children):
            team = f"t{n % TEAMS:02d}"
            owner = f"sw{(n % TEAMS) + TEAMS * rng.randrange(10):03d}"
            entered = (YEAR + timedelta(days=rng.randrange(365))).date()
            rows.append({"ref": f"K{n:05d}", "team_id": team, "allocated_social_worker_id": owner,
                         "active": True, "entered_care": entered, "removed_at_birth": False})
            due = datetime.combine(entered, datetime.min.time(), timezone.utc) + timedelta(hours=72)
            roll = rng.random()
            done = (due - timedelta(hours=rng.randrange(1, 60)) if roll < 0.80 else
                    due + timedelta(hours=rng.randrange(1, 96)) if roll < 0.95 else None)
            def task(kind: str, key: str, due: datetime, done: datetime | None) -> dict:
                return {"child_ref": f"K{n:05d}", "team_id": team, "kind": kind, "key": key,
                        "due_at": due, "owner_id": owner, "step": 2,
                        "next_at": None if done else NOW, "done_at": done,
                        "done_by_id": owner if done else None,
                        "note": "done" if done else None, "created_at": due - timedelta(hours=72)}

            tasks.append(task("needs_assessment", "needs_assessment", due, done))
            # Visits: the first a week in, then every six weeks, one in ten late.
            visit_due = due + timedelta(days=5)
            for k in range(1, 9):
                if visit_due >= NOW:
                    break
                late = rng.random() < 0.1
                tasks.append(task("placement_visit", f"visit:{entered}:{k}", visit_due,
                                  visit_due + timedelta(days=2) if late
                                  else visit_due - timedelta(days=3)))
                visit_due += timedelta(days=43)
            if n % 50 == 0:  # one in fifty: a baby removed at birth
                for kind, days in (("cp_strategy_discussion", 1), ("cp_conference", 21),
                                   ("cp_health_visitor", 2)):
                    tasks.append(task(kind, kind, due + timedelta(days=days - 3),
                                      due if rng.random() < 0.9 else None))
        for i in range(0, len(rows), 2000):
            await s.execute(insert(Child), rows[i:i + 2000])
        for i in range(0, len(tasks), 2000):
            await s.execute(insert(Task), tasks[i:i + 2000])
    print(f"{len(tasks)} tasks")


async def run(url: str, children: int, repeats: int) -> None:
    services = make_services(parse_settings({"database": {"url": url}}), clock=FakeClock(NOW))
    try:
        t0 = time.perf_counter()
        await load(services, children)
        print(f"loaded {children} children, {TEAMS} teams in {time.perf_counter() - t0:.1f} s")
        end = YEAR + timedelta(days=365)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            async with services.db.read() as s:
                c = await compliance.compute(s, None, YEAR, end, NOW, "2026")
                text = compliance.render_plain(c, services.tz)
            times.append(time.perf_counter() - t0)
        for key, label, _kinds in compliance.MEASURES:
            fs = [t.measures[key] for t in c.teams if key in t.measures]
            print(f"  {label}: {sum(f.due for f in fs)} due, {sum(f.on_time for f in fs)} on "
                  f"time, {sum(len(f.misses) for f in fs)} misses listed")
        print(f"report: {len(c.teams)} teams, {len(text.splitlines())} lines")
        print(f"compliance report over {children} children: median {statistics.median(times):.3f} s, "
              f"worst {max(times):.3f} s ({repeats} runs; target <= 2 s)")
        await plans(services, end)
    finally:
        await services.db.dispose()


async def plans(services, end: datetime) -> None:
    """Each statement the report runs, with the database's plan for it."""
    seen: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if "tasks" in statement:
            seen.append((statement, parameters))

    event.listen(services.db.engine.sync_engine, "before_cursor_execute", capture)
    async with services.db.read() as s:
        await compliance.compute(s, None, YEAR, end, NOW)
    event.remove(services.db.engine.sync_engine, "before_cursor_execute", capture)
    prefix = "EXPLAIN QUERY PLAN " if services.db.is_sqlite else "EXPLAIN "
    async with services.db.engine.connect() as conn:
        for statement, parameters in seen:
            print("\n" + " ".join(statement.split()))
            rows = await conn.exec_driver_sql(prefix + statement, parameters)
            for row in rows:
                print("   ", " | ".join(str(x) for x in row))


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--children", type=int, default=2000)
    ap.add_argument("--full", action="store_true", help="10 000 children (the target's size)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--postgres", metavar="URL", help="run on this PostgreSQL server instead")
    args = ap.parse_args()
    children = 10_000 if args.full else args.children
    print(machine())
    print("database:", "PostgreSQL" if args.postgres else "SQLite (temporary file)")
    async with scratch_database(args.postgres) as url:
        await run(url, children, args.repeats)


if __name__ == "__main__":
    asyncio.run(main())
