"""Long polling that confirms updates to Telegram only after they were handled.

python-telegram-bot's ``Updater`` confirms a batch of updates (by asking for
the next offset) as soon as it has *queued* them, before any handler ran: a
crash at that moment loses the batch, and with it whatever a carer had just
typed. This loop asks for the next offset only after every update of the
batch was handled (different chats at once through the application's
per-chat update processor, each chat in order). After a crash Telegram
delivers the unconfirmed updates again; those already handled are skipped by
``processed_updates`` (``bot/updates.py``).

Stopping (SIGTERM) interrupts the long poll at once but lets the batch being
handled finish; the last batch is confirmed on the way out.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram.error import Conflict, InvalidToken, NetworkError, TelegramError
from telegram.ext import Application

log = logging.getLogger(__name__)


class Poller:
    def __init__(self, app: Application, *, timeout: int = 10,
                 allowed_updates: list[str] | None = None) -> None:
        self.app = app
        self.timeout = timeout
        self.allowed_updates = allowed_updates
        self.offset: int | None = None
        self.handled = 0
        self._confirmed: int | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        await self.app.bot.delete_webhook(drop_pending_updates=False)
        self._stop.clear()
        self._task = asyncio.create_task(self._loop(), name="fosterbot-polling")

    async def stop(self) -> None:
        """Stop taking updates; the batch in hand is finished and confirmed."""
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.offset is not None and self.offset != self._confirmed:
            try:  # confirm the last batch (the update this may return is not handled)
                await self.app.bot.get_updates(offset=self.offset, timeout=0, limit=1)
            except TelegramError:
                log.info("could not confirm the last updates; they will be skipped as seen")

    async def _interruptible(self, aw: Any) -> Any:
        task = asyncio.ensure_future(aw)
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            done, _ = await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if task in done:
            return task.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise asyncio.CancelledError()

    async def _loop(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                batch = await self._interruptible(self.app.bot.get_updates(
                    offset=self.offset, timeout=self.timeout,
                    allowed_updates=self.allowed_updates,
                ))
            except asyncio.CancelledError:
                return
            except InvalidToken:
                log.critical("Telegram refused the bot token; polling stopped")
                return
            except (NetworkError, Conflict) as exc:
                log.warning("polling failed (%s); retrying in %gs", exc, backoff)
                try:
                    await self._interruptible(asyncio.sleep(backoff))
                except asyncio.CancelledError:
                    return
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            if self.offset is not None:
                self._confirmed = self.offset
            if not batch:
                continue
            await self._handle(batch)
            self.offset = batch[-1].update_id + 1

    async def _handle(self, batch: list) -> None:
        processor = self.app.update_processor
        tasks = [
            asyncio.create_task(processor.process_update(u, self.app.process_update(u)),
                                name=f"fosterbot-update-{u.update_id}")
            for u in batch
        ]
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, BaseException):
                log.error("handling an update failed", exc_info=result)
        self.handled += len(batch)
