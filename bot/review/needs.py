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
by ``late_from``, cut to the page and counted in one statement, by ranges of the partial
index ``ix_incidents_late_from`` (late_from, team_id): only the page's reports are read, and
the cost follows the number of late reports, not the size of the record
(``bench/escalation.py --only-needs``).

The page's reports are read as rows of the columns the lines show (``ShownReport``), not
as ORM incidents, and every statement is built once, here: on PostgreSQL building and
loading objects cost more than the queries. A call reads the page with its count and the
candidates to hold each report, the overdue actions, the overdue events and their records,
then the people named anywhere in them at once; the failed messages only when the page has
some (``bench/round_trips.py`` counts the statements).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.people import statutory
from bot.record.incidents import HOLDER_CANDIDATE, rank_holders
from bot.record.notification import records_of
from bot.record.owed import Owed
from bot.review import Scope
from bot.rules import notifiable
from storage import queries
from storage.models import (
    LATE_CLOCKS,
    Delivery,
    Incident,
    IncidentRecipient,
    NotifiableEvent,
    Person,
    Task,
    Team,
)

MAX_ITEMS = 50
# "acknowledgement", "outcome", "notification", "undelivered": the record's clocks.
ACK, OUTCOME, NOTIFICATION, UNDELIVERED = CLOCKS = tuple(LATE_CLOCKS)
NOT_CLOSED = ("open", "acknowledged")


class ShownReport(NamedTuple):
    """What a needs-action line shows of a report: its columns, read as a row (building 50
    ORM incidents cost more than the query)."""

    id: int
    reference: str
    child_ref: str
    category: str
    urgency: str
    reported_at: datetime
    status: str
    team_id: str


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
    incident: ShownReport
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
# the database) has passed — or is now, and is a message that reached nobody now. One
# condition, a range of ``ix_incidents_late_from`` (``late_from <= now``): the second part is
# looked at only for the rows whose ``late_from`` is now (all but never), so the others are
# ranked, cut and counted from the index alone.
_LATE = (Incident.late_from <= _NOW) & (
    (Incident.late_from < _NOW)
    | ((Incident.late_from == _NOW) & _CLOCK_SQL[UNDELIVERED][1]))
# A message about the report that finally failed (listed under the report).
_FAILED_SEND = (Delivery.status == "failed") & (Delivery.method == "send")


_SHOWN = [getattr(Incident, name) for name in ShownReport._fields]
# Besides the shown columns: who acknowledged it (and on whose behalf, for ``_worker``).
_WORKER = (Incident.acknowledged_by_id, Incident.acknowledged_on_behalf_of_id)


def _statements(scoped: bool):
    """Built once (statement building costs more than running these small queries).

    The page: the late reports ranked by ``late_from`` (the moment each went late, most
    overdue first, then by id) and cut to the page in SQL, walking ``ix_incidents_late_from``
    in its order, so that only the page's rows are read (a window count over the ranked
    rows made SQLite compute ``late_from``, a virtual column, from every late report's row:
    21 ms a call with 3 766 late, against 2 ms for the page and the count apart); the count
    of the whole list as a scalar subquery of the same statement (read once, from the index
    on SQLite); then only the page's reports are read, as rows of the columns the lines
    show, with each one's late clocks, its team's manager, whether a message about it
    failed, and the candidates to hold it (``bot.record.incidents.HOLDER_CANDIDATE``: a row
    per candidate, in the order they were added, or one row with none). The count alone: for
    a page past the end, which has no rows to carry it."""
    def late(*cols):
        q = select(*cols).where(_LATE)
        return q.where(Incident.team_id.in_(_TEAMS)) if scoped else q

    cut = (late(Incident.id).order_by(Incident.late_from, Incident.id)
           .limit(_LIMIT).offset(_OFFSET).subquery("cut"))
    count = late(func.count())
    failed = (select(Delivery.id).where(Delivery.incident_id == Incident.id, _FAILED_SEND)
              .exists())
    page = (select(*_SHOWN, *_WORKER, Team.manager_id, *_LATE_SINCE,
                   count.scalar_subquery().label("total"),
                   failed.label("failed"), IncidentRecipient.person_id.label("candidate"),
                   IncidentRecipient.reason.label("candidate_reason"))
            .join_from(cut, Incident, cut.c.id == Incident.id)
            .join(Team, Team.id == Incident.team_id)
            .outerjoin(IncidentRecipient,
                       (IncidentRecipient.incident_id == Incident.id) & HOLDER_CANDIDATE)
            .order_by(Incident.late_from, Incident.id, IncidentRecipient.id))
    return page, count


_PAGE, _COUNT = {}, {}
for _scoped_variant in (False, True):
    _PAGE[_scoped_variant], _COUNT[_scoped_variant] = _statements(_scoped_variant)
_FAILED = (select(Delivery.incident_id, Delivery.person_id, Delivery.kind,
                  func.coalesce(Delivery.sent_at, Delivery.next_attempt_at, Delivery.created_at),
                  Delivery.last_error)
           .where(Delivery.incident_id.in_(_IDS), _FAILED_SEND).order_by(Delivery.id))


