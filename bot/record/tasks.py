"""Statutory tasks as people meet them: /tasks lists them, /done records one done with a note.

Who may record a task done: its owner (the child's allocated worker), or a manager of the
child's team (``Access.may_record_task``). Recording stops its clock (``next_at`` cleared)
and is audited ``task_done`` with the note's length (the note itself is on the task row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.people import statutory
from bot.texts import h, when
from storage.models import Task, Team

if TYPE_CHECKING:
    from bot.services import Services
    from storage.models import Person

DONE_USAGE = ("Record a statutory task done with a note:\n"
              "<code>/done TASK-NUMBER what was done</code>\n"
              "for example <code>/done 12 Assessment completed with the carer</code>. "
              "/tasks lists your open tasks and their numbers.")
NOTE_MAX = 2000


@dataclass
class Done:
    ok: bool
    text: str


async def open_tasks(session: AsyncSession, services: "Services", person: "Person") -> list[Task]:
    """Open tasks the person owns, and those of the teams they manage (oldest due first)."""
    managed = list((await session.execute(select(Team.id).where(or_(
        Team.manager_id == person.id, Team.service_manager_id == person.id,
        Team.deputy_id == person.id)))).scalars())
    cond = Task.owner_id == person.id
    if managed:
        cond = or_(cond, Task.team_id.in_(managed))
    return list((await session.execute(
        select(Task).where(Task.done_at.is_(None), cond).order_by(Task.due_at, Task.id)
    )).scalars())


def tasks_text(tasks: list[Task], person: "Person", services: "Services") -> str:
    if not tasks:
        return "You have no open statutory tasks."
    now = services.clock.now()
    lines = ["📋 <b>Open statutory tasks</b>"]
    for t in tasks:
        state = "❗ overdue since" if t.due_at <= now else "due by"
        mine = "" if t.owner_id == person.id else f" (owner: {h(t.owner_id or 'nobody')})"
        lines.append(f"• <b>{t.id}</b> · child {h(t.child_ref)} · {h(statutory.label(t.kind))}"
                     f" — {state} {when(t.due_at, services.tz)}{mine}")
    lines.append("Record one done: <code>/done NUMBER note</code>")
    return "\n".join(lines)


async def record_done(session: AsyncSession, services: "Services", person: "Person",
                      task_id: int, note: str) -> Done:
    now = services.clock.now()
    note = note.strip()
    task = await session.get(Task, task_id)
    if task is None or not await services.access.may_record_task(session, person, task):
        await audit.refused(session, at=now, actor_id=person.id, action="task_done",
                            why="no such task, or not theirs", task=task_id)
        return Done(False, "There is no open task with that number that you may record.")
    if task.done_at is not None:
        return Done(False, f"Task {task.id} was already recorded done on "
                           f"{when(task.done_at, services.tz)}.")
    if not note:
        return Done(False, DONE_USAGE)
    task.done_at, task.done_by_id, task.note, task.next_at = now, person.id, note[:NOTE_MAX], None
    on_time = now <= task.due_at
    await audit.record(session, "task_done", at=now, actor_id=person.id, task=task.id,
                       child=task.child_ref, kind=task.kind, due=task.due_at.isoformat(),
                       on_time=on_time, note_chars=len(note))
    late = "" if on_time else " (after it was due: it counts as missed)"
    return Done(True, f"✅ Recorded: {h(statutory.label(task.kind))} for child "
                      f"{h(task.child_ref)}, done {when(now, services.tz)}{late}. "
                      "Reminders stop.")
