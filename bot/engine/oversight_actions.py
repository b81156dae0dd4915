"""The clocks of oversight actions: what each step of an action's clock does.

An action in a manager's oversight entry (``bot/record/oversight.py``) is a ``tasks`` row
of kind ``oversight_action``, run by the same loop as the statutory tasks
(``bot/engine/statutory.py``, which claims the step and calls :func:`run_step`):

* before it is due (the end of its due day, local time): nothing;
* step 0, when it falls due and is not done: a reminder to the owner, with a **Done**
  button (audited ``oversight_action_due``);
* step 1, ``[statutory] oversight_action_escalate_after`` later (default 24 hours), still
  not done: the manager who recorded the oversight is told (audited
  ``oversight_action_escalated``); then that manager again every ``[statutory] repeat``.

Everyone is reached through the stand-in chain (``bot.engine.targets``: away and cover,
the team manager, the deputy, …, the last resort), so a step never ends with nobody; a
manager escalating their own action reaches the next in the chain. Recording the action
done (``bot.record.tasks``) clears ``next_at``, which stops the clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit, callbacks
from bot.config import StatutorySettings
from bot.delivery.outbox import NOTICE_PRIORITY, enqueue
from bot.engine import targets, task_texts
from storage.models import Person, Task

if TYPE_CHECKING:
    from bot.services import Services


def next_at(step: int, step_at: datetime, now: datetime,
            settings: StatutorySettings) -> datetime:
    """When the step after ``step`` (which fell due at ``step_at``) falls due."""
    after = (settings.oversight_action_escalate_after if step == 0 else settings.repeat).amount
    nxt = step_at + after
    if step >= 1 and nxt <= now:  # long down: one message, not one per missed repeat
        nxt = now + after
    return nxt


async def run_step(session: AsyncSession, services: "Services", task: Task, step: int,
                   sc: targets.Scene, nxt: datetime) -> list[str]:
    """Send step ``step`` of the action's clock (already claimed); return who was reached."""
    now = sc.now
    d = task.details or {}
    subject = d.get("incident") or task.child_ref
    incident_id = d.get("incident_id")
    owner = await session.get(Person, task.owner_id) if task.owner_id else None
    if step == 0:
        res = await targets.resolve_chain(session, sc, task.owner_id, "oversight_action:owner",
                                          name="owner")
        text = task_texts.action_due(task.id, subject, d.get("what") or "", task.due_at,
                                     services.tz)
        event = "oversight_action_due"
    else:
        res = await targets.resolve_chain(session, sc, d.get("manager"),
                                          "oversight_action:manager", name="manager",
                                          exclude={task.owner_id} if task.owner_id else set())
        text = task_texts.action_escalated(task.id, subject, d.get("what") or "", task.due_at,
                                           owner.name if owner else None, services.tz)
        event = "oversight_action_escalated"
    buttons = [[("✅ Done", callbacks.TASK_DONE.data(task.id))]]
    for r in res.reached:
        await enqueue(session, key=f"task:{task.id}:{step}:{r.person.id}", kind="task_reminder",
                      now=now, person=r.person, priority=NOTICE_PRIORITY, text=text,
                      buttons=buttons, incident_id=incident_id)
    to = [r.person.id for r in res.reached]
    await audit.record(session, event, at=now, incident_id=incident_id, task=task.id,
                       child=task.child_ref, step=step, due=task.due_at.isoformat(),
                       owner=task.owner_id, manager=d.get("manager"), to=to,
                       missed=[list(m) for m in res.missed], next_at=nxt.isoformat())
    return to
