"""What an alert looks like: its text, its buttons and the status line added by edits.

Callback data is short and parsed strictly (``bot/callbacks.py``); texts are
HTML with every person-written part escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import callbacks
from bot.record import render as record
from bot.record.attachments import count_for
from bot.rules.outcomes import outcome_label
from bot.rules.reasons import reason_label
from bot.texts import URGENCY_MARK, h, hhmm, when
from storage.models import Incident, IncidentMessage, Person

if TYPE_CHECKING:
    from bot.record.prompt import Submitted
    from bot.services import Services

ALERT_KINDS = ("alert", "copy", "reminder", "escalation")
STATUS_MARK = "\n\n— — —\n"
ALERT_BODY_BUDGET = 2900  # description + record fields; the header and status line fit the rest


def alert_text(services: "Services", incident: Incident, carer: Person, reason: str,
               attachments: int = 0) -> str:
    """The alert. In minimal mode (``privacy.minimal_alerts``) only the reference, category,
    urgency and child reference: no carer name, no description, no record fields."""
    cat = services.settings.category(incident.category)
    label = cat.label if cat else incident.category
    lines = [
        f"{URGENCY_MARK.get(incident.urgency, incident.urgency)} — <b>{h(incident.reference)}</b>",
        f"<b>{h(label)}</b>",
        f"Child: <b>{h(incident.child_ref)}</b>",
    ]
    if services.settings.privacy.minimal_alerts:
        lines.append("Tap “Show details” to read the report (each read is recorded).")
    else:
        lines.append(f"Reported by: {h(carer.name)} at {when(incident.reported_at, services.tz)}")
        if incident.notifiable:
            lines.append("📋 Notifiable event (Schedule 7): the notification owner is reminded "
                         "until Ofsted and each other body are notified.")
        lines.append(f"You have this as: {h(reason)}")
        lines.append("")
        lines.extend(record.field_lines(services, incident, ALERT_BODY_BUDGET))
        if attachments:
            lines.append(f"📎 {attachments} attachment{'' if attachments == 1 else 's'}")
    return "\n".join(lines)


def alert_buttons(incident: Incident, attachments: int = 0,
                  minimal: bool = False) -> list[list[tuple[str, str]]]:
    """Acknowledge (while open); Reply to carer and Close with outcome (until closed);
    Reopen (once closed); View attachments (N); Show details (minimal mode) or Full record."""
    rows: list[list[tuple[str, str]]] = []
    if incident.status == "open":
        rows.append([("✅ Acknowledge", callbacks.ACK.data(incident.id))])
    if incident.status in ("open", "acknowledged"):
        rows.append([("💬 Reply to carer", callbacks.REPLY.data(incident.id)),
                     ("☑️ Close with outcome", callbacks.CLOSE.data(incident.id))])
    elif incident.status == "closed":
        rows.append([("🔄 Reopen", callbacks.REOPEN.data(incident.id))])
    rows.append(record_buttons(incident.id, attachments, minimal))
    return rows


def record_buttons(incident_id: int, attachments: int, minimal: bool) -> list[tuple[str, str]]:
    """View attachments (N, when there are any); Show details (minimal mode) or Full record."""
    row = []
    if attachments:
        row.append((f"📎 View attachments ({attachments})", callbacks.ATTACHMENTS.data(incident_id)))
    row.append(("🔍 Show details" if minimal else "📄 Full record",
                callbacks.DETAILS.data(incident_id)))
    return row


async def buttons_for(session: AsyncSession, services: "Services",
                      incident: Incident) -> list[list[tuple[str, str]]]:
    """``alert_buttons`` with the attachment count and privacy mode filled in."""

    return alert_buttons(incident, await count_for(session, incident.id),
                         services.settings.privacy.minimal_alerts)


def receipt_buttons(incident: Incident) -> list[list[tuple[str, str]]]:
    """On the carer's receipt: add a follow-up, or add a correction (never an edit)."""
    return [[("➕ Add more", callbacks.ADD.data(incident.id)),
              ("✏️ Correct something", callbacks.FIX.data(incident.id))]]


async def status_line(session: AsyncSession, services: "Services", incident: Incident) -> str:
    reopened = await _last_reopen(session, services, incident)
    if reopened:
        return reopened
    if incident.status == "acknowledged" and incident.acknowledged_at:
        by = await session.get(Person, incident.acknowledged_by_id)
        name = by.name if by else "someone"
        extra = ""
        if incident.acknowledged_on_behalf_of_id:
            holder = await session.get(Person, incident.acknowledged_on_behalf_of_id)
            extra = f" on behalf of {h(holder.name)}" if holder else " (on behalf of the team)"
        return f"✅ Acknowledged by <b>{h(name)}</b> at {hhmm(incident.acknowledged_at, services.tz)}{extra}"
    if incident.status == "closed" and incident.closed_at:
        by = await session.get(Person, incident.closed_by_id)
        line = f"☑️ Closed by <b>{h(by.name if by else 'someone')}</b> at {hhmm(incident.closed_at, services.tz)}"
        if incident.outcome_code and not services.settings.privacy.minimal_alerts:
            line += f" — outcome: {h(outcome_label(incident.outcome_code))}"
        return line
    return "Waiting for acknowledgement"


async def _last_reopen(session: AsyncSession, services: "Services", incident: Incident) -> str:
    """"Reopened by X at HH:MM" while a reopened report is not closed again."""
    if incident.status == "closed":
        return ""
    msg = (await session.execute(
        select(IncidentMessage).where(IncidentMessage.incident_id == incident.id,
                                      IncidentMessage.kind == "reopen")
        .order_by(IncidentMessage.id.desc()).limit(1)
    )).scalar_one_or_none()
    if msg is None:
        return ""
    by = await session.get(Person, msg.author_id)
    return (f"🔄 Reopened by <b>{h(by.name if by else 'someone')}</b> at "
            f"{hhmm(msg.created_at, services.tz)}")


def with_status(text: str, status: str) -> str:
    base = text.split(STATUS_MARK, 1)[0]
    return base + STATUS_MARK + status


def receipt_text(services: "Services", incident: Incident, result: "Submitted") -> str:

    lines = [
        f"📨 Report <b>{h(incident.reference)}</b> received and recorded at "
        f"{when(incident.reported_at, services.tz)}.",
    ]
    if result.told:
        lines.append("Sent to:")
        for person, reason in result.told:
            lines.append(f"• {h(person.name)} — {h(reason_label(reason))}")
    if result.phone_advice or result.nobody_reachable:
        lines.append("")
        if result.nobody_reachable:
            lines.append("⚠️ Nobody could be alerted through this bot. Please phone now:")
        else:
            lines.append("⚠️ Not everyone could be alerted through this bot. Please also phone:")
        for name, phone in result.phone_advice:
            lines.append(f"• {h(name)}: <b>{h(phone)}</b>")
        s = services.settings.service
        if s.out_of_hours_phone:
            lines.append(f"• Out of hours: <b>{h(s.out_of_hours_phone)}</b>")
    lines.append("")
    lines.append("You will be told here when someone acknowledges it. /myreports shows your reports. "
                 "To add to this report or correct it, use the buttons below.")
    return "\n".join(lines)
