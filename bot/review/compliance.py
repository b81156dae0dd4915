"""The compliance report: were the statutory tasks done on time? Per team, for a period.

Three measures: the needs assessment within 72 hours of entering care, placement visits
(reg. 28) and the child protection checklist of a baby removed at birth. The tasks *due*
in the period (``[start, end)``) whose outcome is known — done, or past due — counted
per team: how many, how many done by their due time, the share, and each miss listed
(child, due, done late when or not done). Tasks due in the period but not yet due now are
counted apart as *pending*, never as met or missed. Children stay pseudonymous.

Two queries whatever the number of children: one grouped count per team (served by the
``ix_tasks_team_due`` index), one list of the misses.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.people import statutory
from bot.people.statutory import CHECKLIST, NEEDS_ASSESSMENT, VISIT
from bot.review.export import cell
from bot.texts import h, when
from storage.models import Task, Team

Scope = frozenset[str] | None
CHAT_MISSES = 30  # misses listed per team and measure in chat (the CLI lists them all)

# The measures, in the order shown: (key, label, task kinds).
MEASURES = (
    ("assessment", "Needs assessment within 72 hours of entering care", (NEEDS_ASSESSMENT,)),
    ("visits", "Placement visits on time (reg. 28)", (VISIT,)),
    ("checklist", "Babies removed at birth: child protection steps on time", CHECKLIST),
)
_MEASURE_OF = {kind: key for key, _label, kinds in MEASURES for kind in kinds}


@dataclass
class Miss:
    child: str
    kind: str
    due_at: datetime
    done_at: datetime | None
    owner: str | None


@dataclass
class Figures:
    due: int = 0  # decided: done, or past due
    on_time: int = 0
    pending: int = 0  # due in the period, not yet due now and not done
    misses: list[Miss] = field(default_factory=list)

    @property
    def percent(self) -> float | None:
        return round(100 * self.on_time / self.due, 1) if self.due else None


@dataclass
class TeamFigures:
    team_id: str
    name: str
    measures: dict[str, Figures] = field(default_factory=dict)

    def __getattr__(self, name: str):  # team.assessment, team.visits, team.checklist
        if name in _MEASURE_OF.values():
            return self.measures.setdefault(name, Figures())
        raise AttributeError(name)


@dataclass
class Compliance:
    start: datetime
    end: datetime
    label: str
    teams: list[TeamFigures]


async def compute(session: AsyncSession, scope: Scope, start: datetime, end: datetime,
                  now: datetime, label: str = "") -> Compliance:
    """The figures for tasks due in ``[start, end)``, per team and measure."""
    where = [Task.kind.in_(list(_MEASURE_OF)), Task.due_at >= start, Task.due_at < end,
             Task.closed_reason.is_(None)]
    if scope is not None:
        where.append(Task.team_id.in_(scope))
    on_time = and_(Task.done_at.is_not(None), Task.done_at < Task.due_at)
    decided = (Task.done_at.is_not(None)) | (Task.due_at <= now)
    rows = await session.execute(
        select(Task.team_id, Task.kind,
               func.sum(case((decided, 1), else_=0)),
               func.sum(case((on_time, 1), else_=0)),
               func.count())
        .where(*where).group_by(Task.team_id, Task.kind))
    names = dict((await session.execute(select(Team.id, Team.name))).all())
    teams: dict[str, TeamFigures] = {}

    def figures(team_id: str, kind: str) -> Figures:
        team = teams.setdefault(team_id, TeamFigures(team_id, names.get(team_id, team_id)))
        return team.measures.setdefault(_MEASURE_OF[kind], Figures())

    for team_id, kind, n_decided, n_on_time, n_all in rows:
        f = figures(team_id, kind)
        f.due += int(n_decided or 0)
        f.on_time += int(n_on_time or 0)
        f.pending += int(n_all - (n_decided or 0))
    missed = await session.execute(
        select(Task.team_id, Task.kind, Task.child_ref, Task.due_at, Task.done_at, Task.owner_id)
        .where(*where, decided, ~on_time).order_by(Task.team_id, Task.due_at, Task.child_ref))
    for team_id, kind, child, due, done, owner in missed:
        figures(team_id, kind).misses.append(Miss(child, kind, due, done, owner))
    return Compliance(start, end, label, sorted(teams.values(), key=lambda t: t.name))


def _miss_line(m: Miss, tz) -> str:
    done = f"done late {when(m.done_at, tz)}" if m.done_at else "not done"
    what = "" if m.kind in (NEEDS_ASSESSMENT, VISIT) else f" {statutory.label(m.kind)}:"
    return (f"child {m.child}:{what} due {when(m.due_at, tz)}, {done} "
            f"(owner {m.owner or 'nobody'})")


def _summary(f: Figures, dash: str) -> str:
    pct = f"{f.percent:.1f}%" if f.percent is not None else dash
    return f"{f.on_time} of {f.due} on time ({pct}); {len(f.misses)} missed; {f.pending} not yet due"


def render_plain(c: Compliance, tz) -> str:
    """For the CLI: every miss listed."""
    out = [f"Compliance {c.label}".rstrip()]
    if not c.teams:
        out.append("No statutory task fell due in this period.")
    for t in c.teams:
        out.append(f"{t.name} ({t.team_id})")
        for key, label, _kinds in MEASURES:
            if key in t.measures:
                out.append(f"  {label}: {_summary(t.measures[key], '-')}")
                out += [f"    missed: {_miss_line(m, tz)}" for m in t.measures[key].misses]
    return "\n".join(out)


def render_chat(c: Compliance, tz) -> str:
    out = [f"📊 <b>Compliance</b> {h(c.label)}".rstrip()]
    if not c.teams:
        out.append("No statutory task fell due in this period.")
    for t in c.teams:
        out.append(f"\n<b>{h(t.name)}</b>")
        for key, label, _kinds in MEASURES:
            f = t.measures.get(key)
            if f is None:
                continue
            out.append(f"{h(label)}: <b>{f.on_time} of {f.due}</b> on time "
                       f"({f'{f.percent:.1f}%' if f.percent is not None else '–'}); "
                       f"{len(f.misses)} missed; {f.pending} not yet due")
            out += [f"• {h(_miss_line(m, tz))}" for m in f.misses[:CHAT_MISSES]]
            if len(f.misses) > CHAT_MISSES:
                out.append(f"… and {len(f.misses) - CHAT_MISSES} more: "
                           "<code>fosterbot compliance</code> lists them all.")
    return "\n".join(out)


CSV_COLUMNS = ["team", "team_name", "measure", "due", "on_time", "percent", "pending",
               "missed_child", "missed_task", "missed_due", "missed_done", "missed_owner"]


def to_csv(c: Compliance, tz) -> str:
    """The report as CSV (the web console's download): one summary row per team and measure,
    then one row per miss under it. Times local, ``YYYY-MM-DD HH:MM``."""
    def t(dt: datetime | None) -> str:
        return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if dt else ""

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for team in c.teams:
        for key, _label, _kinds in MEASURES:
            f = team.measures.get(key)
            if f is None:
                continue
            w.writerow([team.team_id, cell(team.name), key, f.due, f.on_time,
                        "" if f.percent is None else f"{f.percent:.1f}", f.pending,
                        "", "", "", "", ""])
            for m in f.misses:
                w.writerow([team.team_id, cell(team.name), key, "", "", "", "", cell(m.child),
                            statutory.label(m.kind), t(m.due_at), t(m.done_at), m.owner or ""])
    return buf.getvalue()
