"""Recording that Ofsted and the responsible authority were notified of a notifiable event.

Sending the notification stays a person's job (regulation 36; NMS 29: within
24 hours, weekends included); the bot reminds the team manager until someone
records it with the button on the reminder, and keeps when and by whom. The
first tap wins; a later tap is told who recorded it and when. Recording stops
the notification clock at once and turns every reminder already sent into a
record of who notified and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.delivery.outbox import enqueue
from bot.record import alerts
from storage.models import Delivery, Incident, Person

if TYPE_CHECKING:
    from bot.services import Services

KIND = "notification"


@dataclass
class NotifiedResult:
    status: str  # recorded | already | refused | not_found | not_notifiable
    incident: Incident | None = None
    by_name: str | None = None
    at: datetime | None = None


async def record_notified(
    session: AsyncSession, services: "Services", *, incident_id: int, person: Person,
    telegram_user_id: int | None = None,
) -> NotifiedResult:
    now = services.clock.now()
    incident = await session.get(Incident, incident_id)
    if incident is None:
        await audit.refused(session, at=now, actor_id=person.id,
                            telegram_user_id=telegram_user_id, action="record notification",
                            why="no such incident", incident_ref=incident_id)
        return NotifiedResult("not_found")
    if not await services.access.may_record_notification(session, person, incident):
        await audit.refused(session, at=now, actor_id=person.id,
                            telegram_user_id=telegram_user_id, incident_id=incident.id,
                            action="record notification",
                            why="not a manager of the team or a recipient of the reminder")
        return NotifiedResult("refused", incident)
    if not incident.notifiable:
        return NotifiedResult("not_notifiable", incident)
    res = await session.execute(
        update(Incident)
        .where(Incident.id == incident.id, Incident.notified_at.is_(None))
        .values(notified_at=now, notified_by_id=person.id, notification_step=None,
                notification_next_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(incident)
    if res.rowcount != 1:
        by = await session.get(Person, incident.notified_by_id) if incident.notified_by_id else None
        return NotifiedResult("already", incident, by.name if by else "someone", incident.notified_at)
    due = incident.notification_due_at
    await audit.record(
        session, "notification_recorded", at=now, actor_id=person.id,
        telegram_user_id=telegram_user_id, incident_id=incident.id, deadline=due.isoformat() if due else None,
        within_deadline=due is None or now <= due,
        after_seconds=int((now - incident.reported_at).total_seconds()),
    )
    await _settle_reminders(session, services, incident, person, now)
    return NotifiedResult("recorded", incident, person.name, now)


async def _settle_reminders(session: AsyncSession, services: "Services", incident: Incident,
                            by: Person, now: datetime) -> None:
    """Unsent reminders are cancelled; sent ones are edited to show who recorded it."""
    await session.execute(
        update(Delivery)
        .where(Delivery.incident_id == incident.id, Delivery.kind == KIND,
               Delivery.status == "pending", Delivery.method == "send",
               (Delivery.locked_until.is_(None)) | (Delivery.locked_until < now))
        .values(status="cancelled", last_error="notification recorded before it was sent")
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(
        select(Delivery).where(Delivery.incident_id == incident.id, Delivery.kind == KIND,
                               Delivery.method == "send",
                               Delivery.status.in_(("pending", "sent")))
        .order_by(Delivery.id)
    )).scalars().all()
    done = alerts.notification_done(services, incident, by)
    for d in rows:
        await enqueue(
            session, key=f"edit:{d.id}:notified", kind="edit", method="edit", now=now,
            chat_id=d.chat_id, incident_id=incident.id, priority=d.priority + 1,
            text=alerts.with_status(d.payload.get("text", ""), done), buttons=[],
            target_delivery_id=d.id,
        )
