"""Statistics for a period: what a manager reports on supervision and oversight.

Definitions (our decisions):

* The period selects reports by the time they were *reported*.
* Time to acknowledge = ``acknowledged_at - reported_at`` in clock time (not
  working time): what a carer waits. Reports not (yet) acknowledged are left
  out of the times and counted as "still waiting".
* Median: the middle value (the mean of the two middle values for an even
  count), as ``statistics.median``. 90th percentile: the *nearest-rank* value,
  the smallest time within which at least 90 % of reports were acknowledged
  (``sorted[ceil(0.9 × n) − 1]``). It is always a time that really happened and
  reads plainly: "9 in 10 were acknowledged within …".
* Per worker: by who acknowledged (a manager acknowledging on someone's behalf
  counts under the manager). Per category: by the report's category.
* Reminders and escalations: the escalation steps that actually ran
  (``escalation_actions``). A step whose plan target is "recipients" is a
  reminder; every other step, and repeats of the last step, an escalation.
  Steps of the outcome and notification clocks are not counted here.
* Breach: a report acknowledged (or, if never acknowledged, closed) after the
  first step of its escalation plan fell due, or still waiting past it now.
* Notifiable events: each one, with whether the notification to Ofsted and the
  responsible authority was recorded by its deadline (``notification_due_at``,
  24 hours after the report by default, weekends included).
* Management oversight: the share of the period's reports with an oversight
  entry recorded on them (``oversight_recorded``, ``bot/record/oversight.py``),
  and the time from the report to its first entry (median and 90th
  percentile as above, clock time).
* Weeks for the chart start on Monday (local time); the web console's
  month-by-month trend (``Stats.months``) uses calendar months, local time, with
  each month's reports, time to acknowledge and breaches as defined above.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.escalation import policy as escalation
from bot.review import Scope
from bot.review.periods import Period
from bot.texts import waited, when
from storage import queries
from storage.models import AuditEvent, EscalationAction, Incident, Team

URGENCY_ORDER = ("urgent", "high", "routine")


def nearest_rank(sorted_values: list[float], pct: float) -> float:
    """The nearest-rank percentile of already sorted values (at least one)."""
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Summary:
    n: int = 0
    median: timedelta | None = None
    p90: timedelta | None = None

    @classmethod
    def of(cls, seconds: list[float]) -> "Summary":
        if not seconds:
            return cls()
        s = sorted(seconds)
        return cls(len(s), timedelta(seconds=statistics.median(s)),
                   timedelta(seconds=nearest_rank(s, 90)))


@dataclass
class Notifiable:
    reference: str
    reported_at: datetime
    due_at: datetime
    notified_at: datetime | None
    on_time: bool | None  # None: not recorded and not yet due


@dataclass
class Week:
    start: date  # a Monday
    reports: int
    ack: Summary


@dataclass
class Month:
    start: date  # the first day of the month (local)
    reports: int
    ack: Summary
    breaches: int


@dataclass
class Stats:
    period: Period
    scope_label: str
    total: int = 0
    by_category: list[tuple[str, int]] = field(default_factory=list)
    by_urgency: list[tuple[str, int]] = field(default_factory=list)
    ack_all: Summary = field(default_factory=Summary)
    ack_by_worker: list[tuple[str, Summary]] = field(default_factory=list)
    ack_by_category: list[tuple[str, Summary]] = field(default_factory=list)
    waiting: int = 0
    reminders: int = 0
    escalations: int = 0
    escalated_reports: int = 0
    breaches: list[str] = field(default_factory=list)
    notifiable: list[Notifiable] = field(default_factory=list)
    oversight: int = 0  # reports with management oversight recorded
    oversight_time: Summary = field(default_factory=Summary)
    weeks: list[Week] = field(default_factory=list)
    months: list[Month] = field(default_factory=list)  # the console's month-by-month trend


def classify_step(plan: dict[str, Any], step_key: str) -> str:
    """'reminder', 'escalation' or 'other' (the outcome and notification clocks)."""

    key = escalation.parse_key(step_key)
    if key is None or key.clock != escalation.LADDER:
        return "other"
    return "reminder" if escalation.ladder_target(plan or {}, key) == "recipients" else "escalation"


def first_due(plan: dict[str, Any]) -> datetime | None:
    steps = (plan or {}).get("steps") or []
    return datetime.fromisoformat(steps[0]["due"]) if steps else None


def monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def month_start(d: date) -> date:
    return d.replace(day=1)


async def compute(session: AsyncSession, services: Any, scope: Scope, period: Period) -> Stats:
    settings, now, tz = services.settings, services.clock.now(), services.tz
    cond = [Incident.reported_at >= period.start, Incident.reported_at < period.end]
    if scope is not None:
        cond.append(Incident.team_id.in_(sorted(scope)))
        teams = (await session.execute(select(Team.name).where(Team.id.in_(sorted(scope)))
                                       .order_by(Team.name))).scalars().all()
        scope_label = ", ".join(teams)
    else:
        scope_label = "all teams"
    rows = (await session.execute(
        select(Incident.id, Incident.reference, Incident.category, Incident.urgency,
               Incident.status, Incident.reported_at, Incident.acknowledged_at,
               Incident.acknowledged_by_id, Incident.closed_at, Incident.plan,
               Incident.notifiable, Incident.notification_due_at, Incident.notified_at)
        .where(*cond).order_by(Incident.reported_at, Incident.id)
    )).all()
    actions = (await session.execute(
        select(EscalationAction.incident_id, EscalationAction.step_key)
        .join(Incident, Incident.id == EscalationAction.incident_id).where(*cond)
    )).all()

    overseen = dict((await session.execute(
        select(AuditEvent.incident_id, func.min(AuditEvent.at))
        .join(Incident, Incident.id == AuditEvent.incident_id)
        .where(AuditEvent.event == "oversight_recorded", *cond)
        .group_by(AuditEvent.incident_id)
    )).all())

    st = Stats(period, scope_label, total=len(rows))
    reported = {r.id: r.reported_at for r in rows}
    st.oversight = len(overseen)
    st.oversight_time = Summary.of([(at - reported[i]).total_seconds()
                                    for i, at in overseen.items() if i in reported])
    label = {c.key: c.label for c in settings.categories}
    cats: dict[str, int] = {}
    urg: dict[str, int] = {}
    ack_all: list[float] = []
    ack_worker: dict[str, list[float]] = {}
    ack_cat: dict[str, list[float]] = {}
    weekly: dict[date, list[float]] = {}
    weekly_n: dict[date, int] = {}
    monthly: dict[date, list[float]] = {}
    monthly_n: dict[date, int] = {}
    monthly_breaches: dict[date, int] = {}
    plans = {}
    for r in rows:
        plans[r.id] = r.plan
        cat = label.get(r.category, r.category)
        cats[cat] = cats.get(cat, 0) + 1
        urg[r.urgency] = urg.get(r.urgency, 0) + 1
        week = monday(r.reported_at.astimezone(tz).date())
        weekly_n[week] = weekly_n.get(week, 0) + 1
        month = month_start(r.reported_at.astimezone(tz).date())
        monthly_n[month] = monthly_n.get(month, 0) + 1
        if r.acknowledged_at is not None:
            secs = (r.acknowledged_at - r.reported_at).total_seconds()
            ack_all.append(secs)
            monthly.setdefault(month, []).append(secs)
            ack_worker.setdefault(r.acknowledged_by_id or "?", []).append(secs)
            ack_cat.setdefault(cat, []).append(secs)
            weekly.setdefault(week, []).append(secs)
        elif r.status == "open":
            st.waiting += 1
        due = first_due(r.plan)
        response = r.acknowledged_at or r.closed_at
        if due is not None and ((response is not None and response > due)
                                or (response is None and now > due)):
            st.breaches.append(r.reference)
            monthly_breaches[month] = monthly_breaches.get(month, 0) + 1
        if r.notifiable:
            deadline = r.notification_due_at or (r.reported_at
                                                 + settings.notification.deadline.amount)
            on_time = (r.notified_at <= deadline if r.notified_at is not None
                       else (False if now > deadline else None))
            st.notifiable.append(Notifiable(r.reference, r.reported_at, deadline,
                                            r.notified_at, on_time))
    escalated: set[int] = set()
    for incident_id, key in actions:
        kind = classify_step(plans.get(incident_id) or {}, key)
        if kind == "reminder":
            st.reminders += 1
        elif kind == "escalation":
            st.escalations += 1
            escalated.add(incident_id)
    st.escalated_reports = len(escalated)

    st.by_category = sorted(cats.items(), key=lambda kv: (-kv[1], kv[0]))
    st.by_urgency = [(u, urg[u]) for u in URGENCY_ORDER if u in urg] + sorted(
        (u, n) for u, n in urg.items() if u not in URGENCY_ORDER)
    st.ack_all = Summary.of(ack_all)
    names = {pid: p.name for pid, p in (await queries.people_by_id(session, set(ack_worker))).items()}
    st.ack_by_worker = sorted(((names.get(w, w), Summary.of(v)) for w, v in ack_worker.items()),
                              key=lambda x: x[0])
    st.ack_by_category = sorted(((c, Summary.of(v)) for c, v in ack_cat.items()),
                                key=lambda x: x[0])
    first_week = monday(period.start.astimezone(tz).date())
    last_week = monday((period.end - timedelta(microseconds=1)).astimezone(tz).date())
    wk = first_week
    while wk <= last_week:
        st.weeks.append(Week(wk, weekly_n.get(wk, 0), Summary.of(weekly.get(wk, []))))
        wk += timedelta(days=7)
    mo = month_start(period.start.astimezone(tz).date())
    last_month = month_start((period.end - timedelta(microseconds=1)).astimezone(tz).date())
    while mo <= last_month:
        st.months.append(Month(mo, monthly_n.get(mo, 0), Summary.of(monthly.get(mo, [])),
                               monthly_breaches.get(mo, 0)))
        mo = (mo + timedelta(days=32)).replace(day=1)
    return st


# ------------------------------------------------------------------ rendering


def _summary(s: Summary) -> str:
    if not s.n:
        return "none acknowledged"
    return f"{waited(s.median)} / {waited(s.p90)} (n={s.n})"


def lines(st: Stats, tz, deadline_label: str = "24 h") -> list[tuple[str, str]]:
    """The statistics as (style, text) lines: style 'title', 'head' or ''."""
    out: list[tuple[str, str]] = [
        ("title", f"Statistics: {st.period.label}"),
        ("", st.scope_label),
        ("", f"Reports: {st.total}"),
    ]
    if st.total:
        out.append(("head", "By urgency"))
        out += [("", f"{u}: {n}") for u, n in st.by_urgency]
        out.append(("head", "By category"))
        out += [("", f"{c}: {n}") for c, n in st.by_category]
    out.append(("head", "Time to acknowledge (median / 90th percentile)"))
    out.append(("", f"All reports: {_summary(st.ack_all)}"))
    if st.waiting:
        out.append(("", f"Still waiting for acknowledgement: {st.waiting}"))
    if st.ack_by_worker:
        out.append(("head", "Per worker (who acknowledged)"))
        out += [("", f"{w}: {_summary(s)}") for w, s in st.ack_by_worker]
    if st.ack_by_category:
        out.append(("head", "Per category"))
        out += [("", f"{c}: {_summary(s)}") for c, s in st.ack_by_category]
    out.append(("head", "Escalations and breaches"))
    out.append(("", f"Reminders sent: {st.reminders}"))
    out.append(("", f"Escalations: {st.escalations} (on {st.escalated_reports} report"
                    f"{'' if st.escalated_reports == 1 else 's'})"))
    out.append(("", f"Breaches (not acknowledged by the first step's due time): "
                    f"{len(st.breaches)}"))
    for i in range(0, len(st.breaches), 6):
        out.append(("", "  " + ", ".join(st.breaches[i:i + 6])))
    out.append(("head", "Management oversight"))
    share = f" ({100 * st.oversight / st.total:.0f} %)" if st.total else ""
    out.append(("", f"Recorded on {st.oversight} of {st.total} reports{share}"))
    if st.oversight:
        out.append(("", f"Time from report to oversight: {_summary(st.oversight_time)}"))
    out.append(("head", f"Notifiable events: {len(st.notifiable)}"))
    for n in st.notifiable:
        if n.notified_at is not None:
            verdict = (f"notified after {waited(n.notified_at - n.reported_at)} — "
                       + (f"✅ within {deadline_label}" if n.on_time else f"❌ late (over {deadline_label})"))
        elif n.on_time is False:
            verdict = f"❌ not recorded, overdue since {when(n.due_at, tz)}"
        else:
            verdict = f"⏳ not recorded yet, due {when(n.due_at, tz)}"
        out.append(("", f"{n.reference}: {verdict}"))
    if st.notifiable:
        on_time = sum(1 for n in st.notifiable if n.on_time)
        out.append(("", f"Notified within {deadline_label}: {on_time} of {len(st.notifiable)}"))
    return out


def deadline_label(settings) -> str:
    d = settings.notification.deadline
    if d.working:
        return str(d)
    hours = d.amount.total_seconds() / 3600
    return f"{hours:g} hours" if hours >= 1 else waited(d.amount)
