"""A child's chronology as one SQL statement: every source's entries side by side (UNION ALL),
filtered, ordered newest first and cut to the page in the database, with the count.

Each source gives rows of the same shape (``COLUMNS``): the entry's moment and the keys that
order it, then a few payload columns that ``bot/review/chronology.py`` turns into the line
(the people's names and the lists inside a line come from one more query, by ids, for the
shown entries only). The order is the chronology's: newest first; at the same moment a timed
entry before a dated one, what follows from another above it (``after``), then the order
the sources and their rows were always gathered in (``src``, ``tie``, ``row_key``, ``seq``).

Every branch is by child (``ix_incidents_child_reported``, ``ix_child_events_child_at``,
``ix_placements_child_ref``, the tasks' (child_ref, key) index) or by the child's incidents
(``ix_notifiable_events_incident_id``, ``ix_audit_events_incident_id``), so the cost
follows the child's own history, not the size of the record (``bench/chronology.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    Select,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    exists,
    false,
    func,
    literal_column,
    null,
    or_,
    select,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.local_day import local_midnight
from storage.models import (
    AuditEvent,
    Child,
    ChildEvent,
    Incident,
    IncidentRecipient,
    NotifiableEvent,
    NotificationRecord,
    Person,
    Placement,
    Task,
    UTCDateTime,
)

OVERSIGHT_EVENT = "oversight_recorded"
OVERSIGHT_ACTION = "oversight_action"  # tasks.kind (bot/people/statutory.py)
NOT_REQUIRED_EVENT = "notification_not_required"

# The shape every source gives: name -> SQL type.
COLUMNS: dict[str, Any] = {
    "at": UTCDateTime(), "dated": Integer(), "after": Integer(), "src": Integer(),
    "tie": UTCDateTime(), "row_key": Integer(), "seq": Integer(), "event": String(),
    "ref": String(), "s1": Text(), "s2": Text(), "s3": Text(), "s4": Text(),
    "t1": UTCDateTime(), "t2": UTCDateTime(), "p1": String(), "p2": String(), "j": Text(),
}
# Entries at the same moment, newest first: what follows from another is shown above it
# (a report, then its notifiable event opened, then each recipient, then "notified").
AFTER = {"notification_opened": 1, "notification_recipient": 2,
         "notification_not_required": 2, "notification_confirmed": 3,
         "notification_made": 4, "not_notifiable": 4}
# The order the sources were always gathered in (ties keep it).
SRC_PLACEMENT, SRC_CHILD_EVENT, SRC_INCIDENT, SRC_OVERSIGHT, SRC_ACTION = 0, 1, 2, 3, 4
SRC_REGISTER_EVENT, SRC_REGISTER_RECORD = 5, 6
# child_events kinds, by the kind of entry they make.
CHILD_EVENT_KINDS = {"allocation_changed": "allocation", "handover": "allocation",
                     "placement_removed": "placement", OVERSIGHT_EVENT: "oversight"}


@dataclass(frozen=True)
class Scope:
    """What one chronology asks for: the child, the kinds, the period and the view's windows
    (all as UTC moments: ``lo`` included, ``hi`` excluded; each window likewise)."""

    child_ref: str
    kinds: frozenset[str]
    tz_name: str
    today: date
    lo: datetime | None = None
    hi: datetime | None = None
    windows: tuple[tuple[datetime, datetime | None], ...] | None = None

    def shape(self) -> tuple:
        """What the statement's form depends on (the rest are its parameters)."""
        return (self.kinds, self.lo is not None, self.hi is not None,
                None if self.windows is None else tuple(e is not None for _, e in self.windows))

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"child_ref": self.child_ref, "tz": self.tz_name,
                               "today": self.today}
        if self.lo is not None:
            out["lo"] = self.lo
        if self.hi is not None:
            out["hi"] = self.hi
        for i, (start, end) in enumerate(self.windows or ()):
            out[f"w{i}_start"], out[f"w{i}_end"] = start, end
        return out


