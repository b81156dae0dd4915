"""What the benchmarks share: machine facts, a scratch database, the bot in a child process.

The bot under test runs in its own process (``bench/_botproc.py``) so that its
CPU time and memory are its own: the emulator and the simulated people run in
the benchmark's process, on the other core. The child answers ``stats`` on
stdin with its CPU seconds and memory, and stops cleanly when stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sqlite3
import sys
import tempfile
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, AsyncIterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import make_url  # noqa: E402

from storage import migrate  # noqa: E402

TOKEN = "123456:BENCH"


def machine() -> str:
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}, "
            f"{date.today().isoformat()}")


def _pg_url(admin: str, name: str) -> str:
    """``admin`` naming database ``name`` instead (its query kept: a Unix socket's
    ``?host=/var/run/postgresql`` holds slashes too)."""
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


def _pg_name(url: str) -> str:
    """The database ``url`` names."""
    return make_url(url).database or ""


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _admin_execute(admin: str, sql: str) -> None:
    """One statement on the PostgreSQL server of ``admin`` (CREATE/DROP DATABASE)."""
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(admin))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _create_pg(admin: str, prefix: str, template: str | None = None) -> str:
    """A new PostgreSQL database next to ``admin`` (empty, or a copy of ``template``): its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await _admin_execute(admin, f'CREATE DATABASE "{name}"'
                         + (f' TEMPLATE "{template}"' if template else ""))
    return _pg_url(admin, name)


@asynccontextmanager
async def scratch_database(postgres: str | None) -> AsyncIterator[str]:
    """A migrated, empty database: a SQLite file in a temporary directory, or a fresh
    PostgreSQL database created next to ``postgres`` (an admin URL) and dropped after."""
    if postgres is None:
        with tempfile.TemporaryDirectory(prefix="fosterbot-bench-") as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/bench.sqlite"
            await migrate.upgrade(url)
            yield url
        return
    if postgres.startswith("postgresql://"):
        postgres = postgres.replace("postgresql://", "postgresql+asyncpg://", 1)
    url = await _create_pg(postgres, "fosterbot_bench")
    try:
        await migrate.upgrade(url)
        yield url
    finally:
        await drop_database(url, postgres)


def _sqlite_path(url: str) -> str:
    return url.split("///", 1)[1]


async def copy_database(url: str, admin: str | None, directory: str) -> str:
    """A copy of the database at ``url`` (no connection open to it), as a new URL: a file in
    ``directory`` (SQLite, through the backup API) or a database made from it as a template
    (PostgreSQL; ``admin`` is the URL to connect to for ``CREATE DATABASE``)."""
    if url.startswith("sqlite"):
        target = os.path.join(directory, f"copy-{uuid.uuid4().hex[:8]}.sqlite")
        src, dst = sqlite3.connect(_sqlite_path(url)), sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        return f"sqlite+aiosqlite:///{target}"
    assert admin is not None
    return await _create_pg(admin, "fosterbot_replay", template=_pg_name(url))


async def drop_database(url: str, admin: str | None) -> None:
    """Remove the database at ``url`` (a SQLite file and its journals, or a PostgreSQL
    database dropped through ``admin``)."""
    if url.startswith("sqlite"):
        for suffix in ("", "-wal", "-shm"):
            Path(_sqlite_path(url) + suffix).unlink(missing_ok=True)
        return
    assert admin is not None
    await _admin_execute(admin, f'DROP DATABASE IF EXISTS "{_pg_name(url)}" WITH (FORCE)')


@dataclass
class Stats:
    cpu: float  # CPU seconds (user + system) of the bot process so far
    rss_mb: float
    peak_rss_mb: float
    statements: int = 0  # SQL statements the bot ran so far
    transactions: int = 0  # database transactions it began so far
    connects: int = 0  # database connections its engine's pool opened so far
    threads: dict = field(default_factory=dict)  # CPU seconds per thread name (Linux)
    budget_takes: int = 0  # PostgreSQL: calls to the shared send budget (own connection)
    budget_waits: int = 0  # of them: a slot booked ahead of now, or nothing booked
    budget_refusals: int = 0  # of them: nothing booked (the chat busy), asked again
    pg_trips: dict = field(default_factory=dict)  # PostgreSQL round trips by kind (bench/_pg_trips.py)
    gc_cpu: float = 0.0  # CPU seconds spent in the garbage collector so far
    gc_runs: list = field(default_factory=lambda: [0, 0, 0])  # its collections by generation


class BotProcess:
    """The bot (or the bare echo bot) running in a child process against the emulator."""

    def __init__(self, mode: str, db_url: str, fake: Any, *, fake_time: str | None = None,
                 extra: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        self.mode = mode
        self.env = env or {}
        self.args = [sys.executable, str(ROOT / "bench" / "_botproc.py"), "--mode", mode,
                     "--db", db_url, "--base-url", fake.base_url,
                     "--base-file-url", fake.base_file_url, "--token", fake.token]
        if fake_time:
            self.args += ["--fake-time", fake_time]
        self.args += extra or []
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {**os.environ, **self.env, "PTB_TIMEDELTA": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.proc = await asyncio.create_subprocess_exec(
            *self.args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
        )
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        if line.strip() != b"READY":
            raise RuntimeError(f"bot process did not start: {line!r}")

    async def stats(self) -> Stats:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(b"stats\n")
        await self.proc.stdin.drain()
        data = json.loads(await asyncio.wait_for(self.proc.stdout.readline(), 30))
        return Stats(**data)

    async def stop(self) -> Stats | None:
        if self.proc is None:
            return None
        stats = await self.stats()
        self.proc.stdin.close()
        await asyncio.wait_for(self.proc.wait(), 30)
        self.proc = None
        return stats


def rate(n: float, seconds: float) -> str:
    return f"{n / seconds:,.1f}" if seconds > 0 else "∞"
