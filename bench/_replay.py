"""The bot's database work replayed through the raw driver, without SQLAlchemy (issue 18's
floor with the database: ``bench/report_throughput.py``).

    python bench/_replay.py --log FILE --db URL

``FILE`` is a capture of a fosterbot run (``bench/_dblog.py``); ``URL`` a database in the
state that run started from (a copy made before the bot started: same migrations, same
seeded directory). Every captured event is replayed in order, on as many connections as the
bot had and on the same one for each event:

- SQLite (``sqlite3``, on this thread): each connection opened with the settings
  ``storage/db.py`` gives it (no implicit transactions, the same busy timeout and
  PRAGMAs, the ``local_midnight`` SQL function); ``BEGIN`` or ``BEGIN IMMEDIATE`` as captured;
  each statement on a fresh cursor with its captured parameters, the rows of a SELECT all
  fetched (as ``storage/sqlite_inloop.BufferedCursor`` does) and dropped; ``commit()`` and
  ``rollback()``; connections closed when the bot's were.
- PostgreSQL (``asyncpg``): the pool's connections opened with SQLAlchemy's JSON and JSONB
  codecs, the dedicated ones plain; a transaction begun before a statement when the adapter
  began one, with its isolation settings; each statement with ``fetch`` (``fetchrow`` on a
  dedicated connection; ``executemany`` for a batch), its rows dropped; one after another,
  each at the place where it *returned* in the bot (:func:`in_completion_order`: replayed in
  the order they were sent, a statement that took a row lock sooner here than in the bot
  waited for a COMMIT that comes later in the log, and the replay stuck).

Prints one JSON object: CPU and wall seconds of this process between the capture's first and
second markers (the benchmark's measured window), the statements, transactions and
connections replayed in that window and overall, the statements that failed (none did in the
bot; any here is an error the benchmark reports), and the rows in ``incidents``,
``audit_events`` and ``deliveries`` afterwards. The database server's own CPU (PostgreSQL)
is in neither this figure nor the bot's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TABLES = ("incidents", "audit_events", "deliveries")


def _sqlite_path(url: str) -> str:
    return url.split("///", 1)[1]


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def summary(log: list[tuple]) -> dict[str, int]:
    """Counts in the capture's measured window (between its first and second markers)."""
    out = {"statements": 0, "transactions": 0, "connects": 0, "all_statements": 0}
    marks = 0
    for ev in log:
        kind = ev[0]
        if kind == "mark":
            marks += 1
            continue
        inside = marks == 1
        if kind == "stmt":
            out["all_statements"] += 1
            if inside:
                out["statements"] += 1
                out["transactions"] += ev[6] is not None
        elif inside and kind == "begin":
            out["transactions"] += 1
        elif inside and kind == "open":
            out["connects"] += 1
    return out


def _expected_failures(log: list[tuple]) -> set[int]:
    return {ev[1] for ev in log if ev[0] == "end" and ev[2]}


# ---------------------------------------------------------------- SQLite

