"""What reminders, escalations, outcome and notification reminders say (HTML, escaped).

Every message names the report, says how long it has waited, and — when the
engine runs a step more than ``engine.late_margin`` after it fell due (after a
restart or an outage) — says so instead of pretending to be on time. Texts are
worded so that a rare duplicate delivery is harmless.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.record import alerts
from bot.texts import h, waited, when
from storage.models import Incident, Person

if TYPE_CHECKING:
    from bot.services import Services

def late_note(lateness: timedelta, margin: timedelta, what: str = "reminder") -> str:
    if lateness <= margin:
        return ""
    return f"\n<i>(this {what} is {waited(lateness)} late: the service was unavailable)</i>"


def category_label(services: "Services", incident: Incident) -> str:
    return _label(services, incident)


def _label(services: "Services", incident: Incident) -> str:
    cat = services.settings.category(incident.category)
    return cat.label if cat else incident.category


def reminder(services: "Services", incident: Incident, carer: Person, *, reason: str,
             now: datetime, late: str) -> str:
    head = (f"⏰ <b>Reminder</b>: {h(incident.reference)} is not acknowledged yet — "
            f"the report has waited {waited(now - incident.reported_at)}.{late}")
    return head + "\n\n" + alerts.alert_text(services, incident, carer, reason)


def escalation(services: "Services", incident: Incident, carer: Person, *, reason: str,
               now: datetime, late: str, holders: list[tuple[str, str]]) -> str:
    lines = [
        f"⚠️ <b>Escalation</b>: {h(incident.reference)} has not been acknowledged after "
        f"{waited(now - incident.reported_at)}.{late}",
    ]
    if holders:
        lines.append("It was sent to: " + ", ".join(f"{h(n)} ({h(r)})" for n, r in holders) + ".")
    lines.append("Please make sure someone acts on it. You can acknowledge it yourself: "
                 "that is recorded as on behalf of the worker who holds it.")
    return "\n".join(lines) + "\n\n" + alerts.alert_text(services, incident, carer, reason)


def carer_escalated(incident: Incident, names: list[str]) -> str:
    return (
        f"ℹ️ Your report <b>{h(incident.reference)}</b> has not been acknowledged yet, so it has "
        f"also been passed to {', '.join(f'<b>{h(n)}</b>' for n in names)}. "
        "If a child is in immediate danger, call 999."
    )


def outcome(services: "Services", incident: Incident, acknowledger: Person | None, *,
            to_manager: bool, now: datetime, late: str, holder: Person | None = None) -> str:
    plan_within = (incident.plan or {}).get("outcome_within") or "the expected time"
    by = acknowledger.name if acknowledger else "someone"
    held_by = holder.name if holder else by
    ack_at = incident.acknowledged_at or incident.reported_at
    lines = [
        f"⏳ <b>Outcome needed</b>: {h(incident.reference)} — {h(_label(services, incident))}, "
        f"child {h(incident.child_ref)}.{late}",
        f"Acknowledged by {h(by)} at {when(ack_at, services.tz)} "
        f"({waited(now - ack_at)} ago); no outcome is recorded yet "
        f"(expected within {h(plan_within)}).",
    ]
    if to_manager:
        lines.append(f"{h(held_by)} was reminded and it is still open: please make sure an outcome "
                     "is recorded and the report closed.")
    else:
        lines.append("Please record the outcome and close the report (/open lists what you hold).")
    return "\n".join(lines)


