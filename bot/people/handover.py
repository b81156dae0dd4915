"""Handover: when a child's allocated social worker changes, their open work moves with it.

Called by the directory import (``bot.people.directory.apply_directory``) inside its
transaction, so the new allocation, the moved work, the messages owed and the audit
event commit together or not at all.

What moves, for each report on the child that is not closed:

* the old worker's *holding* recipient row (allocated, cover, duty, EDT, manager
  fallback) becomes the new worker's ``allocated`` row, so every clock that looks for
  the holder (acknowledgement reminders, the outcome clock) now reaches the new
  worker; the old worker's row is kept as ``handed_over`` (not a holder: they may no
  longer acknowledge, reply, close or view it — see ``bot.people.access``);
* reminders and escalations still unsent to the old worker about it are cancelled.

Open statutory tasks on the child (``tasks``) change owner too.

The new worker gets one message listing each open item with what is pending; the
old worker and the team manager are told; an audit event ``handover`` records the
child, from, to and the items (the child's chronology shows it).

An import that would leave a child with open reports and no allocated worker who can
take them (none named, or the one named is inactive) is refused before anything is
written, naming the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery.outbox import NOTICE_PRIORITY, enqueue
from bot.people import chronicle, statutory
from bot.rules.categories import DEFAULT_CATEGORIES
from bot.rules.reasons import HANDED_OVER
from bot.rules.routing import HOLDER_REASONS
from bot.texts import h, when
from storage.models import Delivery, Incident, IncidentRecipient, Person, Task, Team

# Messages about a report that only its holder was owed; they are not sent to a worker
# who no longer has it.
CANCEL_ON_HANDOVER = ("reminder", "escalation", "outcome_reminder")

_LABELS = {c["key"]: c["label"] for c in DEFAULT_CATEGORIES}


@dataclass
class Item:
    reference: str
    category: str
    pending: str


@dataclass
class Handover:
    child_ref: str
    team_id: str
    from_id: str | None
    to_id: str
    items: list[Item] = field(default_factory=list)


async def open_incidents(session: AsyncSession, child_ref: str) -> list[Incident]:
    rows = await session.execute(
        select(Incident).where(Incident.child_ref == child_ref, Incident.status != "closed")
        .order_by(Incident.reported_at, Incident.id))
    return list(rows.scalars())


async def children_with_open_items(session: AsyncSession, refs: set[str]) -> dict[str, int]:
    """How many open reports and statutory tasks each of ``refs`` has (children with none
    are left out)."""
    if not refs:
        return {}
    out: dict[str, int] = {}
    rows = await session.execute(
        select(Incident.child_ref).where(Incident.child_ref.in_(refs), Incident.status != "closed"))
    # An oversight action keeps its own owner (a person, not the allocation): not counted.
    tasks = await session.execute(
        select(Task.child_ref).where(Task.child_ref.in_(refs), statutory.is_open(),
                                     Task.kind != statutory.OVERSIGHT_ACTION))
    for (ref,) in [*rows, *tasks]:
        out[ref] = out.get(ref, 0) + 1
    return out


def pending_text(incident: Incident) -> str:
    """What is owed on an open report, in a line."""
    parts = []
    if incident.status == "open":
        due = f"; next reminder {when(incident.next_due_at)}" if incident.next_due_at else ""
        parts.append(f"not yet acknowledged{due}")
    elif incident.next_step and incident.next_step.startswith("outcome") and incident.next_due_at:
        parts.append(f"acknowledged; outcome due by {when(incident.next_due_at)}")
    else:
        parts.append("acknowledged; outcome to record")
    if incident.notifiable and incident.notified_at is None and incident.notification_due_at:
        parts.append(f"Ofsted notification due by {when(incident.notification_due_at)}")
    return "; ".join(parts)


async def hand_over(session: AsyncSession, *, child_ref: str, team_id: str,
                    from_id: str | None, to_id: str, now: datetime,
                    actor: str | None) -> Handover:
    """Move the child's open reports from ``from_id`` to ``to_id`` (in the caller's
    transaction), tell the people concerned and audit it."""
    result = Handover(child_ref, team_id, from_id, to_id)
    for incident in await open_incidents(session, child_ref):
        rows = list((await session.execute(
            select(IncidentRecipient).where(IncidentRecipient.incident_id == incident.id)
        )).scalars())
        by_person = {r.person_id: r for r in rows}
        old = by_person.get(from_id or "")
        if old is not None and old.reason in HOLDER_REASONS:
            old.reason = HANDED_OVER
            old.can_acknowledge = False
        new = by_person.get(to_id)
        if new is None:
            session.add(IncidentRecipient(incident_id=incident.id, person_id=to_id,
                                          reason="allocated", can_acknowledge=True, added_at=now))
        else:
            new.reason = "allocated"
            new.can_acknowledge = True
        if from_id is not None:
            await session.execute(
                update(Delivery)
                .where(Delivery.incident_id == incident.id, Delivery.person_id == from_id,
                       Delivery.kind.in_(CANCEL_ON_HANDOVER), Delivery.status == "pending",
                       Delivery.method == "send",
                       (Delivery.locked_until.is_(None)) | (Delivery.locked_until < now))
                .values(status="cancelled", last_error="handed over before it was sent")
                .execution_options(synchronize_session=False))
        incident.updated_at = now
        result.items.append(Item(incident.reference,
                                 _LABELS.get(incident.category, incident.category),
                                 pending_text(incident)))
    tasks = (await session.execute(
        select(Task).where(Task.child_ref == child_ref, statutory.is_open())
        .order_by(Task.due_at, Task.id))).scalars()
    for task in tasks:
        if task.kind == statutory.OVERSIGHT_ACTION and task.owner_id != from_id:
            continue  # a manager's action owned by someone else stays theirs
        task.owner_id = to_id
        overdue = "overdue since" if task.due_at <= now else "due by"
        result.items.append(Item(f"task {task.id}", statutory.describe(task),
                                 f"{overdue} {when(task.due_at)}"))
    await session.flush()
    await chronicle.record(
        session, "handover", child_ref=child_ref, at=now, actor_id=actor, team=team_id,
        **{"from": from_id, "to": to_id},
        items=[{"reference": i.reference, "pending": i.pending} for i in result.items],
    )
    await _tell(session, result, now)
    return result


async def _tell(session: AsyncSession, ho: Handover, now: datetime) -> None:
    new = await session.get(Person, ho.to_id)
    old = await session.get(Person, ho.from_id) if ho.from_id else None
    team = await session.get(Team, ho.team_id)
    manager = await session.get(Person, team.manager_id) if team and team.manager_id else None
    new_name = h(new.name) if new else h(ho.to_id)
    old_name = h(old.name) if old else "nobody"
    n = len(ho.items)
    reports = f"{n} open item{'s' if n != 1 else ''}"
    key = f"handover:{ho.child_ref}:{ho.to_id}:{now.isoformat()}"

    if ho.items:
        lines = [f"📋 <b>Handover: child {h(ho.child_ref)} is now allocated to you</b> "
                 f"(from {old_name}). {reports.capitalize()} now with you:"]
        lines += [f"• {h(i.reference)} · {h(i.category)}: {h(i.pending)}" for i in ho.items]
        lines.append("Reminders about these now come to you; /open and /tasks list them.")
    else:
        lines = [f"📋 <b>Child {h(ho.child_ref)} is now allocated to you</b> (from {old_name}). "
                 "There are no open reports or tasks."]
    sent: set[str] = set()
    if new is not None and new.active and new.telegram_chat_id:
        await enqueue(session, key=f"{key}:new", kind="notice", now=now, person=new,
                      priority=NOTICE_PRIORITY, text="\n".join(lines))
        sent.add(new.id)
    if old is not None and old.active and old.telegram_chat_id and old.id not in sent:
        await enqueue(session, key=f"{key}:old", kind="notice", now=now, person=old,
                      priority=NOTICE_PRIORITY,
                      text=(f"📋 Child {h(ho.child_ref)} is now allocated to {new_name}. "
                            f"{reports.capitalize()} handed over to them; you no longer hold "
                            f"{'them' if n != 1 else 'it'}." if n else
                            f"📋 Child {h(ho.child_ref)} is now allocated to {new_name}."))
        sent.add(old.id)
    if (manager is not None and manager.active and manager.telegram_chat_id
            and manager.id not in sent):
        refs = ", ".join(h(i.reference) for i in ho.items)
        await enqueue(session, key=f"{key}:manager", kind="notice", now=now, person=manager,
                      priority=NOTICE_PRIORITY,
                      text=(f"📋 Handover: child {h(ho.child_ref)} moved from {old_name} to "
                            f"{new_name}" + (f" with {reports}: {refs}." if n else
                                             " (no open reports or tasks).")))
