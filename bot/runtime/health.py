"""What ``GET /healthz`` reports: database, outbox backlog, oldest pending delivery, engine.

Flat JSON; HTTP 200 when ``ok``, else 503. ``ok`` is false when the database
does not answer, when the escalation engine's watchdog finds steps late by more
than ``engine.late_margin`` or the engine has not swept within three sweep
intervals (``engine.ok``), when the dispatcher is stuck — a delivery due for
longer than ``engine.late_margin`` and not sent (``delivery.ok``) — or when the
bot polls for updates and its polling loop has stopped (Telegram refused the
token: the bot would otherwise look healthy while it hears nothing)::

    {"ok": true, "database": "ok", "mode": "polling", "polling": "running",
     "delivery": {"ok": true, "due": 0, "oldest_due_seconds": null, "pending": 3,
                  "oldest_pending_seconds": 1.2, "failed_last_24h": 0, "claimed_here": 0,
                  "sent_since_start": 120, "rate_limited_since_start": 0},
     "engine": {"ok": true, "overdue_steps": 0, "oldest_late_seconds": 0.0,
                "last_sweep_at": "…", "stale": false}}

``tasks`` counts the work people owe, not the service's own state:
``overdue_statutory`` — statutory tasks (needs assessments, placement visits,
removed-at-birth steps) open past their due time; ``overdue_oversight_actions``
— actions of managers' oversight entries open past theirs;
``oldest_overdue_seconds`` — how long the oldest of either has been overdue;
``overdue_notifications_without_report`` — notifiable events recorded without a
report (a DBS referral) past their deadline with a recipient still to record, and
``oldest_notification_overdue_seconds`` since the oldest one's deadline.
They never change ``ok`` or the HTTP status: an overdue task is the service
working (reminding and escalating it), and a monitor that pages the on-call
engineer for a social worker's late visit would be wrong. Alert on them, if at
all, as information (e.g. a dashboard), and on ``engine.ok`` for the clocks
themselves::

    "tasks": {"overdue_statutory": 2, "overdue_oversight_actions": 1,
              "oldest_overdue_seconds": 90061.0,
              "overdue_notifications_without_report": 1,
              "oldest_notification_overdue_seconds": 3600.0}

``due`` is the dispatcher's backlog (pending and due now); ``pending`` also
counts deliveries waiting for a retry. A backlog that grows, or an oldest
pending delivery minutes old, means messages are not going out.
"""

from __future__ import annotations

import inspect
import logging
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.people import statutory
from bot.review import needs
from storage.models import Delivery, Task

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)


async def status(services: "Services") -> dict[str, Any]:
    now = services.clock.now()
    report: dict[str, Any] = {"ok": False, "database": "unreachable",
                              "mode": services.settings.telegram.mode}
    poller = services.poller
    if poller is not None:
        report["polling"] = "running" if poller.running else "stopped"
    if not await services.db.ping():
        return report
    report.update(ok=report.get("polling") != "stopped", database="ok")
    async with services.db.read() as s:
        pending, oldest = (await s.execute(
            select(func.count(), func.min(Delivery.created_at))
            .where(Delivery.status == "pending")
        )).one()
        due, oldest_due = (await s.execute(
            select(func.count(), func.min(Delivery.next_attempt_at))
            .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
        )).one()
        failed = (await s.execute(
            select(func.count()).where(Delivery.status == "failed",
                                       Delivery.created_at >= now - timedelta(hours=24))
        )).scalar_one()
        report["tasks"] = await _overdue_tasks(s, now)
    oldest, oldest_due = aware(oldest), aware(oldest_due)
    margin = services.settings.engine.late_margin.amount
    stuck = oldest_due is not None and now - oldest_due > margin
    dispatcher = services.dispatcher
    report["delivery"] = {
        "ok": not stuck,
        "due": due,
        "oldest_due_seconds": round((now - oldest_due).total_seconds(), 1) if oldest_due else None,
        "pending": pending,
        "oldest_pending_seconds": round((now - oldest).total_seconds(), 1) if oldest else None,
        "failed_last_24h": failed,
        "claimed_here": dispatcher.in_memory if dispatcher else 0,
        "sent_since_start": dispatcher.sent_count if dispatcher else 0,
        "rate_limited_since_start": dispatcher.rate_limited_count if dispatcher else 0,
    }
    engine = getattr(services, "engine", None)
    engine_health = getattr(engine, "health", None)
    if engine_health is not None:
        try:
            value = engine_health()
            if inspect.isawaitable(value):
                value = await value
            report["engine"] = value
        except Exception as exc:  # noqa: BLE001 - the health check reports, never raises
            log.exception("engine health failed")
            report["engine"] = {"ok": False, "error": str(exc)}
    if stuck:
        log.error("health: a delivery has been due for %s s and is not sent (dispatcher stuck?)",
                  report["delivery"]["oldest_due_seconds"])
    report["ok"] = bool(report["ok"] and not stuck
                        and report.get("engine", {}).get("ok", True) is not False)
    return report


async def _overdue_tasks(session: AsyncSession, now: datetime) -> dict[str, Any]:
    """Open tasks past their due time, statutory and oversight actions apart (information:
    they do not make the service unhealthy)."""
    action = Task.kind == statutory.OVERSIGHT_ACTION
    rows = (await session.execute(
        select(action, func.count(), func.min(Task.due_at))
        .where(statutory.is_open(), Task.due_at <= now).group_by(action))).all()
    counts = {bool(is_action): (n, aware(oldest)) for is_action, n, oldest in rows}
    oldest = min((o for _n, o in counts.values() if o is not None), default=None)
    events, oldest_event = await needs.count_overdue_events(session, now)
    oldest_event = aware(oldest_event)
    return {
        "overdue_statutory": counts.get(False, (0, None))[0],
        "overdue_oversight_actions": counts.get(True, (0, None))[0],
        "oldest_overdue_seconds": round((now - oldest).total_seconds(), 1) if oldest else None,
        "overdue_notifications_without_report": events,
        "oldest_notification_overdue_seconds":
            round((now - oldest_event).total_seconds(), 1) if oldest_event else None,
    }


def aware(at: Any) -> datetime | None:
    if isinstance(at, str):  # defensive: an aggregate without type processing
        at = datetime.fromisoformat(at)
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at
