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

A page is one statement (``bot/review/chronology_query.py``): the sources side by side
(UNION ALL), filtered, ordered and cut to the page in the database with the count; then one
more, by ids, for the names and lists in the shown lines only. Every branch is by child or
by the child's incident ids, so the cost follows the child's own history, not the size of
the database (``bench/chronology.py``). Children appear only by reference.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.config import Settings
from bot.people.access import ChildView
from bot.review import chronology_query as query
from bot.review import chronology_texts as texts
from bot.review.export import cell
from bot.rules import notifiable
from bot.rules.outcomes import outcome_label
from bot.rules.reasons import reason_label
from bot.texts import when

KINDS = tuple(texts.KIND_LABELS)
# How a recipient was notified, as a chronology line says it.
_METHODS = {**notifiable.METHODS, "form": "online form"}
OVERSIGHT_EVENT = query.OVERSIGHT_EVENT
# The kind of entry each event is.
_KIND_OF = {"placement_started": "placement", "placement_ended": "placement",
            "placement_removed": "placement", "allocation_changed": "allocation",
            "handover": "allocation", "incident_reported": "incident",
            "notification_made": "notification", "notification_opened": "notification",
            "not_notifiable": "notification", "notification_recipient": "notification",
            "notification_confirmed": "notification",
            "notification_not_required": "notification", OVERSIGHT_EVENT: "oversight",
            query.OVERSIGHT_ACTION: "oversight"}


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


@dataclass(frozen=True)
class Page:
    """One page of a chronology: its entries, newest first, and where it is among all."""

    child_ref: str
    entries: list[Entry]
    total: int   # entries in the whole chronology (of the kinds asked for)
    page: int    # 1-based, within 1..pages
    pages: int


def _day_start(d: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0), tzinfo=tz).astimezone(UTC)


def _scope(child_ref: str, tz: ZoneInfo, today: date, start: date | None, end: date | None,
           kinds: Any, view: ChildView | None) -> query.Scope:
    windows = None
    if view is not None and view.windows is not None:
        # An entry is in a window when its local day is: from the start of the first day
        # to the start of the day after the last.
        windows = tuple((_day_start(s, tz), None if t is None else
                         _day_start(t + timedelta(days=1), tz)) for s, t in view.windows)
    return query.Scope(
        child_ref=child_ref, kinds=frozenset(kinds) if kinds else frozenset(KINDS),
        tz_name=tz.key, today=today, lo=_day_start(start, tz) if start else None,
        hi=_day_start(end + timedelta(days=1), tz) if end else None, windows=windows)


async def entries_for(
    session: AsyncSession, settings: Settings, child_ref: str, *, tz: ZoneInfo, today: date,
    start: date | None = None, end: date | None = None, kinds: Any = None,
    view: ChildView | None = None, now: datetime | None = None,
) -> Chronology | None:
    """The child's whole chronology, newest first (None if there is no such child).

    ``start``/``end`` are local days, both included; ``kinds`` limits the entries to those
    kinds; ``view`` (from ``Access.may_see_child``) limits them to its placement periods;
    ``now`` (default: the end of ``today``) tells an overdue oversight action from one due.
    """
    now = now or _day_start(today + timedelta(days=1), tz)
    scope = _scope(child_ref, tz, today, start, end, kinds, view)
    got = await query.cut(session, scope, limit=None)
    if not got.exists:
        return None
    return Chronology(child_ref, await _entries(session, settings, scope, got.rows, tz, now))


