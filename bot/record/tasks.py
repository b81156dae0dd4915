"""Statutory tasks as people meet them: /tasks lists them, /done records one done with a note.

Who may record a task done: its owner (the child's allocated worker), or a manager of the
child's team (``Access.may_record_task``). Recording stops its clock (``next_at`` cleared)
and is audited ``task_done`` with the note's length (the note itself is on the task row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit, callbacks
from bot.delivery.outbox import enqueue
from bot.people import statutory
from bot.record import thread
from bot.record.prompt import Buttons, Prompt
from bot.texts import h, when
from storage.models import Child, Draft, Person, Placement, Task, Team

if TYPE_CHECKING:
    from bot.services import Services

DONE_USAGE = ("Record a statutory task done with a note:\n"
              "<code>/done TASK-NUMBER what was done</code>\n"
              "for example <code>/done 12 Assessment completed with the carer</code>. "
              "/tasks lists your open tasks and their numbers.")
NOTE_MAX = 2000
NOTE_STEP = "task_note"
VISIT_USAGE = ("Record a visit to a child in placement:\n"
               "<code>/visit CHILD DATE alone|not-alone note</code>\n"
               "for example <code>/visit A1 2026-12-01 alone Saw A1 at home; settled.</code> "
               "(DATE may also be <code>today</code>).")


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
        select(Task).where(statutory.is_open(), cond).order_by(Task.due_at, Task.id)
    )).scalars())


def tasks_buttons(tasks: list[Task]) -> Buttons:
    """A Done button for each task recorded with a note (visits are recorded with /visit)."""
    return [[(f"✅ Done {t.id} · {t.child_ref}", callbacks.TASK_DONE.data(t.id))]
            for t in tasks if t.kind != statutory.VISIT][:20]


def tasks_text(tasks: list[Task], person: "Person", services: "Services") -> str:
    if not tasks:
        return "You have no open statutory tasks."
    now = services.clock.now()
    lines = ["📋 <b>Open statutory tasks</b> and oversight actions"]
    for t in tasks:
        state = "❗ overdue since" if t.due_at <= now else "due by"
        mine = "" if t.owner_id == person.id else f" (owner: {h(t.owner_id or 'nobody')})"
        lines.append(f"• <b>{t.id}</b> · child {h(t.child_ref)} · {h(statutory.describe(t))}"
                     f" — {state} {when(t.due_at, services.tz)}{mine}")
    lines.append("Record one done: press its Done button, or <code>/done NUMBER note</code>; "
                 "a visit: <code>/visit CHILD DATE alone|not-alone note</code>")
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
    if task.closed_reason is not None:
        return Done(False, f"Task {task.id} is no longer owed ({h(task.closed_reason)}).")
    if task.kind == statutory.VISIT:
        return Done(False, VISIT_USAGE)
    if not note:
        return Done(False, DONE_USAGE)
    task.done_at, task.done_by_id, task.note, task.next_at = now, person.id, note[:NOTE_MAX], None
    on_time = now < task.due_at
    details = task.details or {}
    await audit.record(session, "task_done", at=now, actor_id=person.id, task=task.id,
                       incident_id=details.get("incident_id"),
                       child=task.child_ref, kind=task.kind, due=task.due_at.isoformat(),
                       on_time=on_time, note_chars=len(note))
    if task.kind == statutory.OVERSIGHT_ACTION:
        await _tell_manager_done(session, services, task, person, now)
    late = "" if on_time else " (after it was due: it counts as missed)"
    return Done(True, f"✅ Recorded: {h(statutory.describe(task))} for child "
                      f"{h(task.child_ref)}, done {when(now, services.tz)}{late}. "
                      "Reminders stop.")


async def _tell_manager_done(session: AsyncSession, services: "Services", task: Task,
                             person: "Person", now: datetime) -> None:
    """The manager who set an oversight action is told when it is recorded done."""
    details = task.details or {}
    manager = await session.get(Person, details.get("manager") or "")
    if manager is None or not manager.active or manager.id == person.id:
        return
    await enqueue(session, key=f"task_done:{task.id}:{manager.id}", kind="notice", now=now,
                  person=manager, incident_id=details.get("incident_id"),
                  text=f"✅ {h(person.name)} recorded done: {h(statutory.describe(task))} "
                       f"(task {task.id}), {when(now, services.tz)}.")


async def record_visit(session: AsyncSession, services: "Services", person: "Person",
                       child_ref: str, day_text: str, alone_text: str, note: str) -> Done:
    """A visit by the child's allocated worker (reg. 28): its date, whether the child was
    seen alone, a note. It closes the placement's open visit task (on time if the visit day
    fell before its deadline) and starts the next one."""
    now = services.clock.now()
    tz = services.tz
    today = now.astimezone(tz).date()
    try:
        day = today if day_text.lower() == "today" else date.fromisoformat(day_text)
    except ValueError:
        return Done(False, VISIT_USAGE)
    if alone_text.lower() not in ("alone", "not-alone") or not note.strip():
        return Done(False, VISIT_USAGE)
    if day > today:
        return Done(False, "A visit is recorded after it happened: that date is in the future.")
    child = await session.get(Child, child_ref)
    if child is None or not child.active or child.allocated_social_worker_id != person.id:
        await audit.refused(session, at=now, actor_id=person.id, action="visit",
                            why="not the child's allocated worker", child=child_ref)
        return Done(False, "Visits are recorded by the child's allocated social worker; "
                           "you are not allocated to that child.")
    placement = (await session.execute(
        select(Placement).where(Placement.child_ref == child.ref, Placement.start_date <= day,
                                (Placement.end_date.is_(None)) | (Placement.end_date >= day))
        .order_by(Placement.start_date.desc()).limit(1))).scalar_one_or_none()
    if placement is None:
        return Done(False, f"Child {h(child.ref)} was not in a placement on {day.isoformat()}.")
    settings = services.settings.statutory
    prefix = f"visit:{placement.start_date.isoformat()}:"
    visits = list((await session.execute(
        select(Task).where(Task.child_ref == child.ref, Task.kind == statutory.VISIT,
                           Task.key.startswith(prefix))
        .order_by(Task.id))).scalars())
    open_task = next((t for t in visits if t.done_at is None and t.closed_reason is None), None)
    number = max((int(t.key.rsplit(":", 1)[1]) for t in visits), default=0)
    seen_alone = alone_text.lower() == "alone"
    details = {"visit_date": day.isoformat(), "seen_alone": seen_alone,
               "placement_start": placement.start_date.isoformat(),
               "recorded_at": now.isoformat()}
    visited_at = statutory.day_start(day, tz)
    if open_task is None:  # a visit with no clock running (one from before the bot knew)
        number += 1
        open_task = await statutory.add_task(
            session, settings, child, statutory.VISIT, f"{prefix}{number}", visited_at,
            now=now, actor=person.id)
    open_task.done_at, open_task.done_by_id = visited_at, person.id
    open_task.note, open_task.next_at = note.strip()[:NOTE_MAX], None
    open_task.details = {**(open_task.details or {}), **details}
    on_time = visited_at < open_task.due_at
    nxt = statutory.next_visit_due(day, placement.start_date, bool(placement.long_term),
                                   settings, tz)
    await session.flush()
    following = await statutory.add_task(session, settings, child, statutory.VISIT,
                                         f"{prefix}{number + 1}", nxt, now=now,
                                         actor=person.id,
                                         placement_start=placement.start_date.isoformat())
    await audit.record(session, "visit_recorded", at=now, actor_id=person.id, child=child.ref,
                       task=open_task.id, visit_date=day.isoformat(), seen_alone=seen_alone,
                       on_time=on_time, next_due=nxt.isoformat(), note_chars=len(note.strip()))
    await session.flush()
    late = "" if on_time else " It was after the deadline: it counts as late."
    return Done(True, f"✅ Visit to child {h(child.ref)} on {day.isoformat()} recorded "
                      f"(seen alone: {'yes' if seen_alone else 'no'}).{late}\n"
                      f"Next visit due by {when(nxt, tz)} (task {following.id}).")


async def begin_done(session: AsyncSession, services: "Services", person: "Person", chat_id: int,
                     task_id: int) -> Prompt:
    """The Done button: the next message the person sends is the task's note."""
    now = services.clock.now()
    task = await session.get(Task, task_id)
    if task is None or not await services.access.may_record_task(session, person, task):
        await audit.refused(session, at=now, actor_id=person.id, action="task_done",
                            why="no such task, or not theirs", task=task_id)
        return Prompt("There is no open task with that number that you may record.")
    if task.done_at is not None or task.closed_reason is not None:
        return Prompt(f"Task {task.id} is not open any more.")
    if task.kind == statutory.VISIT:
        return Prompt(VISIT_USAGE)
    await thread.end_all(session, services, person.id)
    session.add(Draft(carer_id=person.id, chat_id=chat_id, step=NOTE_STEP,
                      data={"task_id": task.id}, created_at=now, last_activity_at=now))
    await session.flush()
    return Prompt(f"✍️ Send a short note of what was done — {h(statutory.describe(task))}, "
                  f"child {h(task.child_ref)} (task {task.id}). /cancel to stop.")


async def note_input(session: AsyncSession, services: "Services", person: "Person",
                     draft: Draft, text: str) -> Prompt:
    """The note after the Done button: record the task done with it."""
    now = services.clock.now()
    if not (text or "").strip():
        draft.last_activity_at = now
        return Prompt("Please type a short note of what was done (/cancel to stop).")
    done = await record_done(session, services, person, int((draft.data or {})["task_id"]),
                             text)
    thread.end_state(draft, now, finished=done.ok)
    return Prompt(done.text)
