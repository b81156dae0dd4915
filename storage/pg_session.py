"""A PostgreSQL connection of one's own, outside the pool: session advisory locks and LISTEN.

Several bot instances share one PostgreSQL database (``bot/runtime/cluster.py``).
What they agree on lives in session-level advisory locks, which PostgreSQL
holds for a connection until it unlocks them or the connection ends — so a
process that dies (``kill -9``, a lost host) frees its locks as soon as the
server sees its connection close. That needs one connection kept open for as
long as the locks are held, never returned to SQLAlchemy's pool: this module
opens one with asyncpg directly.

Calls on the connection take turns on an ``asyncio.Lock`` (asyncpg runs one
query at a time per connection); each is a sub-millisecond statement.
Notifications (``LISTEN``) arrive on the same connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy import make_url

log = logging.getLogger(__name__)


def advisory_key(kind: str, value: object) -> int:
    """A 64-bit advisory lock key for ``(kind, value)``: one key space for the chats, the
    leadership and the instances, with collisions as unlikely as a 64-bit hash makes them."""
    digest = hashlib.blake2b(f"fosterbot:{kind}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def asyncpg_dsn(url: str) -> str:
    """The SQLAlchemy URL (``postgresql+asyncpg://…``) as a DSN asyncpg understands."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class SessionConnection:
    """One dedicated asyncpg connection (``open`` / ``close``); ``alive`` until it is lost."""

    def __init__(self, url: str, *, connect_timeout: float = 5.0) -> None:
        self._dsn = asyncpg_dsn(url)
        self._timeout = connect_timeout
        self._conn: Any = None
        self._turn = asyncio.Lock()

    @property
    def alive(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def open(self) -> None:
        self._conn = await asyncpg.connect(self._dsn, timeout=self._timeout)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), self._timeout)
            except Exception:  # noqa: BLE001 - closing is best effort; the server frees it
                conn.terminate()

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """The first value of one statement's first row (its own implicit transaction)."""
        if not self.alive:
            raise ConnectionError("the session connection is closed")
        async with self._turn:
            return await self._conn.fetchval(sql, *args, timeout=self._timeout)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        """One statement's first row (its own implicit transaction), or None."""
        if not self.alive:
            raise ConnectionError("the session connection is closed")
        async with self._turn:
            return await self._conn.fetchrow(sql, *args, timeout=self._timeout)

    async def try_lock(self, key: int) -> bool:
        """Take the advisory lock ``key`` for this session if nobody else holds it (re-entrant:
        a second take by this session is counted and needs a second unlock)."""
        return bool(await self.fetchval("SELECT pg_try_advisory_lock($1)", key))

    async def unlock(self, key: int) -> bool:
        return bool(await self.fetchval("SELECT pg_advisory_unlock($1)", key))

    async def held_elsewhere(self, key: int) -> bool:
        """Whether another session holds ``key`` now (a look, not a take)."""
        got = await self.try_lock(key)
        if got:
            await self.unlock(key)
        return not got

    async def ping(self) -> None:
        await self.fetchval("SELECT 1")

    async def notify(self, channel: str, payload: str) -> None:
        await self.fetchval("SELECT pg_notify($1, $2)", channel, payload)

    async def listen(self, channel: str, callback: Callable[[str], Any]) -> None:
        """Call ``callback(payload)`` for each notification on ``channel``."""
        if not self.alive:
            raise ConnectionError("the session connection is closed")

        def received(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            try:
                callback(payload)
            except Exception:  # noqa: BLE001 - a bad notification must not stop listening
                log.exception("notification on %s could not be handled", channel)

        async with self._turn:
            await self._conn.add_listener(channel, received)
