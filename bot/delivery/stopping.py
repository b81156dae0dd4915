"""Waiting for something unless a stop is asked for first (shared by the long-running loops)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


async def unless_stopped(stop: asyncio.Event, aw: Awaitable[Any],
                         interrupted: type[BaseException]) -> Any:
    """Await ``aw`` and return its result, unless ``stop`` is set first: then cancel
    ``aw``, wait for it to wind down, and raise ``interrupted``."""
    task = asyncio.ensure_future(aw)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if task in done:
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    raise interrupted()
