"""What a conversation step shows next, and how a step refuses.

Shared by the report conversation (``bot/record/reporting.py``) and the incident
thread (``bot/record/thread.py``) so neither imports the other for these.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from storage.models import Incident, Person

Buttons = list[list[tuple[str, str]]]


@dataclass
class Submitted:
    """A report as submitted: the incident, who was told (and why), whom to phone."""

    incident: Incident
    told: list[tuple[Person, str]] = field(default_factory=list)  # (person, reason)
    phone_advice: list[tuple[str, str]] = field(default_factory=list)
    nobody_reachable: bool = False


@dataclass
class Prompt:
    text: str
    buttons: Buttons = field(default_factory=list)
    submitted: Submitted | None = None
    done: bool = False  # the draft is finished (submitted or discarded)
    wake: bool = False  # deliveries were owed: wake the dispatcher after the commit
    files_for: int | None = None  # an incident whose attachments may need keeping on disk
    # Sent as its own message before ``text`` (no buttons), so a later button press that
    # edits the prompt cannot wipe it away.
    notice: str | None = None


class Refused(Exception):
    """The person may not do this. ``why`` goes to the audit log, ``text`` to the person."""

    def __init__(self, why: str, text: str, incident_id: int | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.text = text
        self.incident_id = incident_id
