"""What the Schedule 7 notification reminders, buttons and answers say (HTML, escaped)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot import callbacks
from bot.rules import notifiable
from bot.rules.outcomes import S47_OUTCOMES
from bot.texts import h, waited, when

if TYPE_CHECKING:
    from bot.record.owed import Owed
    from bot.services import Services
    from storage.models import Incident, NotifiableEvent

Buttons = list[list[tuple[str, str]]]

AREA_SAME_LABEL = "Area authority: same as placing, not required"
AREA_SAME_REASON = "the area authority is the placing authority"
METHOD_BUTTON = {"form": "online form", "email": "email", "phone": "phone"}


def recipient(key: str) -> str:
    return notifiable.RECIPIENTS.get(key, key)


def event_label(services: "Services", key: str) -> str:
    if key in notifiable.EVENT_LABELS:
        return notifiable.EVENT_LABELS[key]
    cat = services.settings.category(key)
    return cat.label if cat is not None else key


def _duty(owed: list["Owed"]) -> str:
    """The duty, naming Ofsted only when it is among those owed (Schedule 7 row 5, an
    offence alleged against a child, goes to the placing authority and the police)."""
    who = ("Ofsted and the others below" if any(o.record.recipient == "ofsted" for o in owed)
           else "Those below")
    return (f"{who} must be notified without delay (Fostering Services (England) "
            "Regulations 2011, reg. 36); a phone call must be confirmed in writing.")


def reminder(services: "Services", incident: "Incident", owed: list["Owed"], *, now: datetime,
             late: str, category_label: str) -> str:
    """The reminder to the notification owner: what happened, the deadline, who is missing."""
    due = min((o.event.due_at for o in owed), default=incident.notification_due_at)
    lines = [
        f"📋 <b>Notifiable event</b>: {h(incident.reference)} — {h(category_label)}, "
        f"child {h(incident.child_ref)}, reported {when(incident.reported_at, services.tz)}.{late}",
        _duty(owed),
    ]
    if due is not None and now >= due:
        lines.append(f"⚠️ <b>OVERDUE</b>: the deadline was {when(due, services.tz)} "
                     f"({waited(now - due)} ago).")
    elif due is not None:
        lines.append(f"Deadline: <b>{when(due, services.tz)}</b>.")
    lines.append("<b>Still to record</b>:")
    for o in owed:
        what = recipient(o.record.recipient)
        label = notifiable.EVENT_LABELS.get(o.event.event)
        extra = f" ({h(label)})" if label else ""
        if o.needs_confirmation:
            lines.append(f"• {h(what)}{extra}: phoned {when(o.record.made_at, services.tz)}, "
                         "written confirmation not yet recorded")
        else:
            lines.append(f"• {h(what)}{extra}")
    lines.append("Tap how each was notified once it has been made; you will be reminded until "
                 "every one is recorded. To add a reference number: "
                 "<code>fosterbot notification record</code>.")
    return "\n".join(lines)


def event_reminder(services: "Services", event: "NotifiableEvent", owed: list["Owed"], *,
                   opened_by: str | None, now: datetime, late: str) -> str:
    """The reminder of an event with no report (a DBS referral recorded directly)."""
    label = notifiable.EVENT_LABELS.get(event.event, event.event)
    about = f" about {h(event.subject)}" if event.subject else ""
    by = f" by {h(opened_by)}" if opened_by else ""
    lines = [
        (f"📋 <b>Notifiable event</b>: {h(label)}{about}, recorded "
         f"{when(event.opened_at, services.tz)}{by}.{late}"),
        _duty(owed),
    ]
    if now >= event.due_at:
        lines.append(f"⚠️ <b>OVERDUE</b>: the deadline was {when(event.due_at, services.tz)} "
                     f"({waited(now - event.due_at)} ago).")
    else:
        lines.append(f"Deadline: <b>{when(event.due_at, services.tz)}</b>.")
    lines.append("<b>Still to record</b>:")
    for o in owed:
        what = h(recipient(o.record.recipient))
        lines.append(f"• {what}: phoned {when(o.record.made_at, services.tz)}, written "
                     "confirmation not yet recorded" if o.needs_confirmation else f"• {what}")
    ref = h(event.subject or "REF")
    lines.append("Tap how each was notified once it has been made; you will be reminded until "
                 "every one is recorded. To add a reference number: "
                 f"<code>fosterbot notification record {ref} ofsted --method form --ref …</code>.")
    return "\n".join(lines)


def event_done(services: "Services", by_name: str, at: datetime) -> str:
    return (f"📋 Every Schedule 7 notification for this event is recorded (last by "
            f"<b>{h(by_name)}</b> at {when(at, services.tz)}).")


def buttons(owed: list["Owed"]) -> Buttons:
    rows: Buttons = []
    for o in owed:
        short = notifiable.SHORT.get(o.record.recipient, o.record.recipient)
        if o.needs_confirmation:
            rows.append([(f"✍️ {short}: confirmed in writing",
                          callbacks.NOTE_CONFIRM.data(o.record.id))])
        else:
            rows.append([(f"{short}: {label}", callbacks.NOTE_MADE.data(o.record.id, m))
                         for m, label in METHOD_BUTTON.items()])
            if o.record.recipient == "area_authority":
                rows.append([(AREA_SAME_LABEL, callbacks.NOTE_NOT_REQUIRED.data(o.record.id))])
    return rows


def all_done(services: "Services", incident: "Incident", by_name: str) -> str:
    return (f"📋 Every Schedule 7 notification for this event is recorded (last by "
            f"<b>{h(by_name)}</b> at {when(incident.notified_at, services.tz)}).")


def not_notifiable_done(by_name: str, reason: str) -> str:
    return (f"📋 Recorded as not notifiable, after review, by <b>{h(by_name)}</b>: "
            f"{h(reason)}")


def made_answer(recipient_key: str, method: str, left: list[str]) -> str:
    head = f"Recorded: {notifiable.SHORT.get(recipient_key, recipient_key)} notified by " \
           f"{METHOD_BUTTON.get(method, method)}."
    if method in notifiable.NEEDS_WRITTEN_CONFIRMATION:
        head += " Confirm it in writing and record that too."
    return head + (f" Still to record: {_names(left)}." if left else " All recorded; reminders stop.")


def not_required_answer(recipient_key: str, left: list[str]) -> str:
    head = f"Recorded: {notifiable.SHORT.get(recipient_key, recipient_key)} not required."
    return head + (f" Still to record: {_names(left)}." if left else " All recorded; reminders stop.")


def confirmed_answer(recipient_key: str, left: list[str]) -> str:
    head = f"Recorded: {notifiable.SHORT.get(recipient_key, recipient_key)} confirmed in writing."
    return head + (f" Still to record: {_names(left)}." if left else " All recorded; reminders stop.")


def _names(keys: list[str]) -> str:
    return ", ".join(dict.fromkeys(notifiable.SHORT.get(k, k) for k in keys))


OLD_BUTTON = ("This button is from before each recipient was recorded separately, so it "
              "records nothing. Use the buttons on the newest notification reminder.")
REFUSED = "Only the notification owner or a manager of the child's team can record this. " \
          "Nothing was changed."
NO_CONFIRMATION_NEEDED = "That notification was not made by phone; nothing to confirm."


def ask_reference(recipient_key: str, confirmation: bool) -> str:
    what = "written confirmation" if confirmation else "notification"
    return (f"📋 Reply with the reference {h(notifiable.SHORT.get(recipient_key, recipient_key))} "
            f"gave for the {what} (for example the Ofsted case number), or tap Skip.")


def reference_kept(recipient_key: str, value: str, incident_ref: str) -> str:
    return (f"📋 Reference <b>{h(value)}</b> recorded for "
            f"{h(notifiable.SHORT.get(recipient_key, recipient_key))} on {h(incident_ref)}.")


def reference_already(recipient_key: str, value: str) -> str:
    return (f"A reference was already recorded for "
            f"{h(notifiable.SHORT.get(recipient_key, recipient_key))}: <b>{h(value)}</b>. "
            "Nothing was changed.")


SKIP_LABEL = "Skip"

ENQUIRY_LABEL = "🛡 Section 47 enquiry concluded"


def enquiry_button(incident_id: int) -> tuple[str, str]:
    return (ENQUIRY_LABEL, callbacks.ENQUIRY_CONCLUDED.data(incident_id))


def enquiry_menu(incident_id: int, reference: str) -> tuple[str, Buttons]:
    """The outcomes of a section 47 enquiry, from a report's Close menu."""
    rows: Buttons = [[(label, callbacks.ENQUIRY_OUTCOME.data(incident_id, code))]
                     for code, label in S47_OUTCOMES.items()]
    return (f"📋 The child protection (section 47) enquiry on <b>{h(reference)}</b> has "
            "concluded: what was its outcome? It is notified like its start; the report "
            "itself stays open until you close it.", rows)