# The statement's parameters (bound at each execution: the statement is built once per shape).
_CHILD = bindparam("child_ref", type_=String())
_TZ = bindparam("tz", type_=String())
_TODAY = bindparam("today", type_=Date())
_LO = bindparam("lo", type_=UTCDateTime())
_HI = bindparam("hi", type_=UTCDateTime())
_LIMIT = bindparam("limit", type_=Integer())
_OFFSET = bindparam("offset", type_=Integer())


def _int(n: int) -> Any:
    return literal_column(str(int(n)), Integer)


def _str(s: str) -> Any:
    """A constant written into the statement, not bound: PostgreSQL then knows it when it
    plans the prepared statement once for all children (a generic plan), as it does the
    kinds of event and task the statement looks for."""
    return literal_column("'" + s.replace("'", "''") + "'", String)


def _row(**given: Any) -> list[Any]:
    """One source's columns in ``COLUMNS`` order; the ones it has not are typed NULLs."""
    out = []
    for name, typ in COLUMNS.items():
        value = given.get(name)
        if value is None:
            value = cast(null(), typ)
        else:
            value = type_coerce(value, typ)
        out.append(value.label(name))
    return out


def _text(column: Any) -> Any:
    return cast(column, Text)


def _reason_given(column: Any) -> Any:
    """A reason recorded (Python's truthiness of a text: not NULL and not empty)."""
    return and_(column.is_not(None), column != _str(""))


def _reported_in(scope: Scope) -> list[Any]:
    """Incidents reported in the period (the incident-derived lines come with their report)."""
    out = []
    if scope.lo is not None:
        out.append(Incident.reported_at >= _LO)
    if scope.hi is not None:
        out.append(Incident.reported_at < _HI)
    return out


def _placements(scope: Scope) -> list[Select]:
    """One started (and, once the end date has come, one ended) line per period, its carers
    together; dated by the local day (``storage/local_day.py``)."""
    if "placement" not in scope.kinds:
        return []
    period = (Placement.start_date, Placement.end_date)
    common = {"dated": _int(1), "after": _int(0), "src": _int(SRC_PLACEMENT),
                  "row_key": func.min(Placement.id), "s1": _text(Placement.start_date),
                  "s2": _text(Placement.end_date)}
    started = select(*_row(at=local_midnight(Placement.start_date, _TZ), seq=_int(0),
                           event=_str("placement_started"), **common)).where(
        Placement.child_ref == _CHILD).group_by(*period)
    ended = select(*_row(at=local_midnight(Placement.end_date, _TZ), seq=_int(1),
                         event=_str("placement_ended"), **common)).where(
        Placement.child_ref == _CHILD, Placement.end_date.is_not(None),
        Placement.end_date <= _TODAY).group_by(*period)
    return [started, ended]


def _child_events(scope: Scope) -> list[Select]:
    kinds = [k for k, of in CHILD_EVENT_KINDS.items() if of in scope.kinds]
    if not kinds:
        return []
    return [select(*_row(at=ChildEvent.at, dated=_int(0), after=_int(0),
                         src=_int(SRC_CHILD_EVENT), row_key=ChildEvent.id, seq=_int(0),
                         event=ChildEvent.kind, p1=ChildEvent.actor_id,
                         j=_text(ChildEvent.details))).where(
        ChildEvent.child_ref == _CHILD, ChildEvent.kind.in_([_str(k) for k in kinds]))]


def _incidents(scope: Scope) -> list[Select]:
    """The report's line and, once notified, the "notified" line (unless every notifiable
    event of the report was found not notifiable)."""
    out = []
    # Incidents were read newest report first: their lines keep that order among equals.
    common = {"dated": _int(0), "src": _int(SRC_INCIDENT), "tie": Incident.reported_at,
                  "row_key": -Incident.id, "ref": Incident.reference}
    of_child = [Incident.child_ref == _CHILD, *_reported_in(scope)]
    if "incident" in scope.kinds:
        out.append(select(*_row(
            at=Incident.reported_at, after=_int(0), seq=_int(0),
            event=_str("incident_reported"), s1=Incident.category, s2=Incident.urgency,
            s3=Incident.status, s4=Incident.outcome_code, t1=Incident.acknowledged_at,
            t2=Incident.closed_at, p1=Incident.acknowledged_by_id, p2=Incident.closed_by_id,
            **common)).where(*of_child))
    if "notification" in scope.kinds:
        ev = aliased(NotifiableEvent)
        found_not = exists().where(ev.incident_id == Incident.id,
                                   _reason_given(ev.not_notifiable_reason))
        ev2 = aliased(NotifiableEvent)
        still = exists().where(ev2.incident_id == Incident.id,
                               ~_reason_given(ev2.not_notifiable_reason))
        out.append(select(*_row(
            at=Incident.notified_at, after=_int(AFTER["notification_made"]), seq=_int(1),
            event=_str("notification_made"), t1=Incident.notification_due_at,
            p1=Incident.notified_by_id, **common)).where(
            *of_child, Incident.notified_at.is_not(None), or_(~found_not, still)))
    return out


