"""What one statement costs the bot's process, by the layer it goes through.

    python bench/statement_cost.py [--postgres URL] [--n N]

Client CPU (``time.process_time``) per operation, on a migrated scratch database, each
measured twice (the second is printed; the first warms caches and prepares):

* **checkout**: a pooled connection taken and returned with no statement
  (``Database.read_connection``; ``Database.write_connection``, which opens and commits a
  transaction around nothing);
* **SQLAlchemy Core**: one built-once ``SELECT … WHERE update_id = :id`` on
  ``processed_updates`` through ``AsyncConnection.execute`` on one held connection, and with
  a checkout around each (the bot's usual shape: ``read_connection`` for one statement);
  on PostgreSQL also on an engine created autocommit, with a pool of its own, to show what
  switching the shared pool's connections to autocommit and back costs;
* **raw driver**: the same statement through asyncpg's own connection (PostgreSQL) or
  through ``exec_driver_sql`` (SQLite, on the bot's in-loop driver), no SQLAlchemy
  execution layer.

It explains the gap between fosterbot and the "floor + database" of
``bench/report_throughput.py`` (issue 18): about 48 statements and 24 checkouts a report.
Figures in bench/RESULTS.md with the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import create_async_engine

from bench._common import machine, scratch_database
from storage import pg_pool
from storage.db import Database
from storage.models import ProcessedUpdate

_TABLE = ProcessedUpdate.__table__
_ONE = select(_TABLE.c.update_id).where(_TABLE.c.update_id == bindparam("update_id"))
_RAW_PG = "SELECT update_id FROM processed_updates WHERE update_id = $1"
_RAW_SQLITE = "SELECT update_id FROM processed_updates WHERE update_id = ?"


async def _per_op(n: int, op: Callable[[int], Awaitable[None]]) -> float:
    """Microseconds of client CPU per call of ``op``, the second of two passes."""
    spent = 0.0
    for _ in range(2):
        start = time.process_time()
        for i in range(n):
            await op(i)
        spent = time.process_time() - start
    return spent / n * 1e6


async def measure(url: str, n: int) -> dict[str, float]:
    db = Database(url)
    out: dict[str, float] = {}
    try:
        async def read_checkout(_i: int) -> None:
            async with db.read_connection():
                pass

        async def write_checkout(_i: int) -> None:
            async with db.write_connection():
                pass

        async def checkout_and_core(i: int) -> None:
            async with db.read_connection() as conn:
                (await conn.execute(_ONE, {"update_id": i})).first()

        out["checkout and return (read_connection)"] = await _per_op(n, read_checkout)
        out["checkout and return, a transaction (write_connection)"] = await _per_op(
            n, write_checkout)
        out["Core statement with its own checkout"] = await _per_op(n, checkout_and_core)
        if db.is_postgres:
            # What ``read_connection``'s AUTOCOMMIT execution option costs on the shared pool
            # (set at each checkout, reset at each return): the same on an engine made
            # autocommit when created, with a pool of its own (not what the bot does).
            own = create_async_engine(url, isolation_level="AUTOCOMMIT", **pg_pool.pool_options())
            pg_pool.check_before_use(own)
            try:
                async def own_engine(i: int) -> None:
                    async with own.connect() as conn:
                        (await conn.execute(_ONE, {"update_id": i})).first()

                out["the same on an engine autocommit from creation"] = await _per_op(
                    n, own_engine)
            finally:
                await own.dispose()
        async with db.read_connection() as conn:
            async def core(i: int) -> None:
                (await conn.execute(_ONE, {"update_id": i})).first()

            out["Core statement (AsyncConnection.execute)"] = await _per_op(n, core)
            if db.is_postgres:
                raw = (await conn.get_raw_connection()).driver_connection

                async def driver(i: int) -> None:
                    await raw.fetchrow(_RAW_PG, i)

                out["the same through asyncpg alone"] = await _per_op(n, driver)
            else:
                async def driver_sql(i: int) -> None:
                    (await conn.exec_driver_sql(_RAW_SQLITE, (i,))).first()

                out["the same through exec_driver_sql"] = await _per_op(n, driver_sql)
    finally:
        await db.engine.dispose()
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--postgres", metavar="URL", help="PostgreSQL admin URL (default: SQLite)")
    ap.add_argument("--n", type=int, default=3000, help="operations per pass (default 3000)")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print(f"database: {'PostgreSQL' if args.postgres else 'SQLite (temporary file)'}; "
          f"{args.n} operations a pass, the second of two passes shown")
    async with scratch_database(args.postgres) as url:
        figures = await measure(url, args.n)
    for what, micros in figures.items():
        print(f"  {what:<56} {micros:7.1f} µs of client CPU")


if __name__ == "__main__":
    asyncio.run(main())
