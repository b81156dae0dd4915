"""The full timeline of one incident, in order, with the next pending step.

Merged from three sources: the audit events about the incident (reported,
routed, every delivery and failure, reminders, escalations, acknowledgement,
replies, outcome, notification recorded, refusals), its messages (follow-ups,
replies, corrections) and attachments, and the deliveries still owed (pending
or cancelled; sent and failed ones are already audit events). Ordered by time,
then audit before messages before deliveries, then by id.

Rendering: ``pages`` cuts the HTML into Telegram messages of at most 4096
characters (counted in UTF-16 code units, as Telegram counts, and on the HTML
itself, which is never shorter than what Telegram shows). Nothing is ever
dropped: an entry too long for one page (a long description) is continued on
the next. ``plain`` is the same timeline as text for the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.escalation import policy as escalation
from bot.record.incidents import holder_ids
from bot.review.lists import first_step_due
from bot.review.paging import pack, split_escaped, tg_len
from bot.rules import notifiable
from bot.rules.outcomes import outcome_label
from bot.rules.reasons import reason_label
from bot.texts import MAX_MESSAGE, h, waited, when
from storage import queries
from storage.models import (
    Attachment,
    AuditEvent,
    Delivery,
    Incident,
    IncidentMessage,
    Team,
)

KIND_LABELS = {
    "alert": "Alert", "copy": "Copy", "receipt": "Receipt", "notice": "Notice",
    "reminder": "Reminder", "escalation": "Escalation",
}
MESSAGE_LABELS = {
    "followup": "Follow-up", "reply": "Reply", "correction": "Correction",
    "reopen": "Reopened", "note": "Note",
}
NOTIFY_LABELS = {
    "recipients": "reminder to whoever has it",
    "team_manager": "escalation to the team manager",
    "duty": "escalation to the duty worker",
    "edt": "escalation to the Emergency Duty Team",
    "service_manager": "escalation to the service manager",
}
# Detail keys holding a person id (shown as the person's name).
PERSON_KEYS = ("to", "person", "holder", "on_behalf_of", "by", "cover", "target", "notified_by")
AUDIT, MESSAGE, DELIVERY = 0, 1, 2


@dataclass
class Entry:
    at: datetime
    text: str  # one line, plain
    body: str = ""  # free text (a description or a message), plain
    source: int = AUDIT
    key: int = 0


@dataclass
class Timeline:
    incident: Incident
    header: list[tuple[str, str]]
    entries: list[Entry]
    pending: list[str]
    body: str = ""  # the outcome text, if any
    names: dict[str, str] = field(default_factory=dict)
    # What was read to build it (the console's incident page shows them too: not read twice).
    messages: list[IncidentMessage] = field(default_factory=list)  # by id
    attachments: list[Attachment] = field(default_factory=list)  # by id


def _steps(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return list((plan or {}).get("steps") or [])


def step_label(plan: dict[str, Any], key: str | None, names: dict[str, str]) -> str:
    """'step2 (escalation to the team manager)'; repeats name whom the last step notifies."""

    parsed = escalation.parse_key(key)
    if parsed is None:
        return key or "none"
    if parsed.clock == escalation.OUTCOME:
        return ("an outcome to be recorded" if escalation.outcome_to_holder(parsed)
                else "an outcome to be recorded (the team manager is reminded)")
    if parsed.clock == escalation.NOTIFICATION:
        return "the notification to Ofsted to be recorded"
    notify = escalation.ladder_target(plan or {}, parsed)
    label = NOTIFY_LABELS.get(notify) or f"escalation to {names.get(notify, notify)}"
    return f"{key} ({label})"


def _name(names: dict[str, str], pid: Any) -> str:
    if pid is None:
        return "nobody"
    return names.get(str(pid), str(pid))


def describe(event: str, actor: str | None, d: dict[str, Any], names: dict[str, str],
             settings: Settings, incident: Incident) -> tuple[str, str]:
    """One audit event as (line, body), plain text."""
    who = _name(names, actor) if actor else None
    if event == "reported":
        cat = settings.category(d.get("category", incident.category))
        text = (f"Reported by {who or 'the carer'} — {cat.label if cat else d.get('category')}, "
                f"{d.get('urgency', incident.urgency)}"
                + (", out of hours" if d.get("out_of_hours") else ""))
        return text, incident.description
    if event == "routed":
        sent = [f"{_name(names, r.get('person'))} ({reason_label(r.get('reason', ''))})"
                for r in d.get("recipients") or []]
        text = "Sent to " + ", ".join(sent) if sent else "Sent to nobody"
        if d.get("nobody_reachable"):
            text += " — nobody could be reached through the bot"
        return text, ""
    if event == "recipient_missed":
        return f"Not told: {_name(names, d.get('person'))} {d.get('why', '')}".rstrip(), ""
    if event == "delivered":
        kind = KIND_LABELS.get(d.get("kind", ""), str(d.get("kind", "message")).capitalize())
        return f"{kind} delivered to {_name(names, d.get('to'))}", ""
    if event == "delivery_failed":
        kind = KIND_LABELS.get(d.get("kind", ""), str(d.get("kind", "message")).capitalize())
        return (f"{kind} to {_name(names, d.get('to'))} could NOT be delivered: "
                f"{d.get('error') or 'unknown error'}"), ""
    if event == "person_unreachable":
        return f"{_name(names, d.get('person'))} cannot be reached on Telegram: {d.get('error')}", ""
    if event == "acknowledged":
        text = f"Acknowledged by {who or 'someone'}"
        if d.get("on_behalf_of"):
            text += f" on behalf of {_name(names, d['on_behalf_of'])}"
        if d.get("waited_seconds") is not None:

            text += f" after {waited(timedelta(seconds=int(d['waited_seconds'])))}"
        return text, ""
    if event in ("reminded", "escalated", "outcome_reminded", "notification_reminded"):
        to = d.get("to") or []
        names_to = ", ".join(_name(names, t) for t in to) if isinstance(to, list) else _name(names, to)
        what = {"reminded": "Reminder", "escalated": "Escalation",
                "outcome_reminded": "Outcome reminder",
                "notification_reminded": "Schedule 7 notification reminder"}[event]
        text = f"{what} ({d.get('step', '?')}) to {names_to or 'nobody'}"
        if event == "notification_reminded" and d.get("missing"):
            text += " — still to record: " + ", ".join(
                notifiable.SHORT.get(m, m) for m in d["missing"])
        if event == "notification_reminded" and d.get("overdue"):
            text += " — the deadline has passed"
        late = d.get("late_seconds") or 0
        if late and late > 60:

            text += f" — ran {waited(timedelta(seconds=int(late)))} late"
        return text, ""
    if event == "escalation_stopped":
        if d.get("reason") == "closed":
            stopped = [s for s in (d.get("stopped_step"), d.get("stopped_notification")) if s]
            return ("Closed: every clock stopped" + (f" ({', '.join(stopped)} will not run)"
                                                     if stopped else "")), ""
        return (f"Escalation stopped ({d.get('reason', '')}); step {d.get('stopped_step')} "
                "will not run"), ""
    if event == "escalated_to_last_resort":
        return (f"Nobody in the chain could be reached for {d.get('step', '?')}: sent to the "
                f"last resort, {', '.join(_name(names, t) for t in d.get('to') or []) or 'nobody'}"
                ), ""
    if event == "notification_recorded":  # before the register (one button for all)
        return f"Notification to Ofsted and the responsible authority recorded by {who}", ""
    if event == "oversight_recorded":
        actions = d.get("actions") or []
        body = f"Decision: {d.get('decision', '')}\nRationale: {d.get('rationale', '')}"
        for act in actions:
            body += (f"\nAction for {_name(names, act.get('owner'))} by {act.get('due')}: "
                     f"{act.get('what', '')}")
        return f"Management oversight recorded by {who or 'someone'}", body
    if event in ("oversight_action_due", "oversight_action_escalated"):
        to = ", ".join(_name(names, t) for t in d.get("to") or []) or "nobody"
        what = ("Oversight action due, not done: reminder" if event == "oversight_action_due"
                else "Oversight action still not done: escalated")
        return f"{what} (task {d.get('task')}) to {to}", ""
    if event in ("task_started", "task_done") and d.get("kind") == "oversight_action":
        if event == "task_done":
            late = "" if d.get("on_time") else " (after it was due)"
            return f"Oversight action (task {d.get('task')}) recorded done by {who}{late}", ""
        return (f"Oversight action (task {d.get('task')}) for {_name(names, d.get('owner'))}, "
                f"due {d.get('due', '')[:16].replace('T', ' ')} UTC: a clock runs"), ""
    if event == "close_held_for_oversight":
        return f"Closing by {who or 'someone'} held: management oversight needed first", ""
    if event in NOTIFICATION_EVENTS:
        return _notification_line(event, d, who, settings), ""
    if event == "closed":

        return f"Closed by {who or 'someone'} — outcome: {outcome_label(d.get('outcome'))}", ""
    if event == "reopened":
        text = f"Reopened by {who or 'someone'}"
        if d.get("outcome_step"):
            text += f" — a new outcome clock runs ({d['outcome_step']} due {d.get('outcome_due')})"
        return text, ""
    if event == "web_viewed":
        what = d.get("what", "incident")
        return (f"Viewed in the web console by {who or 'someone'}"
                + ("" if what == "incident" else f" ({what})")), ""
    if event == "access_refused":
        return (f"Access refused: {who or 'an unknown Telegram account'} tried to "
                f"{d.get('action', 'act')} ({d.get('why', '')})"), ""
    # Everything else (reminders, escalations, outcome, notification recorded, ...):
    # the event's name, who did it, and its details, names for person ids.
    parts = []
    for k, v in d.items():
        if v is None or v == "" or k == "text" or isinstance(v, (dict, list)):
            continue
        if k in PERSON_KEYS:
            v = _name(names, v)
        parts.append(f"{k.replace('_', ' ')}: {v}")
    text = event.replace("_", " ").capitalize() + (f" by {who}" if who else "")
    if parts:
        text += " — " + ", ".join(parts)
    body = d.get("text") if isinstance(d.get("text"), str) else ""
    return text, body


NOTIFICATION_EVENTS = ("notification_opened", "notification_made", "notification_confirmed",
                       "notification_not_required", "notification_not_notifiable",
                       "notification_complete", "notification_reference")


def _notification_line(event: str, d: dict[str, Any], who: str | None,
                       settings: Settings) -> str:
    """The Schedule 7 register's events, as the chronology shows them."""
    key = d.get("notifiable_event") or ""
    cat = settings.category(key)
    what = notifiable.EVENT_LABELS.get(key) or (cat.label if cat else key or "notifiable event")
    to = notifiable.RECIPIENTS.get(d.get("recipient", ""), d.get("recipient") or "")
    by = f" by {who}" if who else ""
    if event == "notification_opened":
        names = ", ".join(notifiable.SHORT.get(r, r) for r in d.get("recipients") or [])
        return f"Notifiable ({what}){by}: to notify {names}, deadline {d.get('deadline')}"
    if event == "notification_made":
        ref = f", reference {d['reference']}" if d.get("reference") else ""
        late = "" if d.get("within_deadline", True) else " — after the deadline"
        return f"{to} notified by {d.get('method')}{ref}{by} ({what}){late}"
    if event == "notification_confirmed":
        ref = f", reference {d['reference']}" if d.get("reference") else ""
        return f"{to}: phone notification confirmed in writing{ref}{by}"
    if event == "notification_reference":
        what_ref = "written confirmation" if d.get("field") == "confirm_reference" else \
            "notification"
        return f"{to}: {what_ref} reference {d.get('reference')} recorded{by}"
    if event == "notification_not_required":
        return f"{to}: not required ({d.get('reason')}){by}"
    if event == "notification_not_notifiable":
        return f"Not notifiable, after review ({what}){by}: {d.get('reason')}"
    return f"Every notification recorded ({what})" + (
        "" if d.get("within_deadline", True) else " — after the deadline")


