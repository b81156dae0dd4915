"""A periodic job for the chores: abandoned drafts, retention, old update ids, the managers'
digest.

Every ``engine.sweep_interval_seconds`` (real time; the due times themselves
come from the injected clock and the database): remind or discard abandoned
drafts (``bot/record/drafts.py``), apply the retention periods
(``bot/record/retention.py``), store strangers' counts and forget old windows
(``bot/people/limits.py``), remove relink requests nobody answered in time
(``bot/people/relinking.py``), prune ``processed_updates`` (``bot/runtime/updates.py``),
remove the shared send budget's chat buckets idle for an hour (PostgreSQL,
``storage/send_budget.py``) and send the morning digest when it falls due (``bot/review/digest.py``).
Kept separate from the escalation engine so either can change without the
other; tests call :meth:`Housekeeper.run_once` with a FakeClock.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bot.people import relinking
from bot.record import drafts, retention
from bot.review import digest
from bot.runtime import updates
from storage import send_budget

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)


class Housekeeper:
    def __init__(self, services: "Services", *, interval: float | None = None) -> None:
        self.services = services
        self.interval = interval or services.settings.engine.sweep_interval_seconds
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def run_once(self) -> drafts.SweepResult:
        services = self.services
        now = services.clock.now()
        async with services.db.write() as s:
            result = await drafts.sweep(s, services, now)
        async with services.db.write() as s:
            kept = await retention.run(s, services, now)
        if kept.drafts or kept.records:
            log.info("retention: %d drafts deleted, %d closed records purged",
                     kept.drafts, kept.records)
        async with services.db.write() as s:
            await services.limits.sweep(s, now)
        async with services.db.write() as s:
            lapsed = await relinking.sweep_lapsed(s, now)
        if lapsed:
            log.info("relinking: %d unanswered requests lapsed and removed", lapsed)
            services.wake_dispatcher()
        await updates.prune(services.db, now, services.settings.retention.processed_updates.amount)
        delivery = services.settings.delivery
        idle = await send_budget.forget_idle(
            services.db, refill_seconds=delivery.per_chat_burst / delivery.per_chat_per_second)
        if idle:
            log.info("send budget: %d chat buckets idle for over %s removed", idle,
                     send_budget.IDLE_AFTER)
        await digest.run(services, now)
        if result.reminded or result.discarded:
            log.info("drafts: %d reminded, %d discarded", result.reminded, result.discarded)
            services.wake_dispatcher()
        return result

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._loop(), name="fosterbot-housekeeping")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001 - logged; the next pass tries again
                log.exception("housekeeping pass failed")
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval)
            except asyncio.TimeoutError:
                pass
