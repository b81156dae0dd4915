"""Escalation policy: the plan frozen on an incident when it is reported.

The plan records, for each configured step, when it falls due (computed once,
at report time, from the policy in force: a later change of configuration does
not alter escalations already running) and whom it notifies. The incident's
``next_due_at`` / ``next_step`` name the next action; the engine
(``bot/engine/escalation.py``) acts on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.config import Settings
from bot.rules.durations import Duration, parse_duration
from bot.rules.workhours import WorkingCalendar


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


# --------------------------------------------------------------------------
# Step keys and what follows each step (pure: no database, no clock read)
# --------------------------------------------------------------------------
#
# Three clocks run on an incident, each with its own keys (the idempotency key
# of a step is the (incident, key) row in ``escalation_actions``):
#
# * acknowledgement: ``step1`` … ``stepN`` from the frozen plan, then
#   ``repeat1``, ``repeat2`` … (the last step again every ``repeat``);
# * outcome, after acknowledgement: ``outcome1`` (whoever holds the report) and
#   ``outcome2`` (their team manager), then nothing more; each reopening starts a
#   fresh pair with new keys (``outcome3``/``outcome4``, …), so the new steps are
#   never mistaken for ones already run;
# * notification, for notifiable categories: ``notify1`` at report time, then
#   ``notify2`` … every ``notification.remind_every`` until it is recorded.
#
# Catching up after downtime: every plan step that fell due runs once, in order
# (each usually tells someone different). A recurring reminder (``repeatK``,
# ``notifyK``) whose slot has already passed when the step before it runs is
# not sent separately: the message just sent stands for it, and the slots it
# covers are counted in its audit event. So a two-hour outage produces one late
# reminder per step, not eight identical messages at once.

LADDER, OUTCOME, NOTIFICATION = "acknowledgement", "outcome", "notification"
_KEY = re.compile(r"^(step|repeat|outcome|notify)([1-9][0-9]{0,5})$")


@dataclass(frozen=True)
class StepKey:
    kind: str  # step | repeat | outcome | notify
    number: int

    @property
    def clock(self) -> str:
        return {"step": LADDER, "repeat": LADDER, "outcome": OUTCOME, "notify": NOTIFICATION}[self.kind]

    def __str__(self) -> str:
        return f"{self.kind}{self.number}"


def parse_key(key: str | None) -> StepKey | None:
    m = _KEY.match(key or "")
    return StepKey(m.group(1), int(m.group(2))) if m else None


def ladder_target(plan: dict[str, Any], key: StepKey) -> str:
    """Whom a ladder step notifies ("recipients", "team_manager", … or a person id)."""
    steps = plan.get("steps") or []
    if key.kind == "step" and 1 <= key.number <= len(steps):
        return steps[key.number - 1]["notify"]
    return steps[-1]["notify"] if steps else "recipients"


def _coalesce(calendar: WorkingCalendar, due: datetime, every: Duration,
              now: datetime) -> tuple[datetime, int]:
    """The first slot after ``due`` (every ``every``) that is still in the future,
    and how many past slots were skipped on the way."""
    nxt, covered = calendar.add(due, every), 0
    while nxt <= now:
        nxt, covered = calendar.add(nxt, every), covered + 1
    return nxt, covered


@dataclass(frozen=True)
class Next:
    key: str | None
    due: datetime | None
    covered: int = 0  # recurring slots already past, stood for by the step just run


def after_ladder_step(plan: dict[str, Any], calendar: WorkingCalendar, key: StepKey,
                      due: datetime, now: datetime) -> Next:
    steps = plan.get("steps") or []
    if key.kind == "step" and key.number < len(steps):
        nxt = steps[key.number]
        return Next(nxt["key"], datetime.fromisoformat(nxt["due"]))
    repeat = plan.get("repeat")
    if not repeat:
        return Next(None, None)
    at, covered = _coalesce(calendar, due, parse_duration(repeat), now)
    number = key.number + 1 if key.kind == "repeat" else 1
    return Next(f"repeat{number}", at, covered)


def outcome_to_holder(key: StepKey) -> bool:
    """The first step of an outcome clock (odd numbers) reminds the holder; the second
    (even numbers) their team manager."""
    return key.number % 2 == 1


def first_outcome_key(run_before: list[str]) -> str:
    """The first step key of a fresh outcome clock, after the outcome steps already run."""
    numbers = [k.number for k in map(parse_key, run_before) if k is not None and k.kind == "outcome"]
    last = max(numbers, default=0)
    return f"outcome{last + 1 if last % 2 == 0 else last + 2}"


def after_outcome_step(calendar: WorkingCalendar, key: StepKey, due: datetime,
                       manager_after: Duration) -> Next:
    if outcome_to_holder(key):
        return Next(f"outcome{key.number + 1}", calendar.add(due, manager_after))
    return Next(None, None)


def after_notification_step(calendar: WorkingCalendar, key: StepKey, due: datetime,
                            every: Duration, now: datetime) -> Next:
    at, covered = _coalesce(calendar, due, every, now)
    return Next(f"notify{key.number + 1}", at, covered)


def notification_fields(notifiable: bool, deadline: Duration, calendar: WorkingCalendar,
                        now: datetime) -> dict[str, Any]:
    """The notification clock of a new incident: the first reminder at once."""
    if not notifiable:
        return {"notification_due_at": None, "notification_next_at": None,
                "notification_step": None}
    return {"notification_due_at": calendar.add(now, deadline), "notification_next_at": now,
            "notification_step": "notify1"}
