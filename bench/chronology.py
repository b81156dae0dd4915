"""Benchmark a child's chronology among many incidents and a long audit log.

    python bench/chronology.py                 # SQLite: 10 000 incidents, 100 000 audit rows
    python bench/chronology.py --full          # 100 000 incidents, 1 000 000 audit rows
    python bench/chronology.py --full --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

Builds a fresh database (``bench/_common.py`` ``scratch_database``), bulk-loads
a directory with one child per carer (``--children``, default incidents / 10)
and the incidents with their recipients, deliveries and a valid audit chain
(``bench/_data.py``), then adds, for every child, two allocation changes and
for a tenth of them an oversight entry on one incident (``child_events`` rows
with their audit events), and ordinary audit events until the log holds the
target number of rows. Then it times, for one child with a typical history and
the busiest: page 1 of ``/child`` as a user sees it (``chronology.page_of``, one
statement cut in SQL, then the lookups by ids and the message), the last page,
and the whole chronology (``entries_for``, the CSV's path) with all its chat
pages: median and p95 over ``--runs`` runs (target ≤ 20 ms), and the process's
CPU; then the plan of the page statement. ``--profile`` adds a pyinstrument
profile of 200 first pages of the busiest child. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import statistics
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text, update  # noqa: E402

from bench._common import machine, scratch_database  # noqa: E402
from bench._data import _insert, fixed_now, populate_directory, populate_incidents  # noqa: E402
from bot import audit  # noqa: E402
from bot.config import parse_settings  # noqa: E402
from bot.review import chronology, chronology_query, chronology_texts  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import AuditEvent, AuditHead, ChildEvent, Incident  # noqa: E402

TZ = ZoneInfo("Europe/London")


async def top_up(db: Database, pop, target: int, seed: int = 11) -> tuple[int, int]:
    """Child events (allocation changes, oversight) and filler events up to ``target`` audit
    rows, continuing the hash chain. Returns (child events, audit rows)."""
    rng = random.Random(seed)
    async with db.read() as s:
        head = (await s.execute(select(AuditHead))).scalar_one()
        rows = (await s.execute(
            select(Incident.id, Incident.child_ref, Incident.reported_at))).all()
    by_child: dict[str, list] = {}
    for iid, ref, at in rows:
        by_child.setdefault(ref, []).append((iid, at))
    prev, event_id = head.last_hash, head.last_event_id
    events, child_events = [], []
    now = fixed_now()

    def event(name, at, incident_id, actor, **details) -> int:
        nonlocal prev, event_id
        event_id += 1
        at = at.replace(microsecond=0)
        digest = hashlib.sha256(audit.canonical(
            id=event_id, at=at, event=name, actor_id=actor, telegram_user_id=None,
            incident_id=incident_id, details=details, prev_hash=prev)).hexdigest()
        events.append({"id": event_id, "at": at, "event": name, "actor_id": actor,
                       "telegram_user_id": None, "incident_id": incident_id,
                       "details": details, "prev_hash": prev, "hash": digest})
        prev = digest
        return event_id

    workers = [w for w, _ in pop.workers if w.startswith("sw-")]
    for _, _, ref in pop.carers:
        sw = pop.allocated[ref]
        for k in range(2):
            at = now - timedelta(days=rng.randrange(1, 700))
            before, after = rng.choice(workers), sw if k else rng.choice(workers)
            details = {"child": ref, "from": before, "to": after, "source": "bench"}
            eid = event("allocation_changed", at, None, "bench", **details)
            child_events.append({"child_ref": ref, "at": at.replace(microsecond=0),
                                 "kind": "allocation_changed", "actor_id": "bench",
                                 "details": details, "audit_event_id": eid})
        if rng.random() < 0.1 and by_child.get(ref):
            iid, at = rng.choice(by_child[ref])
            event("oversight_recorded", at + timedelta(hours=2), iid, "tm-0",
                  decision="Bench decision", rationale="Bench rationale", actions=[])
    filler = max(0, target - event_id)
    incident_ids = [r[0] for r in rows]
    for _ in range(filler):
        iid = rng.choice(incident_ids)
        event("delivered", now - timedelta(days=rng.randrange(1, 700)), iid, None,
              kind="notice", to="bench")
    await _insert(db, AuditEvent, events, chunk=5000)
    await _insert(db, ChildEvent, child_events, chunk=5000)
    async with db.write() as s:
        await s.execute(update(AuditHead).where(AuditHead.id == 1).values(
            last_event_id=event_id, last_hash=prev, count=event_id))
    return len(child_events), event_id


async def plans(db: Database, ref: str) -> list[str]:
    """The plan of the one statement a page is (``chronology_query.page_statement``)."""
    explain = "EXPLAIN" if db.is_postgres else "EXPLAIN QUERY PLAN"
    scope = chronology._scope(ref, TZ, fixed_now().date(), None, None, None, None)
    stmt = chronology_query.page_statement(scope, limited=True).params(
        **scope.params(), limit=chronology_texts.PAGE_ENTRIES, offset=0)
    out = ["  a page (UNION ALL of the sources, cut in SQL):"]
    async with db.read() as s:
        sql = str(stmt.compile(dialect=s.bind.dialect, compile_kwargs={"literal_binds": True}))
        rows = (await s.execute(text(f"{explain} {sql}".replace(":", r"\:")))).all()
    out.extend("    " + " ".join(str(c) for c in r if c is not None and not isinstance(c, int))
               for r in rows)
    if db.is_postgres:  # where the server's time goes: planning this statement, or running it
        async with db.read() as s:
            for _ in range(3):
                timed = (await s.execute(text(f"EXPLAIN (ANALYZE, SUMMARY) {sql}".replace(
                    ":", r"\:")))).all()
        out.extend("  " + r[0].strip() + " (the statement as literal SQL, planned afresh)"
                   for r in timed
                   if r[0].strip().startswith(("Planning Time", "Execution Time")))
        # The timed runs went through asyncpg's prepared statements: after five custom plans
        # PostgreSQL keeps a generic one, so a page is not planned again on that connection.
        async with db.read() as s:
            for generic, custom, head in (await s.execute(text(
                    "SELECT generic_plans, custom_plans, left(statement, 40) FROM "
                    "pg_prepared_statements WHERE statement LIKE '%UNION ALL%' "
                    "ORDER BY length(statement) DESC LIMIT 2"))).all():
                out.append(f"  prepared {head!r}…: {generic} generic plans, {custom} custom")
    return out


async def main(args: argparse.Namespace) -> None:
    incidents = 100_000 if args.full else args.incidents
    audit_rows = 1_000_000 if args.full else args.audit
    children = args.children or max(10, incidents // 10)
    now = fixed_now()
    backend = "PostgreSQL" if args.postgres else "SQLite"
    async with scratch_database(args.postgres) as url:
        db = Database(url)
        settings = parse_settings({"database": {"url": url}})
        t0 = time.perf_counter()
        pop = await populate_directory(db, children, now=now)
        await populate_incidents(db, settings, pop, incidents, now=now)
        n_child_events, n_events = await top_up(db, pop, audit_rows)
        async with db.write() as s:
            await s.execute(text("ANALYZE"))
        fill = time.perf_counter() - t0
        async with db.read() as s:
            counts = Counter(dict((await s.execute(
                select(Incident.child_ref, func.count()).group_by(Incident.child_ref))).all()))
            n_incidents = await s.scalar(select(func.count()).select_from(Incident))
            n_audit = await s.scalar(select(func.count()).select_from(AuditEvent))
        ranked = sorted(counts.items(), key=lambda kv: kv[1])
        ref, its = ranked[len(ranked) // 2]  # a child with a typical history
        busiest, most = ranked[-1]
        print(f"machine: {machine()}")
        print(f"{backend}: {n_incidents} incidents, {n_audit} audit rows, {len(counts)} children "
              f"with incidents, {n_child_events} child events; filled in {fill:.0f} s")

        cpu_ms: list[float] = []
        per_page = chronology_texts.PAGE_ENTRIES

        async def whole(child: str) -> tuple[int, int]:
            """The whole chronology and all its chat pages (the CSV's and the CLI's path)."""
            async with db.read() as s:
                chron = await chronology.entries_for(s, settings, child, tz=TZ,
                                                     today=now.date())
            n = len(chron.entries)
            pages = max(1, -(-n // per_page))
            for p in range(pages):
                chronology_texts.pages(child, chron.entries[p * per_page:(p + 1) * per_page],
                                       TZ, None, page=p + 1, pages=pages)
            return n, pages

        async def one_page(child: str, page: int) -> tuple[int, int]:
            """One /child page as a user sees it: cut in SQL, then its message."""
            async with db.read() as s:
                shown = await chronology.page_of(s, settings, child, tz=TZ, today=now.date(),
                                                 per_page=per_page, page=page)
            chronology_texts.pages(child, shown.entries, TZ, None, page=shown.page,
                                   pages=shown.pages)
            return shown.total, shown.pages

        async def timed(fn, *a) -> tuple[float, tuple[int, int]]:
            t, c = time.perf_counter(), time.process_time()
            got = await fn(*a)
            cpu_ms.append((time.process_time() - c) * 1000)
            return (time.perf_counter() - t) * 1000, got

        for label, child, n in (("typical", ref, its), ("busiest", busiest, most)):
            _, (_, last) = await timed(one_page, child, 1)
            for what, fn, extra in (("page 1", one_page, (1,)), ("last page", one_page, (last,)),
                                    ("whole (CSV path)", whole, ())):
                for _ in range(3):
                    await fn(child, *extra)  # warm
                times = []
                cpu_ms.clear()
                for _ in range(args.runs):
                    ms, (entries, pages) = await timed(fn, child, *extra)
                    times.append(ms)
                times.sort()
                p95 = times[max(0, int(len(times) * 0.95) - 1)]
                print(f"chronology of {label} child {child} ({n} incidents, {entries} entries, "
                      f"{pages} page(s) of {per_page}), {what}: median "
                      f"{statistics.median(times):.1f} ms, p95 {p95:.1f} ms over {args.runs} "
                      f"runs (target ≤ 20 ms); CPU of this process median "
                      f"{statistics.median(cpu_ms):.1f} ms")
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0002)
            profiler.start()
            for _ in range(200):
                await one_page(busiest, 1)
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False, show_all=False))
        print("query plans:")
        print("\n".join(await plans(db, ref)))
        await db.dispose()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true",
                   help="100 000 incidents and 1 000 000 audit rows")
    p.add_argument("--incidents", type=int, default=10_000)
    p.add_argument("--audit", type=int, default=100_000, help="audit rows in all")
    p.add_argument("--children", type=int, default=0, help="default: incidents / 10")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--postgres", metavar="URL", help="an admin URL of a PostgreSQL server")
    p.add_argument("--profile", action="store_true",
                   help="print a pyinstrument profile of 200 first pages of the busiest child")
    asyncio.run(main(p.parse_args()))