async def page_of(
    session: AsyncSession, settings: Settings, child_ref: str, *, tz: ZoneInfo, today: date,
    per_page: int, page: int = 1, kinds: Any = None, view: ChildView | None = None,
    now: datetime | None = None,
) -> Page | None:
    """One page of the child's chronology (``per_page`` entries, newest first), cut in the
    database; a page past the end is the last. None if there is no such child."""
    now = now or _day_start(today + timedelta(days=1), tz)
    scope = _scope(child_ref, tz, today, None, None, kinds, view)
    page = max(1, page)
    got = await query.cut(session, scope, limit=per_page, offset=(page - 1) * per_page)
    if not got.exists:
        return None
    pages = max(1, -(-got.total // per_page))
    if page > pages:  # a stale page turn, or a page asked for past the end: the last
        page = pages
        got = await query.cut(session, scope, limit=per_page, offset=(page - 1) * per_page)
    entries = await _entries(session, settings, scope, got.rows, tz, now)
    return Page(child_ref, entries, got.total, page, pages)


def _details(raw: str | None) -> dict:
    d = json.loads(raw) if raw else None
    return d if isinstance(d, dict) else {}


async def _entries(session: AsyncSession, settings: Settings, scope: query.Scope,
                   rows: Any, tz: ZoneInfo, now: datetime) -> list[Entry]:
    """The lines of these rows (already in order): one more query for the names and lists."""
    details = {i: _details(r.j) for i, r in enumerate(rows) if r.j is not None}
    people: set[str] = set()
    incidents: set[int] = set()
    events: set[int] = set()
    placements = False
    for i, r in enumerate(rows):
        people.update(x for x in (r.p1, r.p2) if x)
        if r.event in ("allocation_changed", "handover", "placement_removed"):
            d = details.get(i, {})
            people.update(x for x in (d.get("from"), d.get("to"), d.get("carer"))
                          if isinstance(x, str))
        elif r.event == "incident_reported":
            incidents.add(-r.row_key)
        elif r.event == "notification_opened":
            events.add(r.row_key)
        elif r.event in ("placement_started", "placement_ended"):
            placements = True
    found = await query.lookups(session, scope.child_ref, people=people, incidents=incidents,
                                events=events, placements=placements)
    names = found.names

    def name(pid: str | None) -> str | None:
        return None if pid is None else names.get(pid, pid)

    out = []
    for i, r in enumerate(rows):
        text, event, incident = _line(r, details.get(i, {}), found, name, settings, tz, now)
        out.append(Entry(r.at, bool(r.dated), _KIND_OF[r.event], event, text, incident))
    return out


def _register_label(settings: Settings, event: str) -> str:
    cat = settings.category(event)
    return notifiable.EVENT_LABELS.get(event) or (cat.label if cat else event)


def _line(r: Any, d: dict, found: query.Lookups, name: Any, settings: Settings,
          tz: ZoneInfo, now: datetime) -> tuple[str, str, str | None]:
    """(the line, its event, its incident's reference) for one row."""
    ev = r.event
    if ev in ("placement_started", "placement_ended"):
        carers = sorted(name(c) for c in found.carers.get((r.s1, r.s2), []))
        line = (texts.placement_started(carers) if ev == "placement_started"
                else texts.placement_ended(carers))
        return line, ev, None
    if ev == "allocation_changed":
        return texts.allocation_changed(name(d.get("from")), name(d.get("to"))), ev, None
    if ev == "handover":
        return texts.handover(name(d.get("from")), name(d.get("to")),
                              [i.get("reference", "") for i in d.get("items") or []]), ev, None
    if ev == "placement_removed":
        return texts.placement_removed(name(d.get("carer")), d.get("from") or "?",
                                       d.get("to")), ev, None
    if ev == OVERSIGHT_EVENT:  # on the child (no reference) or on one of its reports
        return texts.oversight(name(r.p1), d, r.ref), ev, r.ref
    if ev == "incident_reported":
        cat = settings.category(r.s1)
        ack = None
        if r.t1 is not None:
            ack = texts.acknowledged(name(r.p1) or "someone", r.t1, r.t1 - r.at, tz)
        outcome = None
        if r.s3 == "closed" and r.s4:
            outcome = texts.outcome(outcome_label(r.s4), name(r.p2) or "someone", r.t2, tz)
        told = [f"{name(pid)} ({reason_label(why)})" for pid, why in found.told.get(-r.row_key, [])]
        return texts.incident(r.ref, cat.label if cat else r.s1, r.s2, told, ack, outcome,
                              r.s3), ev, r.ref
    if ev == "notification_made":
        on_time = None if r.t1 is None else r.at <= r.t1
        return texts.notification(r.ref, name(r.p1) or "someone", on_time), ev, r.ref
    if ev == query.OVERSIGHT_ACTION:
        ref, what = d.get("incident"), str(d.get("what") or "")
        if r.t2 is not None:
            return (texts.action_done(ref, what, name(r.p2), r.t2 < r.t1),
                    "oversight_action_done", ref)
        overdue = r.t1 <= now
        return (texts.action_open(ref, what, name(r.p1), overdue=overdue),
                "oversight_action_overdue" if overdue else "oversight_action_due", ref)
    if ev == "notification_opened":
        recipients = [notifiable.SHORT.get(x, x) for x in found.recipients.get(r.row_key, [])]
        return texts.register_opened(r.ref, _register_label(settings, r.s1), recipients,
                                     when(r.t1, tz)), ev, r.ref
    if ev == "not_notifiable":
        return texts.not_notifiable(r.ref, _register_label(settings, r.s1), name(r.p1),
                                    r.s2), ev, r.ref
    who = notifiable.SHORT.get(r.s1, r.s1)
    if ev == "notification_recipient":
        return texts.recipient_notified(r.ref, who, _METHODS.get(r.s2 or "", r.s2), r.s3,
                                        name(r.p1), r.at <= r.t1), ev, r.ref
    if ev == "notification_confirmed":
        return texts.recipient_confirmed(r.ref, who, r.s3, name(r.p1)), ev, r.ref
    return texts.recipient_not_required(r.ref, who, r.s2), ev, r.ref


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
