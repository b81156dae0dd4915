"""Time the test drives, for the pacing (``bot/delivery/pacing.py`` ``Pacing``'s clock and sleep).

It runs with real time, so the pacing's short waits (fractions of a second between sends)
pass as they do in production; and the test can move it on at once (:meth:`advance`), so a
long wait Telegram asks for ("retry after 40") passes when the test says so, not in real
time. :meth:`sleeping` lets the test wait until the bot is waiting.
"""

from __future__ import annotations

import asyncio
import time


class DrivenTime:
    def __init__(self) -> None:
        self.offset = 0.0
        self._moved = asyncio.Event()
        self._slept = asyncio.Event()
        self._ends: list[float] = []  # when each sleep in progress ends
        self.slept: list[float] = []  # every sleep asked for, in order

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    async def sleep(self, seconds: float) -> None:
        end = self() + seconds
        self.slept.append(seconds)
        self._ends.append(end)
        self._slept.set()
        try:
            while (left := end - self()) > 0:
                moved = self._moved
                try:
                    await asyncio.wait_for(moved.wait(), timeout=left)
                except TimeoutError:
                    pass
        finally:
            self._ends.remove(end)

    def advance(self, seconds: float) -> None:
        """Move time on by ``seconds`` now; sleeps that end by then are over."""
        self.offset += seconds
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()

    async def sleeping(self, longer_than: float, timeout: float = 10.0) -> float:
        """Wait (real time, at most ``timeout``) until something sleeps with more than
        ``longer_than`` seconds left; how long it has left."""
        async def waiting() -> float:
            while True:
                left = max((end - self() for end in self._ends), default=0.0)
                if left > longer_than:
                    return left
                self._slept.clear()
                await self._slept.wait()
        return await asyncio.wait_for(waiting(), timeout)
