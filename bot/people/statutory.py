"""Statutory clocks for children in care: the tasks owed on a child, started from the directory.

The **needs assessment within 72 hours** of a child entering care (issue 15 item 4), the
**placement visits** of reg. 28 and, for a **baby removed at birth**, the checklist of child
protection steps (strategy discussion, conference date, health visitor informed).
The clock starts from the child's ``entered_care`` date in the directory, else the start of
their first placement, at the start of that day in the service's time zone (the date alone
does not say the hour, so the earliest reading is taken: the deadline is never later than
the law's). It is owned by the child's allocated social worker (a handover moves it).

A task is a ``tasks`` row; ``bot.engine.statutory`` reminds its owner before it falls due
and escalates when it is missed; ``bot.record.tasks`` records it done with a note;
``bot.review.compliance`` reports on time and missed. A clock already further past due than
``[statutory] lookback`` when the bot first learns of the child is not started (history from
before the bot is not chased).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.config import StatutorySettings
from bot.rules.durations import Duration
from bot.texts import LONDON
from storage.models import Child, Placement, Task

NEEDS_ASSESSMENT = "needs_assessment"
VISIT = "placement_visit"
CP_STRATEGY = "cp_strategy_discussion"
CP_CONFERENCE = "cp_conference"
CP_HEALTH_VISITOR = "cp_health_visitor"
CHECKLIST = (CP_STRATEGY, CP_CONFERENCE, CP_HEALTH_VISITOR)
# An action from a manager's oversight entry (bot/record/oversight.py): a task owned by the
# action's owner, reminded when due and escalated to the manager who recorded it.
OVERSIGHT_ACTION = "oversight_action"
KIND_LABELS = {
    NEEDS_ASSESSMENT: "needs assessment (within 72 hours of entering care)",
    VISIT: "placement visit (record it with /visit)",
    CP_STRATEGY: "baby removed at birth: strategy discussion held",
    CP_CONFERENCE: "baby removed at birth: child protection conference date set",
    CP_HEALTH_VISITOR: "baby removed at birth: health visitor informed",
    OVERSIGHT_ACTION: "oversight action",
}


def label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind.replace("_", " "))


def describe(task: Task) -> str:
    """What a task is, as people read it: its kind's label; an oversight action says what
    is to be done and on which report (or child)."""
    if task.kind != OVERSIGHT_ACTION:
        return label(task.kind)
    d = task.details or {}
    on = d.get("incident") or task.child_ref
    return f"oversight action on {on}: {d.get('what') or ''}".rstrip(": ")


def day_start(day: date, tz: ZoneInfo = LONDON) -> datetime:
    """The start of ``day`` in the service's time zone, in UTC."""
    return datetime.combine(day, time(0, 0), tzinfo=tz).astimezone(timezone.utc)


def assessment_due(entered: date, within: timedelta, tz: ZoneInfo = LONDON) -> datetime:
    return day_start(entered, tz) + within


def due_after(day: date, span: Duration, tz: ZoneInfo = LONDON) -> datetime:
    """``span`` after the start of ``day``: a span in days counts calendar days in local
    time (so "21d" ends at local midnight whatever the clock change between); in hours or
    minutes it is elapsed time ("72h" is 72 hours, even across a clock change)."""
    if span.unit == "d":
        return day_start(day + timedelta(days=span.amount.days), tz)
    return day_start(day, tz) + span.amount


def first_reminder(due: datetime, settings: StatutorySettings, kind: str = "") -> datetime:
    lead = settings.visit_remind_before if kind == VISIT else settings.remind_before
    return due - lead.amount


