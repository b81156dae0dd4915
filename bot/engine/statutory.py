"""The statutory-task clocks: one small engine unit woken by the escalation engine's loop.

Each task (``tasks`` row, created by ``bot.people.statutory``) has a ``step`` and the time
its next step falls due (``next_at``):

* step 0, ``remind_before`` ahead of the due time: a reminder to the owner;
* step 1, at the due time: the task is missed — the owner and the team manager are told
  (audited ``task_overdue``);
* step 2 onwards, every ``repeat``: the team manager again.

Each person is reached through the stand-in chain of ``bot.engine.targets`` (their cover,
the team manager, the deputy, …, the last resort), so a step never ends with nobody. One
transaction per task and step; the step is claimed with a conditional update, so two
engines never send the same step twice. Recording the task done (``bot.record.tasks``)
clears ``next_at``: nothing more is sent.

Oversight actions (kind ``oversight_action``) ride on the same loop with their own steps
(``bot/engine/oversight_actions.py``: nothing before due, the owner at the due time, the
manager who recorded the oversight later).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.delivery.outbox import NOTICE_PRIORITY, enqueue
from bot.engine import oversight_actions, targets, task_texts
from bot.people import statutory
from storage.models import Person, Task, Team

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)


async def next_due(session: AsyncSession) -> datetime | None:
    return (await session.execute(select(func.min(Task.next_at)))).scalar()


async def run_due(services: "Services", *, batch: int = 200) -> int:
    """Run every task step due now; return how many ran here."""
    ran = 0
    for _ in range(1000):
        now = services.clock.now()
        async with services.db.read() as s:
            ids = list((await s.execute(
                select(Task.id).where(Task.next_at <= now).order_by(Task.next_at, Task.id)
                .limit(batch))).scalars())
        if not ids:
            break
        progressed = 0
        for task_id in ids:
            try:
                if await _run_one(services, task_id):
                    progressed += 1
            except Exception:  # noqa: BLE001 - one bad task must not stop the rest
                log.exception("statutory task step failed (task %s)", task_id)
        ran += progressed
        if not progressed:
            break
    return ran


async def _run_one(services: "Services", task_id: int) -> bool:
    now = services.clock.now()
    settings = services.settings.statutory
    async with services.db.write() as s:
        task = await s.get(Task, task_id)
        if task is None or task.next_at is None or task.next_at > now or task.done_at:
            return False
        step, due_step_at = task.step, task.next_at
        action = task.kind == statutory.OVERSIGHT_ACTION
        if action:
            nxt = oversight_actions.next_at(step, due_step_at, now, settings)
        else:
            nxt = task.due_at if step == 0 else due_step_at + settings.repeat.amount
        if nxt <= now and step >= 1:  # long down: one message, not one per missed repeat
            nxt = now + settings.repeat.amount
        claimed = await s.execute(
            update(Task).where(Task.id == task_id, Task.step == step, Task.done_at.is_(None),
                               Task.next_at == due_step_at)
            .values(step=step + 1, next_at=nxt).execution_options(synchronize_session=False))
        if claimed.rowcount != 1:
            return False
        team = await s.get(Team, task.team_id)
        sc = await targets.scene(s, services, team, now)
        if action:
            if not await oversight_actions.run_step(s, services, task, step, sc, nxt):
                log.error("oversight action %s (child %s): nobody could be reached",
                          task.id, task.child_ref)
            return True
        what = statutory.label(task.kind)
        visit = task.kind == statutory.VISIT
        owner = await s.get(Person, task.owner_id) if task.owner_id else None
        sends: list[tuple[targets.Reached, str]] = []
        missed: list[tuple[str, str]] = []
        if step <= 1:
            res = await targets.resolve_chain(s, sc, task.owner_id, "task:owner", name="owner")
            missed += res.missed
            text = (task_texts.reminder(task.id, task.child_ref, what, task.due_at, services.tz,
                                       visit=visit)
                    if step == 0 else
                    task_texts.overdue(task.id, task.child_ref, what, task.due_at,
                                       owner.name if owner else None, services.tz,
                                       to_owner=True, visit=visit))
            sends += [(r, text) for r in res.reached]
        if step >= 1:
            got = {r.person.id for r, _ in sends}
            res = await targets.resolve_chain(s, sc, sc.team.manager_id, "task:team_manager",
                                              name="team_manager", exclude=got)
            missed += res.missed
            text = task_texts.overdue(task.id, task.child_ref, what, task.due_at,
                                      owner.name if owner else None, services.tz,
                                      to_owner=False, visit=visit)
            sends += [(r, text) for r in res.reached]
        for r, text in sends:
            await enqueue(s, key=f"task:{task.id}:{step}:{r.person.id}", kind="task_reminder",
                          now=now, person=r.person, priority=NOTICE_PRIORITY, text=text)
        await audit.record(
            s, "task_reminded" if step == 0 else "task_overdue", at=now, task=task.id,
            child=task.child_ref, kind=task.kind, step=step, due=task.due_at.isoformat(),
            to=[r.person.id for r, _ in sends], missed=[list(m) for m in missed],
            next_at=nxt.isoformat())
        if not sends:
            log.error("statutory task %s (%s, child %s): nobody could be reached",
                      task.id, task.kind, task.child_ref)
    return True
