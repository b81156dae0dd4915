"""Telegram's flood limits for the whole service, kept in PostgreSQL (``send_buckets``).

Several instances send to Telegram at once: the leader's outbox dispatcher and
every instance's handlers (replies, edits, files). Each process paces itself
in memory (``bot/delivery/pacing.py``); this is the second gate that makes the
limits hold for all of them together: before a message goes out, one call to
the server's ``fosterbot_take_send`` (migration ``0021_send_budget_take_function``)
takes a token from the chat's bucket and one from the global bucket, or takes
neither and says how long to wait.

One round trip a send, on a connection of this process's own (``storage/pg_session.py``,
outside the pool: no pre-ping, no transaction opened from the client), so the
rows are locked only while the server runs the function. It was a transaction
of four round trips through the pool, holding the global row across them: under
a burst the leader spent about a fifth of its time there (bench/RESULTS.md).

Time is the database server's (``clock_timestamp()`` evaluated under the row
lock), so instances on hosts whose clocks differ still agree. A token is taken
when a send starts, while Telegram counts a message when it arrives: the
per-chat burst here is one less than configured, which absorbs up to one
second of network delay (a burst of B at rate r conforms to Telegram's
B + 1 as long as no request takes longer than 1 / r to arrive).

Idle rows are removed by the housekeeping (:func:`forget_idle`): a bucket idle
for longer than it takes to refill is full, exactly as a missing row is taken to be.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import text

from storage.db import Database
from storage.pg_session import SessionConnection

_TAKE = "SELECT fosterbot_take_send($1, $2, $3, $4, $5)"
_FORGET = text("DELETE FROM send_buckets WHERE key <> 'global' "
               "AND at < clock_timestamp() - make_interval(secs => :seconds)")
IDLE_AFTER = timedelta(hours=1)  # a chat bucket nobody drew on for this long is removed


class SendBudget:
    """``take(chat)``: 0 when a message may go to ``chat`` now (its token and a global one are
    taken), else the seconds to wait before asking again (nothing taken). ``close()`` when
    done (its connection)."""

    def __init__(self, db: Database, *, global_per_second: float, global_burst: int,
                 per_chat_per_second: float, per_chat_burst: int) -> None:
        self.db = db
        self._global_rate = float(global_per_second)
        self._global_burst = float(max(1, global_burst))
        self._chat_rate = float(per_chat_per_second)
        self._chat_burst = float(max(1, per_chat_burst - 1))
        self._conn = SessionConnection(db.url)
        self._opening = asyncio.Lock()
        self.waits = 0  # times a send had to wait for another instance's sends

    @property
    def refill_seconds(self) -> float:
        """How long an emptied chat bucket takes to be full again."""
        return self._chat_burst / self._chat_rate

    async def take(self, chat: object) -> float:
        if not self._conn.alive:
            async with self._opening:
                if not self._conn.alive:
                    await self._conn.open()
        try:
            wait = float(await self._conn.fetchval(
                _TAKE, f"chat:{chat}"[:64], self._chat_rate, self._chat_burst,
                self._global_rate, self._global_burst))
        except Exception:
            if not self._conn.alive:
                await self._conn.close()
            raise
        if wait > 0:
            self.waits += 1
        return wait

    async def close(self) -> None:
        await self._conn.close()


async def forget_idle(db: Database, *, idle_for: timedelta = IDLE_AFTER,
                      refill_seconds: float = 0.0) -> int:
    """Remove the chat buckets nobody drew on for ``idle_for`` by the server's clock (at least
    ``refill_seconds``, the time an emptied bucket takes to be full: each removed one is
    full, as a missing row is taken to be, so no send is let through early); the global one
    stays. Returns how many went. PostgreSQL only (SQLite has no shared budget): 0 there."""
    if not db.is_postgres:
        return 0
    seconds = max(idle_for.total_seconds(), refill_seconds)
    async with db.write() as s:
        result = await s.execute(_FORGET, {"seconds": seconds})
    return result.rowcount or 0
