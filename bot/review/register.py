"""The Schedule 7 notification register (issue 16): what an inspector asks to see.

One row per notifiable event and recipient: the deadline, when it was made, how
late, how, the reference given, the written confirmation of a phone call, who
made it; an event found not notifiable after review shows its reason. Totals of
late notifications per month. Shown to managers by ``/notifications`` (open
ones first, then recent) and written by ``fosterbot notifications --from --to
[--out FILE.csv]``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.review.export import cell
from bot.rules import notifiable
from bot.texts import h
from storage import queries
from storage.models import Incident, NotifiableEvent, NotificationRecord

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from bot.services import Services

COLUMNS = ["event_id", "incident", "team", "event", "recipient", "opened", "deadline", "made",
           "late_by_hours", "method", "reference", "confirmed_in_writing",
           "confirmation_reference", "made_by", "status", "reason"]


@dataclass
class Row:
    event_id: int
    incident: str  # the incident reference, or the DBS referral's subject reference
    team: str
    event: str
    recipient: str
    opened_at: datetime
    due_at: datetime
    made_at: datetime | None
    late_by_hours: float | None
    method: str | None
    reference: str | None
    confirmed_at: datetime | None
    confirm_reference: str | None
    made_by: str
    status: str  # made | confirmed | awaiting confirmation | owed | not notifiable | not required
    reason: str

    @property
    def open(self) -> bool:
        return self.status in ("owed", "awaiting confirmation")


async def rows(session: AsyncSession, services: "Services", *, start: datetime | None = None,
               end: datetime | None = None, teams: frozenset[str] | None = None) -> list[Row]:
    """Register rows for events opened in [start, end) (all when not given), limited to
    ``teams`` when given (events without an incident, e.g. DBS referrals, then excluded)."""
    now = services.clock.now()
    q = select(NotifiableEvent, Incident).outerjoin(
        Incident, Incident.id == NotifiableEvent.incident_id).order_by(
        NotifiableEvent.opened_at, NotifiableEvent.id)
    if start is not None:
        q = q.where(NotifiableEvent.opened_at >= start)
    if end is not None:
        q = q.where(NotifiableEvent.opened_at < end)
    if teams is not None:
        q = q.where(Incident.team_id.in_(teams))
    found = (await session.execute(q)).all()
    if not found:
        return []
    recs = (await session.execute(
        select(NotificationRecord).where(
            NotificationRecord.event_id.in_([e.id for e, _ in found]))
        .order_by(NotificationRecord.id))).scalars().all()
    by_event: dict[int, list[NotificationRecord]] = {}
    for r in recs:
        by_event.setdefault(r.event_id, []).append(r)
    people = await queries.people_by_id(session, {r.made_by_id for r in recs if r.made_by_id}
                                        | {e.decided_by_id for e, _ in found if e.decided_by_id})
    out = []
    for ev, inc in found:
        for r in by_event.get(ev.id, []):
            if r.not_required_reason:
                status, reason = "not required", r.not_required_reason
            elif r.made_at is None and ev.not_notifiable_reason:
                status, reason = "not notifiable", ev.not_notifiable_reason
            elif r.made_at is None:
                status, reason = "owed", ""
            elif r.method in notifiable.NEEDS_WRITTEN_CONFIRMATION and r.confirmed_at is None:
                status, reason = "awaiting confirmation", ""
            else:
                status, reason = ("confirmed" if r.confirmed_at else "made"), ""
            if status == "not notifiable" and ev.decided_by_id in people:
                reason = f"{reason} (decided by {people[ev.decided_by_id].name})"
            late = (notifiable.late_by(ev.due_at, r.made_at, now)
                    if status in ("owed", "made", "confirmed", "awaiting confirmation") else None)
            by = people.get(r.made_by_id) if r.made_by_id else None
            out.append(Row(
                event_id=ev.id, incident=inc.reference if inc else (ev.subject or ""),
                team=inc.team_id if inc else "", event=ev.event, recipient=r.recipient,
                opened_at=ev.opened_at, due_at=ev.due_at, made_at=r.made_at,
                late_by_hours=late, method=r.method, reference=r.reference,
                confirmed_at=r.confirmed_at, confirm_reference=r.confirm_reference,
                made_by=by.name if by else "", status=status, reason=reason,
            ))
    return out


def monthly_late(rs: list[Row], tz: "ZoneInfo") -> list[tuple[str, int, int]]:
    """(month, notifications due, of which late) by the month the event opened."""
    months: dict[str, list[int]] = {}
    for r in rs:
        if r.status in ("not notifiable", "not required"):
            continue
        m = months.setdefault(r.opened_at.astimezone(tz).strftime("%Y-%m"), [0, 0])
        m[0] += 1
        m[1] += r.late_by_hours is not None
    return [(k, v[0], v[1]) for k, v in sorted(months.items())]


def _t(dt: datetime | None, tz: "ZoneInfo") -> str:
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if dt else ""


def to_csv(rs: list[Row], tz: "ZoneInfo") -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rs:
        # Typed text (references, reasons, a DBS subject) never runs as a formula.
        w.writerow([r.event_id, cell(r.incident), r.team, r.event, r.recipient,
                    _t(r.opened_at, tz), _t(r.due_at, tz), _t(r.made_at, tz),
                    "" if r.late_by_hours is None else f"{r.late_by_hours:.2f}",
                    r.method or "", cell(r.reference), _t(r.confirmed_at, tz),
                    cell(r.confirm_reference), cell(r.made_by), r.status, cell(r.reason)])
    buf.write("\n")
    w.writerow(["month", "notifications", "late"])
    for month, n, late in monthly_late(rs, tz):
        w.writerow([month, n, late])
    return buf.getvalue()


def plain(rs: list[Row], tz: "ZoneInfo") -> str:
    if not rs:
        return "No notifiable events in this period."
    lines = []
    for r in sorted(rs, key=lambda r: (not r.open, r.opened_at)):
        late = f", {r.late_by_hours:.1f} h late" if r.late_by_hours else ""
        how = f" by {r.method}" if r.method else ""
        ref = f" ref {r.reference}" if r.reference else ""
        lines.append(f"{r.incident} {r.event} → {notifiable.SHORT.get(r.recipient, r.recipient)}: "
                     f"{r.status}{how}{ref}{late} (due {_t(r.due_at, tz)})"
                     + (f" — {r.reason}" if r.reason else ""))
    lines.append("")
    lines += [f"{m}: {n} notification(s), {late} late" for m, n, late in monthly_late(rs, tz)]
    return "\n".join(lines)


MAX_SHOWN = 30


def telegram(rs: list[Row], tz: "ZoneInfo") -> str:
    """Open ones first, then the most recent; HTML, escaped."""
    if not rs:
        return "📋 <b>Notifications</b>: no notifiable events in the last 90 days."
    ordered = [r for r in rs if r.open] + sorted([r for r in rs if not r.open],
                                                  key=lambda r: r.opened_at, reverse=True)
    lines = ["📋 <b>Notifications</b> (Schedule 7 register; open first, then recent)"]
    for r in ordered[:MAX_SHOWN]:
        mark = "⏳" if r.open else ("➖" if r.status in ("not notifiable", "not required")
                                    else "✅")
        late = f", <b>{r.late_by_hours:.1f} h late</b>" if r.late_by_hours else ""
        how = f" by {h(r.method)}" if r.method else ""
        ref = f", ref {h(r.reference)}" if r.reference else ""
        why = f" — {h(r.reason)}" if r.reason else ""
        lines.append(f"{mark} {h(r.incident)} · {h(notifiable.SHORT.get(r.recipient, r.recipient))}"
                     f": {h(r.status)}{how}{ref}{late}{why}")
    if len(ordered) > MAX_SHOWN:
        lines.append(f"… and {len(ordered) - MAX_SHOWN} more: "
                     "<code>fosterbot notifications --out FILE.csv</code>")
    lines.append("")
    lines += [f"{h(m)}: {n} due, {late} late" for m, n, late in monthly_late(rs, tz)]
    return "\n".join(lines)
