"""PostgreSQL round trips of this process, counted at the driver (asyncpg) by kind.

``install()`` wraps the few asyncpg methods through which every message to the server goes,
so a benchmark can say how many round trips a report costs and of which kind, a figure that
does not depend on the machine's load (unlike CPU time):

- ``BEGIN``, ``COMMIT``, ``ROLLBACK``, ``LISTEN`` …: a simple query (no parameters);
- ``parse``: a statement prepared on the server (a miss of SQLAlchemy's per-connection
  prepared-statement cache, or of asyncpg's own cache for ``fetch``/``fetchrow``);
- ``close statement``: a prepared statement dropped from a cache and closed on the server;
- ``execute``: a prepared statement bound and run (SQLAlchemy's statements, the pool's
  ``;`` ping, the dedicated connection's calls);
- ``executemany``: one batch;
- ``connect``: a new connection (several round trips: start-up, authentication, and for the
  pool's connections SQLAlchemy's set-up of the JSON codecs).

``counts()`` is a copy of the totals so far. Used by ``bench/_botproc.py`` when asked
(``FOSTERBOT_BENCH_PG_TRIPS=1``); nothing in the bot imports it.
"""

from __future__ import annotations

import functools
from collections import Counter

_COUNTS: Counter[str] = Counter()


def counts() -> dict[str, int]:
    return dict(_COUNTS)


def _wrap(owner: type, name: str, kind) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    async def counted(self, *args, **kwargs):
        label = kind(self, *args, **kwargs)
        if label:
            _COUNTS[label] += 1
        return await original(self, *args, **kwargs)

    setattr(owner, name, counted)


def _simple(_conn, query: str, *args, **_kw) -> str | None:
    if args:
        return None  # with parameters: counted by _execute
    return " ".join(query.rstrip(";").split()[:1]).upper() or "empty query"


def _parse(conn, query, _timeout, *, use_cache=True, record_class=None,
           ignore_custom_codec=False, **_kw) -> str | None:
    if use_cache:
        rc = record_class or conn._protocol.get_record_class()
        if conn._stmt_cache.get((query, rc, ignore_custom_codec)) is not None:
            return None
    return "parse"


def _closes(conn) -> str | None:
    # one round trip per statement closed; counted here as one label per call
    n = len(conn._stmts_to_close)
    if n:
        _COUNTS["close statement"] += n - 1
        return "close statement"
    return None


def install() -> None:
    import asyncpg
    from asyncpg import connection, prepared_stmt

    connect = asyncpg.connect

    @functools.wraps(connect)
    async def counted_connect(*args, **kwargs):
        _COUNTS["connect"] += 1
        return await connect(*args, **kwargs)

    asyncpg.connect = counted_connect

    conn = connection.Connection
    _wrap(conn, "execute", _simple)
    _wrap(conn, "_execute", lambda *a, **k: "execute")
    _wrap(conn, "_executemany", lambda *a, **k: "executemany")
    _wrap(conn, "_get_statement", _parse)
    _wrap(conn, "_cleanup_stmts", _closes)
    stmt = prepared_stmt.PreparedStatement
    _wrap(stmt, "_PreparedStatement__bind_execute", lambda *a, **k: "execute")
    _wrap(stmt, "executemany", lambda *a, **k: "executemany")