# The timeline's reads of one incident, built once (building them was a tenth of the web
# console's incident page under pyinstrument).
_INCIDENT = bindparam("incident_id")
_EVENTS = (select(AuditEvent.id, AuditEvent.at, AuditEvent.event, AuditEvent.actor_id,
                  AuditEvent.details)
           .where(AuditEvent.incident_id == _INCIDENT).order_by(AuditEvent.id))
_MESSAGES = (select(IncidentMessage).where(IncidentMessage.incident_id == _INCIDENT)
             .order_by(IncidentMessage.id))
_ATTACHMENTS = (select(Attachment).where(Attachment.incident_id == _INCIDENT)
                .order_by(Attachment.id))
_OWED = (select(Delivery).where(Delivery.incident_id == _INCIDENT, Delivery.method == "send",
                                Delivery.status.in_(("pending", "cancelled")))
         .order_by(Delivery.id))


async def build(session: AsyncSession, services: Any, incident: Incident) -> Timeline:
    settings, now, tz = services.settings, services.clock.now(), services.tz
    of = {"incident_id": incident.id}
    events = (await session.execute(_EVENTS, of)).all()
    messages = list((await session.execute(_MESSAGES, of)).scalars())
    attachments = list((await session.execute(_ATTACHMENTS, of)).scalars())
    owed = list((await session.execute(_OWED, of)).scalars())
    holders = await holder_ids(session, [incident.id])
    team = await session.get(Team, incident.team_id)

    ids: set[str] = {incident.reporter_id, incident.acknowledged_by_id or "",
                     incident.acknowledged_on_behalf_of_id or "", incident.closed_by_id or "",
                     incident.notified_by_id or "", holders.get(incident.id, "")}
    for e in events:
        ids.add(e.actor_id or "")
        for k in PERSON_KEYS:
            if isinstance((e.details or {}).get(k), str):
                ids.add(e.details[k])
        for r in (e.details or {}).get("recipients") or []:
            if isinstance(r, dict) and isinstance(r.get("person"), str):
                ids.add(r["person"])
        if isinstance((e.details or {}).get("owner"), str):  # an oversight action's clock
            ids.add(e.details["owner"])
        if isinstance((e.details or {}).get("to"), list):
            ids.update(t for t in e.details["to"] if isinstance(t, str))
        for act in (e.details or {}).get("actions") or []:  # oversight actions' owners
            if isinstance(act, dict) and isinstance(act.get("owner"), str):
                ids.add(act["owner"])
    ids |= {m.author_id for m in messages} | {a.uploaded_by_id for a in attachments}
    ids |= {d.person_id or "" for d in owed}
    ids |= {s.get("notify", "") for s in _steps(incident.plan)}
    names = {pid: p.name for pid, p in (await queries.people_by_id(session, ids)).items()}

    entries = [Entry(e.at, *describe(e.event, e.actor_id, e.details or {}, names, settings,
                                     incident), AUDIT, e.id) for e in events]
    for m in messages:
        label = MESSAGE_LABELS.get(m.kind, m.kind.capitalize())
        entries.append(Entry(m.created_at, f"{label} from {_name(names, m.author_id)}", m.text,
                             MESSAGE, m.id))
    for a in attachments:
        entries.append(Entry(a.created_at, f"Attachment ({a.kind}"
                             + (f", {a.file_name}" if a.file_name else "")
                             + f") from {_name(names, a.uploaded_by_id)}", "", MESSAGE, a.id))
    for d in owed:
        kind = KIND_LABELS.get(d.kind, d.kind.capitalize())
        state = ("cancelled" if d.status == "cancelled"
                 else f"not delivered yet (attempts: {d.attempts})")
        if d.last_error:
            state += f"; last error: {d.last_error}"
        entries.append(Entry(d.created_at, f"{kind} to {_name(names, d.person_id)}: {state}", "",
                             DELIVERY, d.id))
    entries.sort(key=lambda e: (e.at, e.source, e.key))

    cat = settings.category(incident.category)
    status = {"open": "waiting for acknowledgement", "acknowledged": "acknowledged",
              "closed": "closed"}.get(incident.status, incident.status)
    if incident.acknowledged_at:
        status += (f" — acknowledged by {_name(names, incident.acknowledged_by_id)}"
                   + (f" on behalf of {_name(names, incident.acknowledged_on_behalf_of_id)}"
                      if incident.acknowledged_on_behalf_of_id else "")
                   + f" at {when(incident.acknowledged_at, tz)}")
    if incident.closed_at:
        status += f"; closed by {_name(names, incident.closed_by_id)} at {when(incident.closed_at, tz)}"
    header = [
        ("Child", incident.child_ref),
        ("Category", cat.label if cat else incident.category),
        ("Urgency", incident.urgency + (", reported out of hours" if incident.out_of_hours else "")),
        ("Team", team.name if team else incident.team_id),
        ("Reported by", f"{_name(names, incident.reporter_id)} at {when(incident.reported_at, tz)}"),
    ]
    if incident.occurred_at:
        header.append(("Happened", when(incident.occurred_at, tz)))
    header.append(("Has it", _name(names, holders.get(incident.id))))
    header.append(("Status", status))
    if incident.notifiable:
        header.append(("Notifiable", "yes — " + (
            f"notification recorded at {when(incident.notified_at, tz)}"
            if incident.notified_at else "notification to Ofsted not yet recorded")))
    if incident.outcome_code:
        header.append(("Outcome", incident.outcome_code.replace("_", " ")))

    pending = []
    if incident.status == "closed":
        pending.append("Closed: nothing pending.")
    elif incident.next_due_at is not None:
        line = (f"Next step: {step_label(incident.plan, incident.next_step, names)}, due "
                f"{when(incident.next_due_at, tz)}")
        if incident.next_due_at < now:
            line += f" — overdue by {waited(now - incident.next_due_at)}"
        pending.append(line)
    else:
        pending.append("Next step: none scheduled.")
    if incident.status == "open":
        first = first_step_due(incident)
        if first is not None and first < now:
            pending.append(f"Waiting for acknowledgement for {waited(now - incident.reported_at)}"
                           f" (first step was due {when(first, tz)}).")
    if incident.notifiable and incident.notified_at is None and incident.notification_due_at:
        line = ("Notification to Ofsted and the responsible authority: not yet recorded, due "
                f"{when(incident.notification_due_at, tz)}")
        if incident.notification_due_at < now:
            line += f" — overdue by {waited(now - incident.notification_due_at)}"
        pending.append(line)
    return Timeline(incident, header, entries, pending, incident.outcome_text or "", names,
                    messages, attachments)


