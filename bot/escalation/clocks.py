"""An incident's clocks as they start and stop, inside the caller's write transaction.

The pure rules of each clock (the frozen plan, step keys, due times) are in
``bot.escalation.policy``; the engine that runs due steps is ``bot.engine``. This
module holds the transitions made by people acting on a report.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.escalation import policy
from bot.rules.workhours import WorkingCalendar
from storage.models import Delivery, EscalationAction, Incident

# Deliveries still unsent when a report is acknowledged that nobody needs any more.
CANCEL_ON_ACK = ("reminder", "escalation")


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


async def after_ack(session: AsyncSession, calendar: WorkingCalendar, incident: Incident,
                    now: datetime) -> None:
    """Acknowledgement stops the ladder at once and starts the outcome clock.

    Reminders and escalations written but not yet sent are cancelled, so
    nobody is chased about a report that has just been taken.
    """
    stopped = (incident.next_step, incident.next_due_at)
    due = policy.outcome_due(incident.plan or {}, calendar, now)
    incident.next_step = "outcome1" if due else None
    incident.next_due_at = due
    incident.outcome_due_at = due  # stays put while the engine moves next_due_at on
    cancelled = await session.execute(
        update(Delivery)
        .where(Delivery.incident_id == incident.id, Delivery.kind.in_(CANCEL_ON_ACK),
               Delivery.status == "pending", Delivery.method == "send",
               (Delivery.locked_until.is_(None)) | (Delivery.locked_until < now))
        .values(status="cancelled", last_error="acknowledged before it was sent")
        .execution_options(synchronize_session=False)
    )
    await audit.record(
        session, "escalation_stopped", at=now, incident_id=incident.id, reason="acknowledged",
        stopped_step=stopped[0], stopped_due=iso(stopped[1]),
        unsent_cancelled=cancelled.rowcount, outcome_due=iso(due),
    )


async def after_reopen(session: AsyncSession, calendar: WorkingCalendar, incident: Incident,
                       now: datetime) -> tuple[str | None, datetime | None]:
    """Reopening starts a fresh outcome clock from now, with step keys never used before on
    this incident (so its steps are not taken for ones already run). Returns the new
    step and its due time, for the caller's ``reopened`` event; nothing else is written."""
    due = policy.outcome_due(incident.plan or {}, calendar, now)
    incident.outcome_due_at = due  # the new outcome deadline (needs action counts from it)
    if due is None:
        incident.next_step, incident.next_due_at = None, None
        return None, None
    ran = list((await session.execute(
        select(EscalationAction.step_key).where(EscalationAction.incident_id == incident.id)
    )).scalars())
    # A key pending when the report was closed was never run, but is skipped too.
    if incident.next_step:
        ran.append(incident.next_step)
    incident.next_step = policy.first_outcome_key(ran)
    incident.next_due_at = due
    return incident.next_step, due


async def after_close(session: AsyncSession, incident: Incident, now: datetime, *,
                      stopped_step: str | None, stopped_due: datetime | None) -> None:
    """Closing stops the acknowledgement and outcome clocks (the caller has cleared them)
    and cancels reminders not yet sent; recorded so ``/log`` shows what will not run.

    The notification clock of a notifiable event is not a clock of the report's
    handling but of a duty to Ofsted: it runs until the notification is recorded."""
    cancelled = await session.execute(
        update(Delivery)
        .where(Delivery.incident_id == incident.id,
               Delivery.kind.in_(CANCEL_ON_ACK + ("outcome_reminder",)),
               Delivery.status == "pending", Delivery.method == "send",
               (Delivery.locked_until.is_(None)) | (Delivery.locked_until < now))
        .values(status="cancelled", last_error="closed before it was sent")
        .execution_options(synchronize_session=False)
    )
    await audit.record(
        session, "escalation_stopped", at=now, incident_id=incident.id, reason="closed",
        stopped_step=stopped_step, stopped_due=iso(stopped_due),
        unsent_cancelled=cancelled.rowcount,
        notification_continues=bool(incident.notifiable and incident.notified_at is None),
    )
