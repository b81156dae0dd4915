"""What the console's incident page shows, and which of its forms this person may use.

Read in one transaction: the record (description, the record fields, corrections),
the thread, the attachments, the whole timeline (``bot/review/timeline.py``, the same
builder as ``/log``), the Schedule 7 recipients still owed, and the actions offered.
Who may see it is ``Access.may_view`` (the bot's rule for "Show details": the carer who
reported it, those it was sent to, the team's managers, administrators); each form is
offered only when the matching rule in ``bot/people/access.py`` allows it, and is
checked again by the domain function when it is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot.record import attachments, notification
from bot.record.render import FIELDS, MESSAGE_LABELS
from bot.review import timeline
from bot.rules import notifiable
from bot.rules.outcomes import OUTCOMES, outcome_label
from storage import queries
from storage.models import Incident, Person

if TYPE_CHECKING:
    from bot.services import Services


@dataclass(frozen=True)
class Message:
    at: datetime
    kind: str
    label: str
    author: str
    text: str


@dataclass(frozen=True)
class File:
    id: int
    kind: str
    label: str
    name: str
    uploaded_by: str
    at: datetime

    @property
    def inline(self) -> str:
        """How the page shows it: img, audio, video or a link."""
        return {"photo": "img", "voice": "audio", "video": "video",
                "video_note": "video"}.get(self.kind, "link")


@dataclass(frozen=True)
class OwedRecipient:
    record_id: int
    recipient: str
    label: str
    event: str
    due_at: datetime
    needs_confirmation: bool  # made by phone: only the written confirmation is owed


@dataclass
class Actions:
    acknowledge: bool = False
    oversee: bool = False
    close: bool = False
    reopen: bool = False
    notifications: list[OwedRecipient] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return (self.acknowledge or self.oversee or self.close or self.reopen
                or bool(self.notifications))


@dataclass
class IncidentView:
    incident: Incident
    category: str
    reporter: str
    fields: list[tuple[str, str]]
    messages: list[Message]
    files: list[File]
    timeline: timeline.Timeline
    actions: Actions
    outcome: str
    outcomes: list[tuple[str, str]] = field(default_factory=lambda: list(OUTCOMES.items()))
    methods: list[tuple[str, str]] = field(
        default_factory=lambda: list(notifiable.METHODS.items()))


async def actions_for(session: AsyncSession, services: Services, person: Person,
                      incident: Incident) -> Actions:
    access = services.access
    closed = incident.status == "closed"
    acts = Actions(
        acknowledge=incident.status == "open"
        and await access.may_acknowledge(session, person, incident),
        oversee=await access.may_oversee(session, person, incident.team_id),
        close=not closed and await access.may_close(session, person, incident),
        reopen=closed and await access.may_reopen(session, person, incident),
    )
    owed = await notification.owed(session, incident.id)
    if owed and await access.may_record_notification(session, person, incident,
                                                     notification.owners(services)):
        acts.notifications = [
            OwedRecipient(o.record.id, o.record.recipient,
                          notifiable.RECIPIENTS.get(o.record.recipient, o.record.recipient),
                          o.event.event, o.event.due_at, o.needs_confirmation)
            for o in owed]
    return acts


async def build(session: AsyncSession, services: Services, person: Person,
                incident: Incident) -> IncidentView:
    """Everything the page shows. The caller has checked ``Access.may_view``."""
    tl = await timeline.build(session, services, incident)
    # The thread oldest first (as ``queries.messages_of``), the files by id: as the timeline
    # read them.
    msgs = sorted(tl.messages, key=lambda m: (m.created_at, m.id))
    files = tl.attachments
    names = dict(tl.names)
    missing = ({m.author_id for m in msgs} | {a.uploaded_by_id for a in files}) - set(names)
    names.update({pid: p.name for pid, p in (await queries.people_by_id(session, missing)).items()})
    details = incident.details or {}
    fields = [(label, str(details[key])) for key, label in FIELDS if details.get(key)]
    fields += [("Also typed during the report", str(n)) for n in details.get("notes") or []]
    cat = services.settings.category(incident.category)
    return IncidentView(
        incident=incident,
        category=cat.label if cat else incident.category,
        reporter=names.get(incident.reporter_id, incident.reporter_id),
        fields=fields,
        messages=[Message(m.created_at, m.kind, MESSAGE_LABELS.get(m.kind, m.kind.capitalize()),
                          names.get(m.author_id, m.author_id), m.text or "") for m in msgs],
        files=[File(a.id, a.kind, attachments.KIND_LABELS.get(a.kind, a.kind),
                    a.file_name or f"{a.kind}-{a.id}", names.get(a.uploaded_by_id,
                                                                a.uploaded_by_id), a.created_at)
               for a in files],
        timeline=tl,
        actions=await actions_for(session, services, person, incident),
        outcome=(f"{outcome_label(incident.outcome_code)} — {incident.outcome_text or ''}"
                 if incident.outcome_code else ""),
    )