def _open_sqlite(path: str) -> sqlite3.Connection:
    from storage import local_day, sqlite_inloop

    conn = sqlite3.connect(path, timeout=sqlite_inloop.LOOP_BUSY_TIMEOUT_MS / 1000,
                           isolation_level=None)
    cur = conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={sqlite_inloop.LOOP_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()
    local_day.register_sqlite(conn)
    return conn


def replay_sqlite(log: list[tuple], path: str) -> dict[str, Any]:
    conns: dict[int, sqlite3.Connection] = {}
    marks: list[tuple[float, float]] = []
    failed: list[tuple[int, str]] = []
    done = 0
    error = sqlite3.Error
    for ev in log:
        kind = ev[0]
        if kind == "stmt":
            cur = conns[ev[2]].cursor()
            try:
                if ev[5]:
                    cur.executemany(ev[3], ev[4])
                else:
                    cur.execute(ev[3], ev[4])
                if cur.description:
                    cur.fetchall()
            except error as exc:
                failed.append((ev[1], f"{exc}: {ev[3][:200]}"))
            cur.close()
            done += 1
        elif kind == "end":
            pass
        elif kind == "begin":
            conns[ev[1]].execute("BEGIN IMMEDIATE" if ev[2] else "BEGIN")
        elif kind == "commit":
            conns[ev[1]].commit()
        elif kind == "rollback":
            conns[ev[1]].rollback()
        elif kind == "open":
            conns[ev[1]] = _open_sqlite(path)
        elif kind == "close":
            conns.pop(ev[1]).close()
        elif kind == "mark":
            marks.append((time.process_time(), time.perf_counter()))
    for conn in conns.values():
        conn.close()
    return {"marks": marks, "done": done, "failed": failed}


def count_sqlite(path: str) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        conn.close()


# ---------------------------------------------------------------- PostgreSQL

def in_completion_order(log: list[tuple]) -> list[tuple]:
    """Each statement moved to where it returned in the bot (its ``end``).

    Statements on different connections overlapped in the bot, and the order in which they
    were *sent* is not the order in which the server took their locks (one may have had to
    prepare first). The order in which they *returned* is: a statement that waited for a
    row another transaction had locked returned after that transaction's COMMIT. Run one
    after another in that order, no statement waits for a lock, and each sees what it saw in
    the bot (other transactions' work is seen only once committed, and every COMMIT keeps
    its place).

    One thing this order does not keep: which ids a sequence hands out. Two INSERTs on two
    connections take their ids when the server runs them, and the one that took the lower id
    may return second; replayed in return order they would swap ids, and a later statement
    naming the bot's id would find the other row, or none (a foreign key refused: the replay
    was then unfaithful, one run in two). So an ``INSERT ... RETURNING <table>.id`` carries
    the ids it got in the bot (``bench/_dblog.py``), and the replay sets the table's sequence
    to them first: one ``setval`` more per such INSERT (a few per report), counted in the
    replay's CPU."""
    at_end: dict[int, tuple] = {}
    out: list[tuple] = []
    for ev in log:
        if ev[0] == "stmt":
            at_end[ev[1]] = ev
        elif ev[0] == "end":
            stmt = at_end.pop(ev[1], None)
            if stmt is not None:
                # with the ids its sequence gave it in the bot, if any (bench/_dblog.py)
                out.append(stmt + (ev[3] if len(ev) > 3 else None,))
        else:
            out.append(ev)
    out.extend(at_end.values())  # still running when the bot stopped
    return out


_SAME_IDS = "SELECT setval(pg_get_serial_sequence($1, 'id'), $2, false)"


class _PgConn:
    __slots__ = ("raw", "tx", "dedicated")

    def __init__(self, raw: Any, dedicated: bool) -> None:
        self.raw = raw
        self.tx: Any = None
        self.dedicated = dedicated


async def _open_pg(dsn: str, kind: str) -> _PgConn:
    import asyncpg

    raw = await asyncpg.connect(dsn)
    if kind == "pg":  # SQLAlchemy's asyncpg dialect: JSON as text it has encoded itself
        await raw.set_type_codec("json", encoder=str.encode,
                                 decoder=lambda b: json.loads(b.decode()),
                                 schema="pg_catalog", format="binary")
        await raw.set_type_codec("jsonb", encoder=lambda s: b"\x01" + s.encode(),
                                 decoder=lambda b: json.loads(b[1:].decode()),
                                 schema="pg_catalog", format="binary")
    return _PgConn(raw, kind == "session")


async def _watch(at: list[int], log: list[tuple]) -> None:
    """A replay stuck for STUCK_AFTER seconds is a bench error: say where, and stop."""
    seen = -1
    while True:
        await asyncio.sleep(STUCK_AFTER)
        if at[0] == seen:
            ev = log[at[0]]
            print(f"replay stuck at event {at[0]} of {len(log)}: {ev[:3]} "
                  f"{ev[3][:300] if ev[0] == 'stmt' else ''}", file=sys.stderr, flush=True)
            os._exit(3)
        seen = at[0]


STUCK_AFTER = 20.0


async def replay_pg(log: list[tuple], url: str) -> dict[str, Any]:
    dsn = _dsn(url)
    log = in_completion_order(log)
    conns: dict[int, _PgConn] = {}
    marks: list[tuple[float, float]] = []
    failed: list[tuple[int, str]] = []
    done = 0
    at = [0]
    watchdog = asyncio.ensure_future(_watch(at, log))
    for i, ev in enumerate(log):
        at[0] = i
        kind = ev[0]
        if kind == "stmt":
            st = conns[ev[2]]
            done += 1
            try:
                tx = ev[6]
                if tx is not None:
                    if st.tx is not None:
                        raise RuntimeError("a transaction was begun twice on one connection")
                    st.tx = st.raw.transaction(isolation=tx[0], readonly=tx[1],
                                               deferrable=tx[2])
                    await st.tx.start()
                if len(ev) > 7 and ev[7]:
                    # The sequence gives the ids it gave in the bot (see in_completion_order).
                    await st.raw.execute(_SAME_IDS, ev[7][0], min(ev[7][1]))
                if ev[5]:
                    await st.raw.executemany(ev[3], ev[4])
                elif st.dedicated:
                    await st.raw.fetchrow(ev[3], *ev[4])
                else:
                    await st.raw.fetch(ev[3], *ev[4])
            except Exception as exc:  # noqa: BLE001 - compared with the capture afterwards
                failed.append((ev[1], f"{exc!r}: {ev[3][:200]}"))
        elif kind == "end":
            pass
        elif kind in ("commit", "rollback"):
            st = conns[ev[1]]
            if st.tx is None:
                raise RuntimeError(f"{kind} with no transaction begun on connection {ev[1]}")
            tx, st.tx = st.tx, None
            await (tx.commit() if kind == "commit" else tx.rollback())
        elif kind == "open":
            conns[ev[1]] = await _open_pg(dsn, ev[2])
        elif kind == "close":
            await conns.pop(ev[1]).raw.close()
        elif kind == "mark":
            marks.append((time.process_time(), time.perf_counter()))
    watchdog.cancel()
    for st in conns.values():
        await st.raw.close()
    return {"marks": marks, "done": done, "failed": failed}


async def count_pg(url: str) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(_dsn(url))
    try:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}
    finally:
        await conn.close()