def _oversight(scope: Scope) -> list[Select]:
    """Oversight entries on the child's reports and the actions of oversight entries."""
    if "oversight" not in scope.kinds:
        return []
    on_incidents = select(*_row(
        at=AuditEvent.at, dated=_int(0), after=_int(0), src=_int(SRC_OVERSIGHT),
        row_key=AuditEvent.id, seq=_int(0), event=_str(OVERSIGHT_EVENT),
        ref=Incident.reference, p1=AuditEvent.actor_id, j=_text(AuditEvent.details))).join(
        Incident, AuditEvent.incident_id == Incident.id).where(
        Incident.child_ref == _CHILD, *_reported_in(scope),
        AuditEvent.event == _str(OVERSIGHT_EVENT))
    actions = select(*_row(
        at=func.coalesce(Task.done_at, Task.due_at), dated=_int(0), after=_int(0),
        src=_int(SRC_ACTION), row_key=Task.id, seq=_int(0), event=_str(OVERSIGHT_ACTION),
        t1=Task.due_at, t2=Task.done_at, p1=Task.owner_id, p2=Task.done_by_id,
        j=_text(Task.details))).where(
        Task.child_ref == _CHILD, Task.kind == _str(OVERSIGHT_ACTION),
        Task.closed_reason.is_(None))
    return [on_incidents, actions]


def _register(scope: Scope) -> list[Select]:
    """The notification register of the child's reports, line by line: each event opened
    (and found not notifiable), each recipient notified, confirmed or not required."""
    if "notification" not in scope.kinds:
        return []
    ev, inc = NotifiableEvent, Incident
    of_child = inc.child_ref == _CHILD
    event_common = {"dated": _int(0), "src": _int(SRC_REGISTER_EVENT), "row_key": ev.id,
                        "ref": inc.reference, "s1": ev.event}
    opened = select(*_row(at=ev.opened_at, after=_int(AFTER["notification_opened"]),
                          seq=_int(0), event=_str("notification_opened"), t1=ev.due_at,
                          **event_common)).join(inc, ev.incident_id == inc.id).where(of_child)
    not_notifiable = select(*_row(
        at=ev.closed_at, after=_int(AFTER["not_notifiable"]), seq=_int(1),
        event=_str("not_notifiable"), s2=ev.not_notifiable_reason, p1=ev.decided_by_id,
        **event_common)).join(inc, ev.incident_id == inc.id).where(
        of_child, _reason_given(ev.not_notifiable_reason), ev.closed_at.is_not(None))

    rec = NotificationRecord
    record_common = {"dated": _int(0), "src": _int(SRC_REGISTER_RECORD), "row_key": rec.id,
                         "ref": inc.reference, "s1": rec.recipient}

    def records(*columns: Any) -> Select:
        return (select(*columns).join(ev, rec.event_id == ev.id)
                .join(inc, ev.incident_id == inc.id).where(of_child))

    made = records(*_row(at=rec.made_at, after=_int(AFTER["notification_recipient"]),
                         seq=_int(0), event=_str("notification_recipient"), s2=rec.method,
                         s3=rec.reference, t1=ev.due_at, p1=rec.made_by_id,
                         **record_common)).where(rec.made_at.is_not(None))
    confirmed = records(*_row(at=rec.confirmed_at, after=_int(AFTER["notification_confirmed"]),
                              seq=_int(1), event=_str("notification_confirmed"),
                              s3=rec.confirm_reference, p1=rec.confirmed_by_id,
                              **record_common)).where(rec.confirmed_at.is_not(None))
    # A recipient found not required is dated by its audit event (the last one for that
    # report, event and recipient); a record another record of the same report, event and
    # recipient came after is not listed (as the register has always been read).
    said = (select(AuditEvent.at).where(
        AuditEvent.incident_id == ev.incident_id, AuditEvent.event == _str(NOT_REQUIRED_EVENT),
        AuditEvent.details["notifiable_event"].as_string() == ev.event,
        AuditEvent.details["recipient"].as_string() == rec.recipient)
        .order_by(AuditEvent.id.desc()).limit(1).scalar_subquery())
    rec2, ev2 = aliased(NotificationRecord), aliased(NotifiableEvent)
    superseded = exists().where(rec2.event_id == ev2.id, ev2.incident_id == ev.incident_id,
                                ev2.event == ev.event, rec2.recipient == rec.recipient,
                                rec2.id > rec.id)
    not_required = records(*_row(at=said, after=_int(AFTER["notification_not_required"]),
                                 seq=_int(2), event=_str(NOT_REQUIRED_EVENT),
                                 s2=rec.not_required_reason, **record_common)).where(
        _reason_given(rec.not_required_reason), ~superseded)
    return [opened, not_notifiable, made, confirmed, not_required]


