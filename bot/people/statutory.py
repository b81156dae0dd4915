"""Statutory clocks for children in care: the tasks owed on a child, started from the directory.

Today: the **needs assessment within 72 hours** of a child entering care (issue 15 item 4).
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
from bot.texts import LONDON
from storage.models import Child, Placement, Task

NEEDS_ASSESSMENT = "needs_assessment"
KIND_LABELS = {NEEDS_ASSESSMENT: "needs assessment (within 72 hours of entering care)"}


def label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind.replace("_", " "))


def day_start(day: date, tz: ZoneInfo = LONDON) -> datetime:
    """The start of ``day`` in the service's time zone, in UTC."""
    return datetime.combine(day, time(0, 0), tzinfo=tz).astimezone(timezone.utc)


def assessment_due(entered: date, within: timedelta, tz: ZoneInfo = LONDON) -> datetime:
    return day_start(entered, tz) + within


def first_reminder(due: datetime, settings: StatutorySettings) -> datetime:
    return due - settings.remind_before.amount


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
        session.add(Task(child_ref=child.ref, team_id=child.team_id, kind=NEEDS_ASSESSMENT,
                         key=NEEDS_ASSESSMENT, due_at=due,
                         owner_id=child.allocated_social_worker_id, step=0,
                         next_at=first_reminder(due, settings), created_at=now))
        await audit.record(session, "task_started", at=now, actor_id=actor, child=child.ref,
                           kind=NEEDS_ASSESSMENT, due=due.isoformat(),
                           owner=child.allocated_social_worker_id)
        made += 1
    if made:
        await session.flush()
    return made
