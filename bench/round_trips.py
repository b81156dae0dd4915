"""SQL statements per console request and per needs-action call: round trips, counted.

    python bench/round_trips.py                 # SQLite
    python bench/round_trips.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

Each statement the driver is sent is a round trip on PostgreSQL (and ORM work on both), so
the count is a measure that does not depend on how loaded the machine is. Counts *Needs
action* (``/web/needs``) and an incident's page (``/web/incidents/INC-…``) as the North
team's manager, after one warm-up request each, and ``needs.needs_action`` for the team, on
1 000 open incidents in the mix of ``bench/escalation.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web
from sqlalchemy import event, select

from bench.escalation import Target, add_needs_mix, load_directory
from bench.web_pages import settings_for, signed_in
from bot.app import make_services
from bot.clock import SystemClock
from bot.review import needs
from bot.web.server import mount
from storage.models import Incident


async def count(backend: str, admin: str | None) -> dict[str, int]:
    target = Target(backend, admin)
    services = make_services(settings_for(await target.create()), clock=SystemClock())
    sent = [0]

    def one(*_args) -> None:
        sent[0] += 1

    runner = client = None
    out = {}
    try:
        await load_directory(services)
        await add_needs_mix(services, 1000)
        async with services.db.read() as s:
            ref = (await s.execute(select(Incident.reference).order_by(Incident.id).limit(1))
                   ).scalar()
        root = web.Application()
        mount(root, services)
        runner = web.AppRunner(root, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        client = await signed_in(services, base, "tm-jones")
        event.listen(services.db.engine.sync_engine, "before_cursor_execute", one)
        for label, path in (("needs action page", "/web/needs"),
                            ("incident page", f"/web/incidents/{ref}")):
            async with client.get(base + path) as r:  # warm-up
                await r.read()
            sent[0] = 0
            async with client.get(base + path) as r:
                assert r.status == 200, (path, r.status)
                await r.read()
            out[label] = sent[0]
        sent[0] = 0
        async with services.db.read() as s:
            await needs.needs_action(s, frozenset({"north"}), services.clock.now())
        out["needs_action()"] = sent[0]
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
    ap.add_argument("--postgres", metavar="URL",
                    help="also on PostgreSQL (an admin URL: a scratch database is created)")
    args = ap.parse_args()
    for backend, admin in [("sqlite", None)] + ([("postgresql", args.postgres)]
                                                if args.postgres else []):
        for label, n in (await count(backend, admin)).items():
            print(f"[{backend}] {label}: {n} statements")


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.CRITICAL)
    asyncio.run(main())
