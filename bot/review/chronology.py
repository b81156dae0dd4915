"""A child's chronology: one dated entry per significant event, newest first.

The one domain function behind ``/child`` (paged in chat), ``fosterbot
chronology`` (plain text or a complete CSV) and, later, the web console:
``entries_for``. It reads

* placements (``placements``: started, and ended once the end date has come),
* ``child_events`` (``bot/people/chronicle.py``): allocation changes and
  placements removed from the directory, oversight entries on the child,
* incidents about the child (category, urgency, who was told, acknowledgement,
  outcome) and the notifications to Ofsted made for them, from the record itself,
* oversight entries on those incidents (``oversight_recorded`` audit events),
* the actions of oversight entries (``tasks`` of kind ``oversight_action``): done (when,
  by whom, on time or late), overdue, or due,
* the notification register of the child's incidents (``notifiable_events`` and
  ``notification_records``, kind ``notification``): each event opened (a notifiable
  category, a section 47 enquiry's start or outcome, a DBS referral made on one of the
  child's reports) with its recipients and deadline; each recipient notified (method,
  reference, who, within the deadline or not); a phone call's written confirmation; a
  recipient not required and an event found not notifiable, with the reason. A DBS
  referral made without a report is about an adult, not a child, and is not listed.

Every query is by child (``ix_incidents_child_reported``,
``ix_child_events_child_at``, ``placements.child_ref``) or by the child's
incident ids, so the cost follows the child's own history, not the size of the
database (``bench/chronology.py``). Children appear only by reference.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.config import Settings
from bot.people import statutory
from bot.people.access import ChildView
from bot.review import chronology_texts as texts
from bot.review.export import cell
from bot.rules import notifiable
from bot.rules.outcomes import outcome_label
from bot.rules.reasons import reason_label
from bot.texts import when
from storage import queries
from storage.models import (
    AuditEvent,
    Child,
    ChildEvent,
    Incident,
    IncidentRecipient,
    NotifiableEvent,
    NotificationRecord,
    Placement,
    Task,
)

KINDS = tuple(texts.KIND_LABELS)
# Entries at the same moment, newest first: what follows from another is shown above it
# (a report, then its notifiable event opened, then each recipient, then "notified").
_AFTER = {"notification_opened": 1, "notification_recipient": 2,
          "notification_not_required": 2, "notification_confirmed": 3,
          "notification_made": 4, "not_notifiable": 4}
# How a recipient was notified, as a chronology line says it.
_METHODS = {**notifiable.METHODS, "form": "online form"}
OVERSIGHT_EVENT = "oversight_recorded"


@dataclass(frozen=True)
class Entry:
    """One line of the chronology."""

    at: datetime        # UTC; a dated-only entry is at the start of its local day
    dated: bool         # True: a day without a time of day (placement dates)
    kind: str           # placement | allocation | incident | notification | oversight
    event: str          # e.g. placement_started, allocation_changed, incident_reported
    text: str           # the line, plain text (escape it to show it as HTML)
    incident: str | None = None  # the incident's reference, when about one


@dataclass(frozen=True)
class Chronology:
    child_ref: str
    entries: list[Entry]


def _day_start(d: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0), tzinfo=tz).astimezone(timezone.utc)


async def entries_for(
    session: AsyncSession, settings: Settings, child_ref: str, *, tz: ZoneInfo, today: date,
    start: date | None = None, end: date | None = None, kinds: Iterable[str] | None = None,
    view: ChildView | None = None, now: datetime | None = None,
) -> Chronology | None:
    """The child's chronology, newest first (None if there is no such child).

    ``start``/``end`` are local days, both included; ``kinds`` limits the entries to those
    kinds; ``view`` (from ``Access.may_see_child``) limits them to its placement periods;
    ``now`` (default: the end of ``today``) tells an overdue oversight action from one due.
    """
    now = now or _day_start(today + timedelta(days=1), tz)
    if await session.get(Child, child_ref) is None:
        return None
    wanted = set(kinds) if kinds else set(KINDS)
    lo = _day_start(start, tz) if start else None
    hi = _day_start(end + timedelta(days=1), tz) if end else None
    entries: list[Entry] = []
    names: dict[str, str] = {}
    person_ids: set[str] = set()

    placements = list((await session.execute(
        select(Placement).where(Placement.child_ref == child_ref))).scalars())
    child_events: list[ChildEvent] = []
    if wanted & {"allocation", "placement", "oversight"}:
        q = select(ChildEvent).where(ChildEvent.child_ref == child_ref)
        if lo:
            q = q.where(ChildEvent.at >= lo)
        if hi:
            q = q.where(ChildEvent.at < hi)
        child_events = list((await session.execute(q)).scalars())
    incidents: list[Incident] = []
    if wanted & {"incident", "notification", "oversight"}:
        q = select(Incident).where(Incident.child_ref == child_ref)
        if lo:
            q = q.where(Incident.reported_at >= lo)
        if hi:
            q = q.where(Incident.reported_at < hi)
        incidents = list((await session.execute(q.order_by(Incident.reported_at.desc()))).scalars())
    ids = [i.id for i in incidents]
    told: dict[int, list[IncidentRecipient]] = defaultdict(list)
    oversight: list[AuditEvent] = []
    if ids:
        for r in (await session.execute(
                select(IncidentRecipient).where(IncidentRecipient.incident_id.in_(ids))
                .order_by(IncidentRecipient.id))).scalars():
            told[r.incident_id].append(r)
        if "oversight" in wanted:
            oversight = list((await session.execute(
                select(AuditEvent).where(AuditEvent.incident_id.in_(ids),
                                         AuditEvent.event == OVERSIGHT_EVENT))).scalars())

    actions: list[Task] = []
    if "oversight" in wanted:
        actions = list((await session.execute(select(Task).where(
            Task.child_ref == child_ref, Task.kind == statutory.OVERSIGHT_ACTION,
            Task.closed_reason.is_(None)))).scalars())
        person_ids.update(x for t in actions for x in (t.owner_id, t.done_by_id) if x)
    register = (await _register(session, child_ref) if "notification" in wanted
                else _Register([], [], {}))
    person_ids.update(x for r in register.records for x in (r.made_by_id, r.confirmed_by_id)
                      if x)
    person_ids.update(ev.decided_by_id for ev, _ref in register.events if ev.decided_by_id)

    for p in placements:
        person_ids.add(p.carer_id)
    for e in child_events:
        d = e.details or {}
        person_ids.update(x for x in (d.get("from"), d.get("to"), d.get("carer"), e.actor_id)
                          if isinstance(x, str))
    for inc in incidents:
        person_ids.update(x for x in (inc.acknowledged_by_id, inc.closed_by_id,
                                      inc.notified_by_id) if x)
        person_ids.update(r.person_id for r in told[inc.id])
    person_ids.update(e.actor_id for e in oversight if e.actor_id)
    names = {pid: p.name for pid, p in (await queries.people_by_id(session, person_ids)).items()}

    def name(pid: str | None) -> str | None:
        return None if pid is None else names.get(pid, pid)

    # Placements: one entry per period (its carers together).
    if "placement" in wanted:
        periods: dict[tuple[date, date | None], list[str]] = defaultdict(list)
        for p in placements:
            periods[(p.start_date, p.end_date)].append(name(p.carer_id))
        for (first, last), carers in periods.items():
            carers = sorted(carers)
            entries.append(Entry(_day_start(first, tz), True, "placement", "placement_started",
                                 texts.placement_started(carers)))
            if last is not None and last <= today:
                entries.append(Entry(_day_start(last, tz), True, "placement", "placement_ended",
                                     texts.placement_ended(carers)))

    for e in child_events:
        d = e.details or {}
        if e.kind == "allocation_changed" and "allocation" in wanted:
            entries.append(Entry(e.at, False, "allocation", e.kind,
                                 texts.allocation_changed(name(d.get("from")), name(d.get("to")))))
        elif e.kind == "handover" and "allocation" in wanted:
            entries.append(Entry(e.at, False, "allocation", e.kind, texts.handover(
                name(d.get("from")), name(d.get("to")),
                [i.get("reference", "") for i in d.get("items") or []])))
        elif e.kind == "placement_removed" and "placement" in wanted:
            entries.append(Entry(e.at, False, "placement", e.kind, texts.placement_removed(
                name(d.get("carer")), d.get("from") or "?", d.get("to"))))
        elif e.kind == OVERSIGHT_EVENT and "oversight" in wanted:
            entries.append(Entry(e.at, False, "oversight", e.kind,
                                 texts.oversight(name(e.actor_id), d, None)))

    for inc in incidents:
        cat = settings.category(inc.category)
        if "incident" in wanted:
            ack = None
            if inc.acknowledged_at is not None:
                ack = texts.acknowledged(name(inc.acknowledged_by_id) or "someone",
                                         inc.acknowledged_at,
                                         inc.acknowledged_at - inc.reported_at, tz)
            outcome = None
            if inc.status == "closed" and inc.outcome_code:
                outcome = texts.outcome(outcome_label(inc.outcome_code),
                                        name(inc.closed_by_id) or "someone", inc.closed_at, tz)
            entries.append(Entry(inc.reported_at, False, "incident", "incident_reported",
                                 texts.incident(
                                     inc.reference, cat.label if cat else inc.category,
                                     inc.urgency,
                                     [f"{name(r.person_id)} ({reason_label(r.reason)})"
                                      for r in told[inc.id]],
                                     ack, outcome, inc.status),
                                 inc.reference))
        if ("notification" in wanted and inc.notified_at is not None
                and inc.id not in register.only_not_notifiable):
            on_time = (None if inc.notification_due_at is None
                       else inc.notified_at <= inc.notification_due_at)
            entries.append(Entry(inc.notified_at, False, "notification", "notification_made",
                                 texts.notification(inc.reference,
                                                    name(inc.notified_by_id) or "someone",
                                                    on_time),
                                 inc.reference))
    refs = {i.id: i.reference for i in incidents}
    for e in oversight:
        entries.append(Entry(e.at, False, "oversight", OVERSIGHT_EVENT,
                             texts.oversight(name(e.actor_id), e.details or {},
                                             refs.get(e.incident_id)),
                             refs.get(e.incident_id)))

    entries += _action_entries(actions, name, now)
    entries += _register_entries(register, settings, name, tz)

    def keep(e: Entry) -> bool:
        if (lo and e.at < lo) or (hi and e.at >= hi):
            return False
        if view is not None and view.windows is not None:
            d = e.at.astimezone(tz).date()
            return any(s <= d and (t is None or d <= t) for s, t in view.windows)
        return True

    entries = [e for e in entries if keep(e)]
    entries.sort(key=lambda e: (e.at, not e.dated, _AFTER.get(e.event, 0)), reverse=True)
    return Chronology(child_ref, entries)


@dataclass
class _Register:
    events: list[tuple[NotifiableEvent, str]]  # with the incident's reference
    records: list[NotificationRecord]
    not_required_at: dict[int, datetime]  # record id -> when it was found not required

    @property
    def only_not_notifiable(self) -> set[int]:
        """Incidents whose every event was found not notifiable (their clock stopped, but
        nobody was notified: no "notified" line)."""
        found = {ev.incident_id for ev, _ in self.events if ev.not_notifiable_reason}
        return found - {ev.incident_id for ev, _ in self.events if not ev.not_notifiable_reason}


async def _register(session: AsyncSession, child_ref: str) -> _Register:
    """The register's rows for the child's incidents (by ``ix_incidents_child_reported``
    and the events' ``incident_id``), whatever the period: each line is dated by its own
    moment."""
    events = list((await session.execute(
        select(NotifiableEvent, Incident.reference).join(
            Incident, NotifiableEvent.incident_id == Incident.id)
        .where(Incident.child_ref == child_ref))).all())
    if not events:
        return _Register([], [], {})
    ids = [ev.id for ev, _ in events]
    records = list((await session.execute(
        select(NotificationRecord).where(NotificationRecord.event_id.in_(ids))
        .order_by(NotificationRecord.id))).scalars())
    not_required: dict[int, datetime] = {}
    if any(r.not_required_reason for r in records):
        kinds = {ev.id: (ev.incident_id, ev.event) for ev, _ in events}
        by_key = {(*kinds[r.event_id], r.recipient): r.id for r in records}
        for at, incident_id, details in (await session.execute(
                select(AuditEvent.at, AuditEvent.incident_id, AuditEvent.details).where(
                    AuditEvent.incident_id.in_({i for i, _ in kinds.values()}),
                    AuditEvent.event == "notification_not_required"))).all():
            d = details or {}
            rid = by_key.get((incident_id, d.get("notifiable_event"), d.get("recipient")))
            if rid is not None:
                not_required[rid] = at
    return _Register(events, records, not_required)


def _register_entries(reg: _Register, settings: Settings, name, tz: ZoneInfo) -> list[Entry]:
    out: list[Entry] = []
    events = {ev.id: (ev, ref) for ev, ref in reg.events}
    recipients: dict[int, list[str]] = defaultdict(list)
    for r in reg.records:
        recipients[r.event_id].append(notifiable.SHORT.get(r.recipient, r.recipient))
    for ev, ref in reg.events:
        cat = settings.category(ev.event)
        label = notifiable.EVENT_LABELS.get(ev.event) or (cat.label if cat else ev.event)
        out.append(Entry(ev.opened_at, False, "notification", "notification_opened",
                         texts.register_opened(ref, label, recipients[ev.id],
                                               when(ev.due_at, tz)), ref))
        if ev.not_notifiable_reason and ev.closed_at:
            out.append(Entry(ev.closed_at, False, "notification", "not_notifiable",
                             texts.not_notifiable(ref, label, name(ev.decided_by_id),
                                                  ev.not_notifiable_reason), ref))
    for r in reg.records:
        ev, ref = events[r.event_id]
        who = notifiable.SHORT.get(r.recipient, r.recipient)
        if r.made_at is not None:
            out.append(Entry(r.made_at, False, "notification", "notification_recipient",
                             texts.recipient_notified(
                                 ref, who, _METHODS.get(r.method or "", r.method),
                                 r.reference, name(r.made_by_id), r.made_at <= ev.due_at),
                             ref))
        if r.confirmed_at is not None:
            out.append(Entry(r.confirmed_at, False, "notification", "notification_confirmed",
                             texts.recipient_confirmed(ref, who, r.confirm_reference,
                                                       name(r.confirmed_by_id)), ref))
        if r.not_required_reason and r.id in reg.not_required_at:
            out.append(Entry(reg.not_required_at[r.id], False, "notification",
                             "notification_not_required",
                             texts.recipient_not_required(ref, who, r.not_required_reason),
                             ref))
    return out


def _action_entries(actions: list[Task], name, now: datetime) -> list[Entry]:
    out: list[Entry] = []
    for t in actions:
        d = t.details or {}
        ref = d.get("incident")
        what, owner = str(d.get("what") or ""), name(t.owner_id)
        if t.done_at is not None:
            out.append(Entry(t.done_at, False, "oversight", "oversight_action_done",
                             texts.action_done(ref, what, name(t.done_by_id),
                                               t.done_at < t.due_at), ref))
        else:
            overdue = t.due_at <= now
            out.append(Entry(t.due_at, False, "oversight",
                             "oversight_action_overdue" if overdue else "oversight_action_due",
                             texts.action_open(ref, what, owner, overdue=overdue), ref))
    return out


async def viewed(session: AsyncSession, *, at: datetime, actor_id: str | None, child_ref: str,
                 view: ChildView, kind: str | None, telegram_user_id: int | None = None) -> None:
    """Seeing a child's chronology is recorded (``chronology_viewed``)."""
    await audit.record(session, "chronology_viewed", at=at, actor_id=actor_id,
                       telegram_user_id=telegram_user_id, child=child_ref, why=view.reason,
                       kind=kind)


def _write_rows(f, chron: Chronology, tz: ZoneInfo) -> None:
    w = csv.writer(f)
    w.writerow(texts.CSV_COLUMNS)
    for e in chron.entries:
        w.writerow([cell(v) for v in (
            "" if e.dated else e.at, e.at.astimezone(tz).date().isoformat(), e.kind,
            e.event, e.incident, e.text)])


def write_csv(chron: Chronology, path: Path, tz: ZoneInfo) -> int:
    """The whole chronology as CSV (times UTC ISO 8601; cells that could run as a spreadsheet
    formula are defused as in the export). Returns the number of rows."""
    with path.open("w", newline="", encoding="utf-8") as f:
        _write_rows(f, chron, tz)
    return len(chron.entries)


def to_csv(chron: Chronology, tz: ZoneInfo) -> str:
    """The same CSV as :func:`write_csv`, as text (the web console's download)."""
    buf = io.StringIO(newline="")
    _write_rows(buf, chron, tz)
    return buf.getvalue()
