"""Telegram's flood limits for the whole service, kept in PostgreSQL (``send_buckets``).

Several instances send to Telegram at once: the leader's outbox dispatcher and
every instance's handlers (replies, edits, files). Each process paces itself
in memory (``bot/delivery/pacing.py``); this is the second gate that makes the
limits hold for all of them together: before a message goes out, one
transaction takes a token from the chat's bucket and one from the global
bucket, or takes neither and says how long to wait.

Time is the database server's (``clock_timestamp()`` evaluated under the row
lock), so instances on hosts whose clocks differ still agree. A token is taken
when a send starts, while Telegram counts a message when it arrives: the
per-chat burst here is one less than configured, which absorbs up to one
second of network delay (a burst of B at rate r conforms to Telegram's
B + 1 as long as no request takes longer than 1 / r to arrive).
"""

from __future__ import annotations

from sqlalchemy import text

from storage.db import Database

_TAKE = text("""
INSERT INTO send_buckets AS b (key, tokens, at) VALUES (:key, :burst - 1, clock_timestamp())
ON CONFLICT (key) DO UPDATE SET
  tokens = LEAST(:burst, b.tokens
                 + GREATEST(0, EXTRACT(EPOCH FROM clock_timestamp() - b.at)) * :rate) - 1,
  at = clock_timestamp()
WHERE LEAST(:burst, b.tokens
            + GREATEST(0, EXTRACT(EPOCH FROM clock_timestamp() - b.at)) * :rate) >= 0.999999
RETURNING tokens
""")

_WAIT = text("""
SELECT GREATEST(0.001, (1 - LEAST(:burst, tokens
        + GREATEST(0, EXTRACT(EPOCH FROM clock_timestamp() - at)) * :rate)) / :rate)
FROM send_buckets WHERE key = :key
""")


class SendBudget:
    """``take(chat)``: 0 when a message may go to ``chat`` now (its token and a global one are
    taken), else the seconds to wait before asking again (nothing taken)."""

    def __init__(self, db: Database, *, global_per_second: float, global_burst: int,
                 per_chat_per_second: float, per_chat_burst: int) -> None:
        self.db = db
        self._global = {"key": "global", "rate": float(global_per_second),
                        "burst": float(max(1, global_burst))}
        self._chat_rate = float(per_chat_per_second)
        self._chat_burst = float(max(1, per_chat_burst - 1))
        self.waits = 0  # times a send had to wait for another instance's sends

    async def take(self, chat: object) -> float:
        chat_bucket = {"key": f"chat:{chat}"[:64], "rate": self._chat_rate,
                       "burst": self._chat_burst}
        try:
            async with self.db.write() as s:
                for bucket in (chat_bucket, self._global):
                    if (await s.execute(_TAKE, bucket)).first() is None:
                        # Rolled back: a chat token already taken is given back.
                        raise _Wait(float((await s.execute(_WAIT, bucket)).scalar_one()))
        except _Wait as wait:
            self.waits += 1
            return wait.seconds
        return 0.0


class _Wait(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds
