"""PostgreSQL's connection pool: connections kept once opened, checked before use only when
they may have gone stale.

Every round trip to the server costs the bot Python on the event loop (a socket write and
read, a future, the driver's and SQLAlchemy's layers), so the pool should add none to a
busy bot's statements. SQLAlchemy's ``pool_pre_ping`` pings on *every* checkout, which the
asyncpg dialect sends as ``BEGIN``, ``;``, ``ROLLBACK``: three round trips before each
transaction, a third of all the bot's round trips in ``bench/report_throughput.py``. And a
pool of 5 with 10 overflow closes every connection beyond the fifth when it is returned,
so a burst of carers opened (and prepared every statement on) two new connections a report.

Instead:

- **kept**: up to :data:`POOL_SIZE` connections (as many as before: 5 + 10 overflow), each
  kept once opened, so its prepared statements are kept too;
- **closed**: a connection the driver already knows is closed (the server restarted or
  ended it: PostgreSQL says so before closing the socket) is replaced before use, with no
  round trip;
- **idle**: one returned more than :data:`PING_IDLE_AFTER` seconds ago is pinged first,
  as ``pool_pre_ping`` did, and the pool's connections opened before are replaced when the
  ping finds it dead;
- **just used**: no check; if the server went away in the last few seconds without a word
  (a lost host or network), the statement fails as a dropped connection
  (``storage.db.is_unavailable``), SQLAlchemy discards the pool's connections, and the
  update is taken again later, as for any outage.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

POOL_SIZE = 15
PING_IDLE_AFTER = 5.0  # seconds

_RETURNED_AT = "fosterbot_returned_at"


def pool_options() -> dict[str, Any]:
    """The engine's pool arguments: :data:`POOL_SIZE` connections, all kept, no pre-ping."""
    return {"pool_size": POOL_SIZE, "max_overflow": 0, "pool_pre_ping": False}


def check_before_use(engine: AsyncEngine, *, idle_after: float = PING_IDLE_AFTER,
                     clock: Callable[[], float] = time.monotonic) -> None:
    """Check each connection as it leaves ``engine``'s pool (see the module's docstring);
    ``clock`` gives seconds (monotonic)."""
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "connect")
    def _opened(_dbapi_conn: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = clock()

    @event.listens_for(pool, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = clock()

    @event.listens_for(pool, "checkout")
    def _before_use(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        driver = record.driver_connection
        if driver is None or driver.is_closed():
            raise sa_exc.DisconnectionError("the server closed this pooled connection")
        if clock() - record.info.get(_RETURNED_AT, float("-inf")) <= idle_after:
            return
        try:
            dbapi_conn.ping()
        except dialect.loaded_dbapi.Error as e:
            if dialect.is_disconnect(e, dbapi_conn, None):
                # as pool_pre_ping does: the server went away, so the connections opened
                # before this one are replaced too
                raise sa_exc.InvalidatePoolError("a pooled connection did not answer") from e
            raise
