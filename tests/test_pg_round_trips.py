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
from tests.waiting import until

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


def _simple(sent: list[str], since: int) -> list[str]:
    """The transaction control sent since ``since`` (BEGIN, COMMIT, ROLLBACK), by its first
    word (the log also holds an ``executemany``'s statement)."""
    words = (q.split()[0].rstrip(";").upper() for q in sent[since:])
    return [w for w in words if w in ("BEGIN", "COMMIT", "ROLLBACK")]


async def test_handled_updates_are_recorded_in_one_statement_all_or_none(db_url):
    """The handled-update record is one statement without BEGIN and COMMIT, and a batch is
    still all or nothing: one id it cannot write leaves the others unwritten too, so each
    update's handler hears of the failure (``HandledLog``) and none is taken for handled."""
    from bot.runtime import updates

    w = Watched(db_url)
    at = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    try:
        await w.backend_pid()
        since = len(w.sent)
        await updates.record(w.db, [updates.Handled(1, at)])
        await updates.record(w.db, [updates.Handled(2, at), updates.Handled(3, at)])
        assert _simple(w.sent, since) == []
        assert [await updates.check(w.db, u, None) for u in (1, 2, 3, 4)] == [
            (True, None, frozenset())] * 3 + [(False, None, frozenset())]

        with pytest.raises(Exception, match="processed_at"):  # NOT NULL refused
            await updates.record(w.db, [updates.Handled(5, at), updates.Handled(6, None)])
        assert (await updates.check(w.db, 5, None))[0] is False
    finally:
        await w.db.dispose()


async def _owe_one(db: Database, now: datetime) -> int:
    from bot.delivery.outbox import enqueue

    async with db.write() as s:
        row = await enqueue(s, key="claim-test", kind="notice", now=now, text="hello",
                            chat_id=4242)
        return row.id


async def test_the_dispatchers_claim_sends_no_begin_or_commit(db_url):
    """The candidates' read and the lease are one statement each, no transaction around
    them: a claim that finds a row is two round trips, one that finds none is one."""
    from bot.clock import FakeClock
    from bot.delivery.outbox import Dispatcher

    w = Watched(db_url)
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    try:
        row_id = await _owe_one(w.db, now)
        d = Dispatcher(w.db, object(), FakeClock(now))
        since = len(w.sent)
        claimed = await d._claim(now, 10)
        assert [(r.id, r.payload["text"], r.lease_owner) for r in claimed] == [
            (row_id, "hello", d.instance.id)]
        assert await d._claim(now, 10) == []  # leased: not offered again
        assert _simple(w.sent, since) == []
    finally:
        await w.db.dispose()


@pytest.mark.parametrize("meanwhile", ["leased elsewhere", "put off", "sent"])
async def test_a_row_changed_after_the_candidates_were_read_is_not_leased(db_url, meanwhile):
    """Without a transaction the lease's guard alone decides: between the candidates' read
    and the lease another dispatcher leases the row, or it is put off (a 429 held its chat),
    or it is sent; the lease then takes nothing."""
    from sqlalchemy import update

    from bot.delivery import outbox
    from storage.models import Delivery

    db = Database(db_url)
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    later = datetime(2026, 12, 4, 12, 5, tzinfo=UTC)
    change = {"leased elsewhere": {"locked_until": later, "lease_owner": "other"},
              "put off": {"next_attempt_at": later},
              "sent": {"status": "sent", "sent_at": now}}[meanwhile]
    try:
        row_id = await _owe_one(db, now)
        async with db.write_statements() as conn:
            candidates = (await conn.execute(outbox._CANDIDATES[(False, True)],
                                             {"now": now, "n": 10})).all()
            assert [r.id for r in candidates] == [row_id]
            async with db.write() as s:  # another connection, committed before the lease
                await s.execute(update(Delivery).where(Delivery.id == row_id).values(**change))
            leased = (await conn.execute(outbox._LEASE[True], {
                "chosen": [row_id], "now": now, "token": later, "owner": "me"})).all()
        assert leased == []
        async with db.read() as s:
            row = await s.get(Delivery, row_id)
        assert row.lease_owner != "me" and row.attempts == 0
    finally:
        await db.dispose()


@pytest.mark.parametrize("events", [1, 3, 25])
async def test_an_append_to_the_audit_chain_inserts_and_advances_in_one_statement(db_url, events):
    """The events' INSERT and the head's advance are one statement on PostgreSQL (up to 20
    events; more take the two), and the chain verifies afterwards, appended to again."""
    from bot import audit

    db = Database(db_url)
    seen: list[str] = []

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def _seen(_conn, _cursor, statement, _params, _context, _many) -> None:
        seen.append(" ".join(statement.split()[:4]))

    at = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    try:
        for round_ in range(2):
            seen.clear()
            async with db.write_connection() as conn:
                written = await audit.record_on(conn, [
                    audit.event("test_event", at=at, n=i, round=round_) for i in range(events)])
            assert [w.details["n"] for w in written] == list(range(events))
            expected = ["SELECT audit_head.last_event_id, audit_head.last_hash, audit_head.count",
                        "WITH appended AS (INSERT"]
            if events > 20:
                expected = [expected[0], "INSERT INTO audit_events (id,",
                            "UPDATE audit_head SET last_event_id=$1::INTEGER,"]
            assert seen == expected
        async with db.read() as s:
            result = await audit.verify(s)
        assert result.ok and result.count == 2 * events
    finally:
        await db.dispose()


async def test_the_category_and_the_description_write_the_draft_without_a_transaction(world):
    """Two steps of every report read and then write the draft once: on PostgreSQL that one
    UPDATE stands alone (no BEGIN and COMMIT). "Skip the rest" keeps its transaction (after
    an urgent report it writes more); the carer sees each step's answer as before."""
    khan, brown = await world.link_all("sw-khan", "carer-brown")
    await world.settle()
    drafts: list[tuple[str, bool]] = []  # (statement, inside a transaction the driver began)

    @event.listens_for(world.services.db.engine.sync_engine, "before_cursor_execute")
    def _seen(conn, _cursor, statement, _params, _context, _many) -> None:
        if " drafts" in statement.split("WHERE")[0]:
            dbapi = conn.connection.dbapi_connection
            drafts.append((statement.split()[0],
                           dbapi._transaction is not None or not dbapi.autocommit))

    async def step(do, answer: str) -> list[tuple[str, bool]]:
        drafts.clear()
        await do()
        await brown.wait_for(answer)
        await world.settle()
        return list(drafts)

    await step(lambda: brown.send("/report"), "Choose one")
    assert await step(lambda: brown.click("Other / general update"),
                      "write what happened") == [("SELECT", False), ("UPDATE", False)]
    assert await step(lambda: brown.send("All fine, just letting you know."),
                      "When did it happen") == [("SELECT", False), ("UPDATE", False)]
    skipped = await step(lambda: brown.click("Skip the rest"), "Please check your report")
    assert ("UPDATE", True) in skipped
    await brown.click("Submit")
    await brown.wait_for("received and recorded")
    await khan.wait_for("Routine")
