"""Escalation engine benchmark: lateness of steps, and the cost of one sweep.

    python bench/escalation.py                       # SQLite (a temporary file)
    python bench/escalation.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
    python bench/escalation.py --size 2000 --due 300 --window 20 --closed 1000,100000  # quicker
    python bench/escalation.py --only-needs              # the needs-action query, quick sizes
    python bench/escalation.py --only-needs --needs-full --postgres URL  # 10 000 open, 1 M closed

Prints figures; it asserts nothing (targets: p99 lateness <= 1 s; a sweep with
1 000 000 closed incidents <= 1.5 x the sweep with 1 000).

1. Lateness: ``--size`` open incidents are written (bulk insert); ``--due``
   of them have their first step falling due evenly over the next
   ``--window`` seconds of real time (the rest a day later); the engine runs as in production (the JobQueue timer armed at the
   earliest due time, re-armed after every pass, plus the periodic sweep) with
   the system clock. Lateness of a step = when the engine started it − when
   it fell due (from ``escalation_actions``). Each step is a full step: it
   resolves the holders, writes a delivery and an audit event.
2. Sweep cost: the table is filled with closed incidents (no due time;
   INSERT … SELECT over a generated series, so 1 M rows take seconds), 100
   open incidents stay, and we time ``run_due()`` when nothing is due (the due
   scans, the next-due query and the watchdog count): median of 60 passes per
   size, the sizes measured in alternation; and the cost per step of passes
   that run 100 due steps (median of 3). The query plan of the due scan is
   printed to show it uses the index.
3. Needs action (``bot.review.needs.needs_action``, what ``/overdue``, ``fosterbot
   overdue`` and the digest run): open incidents (quick: 1 000; ``--needs-full``:
   10 000) late on every clock in a realistic mix, with closed incidents beside
   them (quick: 1 000 and 100 000; full: 1 000 and 1 000 000) that keep their old
   deadlines, notifications and failures; the whole function (the late reports
   ranked, counted and cut to the 50 most overdue, with holders, failures and people;
   overdue actions and referrals) is timed for one team and for all teams, median
   (p90, p95) of 40 calls per size, the sizes in alternation; the plans of its
   statements are printed. Target: ≤ 20 ms, flat.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text, update  # noqa: E402

from bot.app import make_services  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.config import parse_settings  # noqa: E402
from bot.engine.escalation import EscalationEngine  # noqa: E402
from bot.escalation.policy import freeze_plan  # noqa: E402
from bot.people.directory import apply_directory, parse_directory  # noqa: E402
from bot.review import needs  # noqa: E402
from storage import migrate  # noqa: E402
from storage.models import (  # noqa: E402
    EscalationAction,
    Incident,
    IncidentRecipient,
    NotifiableEvent,
    NotificationRecord,
    Person,
)

DIRECTORY = ROOT / "examples" / "directory.toml"


# ----------------------------------------------------------------------------- databases


class Target:
    """A fresh, migrated database on one backend."""

    def __init__(self, backend: str, admin_url: str | None = None) -> None:
        self.backend = backend
        self.admin_url = admin_url
        self.url = ""
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._name = ""

    async def create(self) -> str:
        if self.backend == "sqlite":
            self._tmp = tempfile.TemporaryDirectory(prefix="fosterbot-bench-")
            self.url = f"sqlite+aiosqlite:///{self._tmp.name}/bench.db"
        else:
            import asyncpg

            self._name = f"fosterbot_bench_{uuid.uuid4().hex[:8]}"
            conn = await asyncpg.connect(_dsn(self.admin_url))
            try:
                await conn.execute(f'CREATE DATABASE "{self._name}"')
            finally:
                await conn.close()
            base, _, _db = self.admin_url.rpartition("/")
            self.url = f"{base}/{self._name}"
        await migrate.upgrade(self.url)
        return self.url

    async def drop(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
        elif self._name:
            import asyncpg

            conn = await asyncpg.connect(_dsn(self.admin_url))
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)')
            finally:
                await conn.close()


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def settings_for(url: str, sweep: float):
    return parse_settings({"database": {"url": url},
                           "engine": {"sweep_interval_seconds": sweep}}).model_copy(
        update={"token": "1:bench"})


async def load_directory(services) -> None:
    async with services.db.write() as s:
        await apply_directory(s, parse_directory(DIRECTORY.read_text()), now=services.clock.now(),
                              actor="bench")
        for i, pid in enumerate(("sw-patel", "sw-khan", "sw-duty", "tm-jones", "edt-rota",
                                 "carer-smith"), 1):
            p = await s.get(Person, pid)
            p.telegram_user_id = p.telegram_chat_id = 9000 + i


async def add_open_incidents(services, n: int, first_due: datetime, window: float,
                             *, prefix: str, due: int | None = None) -> None:
    """``n`` open urgent incidents; the first ``due`` of them (all by default) have step1
    falling due evenly over ``window`` seconds from ``first_due``, the rest a day later."""
    due = n if due is None else due
    now = services.clock.now()
    plan = freeze_plan(services.settings, services.calendar, "urgent", now)
    rows, recips = [], []
    async with services.db.write() as s:
        last = (await s.execute(select(Incident.id).order_by(Incident.id.desc()).limit(1))).scalar()
    base = (last or 0) + 1
    for i in range(n):
        if i < due:
            at = first_due + timedelta(seconds=window * i / max(1, due - 1) if due > 1 else 0)
        else:
            at = first_due + timedelta(days=1, seconds=i)
        rows.append(dict(
            id=base + i, reference=f"{prefix}-{i:07d}", child_ref="A1", team_id="north",
            reporter_id="carer-smith", category="missing", urgency="urgent", reported_at=now,
            description="bench", details={}, status="open", out_of_hours=False,
            policy_version=plan["version"], plan=plan, escalation_level=0, next_step="step1",
            next_due_at=at, notifiable=False, updated_at=now,
        ))
        recips.append(dict(incident_id=base + i, person_id="sw-patel", reason="allocated",
                           can_acknowledge=True, added_at=now))
    async with services.db.write() as s:
        for chunk in range(0, n, 5000):
            await s.execute(insert(Incident), rows[chunk:chunk + 5000])
            await s.execute(insert(IncidentRecipient), recips[chunk:chunk + 5000])


async def add_closed_incidents(services, n: int) -> None:
    """``n`` closed incidents (no due time), generated inside the database."""
    if n <= 0:
        return
    async with services.db.write() as s:
        start = (await s.execute(select(Incident.id).order_by(Incident.id.desc()).limit(1))).scalar() or 0
        if services.db.is_sqlite:
            series = (f"WITH RECURSIVE g(x) AS (SELECT {start + 1} UNION ALL SELECT x + 1 FROM g "
                      f"WHERE x < {start + n}) ")
            src, stamp, false = "g", "'2025-01-06 10:00:00.000000'", "0"
        else:
            series = ""
            src = f"generate_series({start + 1}, {start + n}) AS g(x)"
            stamp, false = "TIMESTAMPTZ '2025-01-06 10:00:00+00'", "false"
        await s.execute(text(
            f"{series}INSERT INTO incidents (id, reference, child_ref, team_id, reporter_id, "
            "category, urgency, reported_at, description, details, status, closed_at, "
            "closed_by_id, out_of_hours, policy_version, plan, escalation_level, notifiable, "
            "updated_at) "
            f"SELECT x, 'CLOSED-' || x, 'A1', 'north', 'carer-smith', 'contact', 'routine', "
            f"{stamp}, 'closed long ago', '{{}}', 'closed', {stamp}, 'sw-patel', {false}, "
            f"'routine:bench', '{{}}', 0, {false}, {stamp} FROM {src}"
        ))
    async with services.db.write() as s:
        await s.execute(text("ANALYZE" if services.db.is_sqlite else "ANALYZE incidents"))


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = max(0, min(len(values) - 1, int(round(p / 100 * (len(values) - 1)))))
    return values[k]


# ----------------------------------------------------------------------------- 1. lateness


async def lateness(backend: str, admin: str | None, size: int, due: int, window: float,
                   lead: float) -> dict:
    from telegram.ext import ApplicationBuilder

    target = Target(backend, admin)
    url = await target.create()
    services = make_services(settings_for(url, 30.0), clock=SystemClock())
    try:
        await load_directory(services)
        first_due = services.clock.now() + timedelta(seconds=lead)
        t = time.perf_counter()
        await add_open_incidents(services, size, first_due, window, prefix="OPEN", due=due)
        insert_s = time.perf_counter() - t
        lead_left = (first_due - services.clock.now()).total_seconds()
        if lead_left < 2:
            print(f"  warning: inserting took {insert_s:.1f}s, longer than the lead; "
                  "the first steps start late", file=sys.stderr)
        # The engine as BotRunner runs it: PTB's JobQueue wakes it, without a bot.
        app = ApplicationBuilder().token("1:bench").build()
        engine = EscalationEngine(services)
        await app.job_queue.start()
        await engine.start(app.job_queue)
        deadline = time.monotonic() + lead_left + window + 120
        while time.monotonic() < deadline:
            await asyncio.sleep(1)
            async with services.db.read() as s:
                done = (await s.execute(select(func.count()).select_from(EscalationAction)
                                        .where(EscalationAction.step_key == "step1"))).scalar()
            if done >= due:
                break
        await engine.stop()
        await app.job_queue.stop()
        async with services.db.read() as s:
            rows = (await s.execute(select(EscalationAction.due_at, EscalationAction.fired_at)
                                    .where(EscalationAction.step_key == "step1"))).all()
        late = [(f - d).total_seconds() for d, f in rows]
        return {"backend": backend, "size": size, "due": due, "window_s": window,
                "ran": len(late), "rate_per_s": due / window, "insert_s": insert_s,
                "p50": pct(late, 50), "p99": pct(late, 99), "max": max(late) if late else None}
    finally:
        await services.db.dispose()
        await target.drop()


# ----------------------------------------------------------------------------- 2. sweep cost


async def explain_due(services) -> str:
    """The plan of the engine's due scan (the same statement as ``EscalationEngine._due``)."""
    sql = ("SELECT next_due_at, id FROM incidents WHERE next_due_at <= :d "
           "ORDER BY next_due_at, id LIMIT 200")
    now = datetime.now(timezone.utc)
    async with services.db.read() as s:
        if services.db.is_sqlite:
            rows = await s.execute(text("EXPLAIN QUERY PLAN " + sql),
                                   {"d": now.strftime("%Y-%m-%d %H:%M:%S.%f")})
            return "; ".join(str(r[-1]) for r in rows)
        rows = await s.execute(text("EXPLAIN " + sql), {"d": now})
        return "; ".join(r[0].strip() for r in rows)


