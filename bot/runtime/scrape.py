"""What ``GET /metrics`` reads from the database at scrape time, then renders.

The outbox backlog and the age of its oldest pending delivery are two indexed
aggregates over ``deliveries`` (``ix_deliveries_due`` starts with ``status``), and
the watchdog's state is the escalation engine's own health check
(``EscalationEngine.health``: steps late beyond the margin, a sweep missed).
A scrape costs four small read statements and never writes. When the database
does not answer, ``fosterbot_database_up`` is 0 and the other figures keep
their last values; the endpoint still answers, so Prometheus sees the outage.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from bot.runtime.health import aware
from storage.models import Delivery

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)


async def refresh(services: Services) -> None:
    """Set the gauges that live in the database from what it holds now."""
    m, now = services.metrics, services.clock.now()
    try:
        async with services.db.read() as s:
            pending, oldest = (await s.execute(
                select(func.count(), func.min(Delivery.created_at))
                .where(Delivery.status == "pending"))).one()
            due = (await s.execute(
                select(func.count()).where(Delivery.status == "pending",
                                           Delivery.next_attempt_at <= now))).scalar_one()
    except Exception:  # noqa: BLE001 - a scrape reports the outage, never fails on it
        log.warning("metrics: the database did not answer", exc_info=True)
        m.database_up.set(0)
        return
    m.database_up.set(1)
    m.backlog.set(pending)
    m.backlog_due.set(due)
    oldest = aware(oldest)
    m.oldest_pending.set(max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    engine = services.engine
    if engine is None:
        return
    try:
        health = await engine.health()
    except Exception:  # noqa: BLE001 - as above
        log.warning("metrics: the engine's health check failed", exc_info=True)
        m.watchdog_ok.set(0)
        return
    m.watchdog_ok.set(1 if health.get("ok") else 0)
    m.overdue_steps.set(health.get("overdue_steps", 0))
    m.oldest_overdue.set(health.get("oldest_late_seconds", 0.0))


async def render(services: Services) -> bytes:
    await refresh(services)
    return services.metrics.render()
