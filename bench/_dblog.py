"""The bot's database work, captured at the driver's door for ``bench/_replay.py``.

``install(engine)`` (``bench/_botproc.py``, when ``FOSTERBOT_BENCH_DBLOG=FILE``) records,
in the order the bot's event loop did them, everything the process asks of the database
driver: each connection opened and closed (the pool's events), each statement as the driver
receives it (SQLAlchemy's ``before_cursor_execute``: the text with its placeholders, the
parameters already converted for the driver, one execute or an executemany) and when it
returned (``after_cursor_execute``, or ``handle_error`` if it failed; on PostgreSQL with the
ids an ``INSERT ... RETURNING id`` got from its sequence), and the transaction
boundaries as the driver sees them:

- SQLite: the ``BEGIN`` / ``BEGIN IMMEDIATE`` that ``storage/db.py`` issues on SQLAlchemy's
  ``begin``, then ``commit()`` or ``rollback()`` on the connection, including the pool's
  rollback when a connection is returned (``reset``);
- PostgreSQL (SQLAlchemy's asyncpg adapter): a transaction is begun by the first statement
  on a connection not in autocommit, with the adapter's isolation settings (recorded on that
  statement), and committed or rolled back only if one was begun, as the adapter does;
- PostgreSQL: the dedicated connections outside the pool (``storage/pg_session.py``: the
  cluster's and the send budget's), statement by statement.

``mark()`` adds a numbered marker (the benchmark's ``stats`` calls, which bound its measured
window); ``dump(path)`` writes the log with :mod:`pickle`. Not recorded: the pool's ping of a
PostgreSQL connection idle for more than 5 s (``storage/pg_pool.py``), ``LISTEN`` (the
cluster's, once at start), and SQLAlchemy's first-connect dialect set-up (before the bot
starts handling anything).

A capture costs the bot CPU, so the benchmark captures in a run of its own whose figures it
does not use (``bench/report_throughput.py``).
"""

from __future__ import annotations

import functools
import pickle
import re
from typing import Any

LOG: list[tuple] = []
_IDS: dict[int, int] = {}  # id(DBAPI connection) -> its number in the log
_NEXT = [0]
_SID = [0]


def _open(dbapi_conn: Any, kind: str) -> int:
    c = _NEXT[0]
    _NEXT[0] += 1
    _IDS[id(dbapi_conn)] = c
    LOG.append(("open", c, kind))
    return c


_KIND = ["sqlite"]


def _num(dbapi_conn: Any) -> int:
    c = _IDS.get(id(dbapi_conn))
    return _open(dbapi_conn, _KIND[0]) if c is None else c


_RETURNING_ID = re.compile(r"^\s*INSERT INTO (\w+)\b.*\bRETURNING \1\.id\b", re.S)


def _serial_ids(statement: str, cursor: Any) -> tuple[str, tuple[int, ...]] | None:
    """PostgreSQL: for an ``INSERT ... RETURNING <table>.id``, the table and the ids its
    sequence gave (read from the adapter's buffered rows, not consumed), so that the replay
    can have the sequence give the same (``bench/_replay.py``); else None."""
    m = _RETURNING_ID.match(statement)
    rows = getattr(cursor, "_rows", None)
    if m is None or not rows:
        return None
    return m.group(1), tuple(row[0] for row in rows)


def mark() -> None:
    LOG.append(("mark", sum(1 for e in LOG if e[0] == "mark") + 1))


def dump(path: str) -> None:
    with open(path, "wb") as f:
        pickle.dump(LOG, f, protocol=pickle.HIGHEST_PROTOCOL)


