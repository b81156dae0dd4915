"""Web console benchmark: server time of the needs-action and incident pages.

    python bench/web_pages.py                        # SQLite (a temporary file)
    python bench/web_pages.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
    python bench/web_pages.py --open 1000 --audit 100000 --requests 50   # quicker

Prints figures; it asserts nothing (target: p95 <= 50 ms for each page).

The data set (defaults): the example directory; ``--open`` 10 000 open incidents in the
North team, late on every clock in the realistic mix ``bench/escalation.py`` uses for the
needs-action query (``add_needs_mix``); ``--audit`` 1 000 000 audit events, generated inside
the database (INSERT … SELECT over a series), spread over 100 000 incident ids so that each
open incident has about ten events and most belong to older reports, the chain head moved
past them so the console's own events append as in production. The incident measured is one
of the open ones, with its ten generated events; the run asks for 20 of them in turn,
because every view of an incident is an audit event on its own timeline (200 views of one
report would measure a timeline no report has).

Server time: a middleware on the root application (outside the console's own session,
CSRF and header middlewares, so they are counted) times each request from its arrival to
the handler's answer; the client is aiohttp on the same machine, signed in as the North
team's manager through a real one-time link. The CPU time this process spent in the
request is printed beside it: on a shared, loaded machine the wall time includes waiting
for a core, the CPU time does not. Each page is asked ``--requests`` times in
alternation after a warm-up; p50, p95 and max are printed. The incident page writes one
audit event per view (every view of an incident is recorded), which is part of its cost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp
from aiohttp import web
from sqlalchemy import select, text, update

from bench.escalation import Target, add_needs_mix, load_directory, machine, pct
from bot.app import make_services
from bot.clock import SystemClock
from bot.config import parse_settings
from bot.people import web_sessions
from bot.web.server import mount
from storage.models import AuditEvent, AuditHead, Incident, Person

SPREAD = 100_000  # incident ids the generated audit events are spread over
ROTATE = 20  # incident pages asked in turn (each view is recorded on the incident's timeline)


def settings_for(url: str):
    return parse_settings({"database": {"url": url},
                           "web": {"enabled": True, "public_base_url": "http://127.0.0.1"}}
                          ).model_copy(update={"token": "1:bench"})


async def add_audit_rows(services, n: int) -> None:
    """``n`` audit events after the existing ones, generated in the database; the head moved."""
    async with services.db.write() as s:
        start = (await s.execute(select(AuditHead.last_event_id))).scalar() or 0
        first_incident = (await s.execute(select(Incident.id).order_by(Incident.id)
                                          .limit(1))).scalar() or 1
        if services.db.is_sqlite:
            series = (f"WITH RECURSIVE g(x) AS (SELECT {start + 1} UNION ALL SELECT x + 1 FROM g "
                      f"WHERE x < {start + n}) ")
            src, stamp = "g", "'2026-11-20 10:00:00.000000'"
            digest = "printf('%064d', x)"
            prev = "printf('%064d', x - 1)"
        else:
            series = ""
            src = f"generate_series({start + 1}, {start + n}) AS g(x)"
            stamp = "TIMESTAMPTZ '2026-11-20 10:00:00+00'"
            digest, prev = "lpad(x::text, 64, '0')", "lpad((x - 1)::text, 64, '0')"
        await s.execute(text(
            f"{series}INSERT INTO audit_events (id, at, event, actor_id, telegram_user_id, "
            "incident_id, details, prev_hash, hash) "
            f"SELECT x, {stamp}, 'delivered', NULL, NULL, {first_incident} + (x % {SPREAD}), "
            f"'{{\"kind\": \"reminder\", \"to\": \"sw-patel\"}}', {prev}, {digest} FROM {src}"))
        last = start + n
        last_hash = f"{last:064d}"
        await s.execute(update(AuditHead).where(AuditHead.id == 1).values(
            last_event_id=last, last_hash=last_hash, count=last))
    async with services.db.write() as s:
        await s.execute(text("ANALYZE" if services.db.is_sqlite else "ANALYZE audit_events"))


class Timing:
    def __init__(self) -> None:
        self.by_path: dict[str, list[float]] = {}
        self.cpu_by_path: dict[str, list[float]] = {}

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        t, c = time.perf_counter(), time.process_time()
        try:
            return await handler(request)
        finally:
            key = request.path.rsplit("/", 1)[0] if "/incidents/" in request.path else request.path
            self.by_path.setdefault(key, []).append(time.perf_counter() - t)
            self.cpu_by_path.setdefault(key, []).append(time.process_time() - c)


async def signed_in(services, base: str, person_id: str) -> aiohttp.ClientSession:
    client = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with services.db.write() as s:
        person = await s.get(Person, person_id)
        token = await web_sessions.issue_link(s, person, now=services.clock.now(),
                                              ttl=services.settings.web.link_ttl.amount)
    async with client.post(f"{base}/web/signin", data={"token": token},
                           allow_redirects=False) as r:
        assert r.status == 303, await r.text()
    return client


async def run(backend: str, admin: str | None, open_n: int, audit_n: int,
              requests: int, profile: str = "") -> dict:
    target = Target(backend, admin)
    url = await target.create()
    services = make_services(settings_for(url), clock=SystemClock())
    runner = client = None
    try:
        await load_directory(services)
        t = time.perf_counter()
        await add_needs_mix(services, open_n)
        await add_audit_rows(services, audit_n)
        fill = time.perf_counter() - t
        async with services.db.read() as s:
            first = (await s.execute(select(Incident.id).order_by(Incident.id).limit(1))).scalar()
            measured = list((await s.execute(
                select(AuditEvent.incident_id).where(
                    AuditEvent.event == "delivered",
                    AuditEvent.incident_id.between(first, first + open_n - 1))
                .group_by(AuditEvent.incident_id).order_by(AuditEvent.incident_id)
                .limit(ROTATE))).scalars()) or [first]
            refs = list((await s.execute(select(Incident.reference).where(
                Incident.id.in_(measured)).order_by(Incident.id))).scalars())
            events = (await s.execute(select(AuditEvent.id).where(
                AuditEvent.incident_id == measured[0]))).all()
        timing = Timing()
        root = web.Application(middlewares=[timing.middleware])
        mount(root, services)
        runner = web.AppRunner(root, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        client = await signed_in(services, base, "tm-jones")
        pages = {"needs action": "/web/needs", "incident": "/web/incidents/"}
        sizes = {}

        def paths(i: int):
            yield "/web/needs"
            yield f"/web/incidents/{refs[i % len(refs)]}"

        for i in range(5):  # warm-up
            for path in paths(i):
                async with client.get(base + path) as r:
                    assert r.status == 200, (path, r.status)
                    sizes[path.rsplit("/", 1)[0] + "/" if "/incidents/" in path else path] = \
                        len(await r.read())
        timing.by_path.clear()
        timing.cpu_by_path.clear()
        profiler = None
        if profile:  # only that page's requests, under pyinstrument (the times are then not real)
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
        for i in range(requests):
            for path in paths(i):
                if profile and not path.startswith(pages[profile]):
                    continue
                async with client.get(base + path) as r:
                    await r.read()
        if profiler is not None:
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False))
            return {"backend": backend, "open": open_n, "audit": audit_n, "fill_s": fill,
                    "events_on_incident": len(events), "pages": {}}
        out = {"backend": backend, "open": open_n, "audit": audit_n, "fill_s": fill,
               "events_on_incident": len(events), "pages": {}}
        for label, path in pages.items():
            key = path.rstrip("/")
            ms = [x * 1000 for x in timing.by_path[key]]
            cpu = [x * 1000 for x in timing.cpu_by_path[key]]
            out["pages"][label] = {"n": len(ms), "p50": statistics.median(ms),
                                   "p95": pct(ms, 95), "max": max(ms), "bytes": sizes[path],
                                   "cpu_p50": statistics.median(cpu), "cpu_p95": pct(cpu, 95)}
        return out
    finally:
        if client is not None:
            await client.close()
        if runner is not None:
            await runner.cleanup()
        await services.db.dispose()
        await target.drop()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--open", type=int, default=10_000, help="open incidents (North team)")
    ap.add_argument("--audit", type=int, default=1_000_000, help="generated audit events")
    ap.add_argument("--requests", type=int, default=200, help="requests per page")
    ap.add_argument("--postgres", metavar="URL",
                    help="also run on PostgreSQL (an admin URL: a scratch database is created)")
    ap.add_argument("--skip-sqlite", action="store_true")
    ap.add_argument("--profile", choices=("needs action", "incident"), default="",
                    help="ask only this page and print where its time goes (pyinstrument)")
    args = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.CRITICAL)
    backends = ([] if args.skip_sqlite else [("sqlite", None)]) + \
        ([("postgresql", args.postgres)] if args.postgres else [])
    print(f"machine: {machine()}")
    for backend, admin in backends:
        r = await run(backend, admin, args.open, args.audit, args.requests, args.profile)
        print(f"[{backend}] {r['open']:,} open incidents, {r['audit']:,} audit events "
              f"(filled in {r['fill_s']:.1f}s); each incident measured has "
              f"about {r['events_on_incident']} audit events")
        for label, p in r["pages"].items():
            print(f"[{backend}]   {label:<13} server time over {p['n']} requests: "
                  f"p50 {p['p50']:.1f} ms, p95 {p['p95']:.1f} ms, max {p['max']:.1f} ms; "
                  f"CPU in this process p50 {p['cpu_p50']:.1f} ms, p95 {p['cpu_p95']:.1f} ms "
                  f"({p['bytes']:,} bytes) — target p95 <= 50 ms "
                  f"{'met' if p['p95'] <= 50 else 'NOT met'}")


if __name__ == "__main__":
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    asyncio.run(main())
