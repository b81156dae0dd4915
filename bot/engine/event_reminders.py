"""Reminders for a notifiable event with no report: a DBS referral recorded directly.

An event on a report rides on the report's notification clock
(:meth:`bot.engine.escalation._Step.notification`). An event without one keeps its clock
on its own ``notifiable_events`` row (``reminder_step``, ``next_reminder_at``, set by
``bot.record.notification.open_event``) and is run here, woken by the escalation
engine's loop like the statutory tasks:

* reminder 1 at once, then one every ``notification.remind_every`` (a service that was
  down sends one reminder, not one per interval missed), each naming the recipients
  still to record, with the per-recipient buttons, and marked OVERDUE after the deadline;
* it goes to the notification owner through the same chain as a report's: out of hours
  the out-of-hours owner first, then the registered manager, their cover, the deputy …
  and, with no child's team to fall back on, the team of the manager who recorded the
  referral, then ``escalation.last_resort``. Everyone passed over is audited
  (``recipient_missed``); whoever is reached may record the notifications;
* the clock stops when every recipient is recorded (phone calls confirmed) or a manager
  records that the event is not notifiable (``bot.record.notification``).

One transaction per event and reminder; the reminder is claimed with a conditional
update on (step, due time), so two engines never send the same one twice.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.delivery.outbox import PRIORITY, enqueue
from bot.engine import targets, texts
from bot.escalation import policy as escalation
from bot.record import notification, notification_texts
from bot.record.owed import Owed
from bot.rules import notifiable
from storage.models import NotifiableEvent, Person, Team

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)


async def next_due(session: AsyncSession) -> datetime | None:
    return (await session.execute(select(func.min(NotifiableEvent.next_reminder_at)))).scalar()


async def run_due(services: Services, *, batch: int = 200) -> int:
    """Run every event reminder due now; return how many ran here."""
    ran = 0
    for _ in range(1000):
        now = services.clock.now()
        async with services.db.read() as s:
            ids = list((await s.execute(
                select(NotifiableEvent.id).where(NotifiableEvent.next_reminder_at <= now)
                .order_by(NotifiableEvent.next_reminder_at, NotifiableEvent.id).limit(batch)
            )).scalars())
        if not ids:
            break
        progressed = 0
        for event_id in ids:
            try:
                if await _run_one(services, event_id):
                    progressed += 1
            except Exception:
                log.exception("notification reminder failed (event %s)", event_id)
        ran += progressed
        if not progressed:
            break
    return ran


async def _run_one(services: Services, event_id: int) -> bool:
    now = services.clock.now()
    async with services.db.write() as s:
        ev = await s.get(NotifiableEvent, event_id)
        if ev is None or ev.next_reminder_at is None or ev.next_reminder_at > now:
            return False
        step, due = ev.reminder_step or 1, ev.next_reminder_at
        records = await notification.records_of(s, [ev.id])
        still = notifiable.missing(records)
        if ev.closed_at is not None or ev.incident_id is not None or not still:
            await s.execute(update(NotifiableEvent).where(
                NotifiableEvent.id == ev.id, NotifiableEvent.next_reminder_at == due)
                .values(next_reminder_at=None).execution_options(synchronize_session=False))
            return False
        nxt = escalation.after_notification_step(
            services.calendar, escalation.StepKey("notify", step), due,
            services.settings.notification.remind_every, now)
        claimed = await s.execute(
            update(NotifiableEvent).where(NotifiableEvent.id == ev.id,
                                          NotifiableEvent.reminder_step == ev.reminder_step,
                                          NotifiableEvent.next_reminder_at == due,
                                          NotifiableEvent.closed_at.is_(None))
            .values(reminder_step=step + 1, next_reminder_at=nxt.due)
            .execution_options(synchronize_session=False))
        if claimed.rowcount != 1:
            return False
        opener = await s.get(Person, ev.opened_by_id) if ev.opened_by_id else None
        # No child's team: the chain falls back on the team of whoever recorded the referral.
        team = await s.get(Team, opener.team_id) if opener and opener.team_id else None
        sc = await targets.scene(s, services, team, now)
        n = services.settings.notification
        resolution = await targets.resolve_owner(s, services, sc, n.registered_manager,
                                                 n.deputy, n.out_of_hours)
        owed = [Owed(ev, r) for r in records if r.recipient in still]
        late = texts.late_note(now - due, services.settings.engine.late_margin.amount)
        text = notification_texts.event_reminder(services, ev, owed,
                                                 opened_by=opener.name if opener else None,
                                                 now=now, late=late)
        for r in resolution.reached:
            await enqueue(
                s, key=f"{notification.EVENT_KEY}:{ev.id}:{step}:{r.person.id}",
                kind=notification.KIND, now=now, person=r.person,
                priority=PRIORITY["high"], text=text,
                buttons=notification_texts.buttons(owed),
            )
        for pid, why in resolution.missed:
            await audit.record(s, "recipient_missed", at=now, person=pid, why=why,
                               step=f"notify{step}", notifiable_event=ev.event,
                               subject=ev.subject)
        if resolution.last_resort:
            await audit.record(s, "escalated_to_last_resort", at=now, step=f"notify{step}",
                               target="registered_manager", notifiable_event=ev.event,
                               subject=ev.subject,
                               to=[r.person.id for r in resolution.reached])
        if not resolution.reached:
            log.error("notification reminder %s (%s %s): nobody could be reached, not even the "
                      "last resort", step, ev.event, ev.subject)
        await audit.record(
            s, "notification_reminded", at=now, to=[r.person.id for r in resolution.reached],
            overdue=now >= ev.due_at, missing=still, deadline=ev.due_at.isoformat(),
            notifiable_event=ev.event, subject=ev.subject, step=f"notify{step}",
            due=due.isoformat(), late_seconds=max(0, int((now - due).total_seconds())),
            next_step=nxt.key, next_due=nxt.due.isoformat() if nxt.due else None)
    return True
