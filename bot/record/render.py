"""The incident record as people read it: the fields practice expects, and the thread.

``incident.details`` (JSON) holds the record fields a carer gave besides the
description; each key is absent when the carer skipped it:

==================  ===========================================================
``mark_where``      a category's own question (the infant protocol): where the mark is
``first_seen``      a category's own question (the infant protocol): when it was first seen
``when_text``       what the carer typed for "when" ("now" for the Now button);
                    the parsed time is ``incident.occurred_at`` (UTC)
``where``           where it happened
``present``         who was present
``child_words``     the child's own words
``action_taken``    action the carer had already taken
``child_views``     the child's views
``opinion``         the carer's own opinion, kept apart from the facts above
``skipped``         the steps the carer skipped (list of step names)
``notes``           text typed while the report expected a button (kept, never lost)
``added_later``     for urgent reports: ``{key: incident_messages.id}`` for the
                    fields answered after submission (each is also a follow-up
                    message on the thread)
==================  ===========================================================

The description a carer submitted is never changed: corrections are
``incident_messages`` of kind ``correction`` and are shown next to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chunks import split_html
from bot.record import attachments
from bot.rules.outcomes import outcome_label
from bot.texts import MAX_MESSAGE, URGENCY_MARK, h, when
from storage import queries
from storage.models import Incident, IncidentMessage

if TYPE_CHECKING:
    from bot.services import Services

# (details key, label), in the order a record reads.
FIELDS: list[tuple[str, str]] = [
    ("mark_where", "Where the mark is"),
    ("first_seen", "When the mark was first seen"),
    ("where", "Where"),
    ("present", "Who was present"),
    ("child_words", "The child's own words"),
    ("action_taken", "Action already taken"),
    ("child_views", "The child's views"),
    ("opinion", "Carer's opinion (kept apart from the facts)"),
]
FIELD_LABELS = dict(FIELDS)
MESSAGE_LABELS = {
    "followup": "Follow-up",
    "reply": "Reply",
    "correction": "Correction",
    "outcome": "Closed with outcome",
    "reopen": "Reopened",
}


def fit(parts: list[str], budget: int) -> list[str]:
    """Shorten the longest parts first so that together they fit ``budget`` characters."""
    if sum(len(p) for p in parts) <= budget:
        return parts
    lengths = sorted(len(p) for p in parts)
    remaining, cap = budget, 0
    for i, n in enumerate(lengths):
        share = remaining // (len(lengths) - i)
        if n <= share:
            remaining -= n
            continue
        cap = share
        break
    out = []
    for p in parts:
        if len(p) > cap:
            out.append(p[: max(0, cap - 14)].rstrip() + " … [shortened]")
        else:
            out.append(p)
    return out


def field_lines(services: "Services", incident: Incident, budget: int) -> list[str]:
    """The description and the record fields as HTML lines, shortened to fit ``budget``."""
    details = incident.details or {}
    keys = [k for k, _ in FIELDS if details.get(k)]
    texts = fit([incident.description] + [str(details[k]) for k in keys], budget)
    lines = []
    if incident.occurred_at is not None:
        lines.append(f"When it happened: <b>{when(incident.occurred_at, services.tz)}</b>")
    lines.append("What happened:")
    lines.append(h(texts[0]))
    for key, text in zip(keys, texts[1:]):
        lines.append(f"<b>{h(FIELD_LABELS[key])}:</b> {h(text)}")
    return lines


def split(text: str) -> list[str]:
    """HTML text as messages Telegram accepts (``bot.chunks``: counted after parsing, never cut
    inside a tag or an entity)."""
    return split_html(text, MAX_MESSAGE)


async def render(session: AsyncSession, services: "Services", incident: Incident) -> list[str]:
    """The full record of one incident (for "Show details"), as one or more messages."""
    cat = services.settings.category(incident.category)
    people = await queries.people_by_id(session, {
        incident.reporter_id, incident.acknowledged_by_id or "", incident.closed_by_id or ""})
    messages = list((await session.execute(
        select(IncidentMessage).where(IncidentMessage.incident_id == incident.id)
        .order_by(IncidentMessage.created_at, IncidentMessage.id)
    )).scalars())
    people.update(await queries.people_by_id(session, {m.author_id for m in messages}))

    def name(pid: str | None) -> str:
        p = people.get(pid or "")
        return p.name if p else (pid or "someone")

    details = incident.details or {}
    lines = [
        f"📄 <b>{h(incident.reference)}</b> — full record",
        f"<b>{h(cat.label if cat else incident.category)}</b> · "
        f"{URGENCY_MARK.get(incident.urgency, h(incident.urgency))}",
        f"Child: <b>{h(incident.child_ref)}</b>",
        f"Reported by {h(name(incident.reporter_id))} at {when(incident.reported_at, services.tz)}",
        f"Status: {h(incident.status)}",
    ]
    if incident.occurred_at is not None:
        lines.append(f"When it happened: <b>{when(incident.occurred_at, services.tz)}</b>"
                     + (f" (carer wrote “{h(details['when_text'])}”)"
                        if details.get("when_text") not in (None, "now") else ""))
    lines.append("")
    lines.append("<b>What happened (as first submitted):</b>")
    lines.append(h(incident.description))
    corrections = [m for m in messages if m.kind == "correction"]
    for m in corrections:
        lines.append(f"✏️ <b>Correction</b> by {h(name(m.author_id))} at "
                     f"{when(m.created_at, services.tz)}: {h(m.text)}")
    for key, label in FIELDS:
        if details.get(key):
            later = " (added after submitting)" if key in (details.get("added_later") or {}) else ""
            lines.append(f"<b>{h(label)}{later}:</b> {h(details[key])}")
    for note in details.get("notes") or []:
        lines.append(f"<b>Also typed during the report:</b> {h(note)}")
    counts = await attachments.kinds_for(session, incident.id)
    if counts:
        lines.append(f"📎 Attachments: {attachments.describe(counts)}")
    lines.append("")
    lines.append("<b>Timeline</b>")
    events: list[tuple] = [(incident.reported_at, 0, f"reported by {h(name(incident.reporter_id))}")]
    if incident.acknowledged_at is not None:
        events.append((incident.acknowledged_at, 1,
                       f"acknowledged by {h(name(incident.acknowledged_by_id))}"))
    for m in messages:
        label = MESSAGE_LABELS.get(m.kind, m.kind)
        text = f"{label} from {h(name(m.author_id))}"
        if m.text:
            text += f": {h(m.text)}"
        n = sum((await attachments.kinds_for(session, incident.id, m.id)).values())
        if n:
            text += f" 📎 {n}"
        events.append((m.created_at, 2 + m.id, text))
    for at, _, text in sorted(events, key=lambda e: (e[0], e[1])):
        lines.append(f"• {when(at, services.tz)} — {text}")
    if incident.status == "closed" and incident.outcome_code:
        lines.append("")
        lines.append(f"☑️ <b>Outcome:</b> {h(outcome_label(incident.outcome_code))} — "
                     f"{h(incident.outcome_text or '')} (closed by {h(name(incident.closed_by_id))})")
    return split("\n".join(lines))
