"""SQLite on the event loop's thread (storage/sqlite_inloop.py): no wait blocks the loop.

SQLite only: PostgreSQL keeps asyncpg and none of this applies.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from storage.db import Database


@pytest.fixture
async def db(tmp_path):
    d = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", busy_timeout_ms=2_000)
    async with d.write() as s:
        await s.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)"))
        await s.execute(text("INSERT INTO counter VALUES (1, 0)"))
    yield d
    await d.dispose()


async def _n(db: Database) -> int:
    async with db.read() as s:
        return (await s.execute(text("SELECT n FROM counter WHERE id = 1"))).scalar_one()


def _other_process_lock(db: Database) -> sqlite3.Connection:
    """A second connection (as another process would have) holding the write lock."""
    conn = sqlite3.connect(db.url.split("///", 1)[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE counter SET n = n + 100 WHERE id = 1")
    return conn


async def test_the_engine_runs_on_the_loop_thread_not_a_driver_thread(db):
    assert db.engine.dialect.driver == "fosterbot_inloop"
    async with db.read() as s:
        raw = (await s.connection()).sync_connection.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)


async def test_writers_in_one_process_take_turns(db):
    async def bump() -> None:
        async with db.write() as s:
            n = (await s.execute(text("SELECT n FROM counter WHERE id = 1"))).scalar_one()
            await asyncio.sleep(0.01)  # another writer gets the loop meanwhile
            await s.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n + 1})

    await asyncio.gather(*(bump() for _ in range(20)))
    assert await _n(db) == 20  # no lost update, no "database is locked"


async def test_waiting_for_another_process_does_not_block_the_loop(db):
    other = _other_process_lock(db)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    t = asyncio.create_task(ticker())
    asyncio.get_running_loop().call_later(0.5, other.execute, "COMMIT")
    started = time.monotonic()
    async with db.write() as s:
        await s.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
    waited = time.monotonic() - started
    t.cancel()
    other.close()
    assert waited >= 0.45  # it did wait for the other writer ...
    assert ticks >= 20  # ... and the loop went on meanwhile
    assert await _n(db) == 101  # both writes kept


async def test_a_lock_held_past_the_busy_timeout_is_an_error_not_a_hang(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'y.db'}", busy_timeout_ms=300)
    try:
        async with db.write() as s:
            await s.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)"))
            await s.execute(text("INSERT INTO counter VALUES (1, 0)"))
        other = _other_process_lock(db)
        started = time.monotonic()
        with pytest.raises(OperationalError, match="locked"):
            async with db.write() as s:
                await s.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
        assert 0.2 <= time.monotonic() - started < 2.0
        other.execute("ROLLBACK")
        other.close()
        async with db.write() as s:  # the turn was given back
            await s.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))
        assert await _n(db) == 1
    finally:
        await db.dispose()


async def test_a_write_inside_a_write_is_refused_at_once(db):
    with pytest.raises(RuntimeError, match="inside db.write"):
        async with db.write():
            async with db.write():
                pass
    async with db.write() as s:  # and the turn was given back
        await s.execute(text("UPDATE counter SET n = 7 WHERE id = 1"))
    assert await _n(db) == 7


async def test_the_pool_keeps_its_connections_under_concurrent_sessions(db):
    """A burst of sessions at once opens connections the first time only: the next burst
    finds them kept (a report opened one for most reports when only 5 were kept)."""
    opened: list[int] = []
    event.listen(db.engine.sync_engine, "connect", lambda *_args: opened.append(1))
    n = 12

    async def burst() -> list[int]:
        inside: list[int] = []
        everyone_in = asyncio.Event()

        async def reader() -> int:
            async with db.read() as s:
                value = (await s.execute(text("SELECT n FROM counter WHERE id = 1"))).scalar_one()
                inside.append(1)
                if len(inside) == n:
                    everyone_in.set()
                await everyone_in.wait()  # all n sessions hold a connection at once
                return value

        return await asyncio.gather(*(reader() for _ in range(n)))

    assert await burst() == [0] * n
    first = len(opened)
    assert 1 <= first <= n
    assert await burst() == [0] * n
    assert await burst() == [0] * n
    assert len(opened) == first  # no connection opened again


async def test_readers_do_not_wait_for_a_writer(db):
    other = _other_process_lock(db)
    try:
        assert await _n(db) == 0  # WAL: the last committed value, at once
    finally:
        other.execute("ROLLBACK")
        other.close()


async def test_a_result_left_half_read_does_not_pin_an_old_snapshot(db):
    async with db.write() as s:
        for i in range(2, 50):
            await s.execute(text("INSERT INTO counter VALUES (:i, 0)"), {"i": i})
    async with db.write() as s:  # committed with a SELECT read only in part
        result = await s.execute(text("SELECT id FROM counter ORDER BY id"))
        assert result.fetchone() == (1,)
    other = sqlite3.connect(db.url.split("///", 1)[1], isolation_level=None)
    other.execute("UPDATE counter SET n = 5 WHERE id = 1")  # another process writes
    other.close()
    for _ in range(3):  # whichever pooled connection the reader gets
        assert await _n(db) == 5


@pytest.mark.parametrize("backend", ["sqlite"])  # (conftest's db_url, SQLite only)
async def test_the_running_bot_answers_while_another_process_holds_the_write_lock(
        db_url, fake, tmp_path):
    """End to end: a `fosterbot` command writing in another process must not freeze the bot.

    The reply to /help needs only reads; recording the update as handled waits
    (asynchronously) for the other process's write and happens once it commits."""
    from tests.botprocess import BotProcess, link, load_directory, write_config
    from tests.conftest import WORKING_MORNING
    from tests.test_shutdown import DIRECTORY

    await load_directory(db_url, DIRECTORY, WORKING_MORNING)
    users = await link(db_url, fake, {"w1": 9101, "w2": 9102}, WORKING_MORNING)
    bot = BotProcess(write_config(tmp_path / "config.toml", db_url, fake), fake,
                     tmp_path / "bot.log")
    other = None
    try:
        await bot.start()
        worker = users["w1"]
        await worker.send("/help")
        await worker.wait_for("/help", timeout=15)  # the bot is up and answering
        assert await _recorded(db_url, 1)  # (else the next update waits for it, in order)
        other = sqlite3.connect(db_url.split("///", 1)[1], isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # as `fosterbot directory import` would
        started = time.monotonic()
        await worker.send("/help")
        await worker.wait_for("/help", timeout=10)
        # Meanwhile that update's record waits for the lock; were the wait inside
        # SQLite, the loop would be stuck in it and nobody else would be answered.
        await users["w2"].send("/help")
        await users["w2"].wait_for("/help", timeout=10)
        answered = time.monotonic() - started
        await asyncio.sleep(1.0)
        other.execute("COMMIT")
        other.close()
        other = None
        recorded = await _recorded(db_url, 3)
        assert await bot.terminate() == 0, bot.log()
    finally:
        if other is not None:
            other.execute("ROLLBACK")
            other.close()
        await bot.ensure_stopped()
    assert answered < 1.0  # answered while the lock was still held
    assert recorded  # and both updates recorded once the lock was free
    assert "database is locked" not in bot.log()


async def _recorded(db_url: str, n: int, timeout: float = 10.0) -> bool:
    """Wait until ``n`` updates are recorded as handled."""
    from sqlalchemy import func, select

    from storage.models import ProcessedUpdate

    db = Database(db_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            async with db.read() as s:
                if (await s.execute(select(func.count(ProcessedUpdate.update_id)))).scalar() >= n:
                    return True
            await asyncio.sleep(0.05)
        return False
    finally:
        await db.dispose()
