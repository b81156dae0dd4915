"""What an alert looks like: its text, its buttons and the status line added by edits.

Callback data is short and parsed strictly (``bot/callbacks.py``); texts are
HTML with every person-written part escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot import callbacks
from bot.texts import URGENCY_MARK, clip, h, hhmm, when
from storage.models import Incident, Person

if TYPE_CHECKING:
    from bot.incidents import Submitted
    from bot.services import Services

ALERT_KINDS = ("alert", "copy", "reminder", "escalation")
STATUS_MARK = "\n\n— — —\n"


def alert_text(services: "Services", incident: Incident, carer: Person, reason: str) -> str:
    cat = services.settings.category(incident.category)
    label = cat.label if cat else incident.category
    lines = [
        f"{URGENCY_MARK.get(incident.urgency, incident.urgency)} — <b>{h(incident.reference)}</b>",
        f"<b>{h(label)}</b>",
        f"Child: <b>{h(incident.child_ref)}</b>",
    ]
    if services.settings.privacy.minimal_alerts:
        lines.append("Open the report in this chat to read the details.")
    else:
        lines.append(f"Reported by: {h(carer.name)} at {when(incident.reported_at, services.tz)}")
        if incident.notifiable:
            lines.append("📋 Notifiable event: Ofsted and the responsible authority must be told.")
        lines.append(f"You have this as: {h(reason)}")
        lines.append("")
        lines.append(h(clip(incident.description, 3200)))
    return "\n".join(lines)


def alert_buttons(incident: Incident) -> list[list[tuple[str, str]]]:
    if incident.status == "open":
        return [[("✅ Acknowledge", callbacks.encode("ack", incident.id))]]
    return []


async def status_line(session: AsyncSession, services: "Services", incident: Incident) -> str:
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
        return f"☑️ Closed by <b>{h(by.name if by else 'someone')}</b> at {hhmm(incident.closed_at, services.tz)}"
    return "Waiting for acknowledgement"


def with_status(text: str, status: str) -> str:
    base = text.split(STATUS_MARK, 1)[0]
    return base + STATUS_MARK + status


def receipt_text(services: "Services", incident: Incident, result: "Submitted") -> str:
    from bot.incidents import reason_label

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
    lines.append("You will be told here when someone acknowledges it. /myreports shows your reports.")
    return "\n".join(lines)