async def sweep_cost(backend: str, admin: str | None, sizes: list[int],
                     rounds: int = 60) -> list[dict]:
    """One database per size; empty passes are timed in alternation (round robin), so
    that load from elsewhere on the machine falls on every size alike."""
    made = []
    try:
        for n in sizes:
            target = Target(backend, admin)
            url = await target.create()
            services = make_services(settings_for(url, 30.0), clock=SystemClock())
            made.append((n, target, services))
            await load_directory(services)
            t = time.perf_counter()
            await add_closed_incidents(services, n)
            fill = time.perf_counter() - t
            far = services.clock.now() + timedelta(days=30)
            await add_open_incidents(services, 100, far, 60, prefix="OPEN")
            services.fill_s = fill
            services.bench_engine = EscalationEngine(services)
            await services.bench_engine.run_due()  # warm up connections and caches
        empty: dict[int, list[float]] = {n: [] for n in sizes}
        for _ in range(rounds):
            for n, _target, services in made:
                t = time.perf_counter()
                await services.bench_engine.run_due()
                empty[n].append(time.perf_counter() - t)
        busy: dict[int, list[float]] = {n: [] for n in sizes}
        for step in ("step1", "step2", "step3"):  # passes that each run 100 due steps
            for n, _target, services in made:
                async with services.db.write() as s:
                    await s.execute(update(Incident).where(Incident.status == "open").values(
                        next_step=step, next_due_at=services.clock.now() - timedelta(seconds=1)))
                t = time.perf_counter()
                fired = await services.bench_engine.run_due()
                busy[n].append((time.perf_counter() - t) / max(1, fired))
        out = []
        for n, _target, services in made:
            out.append({"backend": backend, "closed": n, "fill_s": services.fill_s,
                        "empty_median_ms": statistics.median(empty[n]) * 1000,
                        "empty_p90_ms": pct(empty[n], 90) * 1000,
                        "per_step_ms": statistics.median(busy[n]) * 1000,
                        "plan": await explain_due(services)})
        return out
    finally:
        for _n, target, services in made:
            await services.db.dispose()
            await target.drop()