_SAME = object()  # ``events`` not given: the same teams as the reports


async def needs_action(session: AsyncSession, scope: Scope, now: datetime,
                       limit: int = MAX_ITEMS, *, page: int = 1,
                       events: Scope | object = _SAME,
                       owner_id: str | None = None) -> NeedsAction:
    """Reports in ``scope`` (team ids; None = all) late on any clock, most overdue first,
    ``limit`` to a page (``page`` counts from 1; past the last, the last); oversight
    actions overdue in ``scope``; notifiable events without a report overdue in ``events``
    (None = all; team ids = recorded by someone in those teams), their owner ``owner_id``
    (the registered manager). The people named in all three are read together, once."""
    reports = await _late_reports(session, scope, now, limit, page)
    tasks = await overdue_actions(session, scope, now, limit)
    evs = await overdue_events(session, scope if events is _SAME else events, now, limit)
    people = await queries.people_by_id(
        session, reports.people() | tasks.people() | evs.people() | {owner_id or ""})
    result = reports.build(people, now)
    result.actions, result.actions_total = tasks.build(people)
    result.events, result.events_total = evs.build(people, owner_id)
    return result


@dataclass
class _LateReports:
    """The page of late reports as read, before the people are known."""

    rows: list
    total: int
    page: int
    limit: int
    holders: dict[int, str] = field(default_factory=dict)
    failures: dict[int, list] = field(default_factory=dict)

    def people(self) -> set[str]:
        wanted = set(self.holders.values())
        for row in self.rows:
            wanted.add(row.manager_id or "")
            wanted.add(_worker(row, self.holders) or "")
        wanted |= {f.person_id or "" for fs in self.failures.values() for f in fs}
        return wanted

    def build(self, people: dict[str, Person], now: datetime) -> NeedsAction:
        items = []
        shown = len(ShownReport._fields)
        for row in self.rows:
            holder = people.get(_worker(row, self.holders) or "")
            manager = people.get(row.manager_id or "")
            late = sorted((Late(clock, since, manager if clock == NOTIFICATION else holder)
                           for clock in CLOCKS if (since := getattr(row, clock)) is not None),
                          key=lambda c: c.since)
            failed = [
                FailedDelivery(people[f.person_id].name if f.person_id in people
                               else (f.person_id or "unknown"), f.kind, f.at, f.error or "")
                for f in self.failures.get(row.id, [])
            ]
            items.append(NeedsItem(ShownReport._make(row[:shown]), holder, late, failed))
        return NeedsAction(items, max(self.total, len(items)), now, page=self.page,
                           per_page=self.limit)


class _Failed(NamedTuple):
    incident_id: int
    person_id: str | None
    kind: str
    at: datetime
    error: str | None


def _params(scope: Scope, now: datetime, limit: int) -> tuple[bool, dict]:
    """Whether ``scope`` limits the teams (the statement's scoped variant), and the
    parameters every one of this module's statements takes."""
    params: dict = {"now": now, "limit": limit}
    if scope is not None:
        params["teams"] = sorted(scope)
    return scope is not None, params


