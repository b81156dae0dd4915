"""One database handle per process: the engine, and sessions for readers and writers.

SQLite allows one writer at a time. A transaction that reads and later writes
can fail with SQLITE_BUSY even with a busy timeout, so writers begin with
``BEGIN IMMEDIATE`` (taking the write lock first) while readers begin a
deferred transaction and never queue behind writers (WAL). PostgreSQL needs
none of this. Use ``db.write()`` for any unit of work that may write and
``db.read()`` for pure reads; ``db.write_connection()`` and ``db.read_connection()`` are
the same without an ORM session, for the per-update path's few Core statements.

On PostgreSQL the pool keeps its connections and checks one before use only when it may
have gone stale (``storage.pg_pool``), and ``db.read_statement()`` and
``db.read_connection()`` (a hot path's one read) run without a transaction: one round trip.
``db.write_statements()`` does the same for writes that each stand alone (a hot path's one
write, the outbox's claim): no ``BEGIN`` and ``COMMIT`` round trips around each.

On SQLite the engine runs the standard library's driver on the event loop's
thread (``storage.sqlite_inloop``: no helper thread per statement), whatever
driver the URL names. Nothing may then wait for a lock inside SQLite, so
writers in this process take turns on an ``asyncio.Lock`` before they begin,
and a write lock held by another process is waited for asynchronously.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, make_url, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage import files, local_day, pg_pool, sqlite_inloop

log = logging.getLogger(__name__)

_IMMEDIATE = "fosterbot_sqlite_immediate"


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, issue BEGIN (see _on_begin).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # Short: a wait here blocks the event loop (see storage.sqlite_inloop).
        cur.execute(f"PRAGMA busy_timeout={sqlite_inloop.LOOP_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()
        local_day.register_sqlite(dbapi_conn)

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        dbapi_conn = conn.connection.dbapi_connection
        if conn.get_execution_options().get(_IMMEDIATE):
            sqlite_inloop.begin_immediate(dbapi_conn, busy_timeout_ms / 1000)
        else:
            dbapi_conn.execute("BEGIN")


class Database:
    """The engine and the two session factories."""

    def __init__(self, url: str, *, echo: bool = False, busy_timeout_ms: int = 30_000,
                 pool_clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        # hide_parameters: a statement that fails is logged and raised without its
        # parameters, which are people's words (descriptions, messages, outcomes).
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        engine_url: Any = url
        if url.startswith("sqlite"):
            files.prepare_sqlite(url)
            engine_url = make_url(url).set(drivername=sqlite_inloop.DRIVER_NAME)
            kwargs["connect_args"] = {"timeout": sqlite_inloop.LOOP_BUSY_TIMEOUT_MS / 1000}
            kwargs.update(sqlite_inloop.pool_options(engine_url))
        else:
            kwargs.update(pg_pool.pool_options())
        self.engine: AsyncEngine = create_async_engine(engine_url, **kwargs)
        if not url.startswith("sqlite"):
            # PostgreSQL: kept connections, checked only when they may have gone stale
            # (pool_clock: seconds, for how long one has been idle)
            pg_pool.check_before_use(self.engine, clock=pool_clock)
        # SQLite: this process's writers take turns here, not inside SQLite.
        self._write_turn: asyncio.Lock | None = None
        self._write_owner: asyncio.Task | None = None
        self.dialect = self.engine.dialect.name
        if self.is_sqlite:
            _configure_sqlite(self.engine, busy_timeout_ms)
            writer_engine = self.engine.execution_options(**{_IMMEDIATE: True})
        else:
            writer_engine = self.engine
        self._writer_engine = writer_engine
        # PostgreSQL: each statement its own transaction (no BEGIN, no COMMIT)
        self._autocommit_engine = (self.engine if self.is_sqlite else
                                   self.engine.execution_options(isolation_level="AUTOCOMMIT"))
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False)
        self._one_reader = async_sessionmaker(self._autocommit_engine, expire_on_commit=False)
        self._writer = async_sessionmaker(writer_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only unit of work (rolled back at the end)."""
        # Closing (not rolling back) ends the transaction without expiring the
        # objects read, so callers may use them after the block.
        async with self._reader() as session:
            yield session

    @asynccontextmanager
    async def read_statement(self) -> AsyncIterator[AsyncSession]:
        """Like :meth:`read`, for a hot path's one statement (ORM rows welcome): on
        PostgreSQL without a transaction, as :meth:`read_connection`."""
        async with self._one_reader() as session:
            yield session

    @asynccontextmanager
    async def read_connection(self) -> AsyncIterator[AsyncConnection]:
        """Like :meth:`read`, for a hot path's one read: a bare connection (no ORM session:
        far less Python; ``AsyncSession(bind=conn)`` joins it when ORM rows are wanted).
        On SQLite its transaction is rolled back at the end; on PostgreSQL there is none
        (autocommit): the statement is its own snapshot, as every statement is in a READ
        COMMITTED transaction, without the ``BEGIN`` and ``ROLLBACK`` round trips. So use
        it for one statement, never for a write."""
        async with self._autocommit_engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A unit of work that may write; committed on success, rolled back on error."""
        async with self._turn(), self._writer() as session, session.begin():
            yield session

    @asynccontextmanager
    async def write_connection(self) -> AsyncIterator[AsyncConnection]:
        """Like :meth:`write`, for Core statements only: a connection in a transaction,
        committed on success, with no ORM session around it (a hot path's few statements
        cost far less Python so). ``AsyncSession(bind=conn)`` joins it when ORM work is needed."""
        async with self._turn(), self._writer_engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def write_statements(self) -> AsyncIterator[AsyncConnection]:
        """Like :meth:`write_connection`, for writes that each stand alone. On PostgreSQL
        each statement is its own transaction (autocommit: atomic, an ``executemany``
        included, which asyncpg runs as one), without the ``BEGIN`` and ``COMMIT`` round trips
        around it; on SQLite, where a transaction costs no round trip, the block is one write
        transaction, as :meth:`write_connection`.

        So use it only where every statement is correct on its own: none may rely on the
        row locks or the snapshot of one before it, and a failure after some have run must
        leave nothing half done (issue 18: a third of PostgreSQL's round trips per report
        were ``BEGIN`` and ``COMMIT``)."""
        if self.is_sqlite:
            async with self.write_connection() as conn:
                yield conn
            return
        async with self._autocommit_engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """SQLite: this process's writers one at a time (see the module's docstring)."""
        if not self.is_sqlite:
            yield
            return
        task = asyncio.current_task()
        if task is not None and task is self._write_owner:
            # It would wait for itself for ever (SQLite has one writer).
            raise RuntimeError("db.write() inside db.write() in the same task")
        if self._write_turn is None:
            self._write_turn = asyncio.Lock()
        async with self._write_turn:
            self._write_owner = task
            try:
                yield
            finally:
                self._write_owner = None

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("select 1"))
            return True
        except Exception:  # noqa: BLE001 - health check reports, never raises
            log.exception("database ping failed")
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()


# PostgreSQL's "try the transaction again" answers: a deadlock it broke by rolling this
# transaction back (40P01), a serialization failure (40001). asyncpg reports them as plain
# PostgresErrors, which SQLAlchemy wraps as a DBAPIError, not an OperationalError.
RETRY_SQLSTATES = frozenset({"40P01", "40001"})


def is_unavailable(exc: BaseException) -> bool:
    """Did ``exc`` come from the database being unreachable or busy (a server that is down or
    restarting, a dropped connection, a pool or lock time-out, a deadlock it broke by rolling
    this transaction back), rather than from a bug or a refused statement? Such work can
    simply be tried again later: the update is not confirmed and is handled again."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if type(e).__module__.split(".")[0] in ("telegram", "httpx", "httpcore", "aiohttp"):
            return False  # the network to Telegram, not the database
        if isinstance(e, (sa_exc.OperationalError, sa_exc.InterfaceError,
                          sa_exc.TimeoutError, sa_exc.DisconnectionError,
                          ConnectionError, TimeoutError)):
            return True
        if isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated:
            return True
        if getattr(e, "sqlstate", None) in RETRY_SQLSTATES:
            return True  # PostgreSQL chose this transaction to roll back: try it again
        if isinstance(e, OSError) and not isinstance(e, FileNotFoundError):
            return True
        if type(e).__module__.startswith("asyncpg") and any(
                word in type(e).__name__ for word in ("Connection", "CannotConnect",
                                                       "ShutdownNow", "AdminShutdown")):
            return True
        e = e.__cause__ or e.__context__
    return False