# ---------------------------------------------------------------- for the benchmark

async def count_rows(url: str) -> dict[str, int]:
    """Rows in the tables a report writes (checked after a replay against the bot's)."""
    return count_sqlite(_sqlite_path(url)) if url.startswith("sqlite") else await count_pg(url)


async def run_replay(log_path: str, url: str) -> dict[str, Any]:
    """Replay ``log_path`` against ``url`` in a process of its own; its JSON answer."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).resolve()), "--log", log_path, "--db", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))})
    out, err = await proc.communicate()
    if proc.returncode != 0:
        if os.environ.get("FOSTERBOT_REPLAY_KEEP"):
            import shutil
            shutil.copy(log_path, os.environ["FOSTERBOT_REPLAY_KEEP"])
        raise RuntimeError(f"replay failed ({proc.returncode}): {err.decode()[-2000:]}")
    return json.loads(out.decode().strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log", required=True)
    ap.add_argument("--db", required=True)
    args = ap.parse_args()
    with open(args.log, "rb") as f:
        log = pickle.load(f)
    expected = _expected_failures(log)
    if args.db.startswith("sqlite"):
        result = replay_sqlite(log, _sqlite_path(args.db))
        counts = count_sqlite(_sqlite_path(args.db))
    else:
        result = asyncio.run(replay_pg(log, args.db))
        counts = asyncio.run(count_pg(args.db))
    marks = result["marks"]
    if len(marks) < 2:
        raise SystemExit(f"the capture has {len(marks)} markers, not the window's 2")
    unexpected = [f for f in result["failed"] if f[0] not in expected]
    missing = sorted(expected - {f[0] for f in result["failed"]})
    print(json.dumps({
        "cpu": marks[1][0] - marks[0][0], "wall": marks[1][1] - marks[0][1],
        "replayed": result["done"], "captured": sum(1 for ev in log if ev[0] == "stmt"),
        "window": summary(log), "failed_as_captured": len(result["failed"]) - len(unexpected),
        "unexpected_failures": unexpected[:10], "n_unexpected": len(unexpected),
        "failed_in_bot_only": missing[:10], "counts": counts,
    }))


if __name__ == "__main__":
    main()
