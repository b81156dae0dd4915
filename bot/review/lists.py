"""What needs a manager's attention now: overdue reports, and open items by worker.

Decisions:

* Overdue: a report still waiting for acknowledgement whose next due step
  (``incident.next_due_at``) has passed, or any report not yet closed with a
  message the bot could not deliver (a failed delivery). Oldest report first.
  "How late" is counted from the first step of its escalation plan (the moment
  it first became overdue), falling back to ``next_due_at``.
* The worker who "has" a report: for one awaiting acknowledgement, its holder
  (``bot.record.incidents.holder_ids``); once acknowledged, whoever acknowledged it,
  or the person a manager acknowledged it on behalf of.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.record.incidents import holder_ids
from bot.review import Scope
from bot.rules.reasons import HANDED_OVER
from storage import queries
from storage.models import Delivery, Incident, IncidentRecipient, Person, Team

MAX_OVERDUE = 50


@dataclass
class FailedDelivery:
    to_name: str
    kind: str
    at: datetime
    error: str


@dataclass
class OverdueItem:
    incident: Incident
    holder: Person | None
    overdue_since: datetime | None
    late_by: timedelta | None
    failed: list[FailedDelivery] = field(default_factory=list)


@dataclass
class OverdueList:
    items: list[OverdueItem]
    total: int  # may exceed len(items): the list shows the oldest MAX_OVERDUE


def first_step_due(incident: Incident) -> datetime | None:
    steps = (incident.plan or {}).get("steps") or []
    if not steps:
        return None
    return datetime.fromisoformat(steps[0]["due"])


def _in_scope(q, scope: Scope):
    return q if scope is None else q.where(Incident.team_id.in_(sorted(scope)))


async def overdue(session: AsyncSession, scope: Scope, now: datetime,
                  limit: int = MAX_OVERDUE) -> OverdueList:
    failed_ids = select(Delivery.incident_id).where(
        Delivery.status == "failed", Delivery.method == "send", Delivery.incident_id.is_not(None)
    )
    q = _in_scope(select(Incident), scope).where(
        or_(
            (Incident.status == "open") & (Incident.next_due_at < now),
            (Incident.status != "closed") & Incident.id.in_(failed_ids),
        )
    ).order_by(Incident.reported_at, Incident.id)
    incidents = list((await session.execute(q)).scalars())
    total = len(incidents)
    incidents = incidents[:limit]
    ids = [i.id for i in incidents]
    holders = await holder_ids(session, ids)
    failures: dict[int, list[Delivery]] = {}
    if ids:
        rows = await session.execute(
            select(Delivery).where(Delivery.incident_id.in_(ids), Delivery.status == "failed",
                                   Delivery.method == "send").order_by(Delivery.id)
        )
        for d in rows.scalars():
            failures.setdefault(d.incident_id, []).append(d)
    people = await queries.people_by_id(
        session, set(holders.values()) | {d.person_id for ds in failures.values() for d in ds
                                          if d.person_id}
    )
    items = []
    for inc in incidents:
        since = None
        if inc.status == "open" and inc.next_due_at is not None and inc.next_due_at < now:
            first = first_step_due(inc)
            since = first if first is not None and first < now else inc.next_due_at
        failed = [
            FailedDelivery(
                people[d.person_id].name if d.person_id in people else (d.person_id or "unknown"),
                d.kind, d.sent_at or d.next_attempt_at or d.created_at, d.last_error or "",
            )
            for d in failures.get(inc.id, [])
        ]
        holder = people.get(holders.get(inc.id, ""))
        items.append(OverdueItem(inc, holder, since, now - since if since else None, failed))
    return OverdueList(items, total)


@dataclass
class OpenGroup:
    worker: Person | None
    incidents: list[Incident]


def worker_of(incident: Incident, holders: dict[int, str],
              handed_over: set[tuple[int, str]] = frozenset()) -> str | None:
    """Who has it: the holder while waiting; once acknowledged, whoever acknowledged it (or
    it was acknowledged on behalf of) — unless they have handed it over since."""
    if incident.status == "acknowledged":
        who = incident.acknowledged_on_behalf_of_id or incident.acknowledged_by_id
        if who is not None and (incident.id, who) not in handed_over:
            return who
    return holders.get(incident.id)


async def open_by_worker(session: AsyncSession, scope: Scope) -> list[OpenGroup]:
    """Reports not closed in the scope, grouped by the worker who has them (A–Z)."""
    q = _in_scope(select(Incident), scope).where(Incident.status != "closed").order_by(
        Incident.reported_at, Incident.id)
    incidents = list((await session.execute(q)).scalars())
    holders = await holder_ids(session, [i.id for i in incidents])
    handed = set((await session.execute(
        select(IncidentRecipient.incident_id, IncidentRecipient.person_id).where(
            IncidentRecipient.incident_id.in_([i.id for i in incidents]),
            IncidentRecipient.reason == HANDED_OVER))).all())
    by_worker: dict[str | None, list[Incident]] = {}
    for inc in incidents:
        by_worker.setdefault(worker_of(inc, holders, handed), []).append(inc)
    people = await queries.people_by_id(session, {w for w in by_worker if w})
    groups = [OpenGroup(people.get(w) if w else None, incs) for w, incs in by_worker.items()]
    groups.sort(key=lambda g: (g.worker is None, g.worker.name if g.worker else ""))
    return groups


async def open_for_person(session: AsyncSession, person: Person) -> list[Incident]:
    """A worker's own open items: reports they were sent that are not closed (not those
    they handed over)."""
    return await queries.open_incidents_for(session, person.id, (HANDED_OVER,))


async def team_label(session: AsyncSession, scope: Scope) -> str:
    """'North Children's Team' (or several, or 'all teams') for headings."""
    if scope is None:
        return "all teams"

    names = (await session.execute(select(Team.name).where(Team.id.in_(sorted(scope)))
                                   .order_by(Team.name))).scalars().all()
    return ", ".join(names) or "no team"