def add_months(day: date, months: int) -> date:
    """The same day ``months`` calendar months later (the month's last day if shorter)."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover - 28 always exists


def visit_key(placement_start: date, number: int) -> str:
    return f"visit:{placement_start.isoformat()}:{number}"


def first_visit_due(start: date, settings: StatutorySettings, tz: ZoneInfo = LONDON) -> datetime:
    """The first visit is due within ``visit_first_within`` of the day the placement starts:
    a visit on that many calendar days later is still on time, so the deadline is the end
    of that day (local midnight, whatever the clock change between)."""
    return day_start(start + timedelta(days=settings.visit_first_within.amount.days + 1), tz)


def next_visit_due(visited: date, placement_start: date, long_term: bool,
                   settings: StatutorySettings, tz: ZoneInfo = LONDON) -> datetime:
    """Reg. 28: at most ``visit_every`` after the last visit in the placement's first year;
    after it, ``visit_every_long_term_months`` months for a long-term placement. Calendar
    days in local time: weekends, bank holidays and clock changes move nothing."""
    if long_term and visited >= add_months(placement_start, 12):
        last = add_months(visited, settings.visit_every_long_term_months)
    else:
        last = visited + timedelta(days=settings.visit_every.amount.days)
    return day_start(last + timedelta(days=1), tz)  # the end of the last day allowed


async def start_clocks(session: AsyncSession, settings: StatutorySettings, *, now: datetime,
                       actor: str | None = None, tz: ZoneInfo = LONDON) -> int:
    """Create the tasks now owed that do not exist yet (in the caller's transaction);
    return how many were made. Idempotent: a task is made once per child and key."""
    have = set((await session.execute(
        select(Task.child_ref).where(Task.key == NEEDS_ASSESSMENT))).scalars())
    first_placement = dict((await session.execute(
        select(Placement.child_ref, func.min(Placement.start_date)).group_by(Placement.child_ref)
    )).all())
    children = (await session.execute(
        select(Child).where(Child.active.is_(True)).order_by(Child.ref))).scalars()
    within = settings.needs_assessment_within.amount
    made = 0
    for child in children:
        if child.ref in have:
            continue
        entered = child.entered_care or first_placement.get(child.ref)
        if entered is None:
            continue
        due = assessment_due(entered, within, tz)
        if due < now - settings.lookback.amount:
            continue
        await add_task(session, settings, child, NEEDS_ASSESSMENT, NEEDS_ASSESSMENT, due,
                       now=now, actor=actor)
        made += 1
        if child.removed_at_birth:
            for kind, after in ((CP_STRATEGY, settings.strategy_discussion_within),
                                (CP_CONFERENCE, settings.cp_conference_within),
                                (CP_HEALTH_VISITOR, settings.health_visitor_within)):
                await add_task(session, settings, child, kind, kind, due_after(entered, after, tz),
                               now=now, actor=actor)
                made += 1
    made += await _start_visits(session, settings, now=now, actor=actor, tz=tz)
    await _stop_unowed(session, now=now, actor=actor, tz=tz)
    if made:
        await session.flush()
    return made


def is_open():
    """The condition of a task still owed: not done and not closed."""
    return Task.done_at.is_(None) & Task.closed_reason.is_(None)


async def _stop_unowed(session: AsyncSession, *, now: datetime, actor: str | None,
                       tz: ZoneInfo) -> None:
    """Open tasks no longer owed: every task of a child who left care (no longer active),
    and a visit falling due after its placement ended (or was removed). They are closed
    with the reason (neither met nor missed). A visit that fell due while the placement
    ran stays a miss, but its reminders stop once the placement has ended."""
    today = now.astimezone(tz).date()
    open_tasks = list((await session.execute(select(Task).where(is_open()))).scalars())
    if not open_tasks:
        return
    active = set((await session.execute(
        select(Child.ref).where(Child.active.is_(True)))).scalars())
    ends: dict[tuple[str, str], date | None] = {}
    for ref, start, end in (await session.execute(
            select(Placement.child_ref, Placement.start_date, Placement.end_date))).all():
        key = (ref, start.isoformat())  # one placement, a row per carer: the latest end
        if key not in ends:
            ends[key] = end
        elif ends[key] is None or end is None:
            ends[key] = None
        else:
            ends[key] = max(ends[key], end)
    for task in open_tasks:
        reason = None
        if task.child_ref not in active:
            reason = "child_left_care"
        elif task.kind == VISIT:
            start = task.key.split(":")[1]
            key = (task.child_ref, start)
            if key not in ends:
                reason = "placement_ended"
            elif ends[key] is not None and ends[key] < today:
                if task.due_at > day_start(ends[key] + timedelta(days=1), tz):
                    reason = "placement_ended"
                else:
                    task.next_at = None  # a miss while it ran: no more reminders
        if reason:
            task.closed_reason, task.next_at = reason, None
            await audit.record(session, "task_closed", at=now, actor_id=actor, task=task.id,
                               child=task.child_ref, kind=task.kind, reason=reason)


async def add_task(session: AsyncSession, settings: StatutorySettings, child: Child, kind: str,
                   key: str, due: datetime, *, now: datetime, actor: str | None,
                   **details: object) -> Task:
    task = Task(child_ref=child.ref, team_id=child.team_id, kind=kind, key=key, due_at=due,
                owner_id=child.allocated_social_worker_id, step=0,
                next_at=first_reminder(due, settings, kind), created_at=now,
                details=details or None)
    session.add(task)
    await audit.record(session, "task_started", at=now, actor_id=actor, child=child.ref,
                       kind=kind, key=key, due=due.isoformat(),
                       owner=child.allocated_social_worker_id)
    return task


async def _start_visits(session: AsyncSession, settings: StatutorySettings, *, now: datetime,
                        actor: str | None, tz: ZoneInfo) -> int:
    """The first visit of each placement current now (one per child and start day, however
    many carers), unless it would be further past due than the lookback."""
    have = set((await session.execute(
        select(Task.child_ref, Task.key).where(Task.kind == VISIT))).all())
    today = now.astimezone(tz).date()
    rows = (await session.execute(
        select(Placement.child_ref, Placement.start_date)
        .where((Placement.end_date.is_(None)) | (Placement.end_date >= today))
        .distinct())).all()
    children = {c.ref: c for c in (await session.execute(
        select(Child).where(Child.active.is_(True)))).scalars()}
    made = 0
    for ref, start in sorted(rows):
        child = children.get(ref)
        key = visit_key(start, 1)
        if child is None or (ref, key) in have:
            continue
        due = first_visit_due(start, settings, tz)
        if due < now - settings.lookback.amount:
            continue
        await add_task(session, settings, child, VISIT, key, due, now=now, actor=actor,
                       placement_start=start.isoformat())
        made += 1
    return made
