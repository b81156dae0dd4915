"""Process updates from different chats at once, each chat strictly in order.

python-telegram-bot's default handles one update at a time, so one slow
handler stalls every user; ``concurrent_updates=True`` would let two updates
from the same person race (a tap on Submit overtaking the text before it).
This processor runs up to ``max_concurrent_updates`` at once but never two of
the same chat together. Each update is handled inside a log scope naming it
(``bot/logs.py``) and is counted, with its latency, in ``bot/metrics.py``.

Several instances (webhook mode on PostgreSQL): ``shared`` is set to the
cluster's chat lock (``bot/runtime/cluster.py``), taken after this process's own
lock, so two instances never handle one chat at once either, and a redelivered
update waits for the first delivery and then finds it recorded as handled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot import logs
from bot.delivery import handoff
from bot.delivery.pacing import handling_chat
from bot.metrics import Metrics


class PerChatUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = 64, *,
                 metrics: Metrics | None = None) -> None:
        super().__init__(max_concurrent_updates)
        self.metrics = metrics or Metrics()
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}
        # The chat's turn across instances (``Cluster.chat``), when several may share the work.
        self.shared: Callable[[int], AbstractAsyncContextManager[None]] | None = None

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = 0
        chat = None  # where a dropped button answer's words go (bot/delivery/pacing.py)
        if isinstance(update, Update):
            if update.effective_chat is not None:
                key = chat = update.effective_chat.id
            elif update.effective_user is not None:
                key = update.effective_user.id
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                with logs.scope(update_id=getattr(update, "update_id", None)), \
                        self.metrics.handling(update), handling_chat(chat), \
                        handoff.answering(chat):
                    if self.shared is None:
                        await coroutine
                    else:
                        async with self.shared(key):
                            await coroutine
        finally:
            self._waiting[key] -= 1
            if self._waiting[key] == 0:
                self._waiting.pop(key, None)
                self._locks.pop(key, None)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
