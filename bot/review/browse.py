"""Open reports, filtered and paged: the web console's *Open reports* page.

Filters (each optional): team, worker, category, urgency and state. State is
``open`` (not closed: the default), ``awaiting`` (not yet acknowledged),
``acknowledged`` or ``closed``. A report's *worker* is who has it
(``bot.review.lists.worker_of``); the worker filter keeps reports acknowledged by
or for that worker, and reports not yet acknowledged that they hold (allocated,
cover, duty, EDT) and have not handed over. Oldest first, ``per_page`` a page.

``scope`` is the set of team ids the reader reviews (None: every team); ``mine``
limits the list to reports sent to that person (a worker reads only their own,
as ``/open`` shows them).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from bot.record.incidents import holder_ids
from bot.review import Scope
from bot.review.lists import worker_of
from bot.rules.reasons import HANDED_OVER
from bot.rules.routing import HOLDER_REASONS
from storage import queries
from storage.models import Incident, IncidentRecipient, Person, PersonRole, Team

STATES = {
    "open": Incident.status.in_(("open", "acknowledged")),
    "awaiting": Incident.status == "open",
    "acknowledged": Incident.status == "acknowledged",
    "closed": Incident.status == "closed",
}


@dataclass(frozen=True)
class Filters:
    team: str = ""
    worker: str = ""
    category: str = ""
    urgency: str = ""
    state: str = "open"


@dataclass
class Row:
    incident: Incident
    worker: Person | None


@dataclass
class ReportPage:
    rows: list[Row]
    total: int
    page: int  # 1-based, within 1..pages
    pages: int
    per_page: int


def _held_by(worker: str):
    acked_by = func.coalesce(Incident.acknowledged_on_behalf_of_id, Incident.acknowledged_by_id)
    holds = exists().where(IncidentRecipient.incident_id == Incident.id,
                           IncidentRecipient.person_id == worker,
                           IncidentRecipient.reason.in_(HOLDER_REASONS))
    handed = exists().where(IncidentRecipient.incident_id == Incident.id,
                            IncidentRecipient.person_id == worker,
                            IncidentRecipient.reason == HANDED_OVER)
    return or_(and_(Incident.status != "open", acked_by == worker),
               and_(Incident.status == "open", holds, ~handed))


async def open_reports(session: AsyncSession, *, scope: Scope, mine: str | None,
                       filters: Filters, page: int = 1, per_page: int = 25) -> ReportPage:
    conds = [STATES.get(filters.state, STATES["open"])]
    if scope is not None:
        conds.append(Incident.team_id.in_(sorted(scope)))
    if mine is not None:
        conds.append(exists().where(IncidentRecipient.incident_id == Incident.id,
                                    IncidentRecipient.person_id == mine,
                                    IncidentRecipient.reason != HANDED_OVER))
    if filters.team:
        conds.append(Incident.team_id == filters.team)
    if filters.category:
        conds.append(Incident.category == filters.category)
    if filters.urgency:
        conds.append(Incident.urgency == filters.urgency)
    if filters.worker:
        conds.append(_held_by(filters.worker))
    total = (await session.execute(select(func.count()).select_from(Incident)
                                   .where(*conds))).scalar_one()
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    incidents = list((await session.execute(
        select(Incident).where(*conds).order_by(Incident.reported_at, Incident.id)
        .offset((page - 1) * per_page).limit(per_page)
        .options(*(defer(c, raiseload=True) for c in (Incident.plan, Incident.details,
                                                      Incident.description,
                                                      Incident.outcome_text))))).scalars())
    ids = [i.id for i in incidents]
    holders = await holder_ids(session, ids)
    handed = set((await session.execute(
        select(IncidentRecipient.incident_id, IncidentRecipient.person_id).where(
            IncidentRecipient.incident_id.in_(ids),
            IncidentRecipient.reason == HANDED_OVER))).all()) if ids else set()
    workers = {i.id: worker_of(i, holders, handed) for i in incidents}
    people = await queries.people_by_id(session, {w for w in workers.values() if w})
    return ReportPage([Row(i, people.get(workers[i.id] or "")) for i in incidents], total,
                      page, pages, per_page)


async def filter_choices(session: AsyncSession, scope: Scope) -> tuple[list[Team], list[Person]]:
    """The teams and the workers (active social workers, duty, EDT, managers) a reader with
    this scope may filter by, A–Z."""
    team_q = select(Team).order_by(Team.name)
    worker_q = (select(Person).join(PersonRole, PersonRole.person_id == Person.id)
                .where(Person.active.is_(True), PersonRole.role.in_(
                    ("social_worker", "duty", "edt", "team_manager")))
                .distinct().order_by(Person.name))
    if scope is not None:
        team_q = team_q.where(Team.id.in_(sorted(scope)))
        worker_q = worker_q.where(Person.team_id.in_(sorted(scope)))
    return (list((await session.execute(team_q)).scalars()),
            list((await session.execute(worker_q)).scalars()))
