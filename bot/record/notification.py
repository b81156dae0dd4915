"""The Schedule 7 notification register (regulation 36; issue 16).

A notifiable event (a report in a notifiable category, a section 47 enquiry's
start or outcome, a referral to the DBS) opens a ``notifiable_events`` row with
its deadline and one ``notification_records`` row per recipient the
configuration names for it (``[notification.events]``, Schedule 7 defaults).
Sending the notification stays a person's job; each recipient is recorded on its
own (when, how, the reference given, who), and a phone call stays owed until it
is confirmed in writing (reg. 36(2)). The incident's notification clock runs
until every recipient of every open event on it is recorded, or a manager
records, with a reason, that the event is not notifiable after review. Each tap
is a conditional update: the first wins, a later one is told who recorded it.

An event with no incident (a DBS referral recorded directly) has a reminder clock of
its own on its row (``reminder_step``, ``next_reminder_at``), run by
``bot/engine/event_reminders.py``: the same owner chain, the same reminder and
buttons; it stops when every recipient is recorded or the event is found not
notifiable, and the reminders already sent are then edited to say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.delivery.outbox import enqueue
from bot.record import alerts, notification_texts
from bot.record.owed import Owed
from bot.record.prompt import Prompt, Refused
from bot.rules import notifiable
from bot.rules.outcomes import S47_OUTCOMES
from storage.models import (
    Delivery,
    EscalationAction,
    Incident,
    NotifiableEvent,
    NotificationRecord,
    Person,
)

if TYPE_CHECKING:
    from bot.services import Services

KIND = "notification"
MAX_REFERENCE = 100
EVENT_KEY = "nev"  # deliveries of an event without an incident: nev:<event>:<step>:<person>


@dataclass
class Result:
    # recorded | confirmed | closed | already | refused | not_found | not_notifiable |
    # no_confirmation_needed | old_button | bad_method
    status: str
    incident: Incident | None = None
    record: NotificationRecord | None = None
    by_name: str | None = None
    at: datetime | None = None
    missing: list[str] = field(default_factory=list)


def owners(services: "Services") -> frozenset[str]:
    n = services.settings.notification
    return frozenset(p for p in (n.registered_manager, n.deputy, n.out_of_hours) if p)


# ------------------------------------------------------------------ opening events

async def open_event(session: AsyncSession, services: "Services", *, event: str, now: datetime,
                     incident: Incident | None = None, subject: str | None = None,
                     by: Person | None = None,
                     events: list[audit.Event] | None = None) -> NotifiableEvent:
    """Open a notifiable event with its recipients and deadline; for an incident, (re)start
    its notification clock with a reminder at once. ``events``: the audit event is added
    there for the caller to write with its own (``audit.record_all``), not written now."""
    spec = services.settings.notification.event(event)
    due = services.calendar.add(now, spec.deadline)
    ev = NotifiableEvent(incident_id=incident.id if incident else None, event=event,
                         subject=subject, opened_at=now, opened_by_id=by.id if by else None,
                         due_at=due)
    session.add(ev)
    await session.flush()
    for r in spec.recipients:
        session.add(NotificationRecord(event_id=ev.id, recipient=r))
    await session.flush()
    if incident is not None:
        incident.notifiable = True
        incident.notified_at = None
        incident.notified_by_id = None
        earliest = min(due, incident.notification_due_at) if (
            incident.notification_due_at and incident.notification_next_at) else due
        incident.notification_due_at = earliest
        number = await _reminders_so_far(session, incident.id)
        incident.notification_step = f"notify{number + 1}"
        incident.notification_next_at = now
        incident.updated_at = now
    else:  # its own reminder clock: the first reminder at once
        ev.reminder_step, ev.next_reminder_at = 1, now
    opened = audit.event("notification_opened", at=now, actor_id=by.id if by else None,
                         incident_id=incident.id if incident else None, notifiable_event=event,
                         recipients=list(spec.recipients), deadline=due.isoformat(),
                         subject=subject)
    if events is not None:
        events.append(opened)
    else:
        await audit.record_all(session, [opened])
    return ev


async def _reminders_so_far(session: AsyncSession, incident_id: int) -> int:
    """How many notify steps ran, so a reopened clock continues the numbering."""
    return int((await session.execute(
        select(func.count()).select_from(EscalationAction).where(
            EscalationAction.incident_id == incident_id,
            EscalationAction.step_key.like("notify%"))
    )).scalar_one())


# ------------------------------------------------------------------ reading

async def events_of(session: AsyncSession, incident_id: int) -> list[NotifiableEvent]:
    return list((await session.execute(
        select(NotifiableEvent).where(NotifiableEvent.incident_id == incident_id)
        .order_by(NotifiableEvent.id)
    )).scalars())


_RECORDS_OF = (select(NotificationRecord)
               .where(NotificationRecord.event_id.in_(bindparam("event_ids", expanding=True)))
               .order_by(NotificationRecord.event_id, NotificationRecord.id))


async def records_of(session: AsyncSession, event_ids: list[int]) -> list[NotificationRecord]:
    if not event_ids:
        return []
    return list((await session.execute(_RECORDS_OF, {"event_ids": list(event_ids)})).scalars())


async def owed(session: AsyncSession, incident_id: int) -> list[Owed]:
    evs = [e for e in await events_of(session, incident_id) if e.closed_at is None]
    by_id = {e.id: e for e in evs}
    out = []
    for r in await records_of(session, list(by_id)):
        if r.recipient in notifiable.missing([r]):
            out.append(Owed(by_id[r.event_id], r))
    return out


# ------------------------------------------------------------------ recording

async def _check(session: AsyncSession, services: "Services", person: Person, record_id: int,
                 action: str, telegram_user_id: int | None
                 ) -> tuple[Result | None, NotificationRecord | None, NotifiableEvent | None,
                            Incident | None]:
    now = services.clock.now()
    rec = await session.get(NotificationRecord, record_id)
    ev = await session.get(NotifiableEvent, rec.event_id) if rec else None
    inc = await session.get(Incident, ev.incident_id) if ev and ev.incident_id else None
    if rec is None or ev is None:
        await audit.refused(session, at=now, actor_id=person.id, telegram_user_id=telegram_user_id,
                            action=action, why="no such notification", incident_ref=record_id)
        return Result("not_found"), None, None, None
    if not await services.access.may_record_notification(
            session, person, inc, owners(services), await reminded(session, ev)):
        await audit.refused(session, at=now, actor_id=person.id, telegram_user_id=telegram_user_id,
                            incident_id=inc.id if inc else None, action=action,
                            why="not a notification owner, a manager of the team or a "
                                "recipient of the reminder")
        return Result("refused", inc), None, None, None
    return None, rec, ev, inc


async def record_made(
    session: AsyncSession, services: "Services", *, record_id: int, method: str, person: Person,
    reference: str | None = None, made_at: datetime | None = None,
    telegram_user_id: int | None = None,
) -> Result:
    """Record that one recipient was notified (how, when, the reference given)."""
    now = services.clock.now()
    made_at = made_at or now
    if method not in notifiable.METHODS:
        return Result("bad_method")
    early, rec, ev, inc = await _check(session, services, person, record_id,
                                       "record notification", telegram_user_id)
    if early is not None:
        return early
    reference = (reference or "").strip()[:MAX_REFERENCE] or None
    res = await session.execute(
        update(NotificationRecord)
        .where(NotificationRecord.id == rec.id, NotificationRecord.made_at.is_(None),
               NotificationRecord.not_required_reason.is_(None))
        .values(made_at=made_at, method=method, reference=reference, made_by_id=person.id)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(rec)
    if res.rowcount != 1:
        by = await session.get(Person, rec.made_by_id) if rec.made_by_id else None
        return Result("already", inc, rec, by.name if by else "someone", rec.made_at)
    await audit.record(
        session, "notification_made", at=now, actor_id=person.id,
        telegram_user_id=telegram_user_id, incident_id=inc.id if inc else None,
        notifiable_event=ev.event, recipient=rec.recipient, method=method, reference=reference,
        made_at=made_at.isoformat(), deadline=ev.due_at.isoformat(),
        within_deadline=made_at <= ev.due_at,
    )
    left = await _after_change(session, services, ev, inc, person, now)
    return Result("recorded", inc, rec, person.name, made_at, left)


async def record_confirmed(
    session: AsyncSession, services: "Services", *, record_id: int, person: Person,
    reference: str | None = None, confirmed_at: datetime | None = None,
    telegram_user_id: int | None = None,
) -> Result:
    """Record the written confirmation of a notification made by phone (reg. 36(2))."""
    now = services.clock.now()
    confirmed_at = confirmed_at or now
    early, rec, ev, inc = await _check(session, services, person, record_id,
                                       "record written confirmation", telegram_user_id)
    if early is not None:
        return early
    if rec.made_at is None or rec.method not in notifiable.NEEDS_WRITTEN_CONFIRMATION:
        return Result("no_confirmation_needed", inc, rec)
    reference = (reference or "").strip()[:MAX_REFERENCE] or None
    res = await session.execute(
        update(NotificationRecord)
        .where(NotificationRecord.id == rec.id, NotificationRecord.confirmed_at.is_(None))
        .values(confirmed_at=confirmed_at, confirm_reference=reference, confirmed_by_id=person.id)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(rec)
    if res.rowcount != 1:
        by = await session.get(Person, rec.confirmed_by_id) if rec.confirmed_by_id else None
        return Result("already", inc, rec, by.name if by else "someone", rec.confirmed_at)
    await audit.record(
        session, "notification_confirmed", at=now, actor_id=person.id,
        telegram_user_id=telegram_user_id, incident_id=inc.id if inc else None,
        notifiable_event=ev.event, recipient=rec.recipient, reference=reference,
        confirmed_at=confirmed_at.isoformat(),
    )
    left = await _after_change(session, services, ev, inc, person, now)
    return Result("confirmed", inc, rec, person.name, confirmed_at, left)


async def record_not_required(
    session: AsyncSession, services: "Services", *, record_id: int, person: Person, reason: str,
    telegram_user_id: int | None = None,
) -> Result:
    """One recipient does not apply to this event (e.g. the area authority is the placing
    authority), with the reason; it stops being owed."""
    now = services.clock.now()
    early, rec, ev, inc = await _check(session, services, person, record_id,
                                       "recipient not required", telegram_user_id)
    if early is not None:
        return early
    reason = reason.strip()
    if not reason:
        return Result("no_reason", inc)
    res = await session.execute(
        update(NotificationRecord)
        .where(NotificationRecord.id == rec.id, NotificationRecord.made_at.is_(None),
               NotificationRecord.not_required_reason.is_(None))
        .values(not_required_reason=reason, made_by_id=person.id)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(rec)
    if res.rowcount != 1:
        by = await session.get(Person, rec.made_by_id) if rec.made_by_id else None
        return Result("already", inc, rec, by.name if by else "someone", rec.made_at)
    await audit.record(session, "notification_not_required", at=now, actor_id=person.id,
                       telegram_user_id=telegram_user_id, incident_id=inc.id if inc else None,
                       notifiable_event=ev.event, recipient=rec.recipient, reason=reason)
    left = await _after_change(session, services, ev, inc, person, now)
    return Result("recorded", inc, rec, person.name, now, left)


async def not_notifiable(
    session: AsyncSession, services: "Services", *, event_id: int, person: Person, reason: str,
    telegram_user_id: int | None = None,
) -> Result:
    """A manager's decision, after review, that an event is not notifiable; the clock stops."""
    now = services.clock.now()
    ev = await session.get(NotifiableEvent, event_id)
    inc = await session.get(Incident, ev.incident_id) if ev and ev.incident_id else None
    if ev is None:
        return Result("not_found")
    if not await services.access.may_record_notification(
            session, person, inc, owners(services), await reminded(session, ev)):
        await audit.refused(session, at=now, actor_id=person.id, telegram_user_id=telegram_user_id,
                            incident_id=inc.id if inc else None, action="not notifiable",
                            why="not a notification owner or a manager of the team")
        return Result("refused", inc)
    reason = reason.strip()
    if not reason:
        return Result("no_reason", inc)
    res = await session.execute(
        update(NotifiableEvent)
        .where(NotifiableEvent.id == ev.id, NotifiableEvent.closed_at.is_(None))
        .values(closed_at=now, not_notifiable_reason=reason, decided_by_id=person.id)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(ev)
    if res.rowcount != 1:
        return Result("already", inc, at=ev.closed_at)
    await audit.record(session, "notification_not_notifiable", at=now, actor_id=person.id,
                       telegram_user_id=telegram_user_id, incident_id=inc.id if inc else None,
                       notifiable_event=ev.event, reason=reason)
    left = await _after_change(session, services, ev, inc, person, now)
    return Result("closed", inc, by_name=person.name, at=now, missing=left)


async def _after_change(session: AsyncSession, services: "Services", ev: NotifiableEvent,
                        inc: Incident | None, person: Person, now: datetime) -> list[str]:
    """Close the event when nothing is owed; stop the incident's clock when no event is
    open. Returns the recipients still owed on the incident."""
    if ev.closed_at is None and not notifiable.missing(await records_of(session, [ev.id])):
        ev.closed_at = now
        await audit.record(session, "notification_complete", at=now, actor_id=person.id,
                           incident_id=inc.id if inc else None, notifiable_event=ev.event,
                           within_deadline=now <= ev.due_at)
    if inc is None:
        if ev.closed_at is None:
            return notifiable.missing(await records_of(session, [ev.id]))
        ev.next_reminder_at = None
        done = (notification_texts.not_notifiable_done(person.name, ev.not_notifiable_reason)
                if ev.not_notifiable_reason else
                notification_texts.event_done(services, person.name, now))
        await _settle_event_reminders(session, ev, now, done)
        return []
    left = await owed(session, inc.id)
    if not left:
        await session.execute(
            update(Incident).where(Incident.id == inc.id, Incident.notified_at.is_(None))
            .values(notified_at=now, notified_by_id=person.id, notification_step=None,
                    notification_next_at=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        await session.refresh(inc)
        done = (notification_texts.not_notifiable_done(person.name, ev.not_notifiable_reason)
                if ev.not_notifiable_reason else
                notification_texts.all_done(services, inc, person.name))
        await _settle_reminders(session, services, inc, now, ev.id, done)
    return [o.record.recipient for o in left]


async def record_notified(
    session: AsyncSession, services: "Services", *, incident_id: int, person: Person,
    telegram_user_id: int | None = None,
) -> Result:
    """The old single button ("Ofsted and responsible authority notified"): it cannot say
    which recipient, how or the reference, so it records nothing and points to the
    per-recipient buttons (a fresh reminder carries them)."""
    inc = await session.get(Incident, incident_id)
    if inc is None:
        return Result("not_found")
    if not await services.access.may_record_notification(session, person, inc, owners(services)):
        await audit.refused(session, at=services.clock.now(), actor_id=person.id,
                            telegram_user_id=telegram_user_id, incident_id=inc.id,
                            action="record notification",
                            why="not a notification owner, a manager of the team or a "
                                "recipient of the reminder")
        return Result("refused", inc)
    return Result("old_button", inc, missing=[o.record.recipient
                                              for o in await owed(session, inc.id)])


async def _settle_reminders(session: AsyncSession, services: "Services", incident: Incident,
                            now: datetime, event_id: int, done: str) -> None:
    """Unsent reminders are cancelled; sent ones are edited to show it is all recorded."""
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
    settled = set((await session.execute(
        select(Delivery.target_delivery_id).where(
            Delivery.incident_id == incident.id, Delivery.method == "edit",
            Delivery.idempotency_key.like("edit:%:notified:%"))
    )).scalars())
    for d in rows:
        if d.id in settled:  # a reminder of an earlier event, already shown as done
            continue
        await enqueue(
            session, key=f"edit:{d.id}:notified:{event_id}", kind="edit", method="edit",
            now=now, chat_id=d.chat_id, incident_id=incident.id, priority=d.priority + 1,
            text=alerts.with_status(d.payload.get("text", ""), done), buttons=[],
            target_delivery_id=d.id,
        )


async def reminded(session: AsyncSession, ev: NotifiableEvent | None) -> frozenset[str]:
    """Who the reminders of an event without an incident reached (they may record it)."""
    if ev is None or ev.incident_id is not None:
        return frozenset()
    return frozenset(p for p in (await session.execute(
        select(Delivery.person_id).where(Delivery.kind == KIND,
                                         Delivery.idempotency_key.like(f"{EVENT_KEY}:{ev.id}:%"))
    )).scalars() if p)


async def _settle_event_reminders(session: AsyncSession, ev: NotifiableEvent, now: datetime,
                                  done: str) -> None:
    """The reminders of an event without an incident, once it is closed: unsent ones are
    cancelled, sent ones edited to say so (without their buttons)."""
    mine = Delivery.idempotency_key.like(f"{EVENT_KEY}:{ev.id}:%")
    await session.execute(
        update(Delivery)
        .where(mine, Delivery.kind == KIND, Delivery.status == "pending",
               Delivery.method == "send",
               (Delivery.locked_until.is_(None)) | (Delivery.locked_until < now))
        .values(status="cancelled", last_error="notification recorded before it was sent")
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(
        select(Delivery).where(mine, Delivery.kind == KIND, Delivery.method == "send",
                               Delivery.status.in_(("pending", "sent")))
        .order_by(Delivery.id)
    )).scalars().all()
    for d in rows:
        await enqueue(
            session, key=f"edit:{d.id}:notified:{ev.id}", kind="edit", method="edit", now=now,
            chat_id=d.chat_id, priority=d.priority + 1,
            text=alerts.with_status(d.payload.get("text", ""), done), buttons=[],
            target_delivery_id=d.id,
        )


# ------------------------------------------------------------------ events a manager opens

async def open_by_manager(
    session: AsyncSession, services: "Services", *, person: Person, event: str,
    incident_ref: str | None = None, subject: str | None = None, note: str | None = None,
    telegram_user_id: int | None = None,
) -> Result:
    """A section 47 enquiry's start or outcome on an incident, or a referral to the DBS
    (about anyone working for the service, an incident optional): opens its own event."""
    now = services.clock.now()
    inc = None
    if incident_ref:
        inc = (await session.execute(select(Incident).where(
            Incident.reference == incident_ref.strip().upper()))).scalar_one_or_none()
        if inc is None:
            return Result("not_found")
    if event in (notifiable.S47_START, notifiable.S47_OUTCOME) and inc is None:
        return Result("not_found")
    if event == notifiable.DBS_REFERRAL and not notifiable.valid_subject(subject or ""):
        return Result("bad_subject")
    if not await services.access.may_record_notification(session, person, inc, owners(services)):
        await audit.refused(session, at=now, actor_id=person.id, telegram_user_id=telegram_user_id,
                            incident_id=inc.id if inc else None, action=f"open {event}",
                            why="not a notification owner or a manager of the team")
        return Result("refused", inc)
    if inc is not None:
        existing = (await session.execute(select(NotifiableEvent).where(
            NotifiableEvent.incident_id == inc.id, NotifiableEvent.event == event)
        )).scalar_one_or_none()
        if existing is not None:
            return Result("already", inc, at=existing.opened_at)
    if event == notifiable.S47_OUTCOME and inc is not None:
        started = (await session.execute(select(NotifiableEvent.id).where(
            NotifiableEvent.incident_id == inc.id,
            NotifiableEvent.event == notifiable.S47_START))).first()
        if started is None:
            return Result("no_start", inc)
    ev = await open_event(session, services, event=event, now=now, incident=inc,
                          subject=(subject or "").strip()[:100] or None, by=person)
    if note:
        await audit.record(session, "notification_note", at=now, actor_id=person.id,
                           incident_id=inc.id if inc else None, notifiable_event=event,
                           note=note.strip())
    return Result("opened", inc, by_name=person.name, at=now,
                  missing=[r.recipient for r in await records_of(session, [ev.id])])


def _about(reference: str):
    """Events on the report with this reference, or without a report whose subject it is
    (a DBS referral recorded directly, e.g. STAFF-0042)."""
    ref = reference.strip()
    return (NotifiableEvent.incident_id.in_(
        select(Incident.id).where(Incident.reference == ref.upper()))
        | ((NotifiableEvent.incident_id.is_(None)) & (NotifiableEvent.subject == ref)))


# ------------------------------------------------------------------ the enquiry's outcome
# A section 47 enquiry's outcome from a report's Close menu: "Section 47 enquiry concluded"
# (offered while the enquiry's start is recorded and its outcome is not, to whoever may
# record notifications), then one of its outcomes. Recorded through ``open_by_manager``,
# as "/s47 INC-… concluded" is: the same event, clock, checks and audit.

async def enquiry_awaiting_outcome(session: AsyncSession, incident_id: int) -> bool:
    kinds = set((await session.execute(select(NotifiableEvent.event).where(
        NotifiableEvent.incident_id == incident_id,
        NotifiableEvent.event.in_((notifiable.S47_START, notifiable.S47_OUTCOME))))).scalars())
    return kinds == {notifiable.S47_START}


async def enquiry_button(session: AsyncSession, services: "Services", person: Person,
                         incident: Incident) -> list[tuple[str, str]] | None:
    """The Close menu's row for the enquiry's outcome, when this person may record it now."""
    if not await enquiry_awaiting_outcome(session, incident.id):
        return None
    if not await services.access.may_record_notification(session, person, incident,
                                                         owners(services)):
        return None
    return [notification_texts.enquiry_button(incident.id)]


async def enquiry_menu(session: AsyncSession, services: "Services", *, person: Person,
                       incident_id: int, telegram_user_id: int | None = None) -> Result:
    """The tap on "Section 47 enquiry concluded": ``choose`` (show the outcomes) or why not."""
    now = services.clock.now()
    inc = await session.get(Incident, incident_id)
    if inc is None:
        return Result("not_found")
    if not await services.access.may_record_notification(session, person, inc,
                                                         owners(services)):
        await audit.refused(session, at=now, actor_id=person.id, telegram_user_id=telegram_user_id,
                            incident_id=inc.id, action=f"open {notifiable.S47_OUTCOME}",
                            why="not a notification owner or a manager of the team")
        return Result("refused", inc)
    if not await enquiry_awaiting_outcome(session, inc.id):
        started = (await session.execute(select(NotifiableEvent.opened_at).where(
            NotifiableEvent.incident_id == inc.id,
            NotifiableEvent.event == notifiable.S47_OUTCOME))).scalar()
        return Result("already", inc, at=started) if started else Result("no_start", inc)
    return Result("choose", inc)


async def record_enquiry_outcome(session: AsyncSession, services: "Services", *,
                                 person: Person, incident_id: int, code: str,
                                 telegram_user_id: int | None = None) -> Result:
    """An outcome tapped in the Close menu: opens the outcome's notification event."""
    inc = await session.get(Incident, incident_id)
    if inc is None or code not in S47_OUTCOMES:
        return Result("not_found")
    return await open_by_manager(session, services, person=person,
                                 event=notifiable.S47_OUTCOME, incident_ref=inc.reference,
                                 note=S47_OUTCOMES[code], telegram_user_id=telegram_user_id)


async def event_by_ref(session: AsyncSession, incident_ref: str,
                       event: str | None = None) -> NotifiableEvent | None:
    """The newest open event on an incident, or about a subject (or the named one)."""
    q = select(NotifiableEvent).where(_about(incident_ref))
    if event:
        q = q.where(NotifiableEvent.event == event)
    else:
        q = q.where(NotifiableEvent.closed_at.is_(None))
    return (await session.execute(q.order_by(NotifiableEvent.id.desc()))).scalars().first()


async def record_by_ref(session: AsyncSession, incident_ref: str, recipient: str,
                        event: str | None = None) -> NotificationRecord | None:
    """The recipient's record on an incident's event (the newest open one by default, else the
    newest that names the recipient)."""
    q = (select(NotificationRecord).join(NotifiableEvent,
                                         NotifiableEvent.id == NotificationRecord.event_id)
         .where(_about(incident_ref), NotificationRecord.recipient == recipient))
    if event:
        q = q.where(NotifiableEvent.event == event)
    rows = (await session.execute(q.order_by(NotifiableEvent.id.desc()))).scalars().all()
    return rows[0] if rows else None


async def reference_received(session: AsyncSession, services: "Services", *, record_id: int,
                             person: Person, field: str, text: str) -> Prompt:
    """The reference typed after a tap: kept on the record unless one is there already."""
    now = services.clock.now()
    early, rec, ev, inc = await _check(session, services, person, record_id,
                                       "record notification reference", None)
    if early is not None:
        raise Refused("may not record this notification", notification_texts.REFUSED,
                      early.incident.id if early.incident else None)
    column = {"reference": NotificationRecord.reference,
              "confirm_reference": NotificationRecord.confirm_reference}.get(field)
    if column is None:
        raise Refused("unknown reference field", notification_texts.REFUSED)
    value = text.strip()[:MAX_REFERENCE]
    res = await session.execute(
        update(NotificationRecord).where(NotificationRecord.id == rec.id, column.is_(None))
        .values({column.key: value}).execution_options(synchronize_session=False))
    await session.refresh(rec)
    if res.rowcount != 1:
        return Prompt(notification_texts.reference_already(rec.recipient,
                                                           getattr(rec, field) or ""))
    await audit.record(session, "notification_reference", at=now, actor_id=person.id,
                       incident_id=inc.id if inc else None, notifiable_event=ev.event,
                       recipient=rec.recipient, field=field, reference=value)
    return Prompt(notification_texts.reference_kept(rec.recipient, value,
                                                    inc.reference if inc else ev.subject or ""))
