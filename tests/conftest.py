"""Shared fixtures: a migrated database on each backend, a fake clock, the fake Bot API,
and a running bot with the example directory loaded.

Every test that takes ``db_url`` (directly or through ``services``/``world``)
runs twice: on SQLite (a temporary file) and on a real PostgreSQL server
(``$FOSTERBOT_TEST_PG_URL``, else the local server at 127.0.0.1:5432, else a
throwaway server started for the session; when none can be had the PostgreSQL
runs are skipped with the reason). Each test gets a fresh database cloned from
one migrated with ``alembic upgrade head`` at the start of the session (on
PostgreSQL the next clone is made while the current test runs: tests/pgclones.py).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
import warnings
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.config import Settings, parse_settings
from storage import migrate
from tests import pgserver

os.environ.setdefault("PTB_TIMEDELTA", "1")
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_DIRECTORY = ROOT / "examples" / "directory.toml"
TOKEN = "123456:TEST-TOKEN"
# Wednesday 25 November 2026, 10:00 London (GMT): inside working hours.
WORKING_MORNING = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)


def run_in_thread(coro):
    """Run a coroutine to completion on its own loop (session fixtures may be set up
    from inside a test's running loop)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def pytest_configure(config):
    warnings.filterwarnings("ignore", message=".*CallbackQueryHandler.*", category=UserWarning)


# ----------------------------------------------------------------------------- databases


@pytest.fixture(scope="session")
def pg_admin():
    with pgserver.postgres_for_tests() as (url, reason):
        yield url, reason


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("tmpl") / "template.db"
    run_in_thread(migrate.upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def pg_template(pg_admin):
    admin, reason = pg_admin
    if admin is None:
        return None
    name = f"fosterbot_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def make():
        import asyncpg

        conn = await asyncpg.connect(pgserver.asyncpg_dsn(admin))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        await migrate.upgrade(pgserver.with_database(admin, name))

    run_in_thread(make())
    yield name

    async def drop():
        import asyncpg

        conn = await asyncpg.connect(pgserver.asyncpg_dsn(admin))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    run_in_thread(drop())


@pytest.fixture(scope="session")
def pg_clones(pg_admin, pg_template):
    """Each PostgreSQL test's database, cloned from the template one test ahead
    (tests/pgclones.py)."""
    from tests.pgclones import Clones

    clones = Clones(pg_admin[0], pg_template)
    yield clones
    clones.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    return request.param


@pytest.fixture
async def db_url(backend, tmp_path, request):
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "fosterbot.db"
        shutil.copy(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    admin, reason = request.getfixturevalue("pg_admin")
    if admin is None:
        pytest.skip(f"PostgreSQL not available: {reason}")
    clones = request.getfixturevalue("pg_clones")
    url = await asyncio.to_thread(clones.take)  # cloned while the previous test ran
    yield url
    clones.drop(url)  # in the background


# ----------------------------------------------------------------------------- services


@pytest.fixture
def clock():
    return FakeClock(WORKING_MORNING)


# The per-chat allowance tests run with, and Telegram's own (the production default).
FAST_PACING = {"per_chat_per_second": 1000.0, "per_chat_burst": 100}
TELEGRAM_PACING = {"per_chat_per_second": 1.0, "per_chat_burst": 3}


def make_settings(db_url: str, fake=None, **overrides) -> Settings:
    data = {
        "database": {"url": db_url},
        "service": {"name": "Test Fostering", "duty_phone": "0116 000 0999",
                    "out_of_hours_phone": "0116 000 9999"},
        # Per-chat pacing off in tests (the emulator does not enforce Telegram's limits unless
        # a test asks it to): at Telegram's one a second a test's conversation spent most of
        # its time waiting for the bucket. Tests about pacing set Telegram's figures
        # (tests/test_one_pacing_gate.py, TELEGRAM_PACING) or a Dispatcher on virtual time.
        "delivery": {"poll_interval_seconds": 0.2, **FAST_PACING},
        "health": {"port": 0},  # tests that want the health server give it a free port
    }
    if fake is not None:
        data["telegram"] = {"api_base_url": fake.base_url, "base_file_url": fake.base_file_url}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_settings(data).model_copy(update={"token": TOKEN})


@pytest.fixture
def settings_overrides():
    """Override in a test module to change the configuration the bot runs with."""
    return {}


@pytest.fixture
async def services(db_url, clock, settings_overrides):
    from bot.app import make_services

    svc = make_services(make_settings(db_url, **settings_overrides), clock=clock)
    yield svc
    await svc.db.dispose()


# ----------------------------------------------------------------------------- the bot


@pytest.fixture
async def fake():
    from bot.emulator import FakeBotAPI

    async with FakeBotAPI(token=TOKEN, bot_username="fosterbot_test_bot") as api:
        yield api


@pytest.fixture
def pacing_time():
    """Override in a test module with a ``tests.driven_time.DrivenTime`` to drive the time the
    pacing waits on (Telegram's "retry after"); None (this default): real time."""


@pytest.fixture
async def world(db_url, clock, fake, settings_overrides, pacing_time):
    """The example directory loaded and the real bot running against the fake Bot API."""
    from tests.world import World

    w = World(db_url=db_url, clock=clock, fake=fake,
              settings=make_settings(db_url, fake, **settings_overrides), pacing_time=pacing_time)
    await w.start()
    try:
        yield w
    finally:
        await w.stop()


# ----------------------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the whole session (tests/browser.py); skipped when not installed."""
    from tests.browser import Browser, why_no_browser

    reason = why_no_browser()
    if reason:
        pytest.skip(reason)
    b = Browser()
    b.start()
    yield b
    b.close()