def install(engine: Any) -> None:
    """Record ``engine``'s (an ``AsyncEngine``) driver calls, and on PostgreSQL those of the
    process's dedicated connections."""
    from sqlalchemy import event
    from sqlalchemy.engine.interfaces import ExecuteStyle

    _MANY = ExecuteStyle.EXECUTEMANY

    sync = engine.sync_engine
    sqlite = sync.dialect.name == "sqlite"
    kind = _KIND[0] = "sqlite" if sqlite else "pg"

    def transaction_of(dbapi_conn: Any) -> Any:
        """PostgreSQL: what the adapter begins before this statement (None: nothing)."""
        if sqlite or dbapi_conn._transaction is not None or dbapi_conn.autocommit:
            return None
        return (dbapi_conn.isolation_level, dbapi_conn.readonly, dbapi_conn.deferrable)

    def in_transaction(dbapi_conn: Any) -> bool:
        return sqlite or dbapi_conn._transaction is not None

    @event.listens_for(sync, "connect")
    def _connected(dbapi_conn, _record) -> None:
        _open(dbapi_conn, kind)

    @event.listens_for(sync, "close")
    def _closed(dbapi_conn, _record) -> None:
        if id(dbapi_conn) in _IDS:
            LOG.append(("close", _IDS.pop(id(dbapi_conn))))

    @event.listens_for(sync, "close_detached")
    def _closed_detached(dbapi_conn) -> None:
        _closed(dbapi_conn, None)

    @event.listens_for(sync, "reset")
    def _reset(dbapi_conn, _record, state) -> None:
        if (state.asyncio_safe and not state.transaction_was_reset
                and in_transaction(dbapi_conn)):
            LOG.append(("rollback", _num(dbapi_conn)))

    @event.listens_for(sync, "begin")
    def _begin(conn) -> None:
        if sqlite:
            immediate = bool(conn.get_execution_options().get("fosterbot_sqlite_immediate"))
            LOG.append(("begin", _num(conn.connection.dbapi_connection), immediate))

    @event.listens_for(sync, "commit")
    def _commit(conn) -> None:
        dbapi_conn = conn.connection.dbapi_connection
        if in_transaction(dbapi_conn):
            LOG.append(("commit", _num(dbapi_conn)))

    @event.listens_for(sync, "rollback")
    def _rollback(conn) -> None:
        dbapi_conn = conn.connection.dbapi_connection
        if in_transaction(dbapi_conn):
            LOG.append(("rollback", _num(dbapi_conn)))

    @event.listens_for(sync, "before_cursor_execute")
    def _statement(conn, _cursor, statement, parameters, context, executemany) -> None:
        dbapi_conn = conn.connection.dbapi_connection
        _SID[0] += 1
        sid = _SID[0]
        if context is not None:
            context._fosterbot_sid = sid
        # an INSERT of many rows in batches ("insertmanyvalues") is one execute per batch
        many = executemany and context is not None and context.execute_style is _MANY
        params = [tuple(p) for p in parameters] if many else tuple(parameters or ())
        LOG.append(("stmt", sid, _num(dbapi_conn), statement, params, many,
                    transaction_of(dbapi_conn)))

    @event.listens_for(sync, "after_cursor_execute")
    def _returned(_conn, cursor, statement, _parameters, context, _executemany) -> None:
        LOG.append(("end", getattr(context, "_fosterbot_sid", _SID[0]), False,
                    None if sqlite else _serial_ids(statement, cursor)))

    @event.listens_for(sync, "handle_error")
    def _failed(ctx) -> None:
        sid = getattr(ctx.execution_context, "_fosterbot_sid", None)
        if sid is not None:
            LOG.append(("end", sid, True))

    if not sqlite:
        _install_sessions()


class _Recorded:
    """A dedicated asyncpg connection (``storage/pg_session.py``) whose statements are logged."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._c = _open(conn, "session")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def _run(self, method: str, sql: str, *args: Any, **kw: Any) -> Any:
        _SID[0] += 1
        sid = _SID[0]
        LOG.append(("stmt", sid, self._c, sql, tuple(args), False, None))
        try:
            result = await getattr(self._conn, method)(sql, *args, **kw)
        except BaseException:
            LOG.append(("end", sid, True))
            raise
        LOG.append(("end", sid, False))
        return result

    async def fetchval(self, sql: str, *args: Any, **kw: Any) -> Any:
        return await self._run("fetchval", sql, *args, **kw)

    async def fetchrow(self, sql: str, *args: Any, **kw: Any) -> Any:
        return await self._run("fetchrow", sql, *args, **kw)

    async def close(self, *args: Any, **kw: Any) -> Any:
        LOG.append(("close", self._c))
        return await self._conn.close(*args, **kw)

    def terminate(self) -> None:
        LOG.append(("close", self._c))
        self._conn.terminate()


def _install_sessions() -> None:
    from storage import pg_session

    cls = pg_session.SessionConnection
    original = cls.open

    @functools.wraps(original)
    async def open_recorded(self) -> None:
        await original(self)
        self._conn = _Recorded(self._conn)

    cls.open = open_recorded
