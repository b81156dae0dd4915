"""SQLite for the async engine, run on the event loop's own thread.

SQLAlchemy's stock async SQLite driver, aiosqlite, runs every call on a
helper thread and hands the result back through a queue and a loop wake-up:
about four thread round trips per statement, and the two threads contend for
the GIL. For the bot's statements (index lookups and single-row writes on a
local file, microseconds each; WAL with ``synchronous=NORMAL``, so a commit
does not wait for the disk) those hand-offs cost more than the work: the
report benchmark (``bench/report_throughput.py``) spent a third of the
database CPU on them.

This dialect is SQLAlchemy's own ``pysqlite`` dialect (the standard library's
``sqlite3``) declared usable by the asyncio extension. Under ``AsyncSession``
each statement then runs synchronously inside SQLAlchemy's greenlet, on the
loop's thread, with no hand-off. What that costs, and how ``storage.db``
pays for it:

- *A statement blocks the loop while it runs.* Fine for the hot path; long
  reads (exports) yield to the loop between partitions themselves.
- *A lock wait would block the loop.* So nothing may wait inside SQLite: the
  connection's busy timeout is short (``LOOP_BUSY_TIMEOUT_MS``), writers in
  this process queue on an ``asyncio.Lock`` before ``BEGIN IMMEDIATE`` (see
  ``storage.db.Database.write``), and a ``BEGIN IMMEDIATE`` refused because
  another *process* (a ``fosterbot`` command line) holds the write lock is
  retried with an ``asyncio.sleep`` between attempts, up to the database's
  configured busy timeout. Readers never wait for writers under WAL.

Selected by ``storage.db.Database`` for every ``sqlite`` URL; migrations
(Alembic, before the bot starts) keep using the URL as given.

The pool (:func:`pool_options`) keeps every connection it opens, up to
:data:`POOL_SIZE` (the most it ever had open at once before: 5 kept + 10
overflow). With 5 kept, a burst of carers opened a new connection, with its
PRAGMAs and SQL function, for most reports and closed it again when returned.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import deque
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.base import SQLiteExecutionContext
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.util import await_only

DRIVER_NAME = "sqlite+fosterbot_inloop"

# How long one statement may block the loop waiting for a lock held by another
# process before SQLite gives up (then BEGIN IMMEDIATE is retried asynchronously).
LOOP_BUSY_TIMEOUT_MS = 20

# Connections the pool keeps once opened, and the most it opens (no overflow beyond).
POOL_SIZE = 15

# Pauses between attempts at BEGIN IMMEDIATE while another process writes.
_RETRY_FIRST_S = 0.005
_RETRY_MAX_S = 0.1


class BufferedCursor:
    """A ``sqlite3`` cursor that reads every row at ``execute`` and so ends the statement.

    A SELECT stepped only part way holds its read snapshot open; a pooled
    connection would then keep reading that old snapshot in its next
    transaction. aiosqlite's adapter buffers for the same reason. Streaming
    reads (``stream_results``/``yield_per``) use a plain cursor instead, which
    their ``close()`` ends.
    """

    __slots__ = ("_cursor", "_rows", "description", "rowcount", "lastrowid", "arraysize")

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor
        self._rows: deque = deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    def _buffer(self) -> None:
        cur = self._cursor
        self.description = cur.description
        self._rows = deque(cur.fetchall()) if cur.description else deque()
        self.rowcount = cur.rowcount
        self.lastrowid = cur.lastrowid

    def execute(self, operation: str, parameters: Any = ()) -> BufferedCursor:
        self._cursor.execute(operation, parameters)
        self._buffer()
        return self

    def executemany(self, operation: str, seq_of_parameters: Any) -> BufferedCursor:
        self._cursor.executemany(operation, seq_of_parameters)
        self._buffer()
        return self

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list:
        n = self.arraysize if size is None else size
        rows = self._rows
        return [rows.popleft() for _ in range(min(n, len(rows)))]

    def fetchall(self) -> list:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def __iter__(self) -> Any:
        while self._rows:
            yield self._rows.popleft()

    def close(self) -> None:
        self._rows.clear()
        self._cursor.close()

    async def _async_soft_close(self) -> None:
        # Called by SQLAlchemy's asyncio results; the rows are already buffered.
        return None

    def setinputsizes(self, *_args: Any) -> None:
        pass

    def setoutputsize(self, *_args: Any) -> None:
        pass


async def _nothing() -> None:
    return None


class InLoopExecutionContext(SQLiteExecutionContext):
    def pre_exec(self) -> None:
        # AsyncConnection.execute() insists that the driver awaited something
        # (AwaitRequired otherwise). A coroutine that returns at once satisfies
        # it for the price of two greenlet switches; the loop is not entered.
        await_only(_nothing())
        super().pre_exec()

    def create_default_cursor(self) -> Any:
        return BufferedCursor(self._dbapi_connection.cursor())

    def create_server_side_cursor(self) -> Any:
        return self._dbapi_connection.cursor()


class InLoopSQLiteDialect(SQLiteDialect_pysqlite):
    """``pysqlite`` marked async-capable: calls run in SQLAlchemy's greenlet, no thread."""

    driver = "fosterbot_inloop"
    is_async = True
    supports_statement_cache = True
    supports_server_side_cursors = True
    execution_ctx_cls = InLoopExecutionContext

    @classmethod
    def get_pool_class(cls, url: Any) -> type[pool.Pool]:
        if cls._is_url_file_db(url):
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool


def pool_options(url: Any) -> dict[str, Any]:
    """The engine's pool arguments for ``url`` (this dialect's): a file database keeps up to
    :data:`POOL_SIZE` connections once opened; an in-memory one has its single connection."""
    if InLoopSQLiteDialect._is_url_file_db(url):
        return {"pool_size": POOL_SIZE, "max_overflow": 0}
    return {}


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def begin_immediate(dbapi_conn: sqlite3.Connection, total_timeout_s: float) -> None:
    """``BEGIN IMMEDIATE``, waiting (without blocking the loop) for another process's write.

    Called from SQLAlchemy's ``begin`` event, i.e. inside its greenlet, where
    ``await_only`` suspends this unit of work and lets the loop run.
    """
    deadline = time.monotonic() + total_timeout_s
    pause = _RETRY_FIRST_S
    while True:
        try:
            dbapi_conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not _is_locked(exc) or time.monotonic() + pause > deadline:
                # As SQLAlchemy reports any other statement's failure.
                raise sa_exc.OperationalError("BEGIN IMMEDIATE", (), exc) from exc
        await_only(asyncio.sleep(pause))
        pause = min(pause * 2, _RETRY_MAX_S)


registry.register("sqlite.fosterbot_inloop", __name__, "InLoopSQLiteDialect")
