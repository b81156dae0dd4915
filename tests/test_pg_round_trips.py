"""Round trips to PostgreSQL beyond the statements themselves (issue 18): the pool
(storage/pg_pool.py) keeps its connections and checks one before use only when it may have
gone stale, and a hot path's one read (``Database.read_connection``) runs without a
transaction, so a busy bot sends no ping, no extra connection and no BEGIN/ROLLBACK for them.

What the server is sent is read from asyncpg's query log of each pooled connection, which
shows the simple queries (``BEGIN``, ``ROLLBACK``) and the ping (``;``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import event, text

from storage import pg_pool
from storage.db import Database
from storage.pg_session import asyncpg_dsn

pytestmark = pytest.mark.parametrize("backend", ["postgresql"])


class Seconds:
    """The pool's clock (seconds), moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Watched:
    """A Database whose pooled connections' queries and openings are counted."""

    def __init__(self, url: str) -> None:
        self.seconds = Seconds()
        self.db = Database(url, pool_clock=self.seconds)
        self.sent: list[str] = []
        self.opened = 0

        @event.listens_for(self.db.engine.sync_engine.pool, "connect")
        def _opened(_dbapi_conn, record) -> None:
            self.opened += 1
            record.driver_connection.add_query_logger(lambda q: self.sent.append(q.query))

    def pings(self) -> int:
        return sum(q.strip() == ";" for q in self.sent)

    async def backend_pid(self) -> int:
        async with self.db.read() as s:
            return (await s.execute(text("select pg_backend_pid()"))).scalar_one()


async def until(check, timeout: float = 10.0) -> None:
    """Wait for the driver to see what the server did (a real socket: no clock to move)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.01)


async def test_a_connection_used_moments_ago_is_not_pinged_again(db_url):
    w = Watched(db_url)
    try:
        await w.backend_pid()  # opened: fresh, no ping
        for _ in range(5):
            w.seconds.now += 1.0
            async with w.db.write() as s:
                await s.execute(text("select 1"))
            async with w.db.read() as s:
                await s.execute(text("select 1"))
        assert w.opened == 1
        assert w.pings() == 0
        # ten transactions, a BEGIN each and nothing else sent as a simple query
        assert sum(q.startswith("BEGIN") for q in w.sent) == 11
    finally:
        await w.db.dispose()


async def test_a_connection_idle_for_longer_is_pinged_before_use(db_url):
    w = Watched(db_url)
    try:
        pid = await w.backend_pid()
        w.seconds.now += pg_pool.PING_IDLE_AFTER + 0.5
        assert await w.backend_pid() == pid
        assert w.pings() == 1
        assert await w.backend_pid() == pid  # just used: not again
        assert w.pings() == 1
    finally:
        await w.db.dispose()


async def test_a_connection_the_server_ended_is_replaced_before_use_without_an_error(db_url):
    w = Watched(db_url)
    errors: list[object] = []
    event.listen(w.db.engine.sync_engine, "handle_error", lambda ctx: errors.append(ctx))
    try:
        pid = await w.backend_pid()
        async with w.db.engine.connect() as c:
            driver = (await c.get_raw_connection()).driver_connection
        admin = await asyncpg.connect(asyncpg_dsn(db_url))
        try:
            await admin.execute("select pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        await until(driver.is_closed)

        # used a moment ago (no ping due), but the driver knows it is closed
        assert await w.backend_pid() != pid
        assert w.pings() == 0
        assert errors == []
        assert w.opened == 2
    finally:
        await w.db.dispose()


async def test_connections_opened_in_a_burst_are_kept_for_the_next(db_url):
    w = Watched(db_url)
    try:
        async def hold(ready: asyncio.Event, go: asyncio.Event) -> None:
            async with w.db.read() as s:
                await s.execute(text("select 1"))
                ready.set()
                await go.wait()

        for _burst in range(2):
            go = asyncio.Event()
            readies = [asyncio.Event() for _ in range(pg_pool.POOL_SIZE)]
            tasks = [asyncio.create_task(hold(r, go)) for r in readies]
            await asyncio.gather(*(r.wait() for r in readies))
            go.set()
            await asyncio.gather(*tasks)
        assert w.opened == pg_pool.POOL_SIZE  # the second burst opened none
    finally:
        await w.db.dispose()


async def test_one_read_on_its_own_connection_sends_no_begin_or_rollback(db_url):
    w = Watched(db_url)
    try:
        await w.backend_pid()
        sent_before = len(w.sent)
        async with w.db.read_connection() as conn:
            assert (await conn.execute(text("select 41 + 1"))).scalar_one() == 42
        assert w.sent[sent_before:] == []  # only the statement itself (not logged)
        async with w.db.read() as s:  # a unit of work keeps its transaction
            await s.execute(text("select 1"))
        assert [q.split()[0].rstrip(";") for q in w.sent[sent_before:]] == ["BEGIN", "ROLLBACK"]
    finally:
        await w.db.dispose()


async def test_the_update_check_is_one_round_trip_and_writes_nothing(db_url):
    from bot.runtime import updates

    w = Watched(db_url)
    try:
        await w.backend_pid()
        sent_before = len(w.sent)
        assert await updates.check(w.db, 1234, 999_999) == (False, None, frozenset())
        assert await updates.check(w.db, 1234, None) == (False, None, frozenset())
        assert w.sent[sent_before:] == []
    finally:
        await w.db.dispose()


async def test_the_dispatchers_claim_is_one_statement_text_whatever_it_holds(db_url):
    """The claim's two statements take their ids as one array parameter on PostgreSQL, so a
    connection prepares each once; an expanding IN would be a new text (and a server-side
    prepare, a round trip) for every number of ids."""
    from bot.delivery import outbox

    db = Database(db_url)
    texts: set[str] = set()

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def _seen(_conn, _cursor, statement, _params, _context, _many) -> None:
        texts.add(statement)

    now = datetime.now(UTC)
    try:
        async with db.write_connection() as conn:
            for ids in ([7], [7, 8, 9], list(range(1, 40))):
                rows = await conn.execute(outbox._CANDIDATES[(True, True)],
                                          {"now": now, "n": 10, "held": ids})
                assert rows.all() == []
                rows = await conn.execute(outbox._LEASE[True], {
                    "chosen": ids, "now": now, "token": now, "owner": "test"})
                assert rows.all() == []
        assert len(texts) == 2 and all("ANY" in t for t in texts)
    finally:
        await db.dispose()
