"""Needs action: every report late on any of its clocks, most overdue first.

One query for ``/overdue``, ``fosterbot overdue``, the managers' daily digest
and the web console. A report needs action when it is late on any clock:

* **acknowledgement** — still unacknowledged after the first step of its frozen
  plan fell due (``incidents.ack_due_at``), whether or not steps have run since;
* **outcome** — acknowledged, no outcome recorded, past the outcome deadline
  set on acknowledgement (``incidents.outcome_due_at``, restarted on reopen);
* **notification** — a notifiable event whose notification to Ofsted and the
  responsible authority is not recorded, past ``notification_due_at`` (even
  when the report itself is closed: the duty to notify remains);
* **undelivered** — not closed, and a message about it reached nobody (a step
  the engine could deliver to nobody, or a delivery that finally failed), since
  ``incidents.undelivered_since``.

Beside the reports, **oversight actions** (``tasks`` of kind ``oversight_action``, see
``bot/engine/oversight_actions.py``) still not done after their due time are listed on
their own (``NeedsAction.actions``), most overdue first, with the owner and the manager
who set them: they are a manager's to chase, though not a report's clock.

**Notifiable events without a report** (a DBS referral a manager records directly,
``bot/engine/event_reminders.py``) past their deadline with a recipient still to record are
listed on their own too (``NeedsAction.events``), most overdue first: the owner is the
registered manager's chain (``[notification]``), the list names the recipients still
missing, and "since" is the event's deadline. Who sees them is ``Access.event_scope`` (the
notification owners and administrators all; a team's managers those recorded by someone in
their team), passed as ``events``; by default the same teams as the reports. The scan is a
range of the partial index ``ix_notifiable_events_open_without_report`` (migration
``0018_referral_needs_index``: only the open events without a report), so neither the
closed referrals nor the reports' events are read.

"Since" is the first moment the report became late on that clock, from
deadlines that do not move when the engine acts (never ``next_due_at``). Each
clock is one range scan of its own index (``0006_needs_action_indexes``), so
the cost follows the number of late reports, not the size of the record
(``bench/escalation.py --needs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, func, select, union, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from bot.people import statutory
from bot.record.incidents import holder_ids
from bot.record.notification import records_of
from bot.record.owed import Owed
from bot.review import Scope
from bot.rules import notifiable
from storage import queries
from storage.models import Delivery, Incident, NotifiableEvent, Person, Task, Team

MAX_ITEMS = 50
ACK, OUTCOME, NOTIFICATION, UNDELIVERED = "acknowledgement", "outcome", "notification", "undelivered"
CLOCKS = (ACK, OUTCOME, NOTIFICATION, UNDELIVERED)
NOT_CLOSED = ("open", "acknowledged")


@dataclass(frozen=True)
class FailedDelivery:
    to_name: str
    kind: str
    at: datetime
    error: str


@dataclass(frozen=True)
class Late:
    clock: str  # one of CLOCKS
    since: datetime  # the first moment it was late on this clock
    who: Person | None  # whoever must act on it


@dataclass
class NeedsItem:
    incident: Incident
    holder: Person | None  # who has the report (the holder, or whoever acknowledged it)
    late: list[Late]  # earliest first
    failed: list[FailedDelivery] = field(default_factory=list)

    @property
    def since(self) -> datetime:
        return self.late[0].since


@dataclass(frozen=True)
class OverdueAction:
    """An oversight action not recorded done after its due time."""

    task: Task
    owner: Person | None
    manager: Person | None  # who recorded the oversight

    @property
    def since(self) -> datetime:
        return self.task.due_at


@dataclass(frozen=True)
class OverdueEvent:
    """A notifiable event without a report (a DBS referral) past its deadline with
    recipients still to record."""

    event: NotifiableEvent
    missing: list[str]  # recipient keys still owed (a phone call not yet confirmed counts)
    owner: Person | None  # the registered manager (``[notification] registered_manager``)
    recorded_by: Person | None
    owed: tuple[Owed, ...] = ()  # the records behind ``missing``, for the record buttons

    @property
    def since(self) -> datetime:
        return self.event.due_at


@dataclass
class NeedsAction:
    items: list[NeedsItem]
    total: int  # reports that need action; may exceed len(items) (the most overdue are shown)
    now: datetime
    actions: list[OverdueAction] = field(default_factory=list)  # most overdue first
    actions_total: int = 0  # may exceed len(actions)
    events: list[OverdueEvent] = field(default_factory=list)  # most overdue first
    events_total: int = 0  # may exceed len(events)

    @property
    def anything(self) -> bool:
        return bool(self.items or self.actions or self.events)


_NOW = bindparam("now")
_TEAMS = bindparam("teams", expanding=True)
_LIMIT = bindparam("limit")
_IDS = bindparam("ids", expanding=True)

# Per clock: the column that says since when, and the condition (each matches one index).
_CLOCK_SQL = {
    ACK: (Incident.ack_due_at, (Incident.status == "open") & (Incident.ack_due_at < _NOW)),
    OUTCOME: (Incident.outcome_due_at,
              (Incident.status == "acknowledged") & (Incident.outcome_due_at < _NOW)),
    NOTIFICATION: (Incident.notification_due_at,
                   Incident.notified_at.is_(None) & (Incident.notification_due_at < _NOW)),
    UNDELIVERED: (Incident.undelivered_since,
                  Incident.status.in_(NOT_CLOSED) & (Incident.undelivered_since <= _NOW)),
}


def _statements(scoped: bool):
    """Built once (statement building costs more than running these small queries): the
    most overdue ``limit`` of each clock in one UNION ALL, and the count of reports."""
    def where(q, cond):
        q = q.where(cond)
        return q.where(Incident.team_id.in_(_TEAMS)) if scoped else q

    firsts = [
        select(where(select(Incident.id.label("id"), col.label("since")), cond)
               .order_by(col, Incident.id).limit(_LIMIT).subquery())
        for col, cond in _CLOCK_SQL.values()
    ]
    ids = [where(select(Incident.id), cond) for _col, cond in _CLOCK_SQL.values()]
    return union_all(*firsts), select(func.count()).select_from(union(*ids).subquery())


_FIRST, _COUNT = {}, {}
for _scoped_variant in (False, True):
    _FIRST[_scoped_variant], _COUNT[_scoped_variant] = _statements(_scoped_variant)
# The list needs neither the plan nor the texts: not decoding them halves its cost.
_INCIDENTS = select(Incident).where(Incident.id.in_(_IDS)).options(
    *(defer(c, raiseload=True) for c in (Incident.plan, Incident.details, Incident.description,
                                         Incident.outcome_text)))
_FAILED = (select(Delivery).where(Delivery.incident_id.in_(_IDS), Delivery.status == "failed",
                                  Delivery.method == "send").order_by(Delivery.id))
_MANAGERS = select(Team.id, Team.manager_id).where(Team.id.in_(bindparam("team_ids",
                                                                          expanding=True)))


def late_clocks(incident: Incident, now: datetime) -> list[tuple[str, datetime]]:
    """The clocks one incident is late on, with since when (the same rules as the query)."""
    out = []
    if incident.status == "open" and incident.ack_due_at and incident.ack_due_at < now:
        out.append((ACK, incident.ack_due_at))
    if (incident.status == "acknowledged" and incident.outcome_due_at
            and incident.outcome_due_at < now):
        out.append((OUTCOME, incident.outcome_due_at))
    if (incident.notified_at is None and incident.notification_due_at
            and incident.notification_due_at < now):
        out.append((NOTIFICATION, incident.notification_due_at))
    if (incident.status in NOT_CLOSED and incident.undelivered_since
            and incident.undelivered_since <= now):
        out.append((UNDELIVERED, incident.undelivered_since))
    return sorted(out, key=lambda c: c[1])


_SAME = object()  # ``events`` not given: the same teams as the reports


async def needs_action(session: AsyncSession, scope: Scope, now: datetime,
                       limit: int = MAX_ITEMS, *, events: Scope | object = _SAME,
                       owner_id: str | None = None) -> NeedsAction:
    """Reports in ``scope`` (team ids; None = all) late on any clock, most overdue first;
    oversight actions overdue in ``scope``; notifiable events without a report overdue in
    ``events`` (None = all; team ids = recorded by someone in those teams), their owner
    ``owner_id`` (the registered manager)."""
    result = await _reports(session, scope, now, limit)
    result.events, result.events_total = await overdue_events(
        session, scope if events is _SAME else events, now, limit, owner_id)
    return result


async def _reports(session: AsyncSession, scope: Scope, now: datetime,
                   limit: int) -> NeedsAction:
    scoped = scope is not None
    params: dict = {"now": now, "limit": limit}
    if scoped:
        params["teams"] = sorted(scope)
    candidates: dict[int, datetime] = {}
    for iid, since in await session.execute(_FIRST[scoped], params):
        if iid not in candidates or since < candidates[iid]:
            candidates[iid] = since
    actions, actions_total = await overdue_actions(session, scope, now, limit)
    if not candidates:
        return NeedsAction([], 0, now, actions, actions_total)
    ids = [iid for iid, _ in sorted(candidates.items(), key=lambda c: (c[1], c[0]))][:limit]
    total = (await session.execute(_COUNT[scoped], params)).scalar_one()
    incidents = {i.id: i for i in (await session.execute(_INCIDENTS, {"ids": ids})).scalars()}
    holders = await holder_ids(session, ids)
    failures: dict[int, list[Delivery]] = {}
    for d in (await session.execute(_FAILED, {"ids": ids})).scalars():
        failures.setdefault(d.incident_id, []).append(d)
    team_ids = {i.team_id for i in incidents.values()}
    managers = dict((await session.execute(_MANAGERS, {"team_ids": sorted(team_ids)})).all())
    wanted = set(holders.values()) | {m for m in managers.values() if m}
    wanted |= {d.person_id for ds in failures.values() for d in ds if d.person_id}
    wanted |= {worker for i in incidents.values() if (worker := _worker(i, holders))}
    people = await queries.people_by_id(session, wanted)

    items = []
    for iid in ids:
        inc = incidents[iid]
        holder = people.get(_worker(inc, holders) or "")
        manager = people.get(managers.get(inc.team_id) or "")
        late = [Late(clock, since, manager if clock == NOTIFICATION else holder)
                for clock, since in late_clocks(inc, now)]
        if not late:  # changed between the statements of this read: leave it out
            continue
        failed = [
            FailedDelivery(
                people[d.person_id].name if d.person_id in people else (d.person_id or "unknown"),
                d.kind, d.sent_at or d.next_attempt_at or d.created_at, d.last_error or "",
            )
            for d in failures.get(iid, [])
        ]
        items.append(NeedsItem(inc, holder, late, failed))
    items.sort(key=lambda i: (i.since, i.incident.id))
    return NeedsAction(items, max(total, len(items)), now, actions, actions_total)


def _overdue_action_filter(scope: Scope, now: datetime) -> list:
    cond = [Task.kind == statutory.OVERSIGHT_ACTION, statutory.is_open(), Task.due_at <= now]
    if scope is not None:
        cond.append(Task.team_id.in_(sorted(scope)))
    return cond


async def overdue_actions(session: AsyncSession, scope: Scope, now: datetime,
                          limit: int = MAX_ITEMS) -> tuple[list[OverdueAction], int]:
    """Oversight actions in ``scope`` not done by their due time, most overdue first, and
    how many there are (``ix_tasks_team_due``)."""
    cond = _overdue_action_filter(scope, now)
    tasks = list((await session.execute(
        select(Task).where(*cond).order_by(Task.due_at, Task.id).limit(limit))).scalars())
    if not tasks:
        return [], 0
    total = (await session.execute(select(func.count()).select_from(Task).where(*cond))
             ).scalar_one()
    managers = {t.id: str((t.details or {}).get("manager") or "") for t in tasks}
    people = await queries.people_by_id(
        session, {t.owner_id for t in tasks if t.owner_id} | set(managers.values()) - {""})
    return [OverdueAction(t, people.get(t.owner_id or ""), people.get(managers[t.id]))
            for t in tasks], total


def _overdue_event_filter(now: datetime) -> list:
    return [NotifiableEvent.incident_id.is_(None), NotifiableEvent.closed_at.is_(None),
            NotifiableEvent.due_at < now]


async def overdue_events(session: AsyncSession, scope: Scope, now: datetime,
                         limit: int = MAX_ITEMS, owner_id: str | None = None,
                         ) -> tuple[list[OverdueEvent], int]:
    """Notifiable events without a report (DBS referrals) past their deadline and not
    complete, most overdue first, and how many; ``scope`` team ids limit them to those
    recorded by someone in those teams (None: all)."""
    q = select(NotifiableEvent).where(*_overdue_event_filter(now))
    if scope is not None:
        if not scope:
            return [], 0
        q = q.join(Person, Person.id == NotifiableEvent.opened_by_id).where(
            Person.team_id.in_(sorted(scope)))
    evs = list((await session.execute(
        q.order_by(NotifiableEvent.due_at, NotifiableEvent.id).limit(limit))).scalars())
    if not evs:
        return [], 0
    total = (await session.execute(select(func.count()).select_from(q.subquery()))
             ).scalar_one() if len(evs) == limit else len(evs)
    records: dict[int, list] = {}
    for r in await records_of(session, [e.id for e in evs]):
        records.setdefault(r.event_id, []).append(r)
    people = await queries.people_by_id(
        session, {e.opened_by_id for e in evs if e.opened_by_id} | ({owner_id} - {None}))
    out = []
    for e in evs:
        rows = records.get(e.id, [])
        if missing := notifiable.missing(rows):
            owed = tuple(Owed(e, r) for r in rows if r.recipient in missing)
            out.append(OverdueEvent(e, missing, people.get(owner_id or ""),
                                    people.get(e.opened_by_id or ""), owed))
    # An event with nothing missing is being closed by a concurrent transaction.
    return out, total - (len(evs) - len(out))


async def count_overdue_events(session: AsyncSession, now: datetime) -> tuple[int, datetime | None]:
    """How many events without a report are overdue, and the oldest deadline (``/healthz``)."""
    n, oldest = (await session.execute(
        select(func.count(), func.min(NotifiableEvent.due_at))
        .where(*_overdue_event_filter(now)))).one()
    return n, oldest


def _worker(incident: Incident, holders: dict[int, str]) -> str | None:
    """Who has the report: its holder while waiting; once acknowledged, the worker it
    was acknowledged on behalf of, or whoever acknowledged it."""
    if incident.status != "open" and incident.acknowledged_by_id:
        return incident.acknowledged_on_behalf_of_id or incident.acknowledged_by_id
    return holders.get(incident.id)

