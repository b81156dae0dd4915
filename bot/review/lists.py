"""Open items by worker (what is late on a clock is ``bot.review.needs``).

* The worker who "has" a report: for one awaiting acknowledgement, its holder
  (``bot.record.incidents.holder_ids``); once acknowledged, whoever acknowledged it,
  or the person a manager acknowledged it on behalf of.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.record.incidents import holder_ids
from bot.review import Scope
from bot.rules.reasons import HANDED_OVER
from storage import queries
from storage.models import Incident, IncidentRecipient, Person, Team


def first_step_due(incident: Incident) -> datetime | None:
    steps = (incident.plan or {}).get("steps") or []
    if not steps:
        return None
    return datetime.fromisoformat(steps[0]["due"])


def _in_scope(q, scope: Scope):
    return q if scope is None else q.where(Incident.team_id.in_(sorted(scope)))


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
