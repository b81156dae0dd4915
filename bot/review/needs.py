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
deadlines that do not move when the engine acts (never ``next_due_at``). Which clocks
there are, their deadline columns and when each runs are stated once, in
``storage.models.LATE_CLOCKS``; from them the database keeps ``incidents.late_from``, the
earliest deadline of the clocks that run (a generated column, migration
``0019_needs_late_from``), and this module adds the comparison with now. The list is ranked
by ``late_from`` and cut to the page in SQL, and counted, by one range of the partial index
``ix_incidents_late_from`` (late_from, team_id): only the page's reports are read and built,
and the cost follows the number of late reports, not the size of the record
(``bench/escalation.py --only-needs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, case, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from bot.people import statutory
from bot.record.incidents import holder_ids
from bot.record.notification import records_of
from bot.record.owed import Owed
from bot.review import Scope
from bot.rules import notifiable
from storage import queries
from storage.models import (
    LATE_CLOCKS,
    Delivery,
    Incident,
    NotifiableEvent,
    Person,
    Task,
    Team,
)

MAX_ITEMS = 50
# "acknowledgement", "outcome", "notification", "undelivered": the record's clocks.
ACK, OUTCOME, NOTIFICATION, UNDELIVERED = CLOCKS = tuple(LATE_CLOCKS)
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
    page: int = 1  # of the reports, counting from 1
    per_page: int = MAX_ITEMS

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        """The position of the first report shown in the whole list (from 1)."""
        return (self.page - 1) * self.per_page + 1

    @property
    def anything(self) -> bool:
        return bool(self.items or self.actions or self.events)


_NOW = bindparam("now")
_TEAMS = bindparam("teams", expanding=True)
_LIMIT = bindparam("limit")
_OFFSET = bindparam("offset")
_IDS = bindparam("ids", expanding=True)

# Per clock: the column that says since when, and when it is late: the clocks of
# ``storage.models.LATE_CLOCKS`` (the deadline and when the clock runs) past now; a message
# that reached nobody counts from that very moment.
_CLOCK_SQL = {
    clock: (deadline, runs & ((deadline <= _NOW) if clock == UNDELIVERED else (deadline < _NOW)))
    for clock, (deadline, runs) in LATE_CLOCKS.items()
}
# Each clock's "since" when the report is late on it, else NULL.
_LATE_SINCE = [case((cond, col)).label(clock) for clock, (col, cond) in _CLOCK_SQL.items()]
# Late on some clock: ``late_from`` (the earliest deadline of the clocks that run, kept by
# the database) has passed — or is now, and is a message that reached nobody now. The two
# apart, so that the first (all but never the second) is read from the index alone.
_PASSED = Incident.late_from < _NOW
_NOW_UNDELIVERED = (Incident.late_from == _NOW) & _CLOCK_SQL[UNDELIVERED][1]


def _statements(scoped: bool):
    """Built once (statement building costs more than running these small queries).

    The page: the late reports ranked by ``late_from`` (the moment each went late, most
    overdue first, then by id) and cut to the page in SQL on ``ix_incidents_late_from``
    alone; then only the page's reports are read, with each one's late clocks and its
    team's manager. The count: the same ranges, counted."""
    def late(cond, *cols):
        q = select(*cols).where(cond)
        return q.where(Incident.team_id.in_(_TEAMS)) if scoped else q

    ranked = union_all(late(_PASSED, Incident.id, Incident.late_from),
                       late(_NOW_UNDELIVERED, Incident.id, Incident.late_from)).subquery()
    cut = (select(ranked.c.id, ranked.c.late_from).order_by(ranked.c.late_from, ranked.c.id)
           .limit(_LIMIT).offset(_OFFSET).subquery("cut"))
    page = (select(Incident, Team.manager_id, *_LATE_SINCE)
            .join(cut, cut.c.id == Incident.id).join(Team, Team.id == Incident.team_id)
            .order_by(cut.c.late_from, Incident.id)
            # The list needs neither the plan nor the texts: not decoding them halves its cost.
            .options(*(defer(c, raiseload=True) for c in (
                Incident.plan, Incident.details, Incident.description, Incident.outcome_text))))
    count = select(late(_PASSED, func.count()).scalar_subquery()
                   + late(_NOW_UNDELIVERED, func.count()).scalar_subquery())
    return page, count


_PAGE, _COUNT = {}, {}
for _scoped_variant in (False, True):
    _PAGE[_scoped_variant], _COUNT[_scoped_variant] = _statements(_scoped_variant)
_FAILED = (select(Delivery).where(Delivery.incident_id.in_(_IDS), Delivery.status == "failed",
                                  Delivery.method == "send").order_by(Delivery.id))


_SAME = object()  # ``events`` not given: the same teams as the reports


async def needs_action(session: AsyncSession, scope: Scope, now: datetime,
                       limit: int = MAX_ITEMS, *, page: int = 1,
                       events: Scope | object = _SAME,
                       owner_id: str | None = None) -> NeedsAction:
    """Reports in ``scope`` (team ids; None = all) late on any clock, most overdue first,
    ``limit`` to a page (``page`` counts from 1; past the last, the last); oversight
    actions overdue in ``scope``; notifiable events without a report overdue in ``events``
    (None = all; team ids = recorded by someone in those teams), their owner ``owner_id``
    (the registered manager)."""
    result = await _reports(session, scope, now, limit, page)
    result.actions, result.actions_total = await overdue_actions(session, scope, now, limit)
    result.events, result.events_total = await overdue_events(
        session, scope if events is _SAME else events, now, limit, owner_id)
    return result


async def _reports(session: AsyncSession, scope: Scope, now: datetime, limit: int,
                   page: int) -> NeedsAction:
    scoped = scope is not None
    params: dict = {"now": now, "limit": limit}
    if scoped:
        params["teams"] = sorted(scope)
    total = None
    if page > 1:  # counted first, to keep the page within the list
        total = (await session.execute(_COUNT[scoped], params)).scalar_one()
        page = max(1, min(page, -(-total // limit)))
    params["offset"] = (page - 1) * limit
    rows = (await session.execute(_PAGE[scoped], params)).all()
    if total is None:
        # Fewer than a page on the first: all are here.
        total = (len(rows) if len(rows) < limit
                 else (await session.execute(_COUNT[scoped], params)).scalar_one())
    if not rows:
        return NeedsAction([], total, now, page=page, per_page=limit)
    ids = [inc.id for inc, *_ in rows]
    holders = await holder_ids(session, ids)
    failures: dict[int, list[Delivery]] = {}
    for d in (await session.execute(_FAILED, {"ids": ids})).scalars():
        failures.setdefault(d.incident_id, []).append(d)
    wanted = set(holders.values()) | {manager for _inc, manager, *_ in rows if manager}
    wanted |= {d.person_id for ds in failures.values() for d in ds if d.person_id}
    wanted |= {worker for inc, *_ in rows if (worker := _worker(inc, holders))}
    people = await queries.people_by_id(session, wanted)

    items = []
    for inc, manager_id, *since_by_clock in rows:
        holder = people.get(_worker(inc, holders) or "")
        manager = people.get(manager_id or "")
        late = sorted((Late(clock, since, manager if clock == NOTIFICATION else holder)
                       for clock, since in zip(CLOCKS, since_by_clock) if since is not None),
                      key=lambda c: c.since)
        failed = [
            FailedDelivery(
                people[d.person_id].name if d.person_id in people else (d.person_id or "unknown"),
                d.kind, d.sent_at or d.next_attempt_at or d.created_at, d.last_error or "",
            )
            for d in failures.get(inc.id, [])
        ]
        items.append(NeedsItem(inc, holder, late, failed))
    return NeedsAction(items, max(total, len(items)), now, page=page, per_page=limit)


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

