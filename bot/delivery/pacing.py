"""Outbound pacing: stay inside Telegram's flood limits so a burst produces no 429s.

Telegram allows about 30 messages a second overall and about one a second per
private chat, with a small burst. The dispatcher keeps under both with two kinds
of token bucket, both on a monotonic clock (real time, not the injected
business clock: pacing is about the wire, not about due times):

* :class:`GlobalGate` — one bucket for the whole bot (``delivery.global_per_second``,
  burst ``delivery.global_burst``). Waiters are served in priority order
  (urgent alerts before routine notices), not in arrival order. The burst is
  kept small on purpose: a bucket of rate 28/s and burst 5 conforms to
  Telegram's 30/s-and-30 even when network jitter bunches requests together by
  most of a second. A 429 that looks global pauses the gate (:meth:`pause`).
* :class:`ChatPacer` — one bucket per chat (``delivery.per_chat_per_second``,
  burst ``delivery.per_chat_burst``), *charged when the send completes* rather
  than when it starts. Telegram charges a message when it arrives, which is
  between the two, so charging at completion keeps our count of recent
  messages at or above Telegram's and the per-chat limit is never crossed even
  with the same rate and burst as Telegram's.

Clock and sleep are injectable so tests can run the pacing on virtual time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

Monotonic = Callable[[], float]
_EPSILON = 1e-9  # float dust: a bucket 0.999999999 full has its token
Sleep = Callable[[float], Awaitable[Any]]


class TokenBucket:
    """``rate`` tokens a second up to ``burst``; starts full."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.at = now

    def _refill(self, now: float) -> None:
        if now > self.at:
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 if one is now)."""
        if now < self.at:  # held (block_until)
            return (self.at - now) + max(0.0, 1 - self.tokens) / self.rate
        self._refill(now)
        return 0.0 if self.tokens >= 1 - _EPSILON else (1 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1

    def block_until(self, until: float) -> None:
        """No token before ``until`` (Telegram told us to wait); one token then."""
        if until > self.at:
            self.tokens = min(self.tokens, 1.0)
            self.at = until

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.burst


class GlobalGate:
    """Grants one send at a time at ``rate`` a second, lowest priority key first."""

    def __init__(self, rate: float, burst: float, *, clock: Monotonic = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.clock = clock
        self.sleep = sleep
        self.bucket = TokenBucket(rate, burst, clock())
        self.paused_until = 0.0
        self._heap: list[tuple[Any, int, asyncio.Future]] = []
        self._seq = itertools.count()
        self._pump_task: asyncio.Task | None = None
        self.granted = 0

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, f in self._heap if not f.done())

    async def acquire(self, key: Any) -> None:
        """Wait for a send slot; ``key`` orders waiters (smaller goes first)."""
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (key, next(self._seq), fut))
        if self._pump_task is None or self._pump_task.done():
            self._pump_task = asyncio.create_task(self._pump(), name="fosterbot-pacing")
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.bucket.tokens += 1  # granted but not used: give the slot back
            fut.cancel()
            raise

    def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (a global flood-control answer)."""
        self.paused_until = max(self.paused_until, self.clock() + seconds)

    async def _pump(self) -> None:
        while True:
            while self._heap and self._heap[0][2].done():
                heapq.heappop(self._heap)
            if not self._heap:
                return
            now = self.clock()
            wait = max(self.bucket.wait_time(now), self.paused_until - now)
            if wait > 0:
                await self.sleep(wait)
                continue
            _, _, fut = heapq.heappop(self._heap)
            if fut.done():
                continue
            self.bucket.take(now)
            self.granted += 1
            fut.set_result(None)
            # Let the granted sender run before granting the next slot.
            await asyncio.sleep(0)


class ChatPacer:
    """Per-chat buckets, charged when a send completes."""

    def __init__(self, rate: float, burst: int, *, clock: Monotonic = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[Any, TokenBucket] = {}

    def _bucket(self, chat: Any, now: float) -> TokenBucket:
        b = self._buckets.get(chat)
        if b is None:
            b = self._buckets[chat] = TokenBucket(self.rate, self.burst, now)
        return b

    def delay(self, chat: Any) -> float:
        """Seconds to wait before the next send to ``chat``."""
        return self._bucket(chat, self.clock()).wait_time(self.clock())

    def charge(self, chat: Any) -> None:
        now = self.clock()
        self._bucket(chat, now).take(now)
        if len(self._buckets) > 10_000:
            self._forget_idle(now)

    def hold(self, chat: Any, seconds: float) -> None:
        now = self.clock()
        self._bucket(chat, now).block_until(now + seconds)

    def _forget_idle(self, now: float) -> None:
        for chat in [c for c, b in self._buckets.items() if b.full(now)]:
            del self._buckets[chat]