# ----------------------------------------------------------------------------- needs action


async def add_needs_mix(services, n: int) -> None:
    """``n`` incidents not closed, as a busy service would have them: 60 % unacknowledged
    (a third of those past their first step), 40 % acknowledged (a quarter past their
    outcome deadline); every 10th notifiable and not notified (half of them past the
    deadline); every 25th with an undelivered message."""
    now = services.clock.now()
    plan = freeze_plan(services.settings, services.calendar, "urgent", now)
    async with services.db.write() as s:
        last = (await s.execute(select(Incident.id).order_by(Incident.id.desc()).limit(1))).scalar()
    base = (last or 0) + 1
    rows, recips = [], []
    for i in range(n):
        unacked = i % 10 < 6
        late = (i % 3 == 0) if unacked else (i % 4 == 0)
        deadline = now + timedelta(minutes=(-(i % 500) - 1) if late else (i % 500) + 1)
        notifiable = i % 10 == 9
        rows.append(dict(
            id=base + i, reference=f"NEEDS-{i:07d}", child_ref="A1", team_id="north",
            reporter_id="carer-smith", category="missing", urgency="urgent",
            reported_at=now - timedelta(hours=1), description="bench", details={},
            status="open" if unacked else "acknowledged", out_of_hours=False,
            acknowledged_by_id=None if unacked else "sw-patel",
            acknowledged_at=None if unacked else now - timedelta(minutes=30),
            policy_version=plan["version"], plan=plan, escalation_level=0,
            next_step="step1" if unacked else "outcome1", next_due_at=deadline,
            ack_due_at=deadline if unacked else now - timedelta(minutes=45),
            outcome_due_at=None if unacked else deadline,
            notifiable=notifiable,
            notification_due_at=(now + timedelta(hours=(-1 if i % 20 == 9 else 1)))
            if notifiable else None,
            undelivered_since=now - timedelta(minutes=i % 60) if i % 25 == 0 else None,
            updated_at=now,
        ))
        recips.append(dict(incident_id=base + i, person_id="sw-patel", reason="allocated",
                           can_acknowledge=True, added_at=now))
    async with services.db.write() as s:
        for chunk in range(0, n, 5000):
            await s.execute(insert(Incident), rows[chunk:chunk + 5000])
            await s.execute(insert(IncidentRecipient), recips[chunk:chunk + 5000])
    await add_referrals(services, open_n=5, closed_n=0)


async def add_referrals(services, *, open_n: int, closed_n: int) -> None:
    """Notifiable events without a report (DBS referrals): ``open_n`` past their deadline
    and incomplete, ``closed_n`` closed long ago (far more than a service records: one per
    hundred closed reports)."""
    now = services.clock.now()
    stamp = datetime(2025, 1, 6, 10, 0, tzinfo=timezone.utc)
    rows = [dict(event="dbs_referral", subject=f"STAFF-{i:06d}", opened_by_id="tm-jones",
                 opened_at=now - timedelta(days=2), due_at=now - timedelta(days=1, minutes=i))
            for i in range(open_n)]
    rows += [dict(event="dbs_referral", subject=f"OLD-{i:06d}", opened_by_id="tm-jones",
                  opened_at=stamp, due_at=stamp + timedelta(days=1),
                  closed_at=stamp + timedelta(hours=3)) for i in range(closed_n)]
    async with services.db.write() as s:
        for chunk in range(0, len(rows), 5000):
            await s.execute(insert(NotifiableEvent), rows[chunk:chunk + 5000])
        open_ids = (await s.execute(select(NotifiableEvent.id).where(
            NotifiableEvent.closed_at.is_(None), NotifiableEvent.incident_id.is_(None)))).scalars()
        records = [dict(event_id=i, recipient=r) for i in open_ids
                   for r in ("ofsted", "responsible_authority")]
        if records:
            await s.execute(insert(NotificationRecord), records)


