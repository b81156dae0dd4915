"""The review's messages for Telegram (HTML, every person-written part escaped)."""

from __future__ import annotations

from typing import Any

from bot import callbacks
from bot.record.notification_texts import buttons as record_buttons
from bot.record.notification_texts import recipient as recipient_label
from bot.record.oversight_texts import RECORD_BUTTON
from bot.review import needs
from bot.review.lists import OpenGroup
from bot.review.paging import messages
from bot.review.stats import Stats, deadline_label
from bot.review.stats import lines as stats_lines
from bot.rules.notifiable import EVENT_LABELS
from bot.texts import URGENCY_MARK, h, waited, when
from storage.models import Incident

Buttons = list[list[tuple[str, str]]]
OVERDUE_PER_MESSAGE = 5


def _label(services: Any, incident: Incident | needs.ShownReport) -> str:
    cat = services.settings.category(incident.category)
    return cat.label if cat else incident.category


def _status(services: Any, incident: Incident, now) -> str:
    if incident.status == "open":
        return f"⏳ waiting {waited(now - incident.reported_at)}"
    if incident.status == "acknowledged" and incident.acknowledged_at:
        return f"✅ acknowledged {when(incident.acknowledged_at, services.tz)}"
    return incident.status


CLOCK_LABEL = {
    needs.ACK: "⏳ Not acknowledged",
    needs.OUTCOME: "📝 No outcome recorded",
    needs.NOTIFICATION: "📋 Ofsted notification not recorded",
    needs.UNDELIVERED: "⚠️ A message could not be delivered",
}


def _late_line(late: needs.Late, now, tz, *, html: bool = True) -> str:
    """"⏳ Not acknowledged: late by 20 min (since 10:15 Wed 25 Nov 2026); Priya Patel"."""
    b = (lambda t: f"<b>{t}</b>") if html else (lambda t: t)
    esc = h if html else (lambda t: t)
    who = f"; {b(esc(late.who.name))}" if late.who else "; nobody"
    if late.clock == needs.UNDELIVERED:
        return (f"{CLOCK_LABEL[late.clock]} (since {when(late.since, tz)}, "
                f"{b(waited(now - late.since))} ago){who}")
    return (f"{CLOCK_LABEL[late.clock]}: late by {b(waited(now - late.since))} "
            f"(since {when(late.since, tz)}){who}")


def overdue_messages(services: Any, result: needs.NeedsAction,
                     team_label: str) -> list[tuple[str, Buttons]]:
    """The needs-action list: a heading, then the reports (most overdue first) in small
    groups; each names every clock it is late on, since when and who must act, with
    "Timeline" and (while unacknowledged) "Acknowledge on behalf" buttons."""
    tz, now = services.tz, result.now
    if not result.items:
        if result.actions or result.events:
            return [(f"✅ No report is overdue in {h(team_label)}.", []),
                    *_extras(services, result)]
        return [(f"✅ Nothing is overdue in {h(team_label)}.", [])]
    head = f"⏰ <b>Overdue: {result.total} report{'s' if result.total != 1 else ''}</b> " \
           f"in {h(team_label)}, most overdue first."
    if result.total > len(result.items):
        head += f"\nShowing the {len(result.items)} most overdue of {result.total}; " \
                "/open has every open report."
    out: list[tuple[str, Buttons]] = []
    for start in range(0, len(result.items), OVERDUE_PER_MESSAGE):
        chunk = result.items[start:start + OVERDUE_PER_MESSAGE]
        parts = [head] if start == 0 else []
        buttons: Buttons = []
        for n, item in enumerate(chunk, start + 1):
            inc = item.incident
            lines = [
                f"<b>{n}. {h(inc.reference)}</b> — {URGENCY_MARK.get(inc.urgency, h(inc.urgency))}",
                f"{h(inc.child_ref)}, {h(_label(services, inc))}",
                f"Reported {when(inc.reported_at, tz)}; has it: "
                f"<b>{h(item.holder.name) if item.holder else 'nobody'}</b>"
                + ("" if inc.status != "closed" else " (closed)"),
            ]
            lines.extend(_late_line(late, now, tz) for late in item.late)
            for f in item.failed:
                lines.append(f"⚠️ {h(f.kind)} to {h(f.to_name)} could not be delivered: "
                             f"{h(f.error)}")
            parts.append("\n".join(lines))
            row = [(f"📜 Timeline {inc.reference}", callbacks.LOG.data(inc.id))]
            if inc.status == "open":
                row.append((f"✅ Acknowledge on behalf {inc.reference}",
                            callbacks.ACK.data(inc.id)))
            buttons.extend([[b] for b in row])
        out.append(("\n\n".join(parts), buttons))
    return out + _extras(services, result)


def _extras(services: Any, result: needs.NeedsAction) -> list[tuple[str, Buttons]]:
    """After the reports: overdue oversight actions, then events without a report."""
    out = [_actions_message(services, result)] if result.actions else []
    return out + _events_messages(services, result)


