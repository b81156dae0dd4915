"""Management oversight, recorded: a manager's decision, rationale and actions.

An entry is written on an incident (an ``oversight_recorded`` audit event on the
incident) or on a child (the same event through ``bot/people/chronicle.py``, so
it is in the child's chronology); ``/log``, the chronology and the audit export
show it. Categories that need oversight (``Category.needs_oversight``: urgent
and notifiable ones unless configured) cannot be closed without one: the person
closing is told why, the team's managers are asked once (a message with the
**Record oversight** button), and whoever was held is told when it is recorded.
Each action's owner is told of their action, and each action becomes a clock in
the engine: a ``tasks`` row of kind ``oversight_action`` (owner, due by the end of
its day, the manager who recorded it, the report), reminded and escalated by
``bot/engine/oversight_actions.py`` and recorded done like any task
(``bot/record/tasks.py``: ``/done`` or the reminder's button).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.delivery.outbox import enqueue
from bot.people import chronicle, statutory
from bot.record import oversight_texts as texts
from bot.rules.oversight import Action, Entry, OversightError, parse
from storage import queries
from storage.models import AuditEvent, Child, Delivery, Incident, Person, Task

if TYPE_CHECKING:
    from bot.services import Services

EVENT = "oversight_recorded"
HELD = "close_held_for_oversight"


async def recorded_at(session: AsyncSession, incident_id: int) -> datetime | None:
    """When oversight was first recorded on the incident (None: never)."""
    return (await session.execute(
        select(AuditEvent.at).where(AuditEvent.incident_id == incident_id,
                                    AuditEvent.event == EVENT)
        .order_by(AuditEvent.id).limit(1))).scalar_one_or_none()


async def _managers(session: AsyncSession, team_id: str) -> list[Person]:
    team = await queries.team(session, team_id)
    if team is None:
        return []
    people = await queries.people_by_id(session, {team.manager_id or "",
                                                  team.service_manager_id or ""})
    return [p for p in people.values() if p.active]


async def hold_close(session: AsyncSession, services: "Services", incident: Incident,
                     person: Person) -> str | None:
    """The reason closing must wait (and the managers asked), or None when it may go ahead."""
    cat = services.settings.category(incident.category)
    if cat is None or not cat.needs_oversight:
        return None
    if await recorded_at(session, incident.id) is not None:
        return None
    now = services.clock.now()
    managers = await _managers(session, incident.team_id)
    await audit.record(session, HELD, at=now, actor_id=person.id, incident_id=incident.id)
    for m in managers:
        key = f"oversight_ask:{incident.id}:{m.id}"
        if (await session.execute(select(Delivery.id).where(
                Delivery.idempotency_key == key))).first() is None:
            text, buttons = texts.oversight_requested(
                incident.reference, incident.child_ref, cat.label, person.name, incident.id)
            await enqueue(session, key=key, kind="notice", now=now, person=m,
                          incident_id=incident.id, text=text, buttons=buttons)
    return texts.close_held(incident.reference, [m.name for m in managers])


async def record(session: AsyncSession, services: "Services", *, person: Person,
                 entry: Entry, incident: Incident | None = None,
                 child: Child | None = None) -> str:
    """Write the entry on ``incident`` or ``child`` and tell those concerned; returns the
    confirmation to show. The caller has checked ``Access.may_oversee``."""
    now = services.clock.now()
    details = entry.as_details()
    if incident is not None:
        subject = incident.reference
        first = await recorded_at(session, incident.id) is None
        entry_event = await audit.record(session, EVENT, at=now, actor_id=person.id,
                                         incident_id=incident.id, child=incident.child_ref,
                                         **details)
        held = []
        if first:
            held = sorted(set((await session.execute(select(AuditEvent.actor_id).where(
                AuditEvent.incident_id == incident.id, AuditEvent.event == HELD))).scalars()))
        for pid in held:
            p = await session.get(Person, pid)
            if p is not None and p.active and p.id != person.id:
                await enqueue(session, key=f"oversight_done:{incident.id}:{p.id}",
                              kind="notice", now=now, person=p, incident_id=incident.id,
                              text=texts.oversight_notice(subject, person.name, entry.decision))
        released = bool(held)
    else:
        assert child is not None
        subject = child.ref
        row = await chronicle.record(session, EVENT, child_ref=child.ref, at=now,
                                     actor_id=person.id, **details)
        entry_event = await session.get(AuditEvent, row.audit_event_id)
        released = False
    event_key = f"{subject}:{int(now.timestamp() * 1_000_000)}"
    for i, a in enumerate(entry.actions):
        owner = await session.get(Person, a.owner)
        if owner is not None and owner.id != person.id:
            await enqueue(session, key=f"oversight_action:{event_key}:{i}", kind="notice",
                          now=now, person=owner,
                          incident_id=incident.id if incident is not None else None,
                          text=texts.action_owned(subject, person.name, a.what,
                                                  a.due.strftime("%a %d %b %Y")))
        await _start_action_clock(session, services, person, entry_event, i, a,
                                  incident=incident, child=child, now=now)
    return texts.recorded(subject, len(entry.actions), released)


async def _start_action_clock(session: AsyncSession, services: "Services", manager: Person,
                              entry_event: AuditEvent | audit.Written, number: int,
                              action: Action, *,
                              incident: Incident | None, child: Child | None,
                              now: datetime) -> Task:
    """The action as a clock: a task owned by its owner, due by the end of its day (local
    time), first step then (the owner is reminded), escalated to ``manager`` later."""
    due = statutory.day_start(action.due + timedelta(days=1), services.tz)
    child_ref = incident.child_ref if incident is not None else child.ref
    team_id = incident.team_id if incident is not None else child.team_id
    key = f"oversight:{entry_event.id}:{number + 1}"
    details = {"manager": manager.id, "what": action.what, "due_date": action.due.isoformat(),
               "entry_event": entry_event.id}
    if incident is not None:
        details.update(incident_id=incident.id, incident=incident.reference)
    task = Task(child_ref=child_ref, team_id=team_id, kind=statutory.OVERSIGHT_ACTION, key=key,
                due_at=due, owner_id=action.owner, step=0, next_at=due, created_at=now,
                details=details)
    session.add(task)
    await session.flush()
    await audit.record(session, "task_started", at=now, actor_id=manager.id,
                       incident_id=incident.id if incident is not None else None,
                       child=child_ref, kind=statutory.OVERSIGHT_ACTION, key=key,
                       task=task.id, due=due.isoformat(), owner=action.owner)
    return task


async def unknown_owners(session: AsyncSession, entry: Entry) -> list[str]:
    """Action owners who are not active people in the directory."""
    people = await queries.people_by_id(session, {a.owner for a in entry.actions})
    return [a.owner for a in entry.actions if a.owner not in people or not people[a.owner].active]


class NotAllowed(Exception):
    """The person may not record oversight on this subject (or it does not exist)."""

    def __init__(self, why: str, text: str, incident_id: int | None = None) -> None:
        super().__init__(why)
        self.why, self.text, self.incident_id = why, text, incident_id


async def subject(session: AsyncSession, services: "Services", person: Person,
                  ref: str) -> tuple[Incident | None, Child | None]:
    """The incident (``INC-…``) or child named by ``ref``, if ``person`` may oversee it."""
    ref = ref.strip()
    incident = await queries.incident_by_reference(session, ref.upper())
    child = None if incident is not None else await session.get(Child, ref)
    if incident is None and child is None:
        raise NotAllowed("no such incident or child", texts.NO_SUCH)
    team_id = incident.team_id if incident is not None else child.team_id
    if not await services.access.may_oversee(session, person, team_id):
        raise NotAllowed("not a manager of the team", texts.NOT_A_MANAGER,
                         incident.id if incident is not None else None)
    return incident, child


async def oversee(session: AsyncSession, services: "Services", person: Person, ref: str,
                  body: str) -> tuple[str, int | None]:
    """``/oversee REF`` and its entry: the reply to show and the incident (to wake for).
    Raises :class:`NotAllowed`."""
    incident, child = await subject(session, services, person, ref)
    name = incident.reference if incident is not None else child.ref
    if not body.strip():
        return texts.form(name), None
    try:
        entry = parse(body, services.today())
    except OversightError as exc:
        return texts.unreadable(str(exc), name), None
    unknown = await unknown_owners(session, entry)
    if unknown:
        return texts.unknown_owner(unknown[0], name), None
    shown = await record(session, services, person=person, entry=entry, incident=incident,
                         child=child)
    return shown, incident.id if incident is not None else None