# ------------------------------------------------------------------ rendering


def _blocks(prefix_html: str, text: str, body: str, budget: int, sep: str = " — ") -> list[str]:
    """An entry (bold prefix, one line, optional body) as HTML blocks within ``budget``."""
    line = f"{prefix_html}{sep}{h(text)}" if text else prefix_html
    if tg_len(line) > budget // 2:  # an over-long line is treated as body text
        line, body = prefix_html, (text + ("\n" + body if body else ""))
    if not body:
        return [line]
    whole = f"{line}\n{h(body)}"
    if tg_len(whole) <= budget:
        return [whole]
    cont = "<i>(continued)</i>"
    room = budget - max(tg_len(line), tg_len(cont)) - 1
    pieces = split_escaped(body, room)
    return [f"{line}\n{h(pieces[0])}"] + [f"{cont}\n{h(piece)}" for piece in pieces[1:]]


def _together(lines: list[str], budget: int) -> list[str]:
    """Short lines as one block (one line each) when they fit, else one block per line."""
    joined = "\n".join(lines)
    return [joined] if tg_len(joined) <= budget else lines


PAGE_TITLE_ROOM = 120  # "📜 INC-2026-000123 — timeline, page 10 of 12" and its newlines


def pages(tl: Timeline, tz, limit: int = MAX_MESSAGE) -> list[str]:
    """The timeline as HTML messages of at most ``limit`` characters each."""
    budget = limit - PAGE_TITLE_ROOM
    blocks: list[str] = []
    blocks.extend(_together([b for k, v in tl.header
                             for b in _blocks(f"<b>{h(k)}:</b>", v, "", budget, " ")], budget))
    if tl.body:
        blocks.extend(_blocks("<b>Outcome:</b>", "", tl.body, budget))
    blocks.append("<b>Timeline</b>")
    for e in tl.entries:
        blocks.extend(_blocks(f"<b>{h(when(e.at, tz))}</b>", e.text, e.body, budget))
    blocks.extend(_together([b for p in tl.pending for b in _blocks("⏭", p, "", budget, " ")],
                            budget))
    packed = pack(blocks, budget)
    total = len(packed)
    ref = tl.incident.reference
    out = []
    for i, group in enumerate(packed, 1):
        title = f"📜 <b>{h(ref)}</b> — timeline" + (f", page {i} of {total}" if total > 1 else "")
        out.append(title + "\n\n" + "\n\n".join(group))
    return out


def plain(tl: Timeline, tz) -> str:
    """The timeline as plain text (the command line)."""
    lines = [f"{tl.incident.reference} — timeline"]
    lines += [f"{k}: {v}" for k, v in tl.header]
    if tl.body:
        lines += ["Outcome:", tl.body]
    lines.append("")
    for e in tl.entries:
        lines.append(f"{when(e.at, tz)} — {e.text}")
        if e.body:
            lines += ["    " + ln for ln in e.body.splitlines()]
    lines.append("")
    lines += tl.pending
    return "\n".join(lines)