def _event_lines(services: Any, e: needs.OverdueEvent, now, *, html: bool = True) -> list[str]:
    """A notifiable event without a report: what, by whom, since when late, its owner, and
    the recipients still to record."""
    b = (lambda t: f"<b>{t}</b>") if html else (lambda t: t)
    esc = h if html else (lambda t: t)
    ev = e.event
    label = EVENT_LABELS.get(ev.event, ev.event)
    by = f" by {esc(e.recorded_by.name)}" if e.recorded_by else ""
    owner = (f"{esc(e.owner.name)} (registered manager)" if e.owner
             else "the registered manager")
    what = (f"{b(esc(ev.subject or '(no subject)'))} — {esc(label)}, recorded "
            f"{when(ev.opened_at, services.tz)}{by}")
    late = (f"{CLOCK_LABEL[needs.NOTIFICATION]}: late by {b(waited(now - ev.due_at))} "
            f"(since {when(ev.due_at, services.tz)}); owner {owner}")
    return [what, late, "Still to record: " + ", ".join(map(recipient_label, e.missing))]


def _events_heading(result: needs.NeedsAction, html: bool = True) -> str:
    """"Notifications overdue without a report: 1, most overdue first." (DBS referrals)."""
    head = f"Notifications overdue without a report: {result.events_total}"
    return (f"📋 <b>{head}</b>" if html else head) + ", most overdue first."


def _events_messages(services: Any, result: needs.NeedsAction) -> list[tuple[str, Buttons]]:
    """One message per overdue event without a report, each with the record buttons its
    reminder carries (a row per recipient still owed: how it was notified, or its written
    confirmation); the heading on the first, the "more" and the register's pointer on the
    last. The taps go to the reminder's handler, which checks who may record."""
    if not result.events:
        return []
    out: list[tuple[str, Buttons]] = []
    for n, e in enumerate(result.events):
        parts = [_events_heading(result)] if n == 0 else []
        parts.append("\n".join(_event_lines(services, e, result.now)))
        out.append(("\n\n".join(parts), record_buttons(list(e.owed))))
    tail = []
    if result.events_total > len(result.events):
        tail.append(f"…and {result.events_total - len(result.events)} more.")
    tail.append("Tap how each was notified once it has been made (a reference can follow); "
                "/notifications shows the register.")
    text, buttons = out[-1]
    out[-1] = ("\n\n".join([text, *tail]), buttons)
    return out


def _action_line(services: Any, a: needs.OverdueAction, now, *, html: bool = True) -> str:
    """"task 12 · INC-2026-000001: Visit A1 alone — due by …, late by 2 h; owner Priya Patel,
    set by Alex Jones"."""
    esc = h if html else (lambda t: t)
    t = a.task
    d = t.details or {}
    subject = d.get("incident") or f"child {t.child_ref}"
    return (f"task {t.id} · {esc(subject)}: {esc(d.get('what') or '')} — due by "
            f"{when(t.due_at, services.tz)}, late by {waited(now - t.due_at)}; owner "
            f"{esc(a.owner.name) if a.owner else 'nobody'}, set by "
            f"{esc(a.manager.name) if a.manager else 'unknown'}")


def _actions_message(services: Any, result: needs.NeedsAction) -> tuple[str, Buttons]:
    """Overdue oversight actions: one message, a Done button each."""
    n = result.actions_total
    lines = [f"📌 <b>Oversight actions overdue: {n}</b>, most overdue first."]
    lines += [f"• {_action_line(services, a, result.now)}" for a in result.actions]
    if n > len(result.actions):
        lines.append(f"…and {n - len(result.actions)} more.")
    buttons = [[(f"✅ Done {a.task.id}", callbacks.TASK_DONE.data(a.task.id))]
               for a in result.actions[:OVERDUE_PER_MESSAGE * 4]]
    return "\n".join(lines), buttons


DIGEST_ITEMS = 15


def digest_text(services: Any, result: needs.NeedsAction, team_label: str) -> str:
    """The morning digest: the most overdue reports, one short entry each (fits one message)."""
    tz, now = services.tz, result.now
    n = result.total
    lines = [(f"☀️ <b>Needs action in {h(team_label)}: {n} report{'s' if n != 1 else ''}</b>, "
              "most overdue first.")]
    for item in result.items[:DIGEST_ITEMS]:
        inc = item.incident
        lines.append("")
        lines.append(f"<b>{h(inc.reference)}</b> — {URGENCY_MARK.get(inc.urgency, h(inc.urgency))}, "
                     f"{h(inc.child_ref)}, {h(_label(services, inc))}")
        lines.extend(_late_line(late, now, tz) for late in item.late)
    if n > DIGEST_ITEMS:
        lines.append(f"\n…and {n - DIGEST_ITEMS} more.")
    if result.actions:
        lines.append(f"\n📌 <b>Oversight actions overdue: {result.actions_total}</b>")
        lines += [f"• {_action_line(services, a, now)}" for a in result.actions[:DIGEST_ITEMS]]
    if result.events:
        lines.append("\n" + _events_heading(result))
        lines += ["• " + "\n  ".join(_event_lines(services, e, now))
                  for e in result.events[:DIGEST_ITEMS]]
    lines.append("\n/overdue shows them with buttons; /log INC-… a report's timeline.")
    return "\n".join(lines)


