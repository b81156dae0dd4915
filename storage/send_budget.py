"""Telegram's flood limits for the whole service, kept in PostgreSQL (``send_buckets``).

Several instances send to Telegram at once: the leader's outbox dispatcher and
every instance's handlers (replies, edits, files). Each process paces itself
in memory (``bot/delivery/pacing.py``); this is the second gate that makes the
limits hold for all of them together: before a message goes out, one call to
the server's ``fosterbot_reserve_send`` (migration ``0022_send_budget_reservation``)
books the earliest moment at which the chat's bucket and the global bucket both
have a token, charges both as of that moment, and says how long until it; the
caller sleeps that long and sends. A send never asks twice, except when the
chat's own slot lies well beyond the global one (another instance sent to the
chat meanwhile): then nothing is booked, so a busy chat does not hold the whole
service's sends behind it, and the caller asks again when the chat has a token.

One round trip a send, on a connection of this process's own (``storage/pg_session.py``,
outside the pool: no pre-ping, no transaction opened from the client), so the
rows are locked only while the server runs the function. It was a transaction
of four round trips through the pool, holding the global row across them: under
a burst the leader spent about a fifth of its time there (bench/RESULTS.md).

Time is the database server's (``clock_timestamp()`` evaluated under the row
lock), so instances on hosts whose clocks differ still agree. A token is taken
for the moment a send starts, while Telegram counts a message when it arrives: the
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

_RESERVE = "SELECT wait, booked FROM fosterbot_reserve_send($1, $2, $3, $4, $5, true)"
_FORGET = text("DELETE FROM send_buckets WHERE key <> 'global' "
               "AND at < clock_timestamp() - make_interval(secs => :seconds)")
IDLE_AFTER = timedelta(hours=1)  # a chat bucket nobody drew on for this long is removed


class SendBudget:
    """``reserve(chat)``: ``(wait, True)`` when a slot for a message to ``chat`` is booked
    ``wait`` seconds from now (0: now) — its token and a global one are taken for that
    moment; ``(wait, False)`` when nothing was booked because the chat itself has no token
    for ``wait`` seconds (ask again then). ``close()`` when done (its connection)."""

    def __init__(self, db: Database, *, global_per_second: float, global_burst: int,
                 per_chat_per_second: float, per_chat_burst: int) -> None:
        self.db = db
        self._global_rate = float(global_per_second)
        self._global_burst = float(max(1, global_burst))
        self.chat_rate = float(per_chat_per_second)
        self.chat_burst = float(max(1, per_chat_burst - 1))  # see the module's docstring
        self._conn = SessionConnection(db.url)
        self._opening = asyncio.Lock()
        self.takes = 0  # calls made (one statement each)
        self.waits = 0  # calls that booked a slot ahead of now, or booked nothing
        self.refusals = 0  # of them, booked nothing (the chat was busy elsewhere): asked again

    @property
    def refill_seconds(self) -> float:
        """How long an emptied chat bucket takes to be full again."""
        return self.chat_burst / self.chat_rate

    async def reserve(self, chat: object) -> tuple[float, bool]:
        if not self._conn.alive:
            async with self._opening:
                if not self._conn.alive:
                    await self._conn.open()
        self.takes += 1
        try:
            row = await self._conn.fetchrow(
                _RESERVE, f"chat:{chat}"[:64], self.chat_rate, self.chat_burst,
                self._global_rate, self._global_burst)
        except Exception:
            if not self._conn.alive:
                await self._conn.close()
            raise
        wait, booked = max(0.0, float(row["wait"])), bool(row["booked"])
        if wait > 0 or not booked:
            self.waits += 1
        if not booked:
            self.refusals += 1
        return wait, booked

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
