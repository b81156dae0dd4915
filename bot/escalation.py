"""Escalation policy: the plan frozen on an incident when it is reported.

The plan records, for each configured step, when it falls due (computed once,
at report time, from the policy in force: a later change of configuration does
not alter escalations already running) and whom it notifies. The incident's
``next_due_at`` / ``next_step`` name the next action; the engine
(``bot/escalation_engine.py``) acts on them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.config import Settings
from bot.durations import parse_duration
from bot.workhours import WorkingCalendar


def freeze_plan(
    settings: Settings, calendar: WorkingCalendar, urgency: str, reported_at: datetime
) -> dict[str, Any]:
    policy = settings.escalation[urgency]
    steps = []
    for i, step in enumerate(policy.steps, 1):
        due = calendar.add(reported_at, step.after)
        steps.append(
            {"key": f"step{i}", "after": str(step.after), "notify": step.notify,
             "due": due.isoformat()}
        )
    return {
        "version": settings.policy_version(urgency),
        "urgency": urgency,
        "steps": steps,
        "repeat": str(policy.repeat) if policy.repeat else None,
        "outcome_within": str(policy.outcome_within) if policy.outcome_within else None,
    }


def first_due(plan: dict[str, Any]) -> tuple[str | None, datetime | None]:
    steps = plan.get("steps") or []
    if not steps:
        return None, None
    return steps[0]["key"], datetime.fromisoformat(steps[0]["due"])


def outcome_due(
    plan: dict[str, Any], calendar: WorkingCalendar, acknowledged_at: datetime
) -> datetime | None:
    text = plan.get("outcome_within")
    if not text:
        return None
    return calendar.add(acknowledged_at, parse_duration(text))
