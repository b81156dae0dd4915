"""The compliance report: were the statutory tasks done on time? Per team, for a period.

Today it covers the needs assessment within 72 hours of entering care: the tasks *due*
in the period (``[start, end)``) whose outcome is known — done, or past due — counted
per team: how many, how many done by their due time, the share, and each miss listed
(child, due, done late when or not done). Tasks due in the period but not yet due now are
counted apart as *pending*, never as met or missed. Children stay pseudonymous.

Two queries whatever the number of children: one grouped count per team (served by the
``ix_tasks_team_due`` index), one list of the misses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.people.statutory import NEEDS_ASSESSMENT
from bot.texts import h, when
from storage.models import Task, Team

Scope = frozenset[str] | None
CHAT_MISSES = 30  # misses listed per team in chat (the CLI lists them all)


@dataclass
class Miss:
    child: str
    due_at: datetime
    done_at: datetime | None
    owner: str | None


@dataclass
class TeamFigures:
    team_id: str
    name: str
    due: int = 0  # decided: done, or past due
    on_time: int = 0
    pending: int = 0  # due in the period, not yet due now and not done
    misses: list[Miss] = field(default_factory=list)

    @property
    def percent(self) -> float | None:
        return round(100 * self.on_time / self.due, 1) if self.due else None


@dataclass
class Compliance:
    start: datetime
    end: datetime
    label: str
    teams: list[TeamFigures]


async def compute(session: AsyncSession, scope: Scope, start: datetime, end: datetime,
                  now: datetime, label: str = "") -> Compliance:
    where = [Task.kind == NEEDS_ASSESSMENT, Task.due_at >= start, Task.due_at < end]
    if scope is not None:
        where.append(Task.team_id.in_(scope))
    on_time = and_(Task.done_at.is_not(None), Task.done_at <= Task.due_at)
    decided = (Task.done_at.is_not(None)) | (Task.due_at <= now)
    rows = await session.execute(
        select(Task.team_id,
               func.sum(case((decided, 1), else_=0)),
               func.sum(case((on_time, 1), else_=0)),
               func.count())
        .where(*where).group_by(Task.team_id))
    names = dict((await session.execute(select(Team.id, Team.name))).all())
    teams: dict[str, TeamFigures] = {}
    for team_id, n_decided, n_on_time, n_all in rows:
        teams[team_id] = TeamFigures(team_id, names.get(team_id, team_id), int(n_decided or 0),
                                     int(n_on_time or 0), int(n_all - (n_decided or 0)))
    missed = await session.execute(
        select(Task.team_id, Task.child_ref, Task.due_at, Task.done_at, Task.owner_id)
        .where(*where, decided, ~on_time).order_by(Task.team_id, Task.due_at, Task.child_ref))
    for team_id, child, due, done, owner in missed:
        teams[team_id].misses.append(Miss(child, due, done, owner))
    return Compliance(start, end, label, sorted(teams.values(), key=lambda t: t.name))


def _miss_line(m: Miss, tz) -> str:
    done = f"done late {when(m.done_at, tz)}" if m.done_at else "not done"
    return f"child {m.child}: due {when(m.due_at, tz)}, {done} (owner {m.owner or 'nobody'})"


def render_plain(c: Compliance, tz) -> str:
    """For the CLI: every miss listed."""
    out = [f"Compliance {c.label}".rstrip()]
    if not c.teams:
        out.append("No needs assessments fell due in this period.")
    for t in c.teams:
        pct = f"{t.percent:.1f}%" if t.percent is not None else "-"
        out.append(f"{t.name} ({t.team_id})")
        out.append(f"  needs assessment within 72 hours of entering care: {t.on_time} of "
                   f"{t.due} on time ({pct}); {len(t.misses)} missed; {t.pending} not yet due")
        out += [f"    missed: {_miss_line(m, tz)}" for m in t.misses]
    return "\n".join(out)


def render_chat(c: Compliance, tz) -> str:
    out = [f"📊 <b>Compliance</b> {h(c.label)}".rstrip()]
    if not c.teams:
        out.append("No needs assessments fell due in this period.")
    for t in c.teams:
        pct = f"{t.percent:.1f}%" if t.percent is not None else "–"
        out.append(f"\n<b>{h(t.name)}</b>")
        out.append(f"Needs assessment within 72 hours: <b>{t.on_time} of {t.due}</b> on time "
                   f"({pct}); {len(t.misses)} missed; {t.pending} not yet due")
        out += [f"• {h(_miss_line(m, tz))}" for m in t.misses[:CHAT_MISSES]]
        if len(t.misses) > CHAT_MISSES:
            out.append(f"… and {len(t.misses) - CHAT_MISSES} more: "
                       "<code>fosterbot compliance</code> lists them all.")
    return "\n".join(out)