async def _late_reports(session: AsyncSession, scope: Scope, now: datetime, limit: int,
                        page: int) -> _LateReports:
    scoped, params = _params(scope, now, limit)
    params["offset"] = (page - 1) * limit
    rows = (await session.execute(_PAGE[scoped], params)).all()
    if not rows and page > 1:  # past the last page: the last
        total = (await session.execute(_COUNT[scoped], params)).scalar_one()
        page = max(1, min(page, -(-total // limit)))
        params["offset"] = (page - 1) * limit
        rows = (await session.execute(_PAGE[scoped], params)).all() if total else []
    if not rows:
        return _LateReports([], 0, page, limit)
    reports, candidates = [], []
    for row in rows:  # a row per candidate to hold the report
        if not reports or reports[-1].id != row.id:
            reports.append(row)
        if row.candidate is not None:
            candidates.append((row.id, row.candidate, row.candidate_reason))
    read = _LateReports(reports, rows[0].total, page, limit,
                        await rank_holders(session, candidates))
    ids = [row.id for row in reports]
    if any(row.failed for row in reports):
        for f in (await session.execute(_FAILED, {"ids": ids})).all():
            read.failures.setdefault(f[0], []).append(_Failed._make(f))
    return read


def _overdue_action_filter(scoped: bool) -> list:
    cond = [Task.kind == statutory.OVERSIGHT_ACTION, statutory.is_open(), Task.due_at <= _NOW]
    return cond + [Task.team_id.in_(_TEAMS)] if scoped else cond


# Oversight actions overdue (``ix_tasks_team_due``), most overdue first; and how many.
_TASKS = {scoped: select(Task).where(*_overdue_action_filter(scoped))
          .order_by(Task.due_at, Task.id).limit(_LIMIT) for scoped in (False, True)}
_TASKS_COUNT = {scoped: select(func.count()).select_from(Task)
                .where(*_overdue_action_filter(scoped)) for scoped in (False, True)}


@dataclass
class OverdueActions:
    """Overdue oversight actions as read (``overdue_actions``), before the people are known."""

    tasks: list[Task]
    total: int

    def people(self) -> set[str]:
        return ({t.owner_id or "" for t in self.tasks}
                | {_set_by(t) for t in self.tasks})

    def build(self, people: dict[str, Person]) -> tuple[list[OverdueAction], int]:
        return [OverdueAction(t, people.get(t.owner_id or ""), people.get(_set_by(t)))
                for t in self.tasks], self.total


def _set_by(task: Task) -> str:
    """The manager who recorded the oversight that set the action."""
    return str((task.details or {}).get("manager") or "")


async def overdue_actions(session: AsyncSession, scope: Scope, now: datetime,
                          limit: int = MAX_ITEMS) -> OverdueActions:
    """Oversight actions in ``scope`` not done by their due time, most overdue first, and
    how many there are (``ix_tasks_team_due``)."""
    scoped, params = _params(scope, now, limit)
    tasks = list((await session.execute(_TASKS[scoped], params)).scalars())
    total = (len(tasks) if len(tasks) < limit
             else (await session.execute(_TASKS_COUNT[scoped], params)).scalar_one())
    return OverdueActions(tasks, total)


def _overdue_event_filter(now) -> list:
    return [NotifiableEvent.incident_id.is_(None), NotifiableEvent.closed_at.is_(None),
            NotifiableEvent.due_at < now]


def _events_statements(scoped: bool):
    q = select(NotifiableEvent).where(*_overdue_event_filter(_NOW))
    if scoped:
        q = q.join(Person, Person.id == NotifiableEvent.opened_by_id).where(
            Person.team_id.in_(_TEAMS))
    return (q.order_by(NotifiableEvent.due_at, NotifiableEvent.id).limit(_LIMIT),
            select(func.count()).select_from(q.subquery()))


# Notifiable events without a report overdue (``ix_notifiable_events_open_without_report``),
# most overdue first; and how many.
_EVENTS, _EVENTS_COUNT = {}, {}
for _scoped_variant in (False, True):
    _EVENTS[_scoped_variant], _EVENTS_COUNT[_scoped_variant] = _events_statements(_scoped_variant)


@dataclass
class OverdueEvents:
    """Overdue events without a report as read (``overdue_events``), with their records,
    before the people are known."""

    events: list[NotifiableEvent]
    total: int
    records: dict[int, list] = field(default_factory=dict)

    def people(self) -> set[str]:
        return {e.opened_by_id or "" for e in self.events}

    def build(self, people: dict[str, Person], owner_id: str | None,
              ) -> tuple[list[OverdueEvent], int]:
        out = []
        for e in self.events:
            rows = self.records.get(e.id, [])
            if missing := notifiable.missing(rows):
                owed = tuple(Owed(e, r) for r in rows if r.recipient in missing)
                out.append(OverdueEvent(e, missing, people.get(owner_id or ""),
                                        people.get(e.opened_by_id or ""), owed))
        # An event with nothing missing is being closed by a concurrent transaction.
        return out, self.total - (len(self.events) - len(out))


async def overdue_events(session: AsyncSession, scope: Scope, now: datetime,
                         limit: int = MAX_ITEMS) -> OverdueEvents:
    """Notifiable events without a report (DBS referrals) past their deadline and not
    complete, most overdue first, and how many; ``scope`` team ids limit them to those
    recorded by someone in those teams (None: all)."""
    if scope is not None and not scope:
        return OverdueEvents([], 0)
    scoped, params = _params(scope, now, limit)
    evs = list((await session.execute(_EVENTS[scoped], params)).scalars())
    if not evs:
        return OverdueEvents([], 0)
    total = ((await session.execute(_EVENTS_COUNT[scoped], params)).scalar_one()
             if len(evs) == limit else len(evs))
    read = OverdueEvents(evs, total)
    for r in await records_of(session, [e.id for e in evs]):
        read.records.setdefault(r.event_id, []).append(r)
    return read


async def count_overdue_events(session: AsyncSession, now: datetime) -> tuple[int, datetime | None]:
    """How many events without a report are overdue, and the oldest deadline (``/healthz``)."""
    n, oldest = (await session.execute(
        select(func.count(), func.min(NotifiableEvent.due_at))
        .where(*_overdue_event_filter(now)))).one()
    return n, oldest


def _worker(incident, holders: dict[int, str]) -> str | None:
    """Who has the report (a row of ``_PAGE``): its holder while waiting; once
    acknowledged, the worker it was acknowledged on behalf of, or whoever acknowledged it."""
    if incident.status != "open" and incident.acknowledged_by_id:
        return incident.acknowledged_on_behalf_of_id or incident.acknowledged_by_id
    return holders.get(incident.id)

