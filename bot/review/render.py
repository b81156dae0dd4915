"""The review's messages for Telegram (HTML, every person-written part escaped)."""

from __future__ import annotations

from typing import Any

from bot import callbacks
from bot.record.oversight_texts import RECORD_BUTTON
from bot.review.lists import OpenGroup, OverdueList
from bot.review.paging import messages
from bot.review.stats import Stats, deadline_label
from bot.review.stats import lines as stats_lines
from bot.texts import URGENCY_MARK, h, waited, when
from storage.models import Incident

Buttons = list[list[tuple[str, str]]]
OVERDUE_PER_MESSAGE = 5


def _label(services: Any, incident: Incident) -> str:
    cat = services.settings.category(incident.category)
    return cat.label if cat else incident.category


def _status(services: Any, incident: Incident, now) -> str:
    if incident.status == "open":
        return f"⏳ waiting {waited(now - incident.reported_at)}"
    if incident.status == "acknowledged" and incident.acknowledged_at:
        return f"✅ acknowledged {when(incident.acknowledged_at, services.tz)}"
    return incident.status


def overdue_messages(services: Any, result: OverdueList, team_label: str) -> list[tuple[str, Buttons]]:
    """The overdue list: a heading, then the reports (oldest first) in small groups, each with
    "Timeline" and (while unacknowledged) "Acknowledge on behalf" buttons."""
    tz = services.tz
    if not result.items:
        return [(f"✅ Nothing is overdue in {h(team_label)}.", [])]
    head = f"⏰ <b>Overdue: {result.total} report{'s' if result.total != 1 else ''}</b> " \
           f"in {h(team_label)}, oldest first."
    if result.total > len(result.items):
        head += f"\nShowing the oldest {len(result.items)} of {result.total}; /export has them all."
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
                f"<b>{h(item.holder.name) if item.holder else 'nobody'}</b>",
            ]
            if item.late_by is not None:
                lines.append(f"Late by <b>{waited(item.late_by)}</b> "
                             f"(due {when(item.overdue_since, tz)})")
            elif inc.status != "open":
                lines.append(f"Status: {h(inc.status)}")
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
    return out


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
