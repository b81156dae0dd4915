"""Wording of statutory-task reminders and escalations (bot/engine/statutory.py)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.texts import h, when


def _how_to(task_id: int, child: str, visit: bool) -> str:
    if visit:
        return ("Record the visit: <code>/visit " + h(child)
                + " DATE alone|not-alone note</code>")
    return f"When it is done, record it with a note: <code>/done {task_id} your note</code>"


def reminder(task_id: int, child: str, what: str, due: datetime, tz: ZoneInfo, *,
             visit: bool = False) -> str:
    return (f"⏰ <b>Statutory task due</b> — child {h(child)}\n{h(what)}\n"
            f"Due by {when(due, tz)}.\n{_how_to(task_id, child, visit)}")


def overdue(task_id: int, child: str, what: str, due: datetime, owner: str | None,
            tz: ZoneInfo, *, to_owner: bool, visit: bool = False) -> str:
    who = "" if to_owner else f"\nOwner: {h(owner) if owner else 'nobody allocated'}"
    return (f"❗ <b>Statutory task overdue</b> — child {h(child)}\n{h(what)}\n"
            f"It was due by {when(due, tz)} and is not recorded as done.{who}\n"
            f"{_how_to(task_id, child, visit)}")


def _action_how_to(task_id: int) -> str:
    return ("When it is done, press ✅ Done and send a short note, or "
            f"<code>/done {task_id} your note</code>")


def action_due(task_id: int, subject: str, what: str, due: datetime, tz: ZoneInfo) -> str:
    """To the owner, when an oversight action falls due and is not recorded done."""
    return (f"⏰ <b>Oversight action due</b> — {h(subject)}\n{h(what)}\n"
            f"It was due by {when(due, tz)} and is not recorded as done.\n"
            f"{_action_how_to(task_id)}")


def action_escalated(task_id: int, subject: str, what: str, due: datetime,
                     owner: str | None, tz: ZoneInfo) -> str:
    """To the manager who recorded the oversight, when the action is still not done."""
    return (f"❗ <b>Oversight action not done</b> — {h(subject)}\n{h(what)}\n"
            f"Owner: {h(owner) if owner else 'nobody'}; due by {when(due, tz)}, still not "
            f"recorded as done.\n{_action_how_to(task_id)}")