def entries_subquery(scope: Scope) -> Any:
    """Every entry of the scope (unordered), as a subquery of ``COLUMNS``."""
    branches = (_placements(scope) + _child_events(scope) + _incidents(scope)
                + _oversight(scope) + _register(scope))
    if not branches:  # no kind asked for: an empty set of the same shape
        branches = [select(*_row(at=null())).where(false())]
    e = union_all(*branches).subquery("entries")
    keep = [e.c.at.is_not(None)]
    if scope.lo is not None:
        keep.append(e.c.at >= _LO)
    if scope.hi is not None:
        keep.append(e.c.at < _HI)
    if scope.windows is not None:
        keep.append(or_(false(), *[
            and_(e.c.at >= bindparam(f"w{i}_start", type_=UTCDateTime()),
                 *([e.c.at < bindparam(f"w{i}_end", type_=UTCDateTime())] if end else []))
            for i, (_start, end) in enumerate(scope.windows)]))
    return select(e).where(*keep).subquery("kept")


def newest_first(e: Any) -> list[Any]:
    return [e.c.at.desc(), e.c.dated.asc(), e.c.after.desc(), e.c.src.asc(), e.c.tie.desc(),
            e.c.row_key.asc(), e.c.seq.asc()]


@dataclass(frozen=True)
class Cut:
    """One page of rows (all of them when the page was not limited), the number of entries
    in all, and whether the child exists."""

    rows: Sequence[Any]
    total: int
    exists: bool


def page_statement(scope: Scope, *, limited: bool) -> Select:
    """The child (one row even when it has no entries; none when there is no such child)
    beside the page's entries newest first, each with the count of all the scope's.
    Built once for each shape of scope (``Scope.shape``); run with ``Scope.params`` and
    ``limit``/``offset``."""
    return _page_statement(scope.shape(), limited)


@lru_cache(maxsize=64)
def _page_statement(shape: tuple, limited: bool) -> Select:
    kinds, has_lo, has_hi, windows = shape
    # Placeholders for the values, which are bound at each execution.
    model = Scope(child_ref="", kinds=kinds, tz_name="", today=date.min,
                  lo=datetime.min if has_lo else None, hi=datetime.min if has_hi else None,
                  windows=None if windows is None else tuple(
                      (datetime.min, datetime.min if end else None) for end in windows))
    kept = entries_subquery(model)
    page = (select(kept, func.count().over().label("total")).order_by(*newest_first(kept))
            .offset(_OFFSET))
    if limited:
        page = page.limit(_LIMIT)
    page = page.subquery("page")
    return (select(Child.ref.label("child_ref"), page)
            .select_from(Child.__table__.outerjoin(page, true()))
            .where(Child.ref == _CHILD).order_by(*newest_first(page)))