async def add_closed_history(services, n: int) -> None:
    """``n`` closed incidents that keep every old deadline: each had its first step and
    outcome deadline; every 10th was notifiable (notified), every 50th had a failure."""
    if n <= 0:
        return
    await add_closed_incidents(services, n)
    await add_referrals(services, open_n=0, closed_n=n // 100)
    async with services.db.write() as s:
        stamp = datetime(2025, 1, 6, 10, 0, tzinfo=timezone.utc)
        await s.execute(update(Incident).where(Incident.status == "closed").values(
            ack_due_at=stamp + timedelta(minutes=15), outcome_due_at=stamp + timedelta(days=2)))
        await s.execute(update(Incident).where(Incident.status == "closed", Incident.id % 10 == 0)
                        .values(notifiable=True, notification_due_at=stamp + timedelta(days=1),
                                notified_at=stamp + timedelta(hours=3)))
        await s.execute(update(Incident).where(Incident.status == "closed", Incident.id % 50 == 0)
                        .values(undelivered_since=stamp))
    async with services.db.write() as s:
        await s.execute(text("ANALYZE" if services.db.is_sqlite else "ANALYZE incidents"))
        if not services.db.is_sqlite:
            await s.execute(text("ANALYZE notifiable_events"))


async def explain_needs(services) -> dict[str, str]:
    """The plans of the needs-action statements as ``needs.needs_action`` sends them (one
    manager's team): the page (ranked, counted and cut in SQL), the count alone (sent only
    for a page past the end), the events without a report. Each is run once while a cursor hook keeps the SQL and parameters the driver got,
    then explained with those, so the plan is of the very statement the code sends."""
    from sqlalchemy import event

    now = datetime.now(timezone.utc)
    params = {"now": now, "teams": ["north"], "limit": 50, "offset": 0}
    prefix = "EXPLAIN QUERY PLAN " if services.db.is_sqlite else "EXPLAIN "
    engine = services.db.engine.sync_engine

    sent: list = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    statements = {
        "page (ranked by late_from, counted, cut, read)": (needs._PAGE[True], params),
        "count (only for a page past the end)": (needs._COUNT[True], params),
        "events without a report": (
            select(NotifiableEvent.id).where(*needs._overdue_event_filter(now))
            .order_by(NotifiableEvent.due_at, NotifiableEvent.id).limit(50), {}),
    }
    out = {}
    async with services.db.engine.connect() as conn:
        for name, (stmt, values) in statements.items():
            sent.clear()
            event.listen(engine, "before_cursor_execute", keep)
            try:
                await conn.execute(stmt, values)
            finally:
                event.remove(engine, "before_cursor_execute", keep)
            sql, parameters = sent[-1]
            rows = await conn.exec_driver_sql(prefix + sql, parameters)
            out[name] = "; ".join(str(r[-1] if services.db.is_sqlite else r[0]).strip()
                                  for r in rows)
    return out


async def needs_cost(backend: str, admin: str | None, open_n: int, sizes: list[int],
                     rounds: int = 40) -> list[dict]:
    made = []
    try:
        for n in sizes:
            target = Target(backend, admin)
            url = await target.create()
            services = make_services(settings_for(url, 30.0), clock=SystemClock())
            made.append((n, target, services))
            await load_directory(services)
            t = time.perf_counter()
            await add_closed_history(services, n)
            await add_needs_mix(services, open_n)
            async with services.db.write() as s:  # as autovacuum would, after a busy day
                await s.execute(text("ANALYZE" if services.db.is_sqlite else "ANALYZE incidents"))
            services.fill_s = time.perf_counter() - t
            if not services.db.is_sqlite:
                # The fill's dirty pages written now, not while the calls are timed (PostgreSQL
                # writes a million fresh rows back for minutes; a server long after its busy
                # day does not).
                async with services.db.write() as s:
                    await s.execute(text("CHECKPOINT"))
            async with services.db.read() as s:  # warm up
                await needs.needs_action(s, frozenset({"north"}), services.clock.now())
        team: dict[int, list[float]] = {n: [] for n in sizes}
        team_cpu: dict[int, list[float]] = {n: [] for n in sizes}
        every: dict[int, list[float]] = {n: [] for n in sizes}
        found: dict[int, tuple[int, int]] = {}
        for _ in range(rounds):
            for n, _target, services in made:
                for scope, into in ((frozenset({"north"}), team), (None, every)):
                    t, c = time.perf_counter(), time.process_time()
                    async with services.db.read() as s:
                        result = await needs.needs_action(s, scope, services.clock.now())
                    into[n].append(time.perf_counter() - t)
                    if scope is not None:  # this process's CPU: robust on a busy machine
                        team_cpu[n].append(time.process_time() - c)
                    found[n] = (result.total, len(result.items), result.events_total)
        out = []
        for n, _target, services in made:
            out.append({"backend": backend, "open": open_n, "closed": n,
                        "fill_s": services.fill_s, "total": found[n][0], "shown": found[n][1],
                        "events": found[n][2],
                        "team_ms": statistics.median(team[n]) * 1000,
                        "team_p90_ms": pct(team[n], 90) * 1000,
                        "team_p95_ms": pct(team[n], 95) * 1000,
                        "team_cpu_ms": statistics.median(team_cpu[n]) * 1000,
                        "all_ms": statistics.median(every[n]) * 1000,
                        "plans": await explain_needs(services)})
        return out
    finally:
        for _n, target, services in made:
            await services.db.dispose()
            await target.drop()


# ----------------------------------------------------------------------------- main


def machine() -> str:
    load = "load average %.1f %.1f %.1f" % os.getloadavg() if hasattr(os, "getloadavg") else ""
    return (f"{platform.machine()} {platform.processor() or '?'}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}; {load}")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=10_000, help="open incidents for the lateness run")
    ap.add_argument("--due", type=int, default=1_000,
                    help="how many of them fall due during the run (the rest a day later)")
    ap.add_argument("--window", type=float, default=60.0,
                    help="seconds over which those steps fall due")
    ap.add_argument("--lead", type=float, default=10.0,
                    help="seconds between writing them and the first due time")
    ap.add_argument("--closed", default="1000,1000000",
                    help="comma-separated closed-incident counts for the sweep-cost runs")
    ap.add_argument("--postgres", metavar="URL",
                    help="also run on PostgreSQL (an admin URL: a scratch database is created)")
    ap.add_argument("--skip-lateness", action="store_true")
    ap.add_argument("--skip-sqlite", action="store_true")
    ap.add_argument("--only-needs", action="store_true",
                    help="run only the needs-action benchmark")
    ap.add_argument("--skip-needs", action="store_true")
    ap.add_argument("--needs-full", action="store_true",
                    help="needs action at full size: 10 000 open, 1 000 and 1 000 000 closed "
                         "(default: 1 000 open, 1 000 and 100 000 closed)")
    args = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.CRITICAL)  # late steps are logged as errors by design
    backends = ([] if args.skip_sqlite else [("sqlite", None)]) + \
        ([("postgresql", args.postgres)] if args.postgres else [])
    print(f"machine: {machine()}")
    for backend, admin in backends:
        if not args.skip_needs:
            open_n, sizes = (10_000, [1_000, 1_000_000]) if args.needs_full else (1_000, [1_000, 100_000])
            results = await needs_cost(backend, admin, open_n, sizes)
            for r in results:
                print(f"[{backend}] needs action, {r['open']:,} open + {r['closed']:>9,} closed: "
                      f"one team median {r['team_ms']:.2f} ms (p90 {r['team_p90_ms']:.2f}, "
                      f"p95 {r['team_p95_ms']:.2f}; "
                      f"CPU here {r['team_cpu_ms']:.2f} ms), "
                      f"all teams {r['all_ms']:.2f} ms; {r['total']:,} late, {r['shown']} shown, "
                      f"{r['events']} referrals overdue "
                      f"(filled in {r['fill_s']:.1f}s)")
                for clock, plan in r["plans"].items():
                    print(f"[{backend}]   {clock} plan: {plan}")
            if len(results) >= 2:
                print(f"[{backend}] needs-action ratio {results[-1]['closed']:,} / "
                      f"{results[0]['closed']:,} closed: "
                      f"{results[-1]['team_ms'] / results[0]['team_ms']:.2f}x (target <= 20 ms, flat)")
        if args.only_needs:
            continue
        if not args.skip_lateness:
            r = await lateness(backend, admin, args.size, min(args.due, args.size), args.window,
                               args.lead)
            print(f"[{backend}] lateness, {r['size']:,} open incidents, {r['due']:,} steps due "
                  f"over {r['window_s']:.0f}s ({r['rate_per_s']:.0f} steps/s): ran {r['ran']}, p50 {r['p50']*1000:.0f} ms, "
                  f"p99 {r['p99']*1000:.0f} ms, max {r['max']*1000:.0f} ms "
                  f"(insert took {r['insert_s']:.1f}s)")
        sizes = [int(x) for x in args.closed.split(",") if x.strip()]
        results = await sweep_cost(backend, admin, sizes) if sizes else []
        for r in results:
            print(f"[{backend}] sweep with {r['closed']:>9,} closed incidents (+100 open, none due): "
                  f"median {r['empty_median_ms']:.2f} ms, p90 {r['empty_p90_ms']:.2f} ms; "
                  f"running due steps: {r['per_step_ms']:.1f} ms per step "
                  f"(filled in {r['fill_s']:.1f}s)")
            print(f"[{backend}]   due-scan plan: {r['plan']}")
        if len(results) >= 2:
            print(f"[{backend}] sweep ratio {results[-1]['closed']:,} / {results[0]['closed']:,}: "
                  f"{results[-1]['empty_median_ms'] / results[0]['empty_median_ms']:.2f}x "
                  f"(empty pass), {results[-1]['per_step_ms'] / results[0]['per_step_ms']:.2f}x "
                  "(per due step)")

if __name__ == "__main__":
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    asyncio.run(main())
