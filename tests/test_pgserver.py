"""The throwaway PostgreSQL helper (tests/pgserver.py) itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import pgserver
from tests.pgserver import (
    ThrowawayPostgres,
    asyncpg_dsn,
    create_fresh_database,
    drop_database,
    find_pg_bin,
    probe_postgres,
    resolve_test_pg_url,
)

ROOT = Path(__file__).resolve().parent.parent

needs_binaries = pytest.mark.skipif(find_pg_bin() is None, reason=pgserver.NO_BINARIES_HINT)


@pytest.fixture(scope="module")
def throwaway():
    with ThrowawayPostgres() as server:
        yield server


@needs_binaries
async def test_select_one(throwaway):
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(throwaway.url))
    try:
        assert await conn.fetchval("select 1") == 1
        assert await conn.fetchval("select current_user") == "postgres"
    finally:
        await conn.close()


@needs_binaries
def test_url_shape(throwaway):
    assert throwaway.url == f"postgresql+asyncpg://postgres@127.0.0.1:{throwaway.port}/postgres"
    ok, why = probe_postgres("127.0.0.1", throwaway.port)
    assert ok, why


@needs_binaries
async def test_fresh_database_is_created_and_dropped(throwaway):
    import asyncpg

    url = await create_fresh_database(throwaway.url)
    name = pgserver.database_name(url)
    assert name.startswith(f"fosterbot_test_{os.getpid()}_")
    assert url == f"postgresql+asyncpg://postgres@127.0.0.1:{throwaway.port}/{name}"
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("create table t (x text)")
        await conn.execute("insert into t values ('é ✓')")
        assert await conn.fetchval("select x from t") == "é ✓"
        # still connected: the drop must disconnect us
        await drop_database(throwaway.url, url)
    finally:
        await conn.close()
    admin = await asyncpg.connect(asyncpg_dsn(throwaway.url))
    try:
        assert await admin.fetchval("select count(*) from pg_database where datname = $1", name) == 0
    finally:
        await admin.close()


async def test_drop_refuses_other_databases():
    with pytest.raises(ValueError, match="refusing"):
        await drop_database("postgresql+asyncpg://postgres@127.0.0.1:1/postgres",
                            "postgresql+asyncpg://postgres@127.0.0.1:1/fosterbot")


@needs_binaries
def test_stop_removes_everything():
    server = ThrowawayPostgres()
    server.start()
    port, base = server.port, server.base_dir
    assert base is not None and base.is_dir()
    server.stop()
    server.stop()  # idempotent
    assert not base.exists()
    ok, _ = probe_postgres("127.0.0.1", port, timeout=1)
    assert not ok


@needs_binaries
def test_command_line_run_passes_url_and_exit_code():
    code = (
        "import os, sys; from tests.pgserver import probe_postgres; "
        "url = os.environ['FOSTERBOT_TEST_PG_URL']; print(url); "
        "port = int(url.rsplit(':', 1)[1].split('/')[0]); "
        "ok, why = probe_postgres('127.0.0.1', port); "
        "sys.exit(7 if ok else 1)"
    )
    env = {k: v for k, v in os.environ.items() if k != "FOSTERBOT_TEST_PG_URL"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "tests/pgserver.py", "run", "--", sys.executable, "-c", code],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 7, proc.stderr
    url = proc.stdout.strip()
    assert url.startswith("postgresql+asyncpg://postgres@127.0.0.1:")
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    assert not probe_postgres("127.0.0.1", port, timeout=1)[0]  # stopped afterwards


def test_command_line_missing_command():
    proc = subprocess.run([sys.executable, "tests/pgserver.py", "run", "--"], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "usage" in proc.stderr


def test_resolve_prefers_environment(monkeypatch):
    monkeypatch.setenv("FOSTERBOT_TEST_PG_URL", "postgresql+asyncpg://someone@db.example:5433/x")
    assert resolve_test_pg_url() == (
        "postgresql+asyncpg://someone@db.example:5433/x",
        "FOSTERBOT_TEST_PG_URL is set",
    )


def test_resolve_without_environment(monkeypatch):
    monkeypatch.delenv("FOSTERBOT_TEST_PG_URL", raising=False)
    url, reason = resolve_test_pg_url()
    if url is None:
        assert "5432" in reason
    else:
        assert url == "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def test_probe_closed_port_says_why():
    port = pgserver._free_port()
    ok, why = probe_postgres("127.0.0.1", port, timeout=1)
    assert not ok
    assert f"127.0.0.1:{port}" in why


def test_asyncpg_dsn_and_with_database():
    assert asyncpg_dsn("postgresql+asyncpg://u:p@h:5/db?ssl=disable") == "postgresql://u:p@h:5/db?ssl=disable"
    assert pgserver.with_database("postgresql+asyncpg://u@h:5/postgres", "other") == "postgresql+asyncpg://u@h:5/other"
    with pytest.raises(ValueError):
        asyncpg_dsn("sqlite+aiosqlite:///x.db")


def test_module_imports_only_the_standard_library():
    """The CLI must work with a bare system python3 (no virtualenv)."""
    code = (
        "import sys; sys.path.insert(0, 'tests'); import pgserver; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('asyncpg', 'sqlalchemy', 'pydantic', 'pytest', 'bot')); print(bad); sys.exit(bool(bad))"
    )
    proc = subprocess.run([sys.executable, "-I", "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_find_pg_bin_honours_override(tmp_path, monkeypatch):
    for name in ("initdb", "pg_ctl"):
        f = tmp_path / name
        f.write_text("#!/bin/sh\n")
        f.chmod(0o755)
    monkeypatch.setenv("FOSTERBOT_PG_BIN", str(tmp_path))
    assert find_pg_bin() == tmp_path