async def cut(session: AsyncSession, scope: Scope, *, limit: int | None,
              offset: int = 0) -> Cut:
    """One round trip: the child (does it exist?), the page's rows newest first and the
    count of all the scope's entries."""
    params = {**scope.params(), "offset": offset}
    if limit is not None:
        params["limit"] = limit
    rows = (await session.execute(page_statement(scope, limited=limit is not None),
                                  params)).all()
    if not rows:
        return Cut([], 0, False)
    if rows[0].at is None:
        if offset == 0:
            return Cut([], 0, True)
        # Past the end (a stale page turn): the count (beside the first entry), for the
        # caller to ask for the last page.
        first = await cut(session, scope, limit=1)
        return Cut([], first.total, True)
    return Cut(rows, int(rows[0].total), True)


@dataclass(frozen=True)
class Lookups:
    """What the shown lines need besides their rows: people's names, who was told of each
    report (and why), each register event's recipients, and the carers of each placement."""

    names: dict[str, str]
    told: dict[int, list[tuple[str, str]]]        # incident id -> [(person id, reason)]
    recipients: dict[int, list[str]]              # notifiable event id -> [recipient]
    carers: dict[tuple[str, str | None], list[str]]  # (start, end) -> [carer id]


async def lookups(session: AsyncSession, child_ref: str, *, people: set[str],
                  incidents: set[int], events: set[int], placements: bool) -> Lookups:
    """One round trip, by ids (only the shown entries')."""
    out = Lookups({}, {}, {}, {})
    shape = (bool(people), bool(incidents), bool(events), placements)
    if not any(shape):
        return out
    params = {"child_ref": child_ref, "people": sorted(people), "incidents": sorted(incidents),
              "events": sorted(events)}
    for r in (await session.execute(_lookup_statement(*shape), params)).all():
        if r.tag == "n":
            out.names[r.s1] = r.s2
        elif r.tag == "r":
            out.told.setdefault(r.k, []).append((r.s1, r.s2))
            if r.name is not None:
                out.names[r.s1] = r.name
        elif r.tag == "e":
            out.recipients.setdefault(r.k, []).append(r.s1)
        else:
            out.carers.setdefault((r.s1, r.s2), []).append(r.s3)
            if r.name is not None:
                out.names[r.s3] = r.name
    return out


@lru_cache(maxsize=16)
def _lookup_statement(people: bool, incidents: bool, events: bool, placements: bool) -> Select:
    """The lookups' statement for the kinds of lookup a page needs (built once each)."""
    cols = {"tag": String(), "k": Integer(), "o": Integer(), "s1": Text(), "s2": Text(),
            "s3": Text()}

    def row(**given: Any) -> list[Any]:
        return [(type_coerce(given[c], t) if c in given else cast(null(), t)).label(c)
                for c, t in cols.items()]

    branches: list[Select] = []
    if people:
        branches.append(select(*row(tag=_str("n"), s1=Person.id, s2=Person.name)).where(
            Person.id.in_(bindparam("people", expanding=True))))
    if incidents:
        branches.append(select(*row(tag=_str("r"), k=IncidentRecipient.incident_id,
                                    o=IncidentRecipient.id, s1=IncidentRecipient.person_id,
                                    s2=IncidentRecipient.reason)).where(
            IncidentRecipient.incident_id.in_(bindparam("incidents", expanding=True))))
    if events:
        branches.append(select(*row(tag=_str("e"), k=NotificationRecord.event_id,
                                    o=NotificationRecord.id,
                                    s1=NotificationRecord.recipient)).where(
            NotificationRecord.event_id.in_(bindparam("events", expanding=True))))
    if placements:
        branches.append(select(*row(tag=_str("p"), o=Placement.id,
                                    s1=_text(Placement.start_date),
                                    s2=_text(Placement.end_date),
                                    s3=Placement.carer_id)).where(
            Placement.child_ref == _CHILD))
    u = union_all(*branches).subquery("lookups")
    # The names of the people these rows name too (recipients told, carers).
    whom = case((u.c.tag == "r", u.c.s1), (u.c.tag == "p", u.c.s3))
    return (select(u, Person.name.label("name"))
            .select_from(u.outerjoin(Person, Person.id == whom)).order_by(u.c.tag, u.c.o))
