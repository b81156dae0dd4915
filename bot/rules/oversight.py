"""Reading a manager's oversight entry, and which categories need one before closing.

An entry is one message (the first line is the command and its subject)::

    /oversee INC-2026-000123
    Decision: Strategy discussion today; A1 stays in placement.
    Rationale: The hospital found no injury; the carer acted at once.
    Action: sw-patel, 2026-12-01, Visit and see A1 alone
    Action: tm-jones, 2026-12-03, Review the safety plan

``Decision`` and ``Rationale`` are required (each may run on over the
following lines); any number of ``Action`` lines give an owner (a person id
from the directory), a due date (``YYYY-MM-DD``, not in the past) and what is
to be done. Pure: the owner's existence is checked by the caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

MAX_TEXT = 2000
MAX_ACTIONS = 10
_LABEL = re.compile(r"^\s*(decision|rationale|action)\s*:\s*(.*)$", re.IGNORECASE)


class OversightError(ValueError):
    """The entry cannot be read; the message says what to change."""


@dataclass(frozen=True)
class Action:
    owner: str
    due: date
    what: str


@dataclass(frozen=True)
class Entry:
    decision: str
    rationale: str
    actions: list[Action] = field(default_factory=list)

    def as_details(self) -> dict:
        return {"decision": self.decision, "rationale": self.rationale,
                "actions": [{"owner": a.owner, "due": a.due.isoformat(), "what": a.what}
                            for a in self.actions]}


def parse(body: str, today: date) -> Entry:
    """Read the lines after ``/oversee SUBJECT``."""
    fields: dict[str, list[str]] = {"decision": [], "rationale": []}
    actions: list[str] = []
    current: list[str] | None = None
    for line in body.splitlines():
        m = _LABEL.match(line)
        if m:
            label, rest = m.group(1).lower(), m.group(2).strip()
            if label == "action":
                actions.append(rest)
                current = None
            else:
                if fields[label]:
                    raise OversightError(f"{label.capitalize()} is given twice.")
                fields[label].append(rest)
                current = fields[label]
        elif line.strip():
            if current is None:
                raise OversightError(f"I could not tell what this line is: “{line.strip()[:60]}”. "
                                     "Start each part with Decision:, Rationale: or Action:.")
            current.append(line.strip())
    decision = " ".join(fields["decision"]).strip()
    rationale = " ".join(fields["rationale"]).strip()
    if not decision:
        raise OversightError("The decision is missing (a line starting Decision:).")
    if not rationale:
        raise OversightError("The rationale is missing (a line starting Rationale:).")
    if len(decision) > MAX_TEXT or len(rationale) > MAX_TEXT:
        raise OversightError(f"The decision and the rationale may have at most {MAX_TEXT} "
                             "characters each.")
    if len(actions) > MAX_ACTIONS:
        raise OversightError(f"At most {MAX_ACTIONS} actions in one entry.")
    return Entry(decision, rationale, [_action(a, today) for a in actions])


def _action(text: str, today: date) -> Action:
    parts = [p.strip() for p in text.split(",", 2)]
    if len(parts) != 3 or not all(parts):
        raise OversightError(f"An action is written “Action: owner-id, YYYY-MM-DD, what to do”; "
                             f"I could not read “{text[:60]}”.")
    owner, due_text, what = parts
    try:
        due = date.fromisoformat(due_text)
    except ValueError:
        raise OversightError(f"“{due_text[:20]}” is not a date written YYYY-MM-DD.") from None
    if due < today:
        raise OversightError(f"The action due {due.isoformat()} is due in the past.")
    return Action(owner, due, what[:MAX_TEXT])


def needs_oversight(*, urgency: str, notifiable: bool, setting: bool | None) -> bool:
    """Whether a category's incidents must have oversight before they are closed: the
    category's ``oversight`` setting, else every urgent and every notifiable category."""
    if setting is not None:
        return setting
    return urgency == "urgent" or notifiable