def needs_plain(services: Any, result: needs.NeedsAction, team_label: str) -> str:
    """The same list as plain text (the command line)."""
    tz, now = services.tz, result.now
    tail: list[str] = []
    if result.actions:
        tail += ["", f"Oversight actions overdue: {result.actions_total}, most overdue first."]
        tail += ["   " + _action_line(services, a, now, html=False) for a in result.actions]
    if result.events:
        tail += ["", _events_heading(result, html=False)]
        for e in result.events:
            first, *rest = _event_lines(services, e, now, html=False)
            tail += ["   " + first, *("      " + line for line in rest)]
    if not result.items:
        if tail:
            return "\n".join([f"No report is overdue in {team_label}.", *tail])
        return f"Nothing is overdue in {team_label}."
    out = [(f"Overdue: {result.total} report{'s' if result.total != 1 else ''} in {team_label}, "
            "most overdue first.")]
    if result.total > len(result.items):
        out.append(f"Showing the {len(result.items)} most overdue of {result.total}.")
    for n, item in enumerate(result.items, 1):
        inc = item.incident
        out.append("")
        out.append(f"{n}. {inc.reference} ({inc.urgency}) {inc.child_ref}, "
                   f"{_label(services, inc)}; team {inc.team_id}; status {inc.status}; "
                   f"has it: {item.holder.name if item.holder else 'nobody'}")
        out.extend("   " + _late_line(late, now, tz, html=False) for late in item.late)
        out.extend(f"   delivery failed: {f.kind} to {f.to_name}: {f.error}" for f in item.failed)
    return "\n".join(out + tail)


def open_groups_messages(services: Any, groups: list[OpenGroup], team_label: str, now) -> list[str]:
    total = sum(len(g.incidents) for g in groups)
    if not total:
        return [f"✅ No open reports in {h(team_label)}."]
    lines = [f"📂 <b>Open reports in {h(team_label)}: {total}</b>, by worker"]
    for g in groups:
        lines.append("")
        lines.append(f"<b>{h(g.worker.name) if g.worker else 'Nobody'}</b> ({len(g.incidents)})")
        for inc in g.incidents:
            lines.append(f"• {h(inc.reference)} — {h(inc.child_ref)}, {h(_label(services, inc))}: "
                         f"{_status(services, inc, now)}")
    lines.append("")
    lines.append("/log INC-… shows a report's timeline.")
    return messages(lines)


def own_open_messages(services: Any, incidents: list[Incident], now) -> list[str]:
    if not incidents:
        return ["✅ You have no open reports."]
    lines = [f"📂 <b>Your open reports: {len(incidents)}</b>"]
    for inc in incidents:
        lines.append(f"• {h(inc.reference)} — {h(inc.child_ref)}, {h(_label(services, inc))}: "
                     f"{_status(services, inc, now)}")
    return messages(lines)


def stats_messages(services: Any, st: Stats) -> list[str]:
    out = []
    for style, text in stats_lines(st, services.tz, deadline_label(services.settings)):
        if style == "title":
            out.append(f"📊 <b>{h(text)}</b>")
        elif style == "head":
            out.append(f"\n<b>{h(text)}</b>")
        else:
            out.append(h(text))
    return messages(out)


def stats_plain(services: Any, st: Stats) -> str:
    out = []
    for style, text in stats_lines(st, services.tz, deadline_label(services.settings)):
        out.append(("\n" + text) if style == "head" else text)
    return "\n".join(out)


def timeline_buttons(incident_id: int, page: int, total: int) -> Buttons:
    row = []
    if page > 1:
        row.append(("◀ Previous page", callbacks.LOG_PAGE.data(incident_id, page - 1)))
    if page < total:
        row.append(("Next page ▶", callbacks.LOG_PAGE.data(incident_id, page + 1)))
    oversee = [(RECORD_BUTTON, callbacks.OVERSEE.data(incident_id))]
    return [row, oversee] if row else [oversee]


def export_preparing(team_label: str, period_label: str) -> str:
    return (f"⏳ Preparing export for {h(team_label)}, {h(period_label)}… "
            "I will send the files here when they are ready.")


def export_too_big(file_names: list[str]) -> str:
    return ("⚠️ The export is larger than Telegram lets a bot send "
            f"({h(', '.join(file_names))}). Choose a shorter period, or ask an "
            "administrator for <code>fosterbot export</code> on the server.")


def export_ready(incidents: int, events: int, period_label: str) -> str:
    return (f"✅ Export ready: {incidents} report(s) and {events} audit event(s), "
            f"{h(period_label)}. Times are UTC.")
