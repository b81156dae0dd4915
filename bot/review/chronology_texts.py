"""What a child's chronology says: each entry's line (plain text, escaped where shown as
HTML), the chat pages and the CSV columns. The entries are gathered in
``bot/review/chronology.py``; children appear only by their pseudonymous reference."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot import callbacks
from bot.review.paging import pack, split_escaped, tg_len
from bot.texts import MAX_MESSAGE, h, local, waited, when

Buttons = list[list[tuple[str, str]]]

# The kinds of entry, as /child and --kind take them (singular or plural).
KIND_LABELS = {
    "placement": "placements",
    "allocation": "allocation changes",
    "incident": "incidents",
    "notification": "notifications",
    "oversight": "oversight",
}
USAGE = ("Send /child followed by the child's reference, and optionally one kind of entry: "
         "/child A1, or /child A1 incidents. Kinds: placements, allocations, incidents, "
         "notifications, oversight.")
# At most 200 characters: it is also a button's answer.
NOT_YOURS = ("I cannot show you that child's chronology: there is no such child, or you are not "
             "their social worker, their carer's supervising social worker or their team's "
             "manager.")
PAGE_TITLE_ROOM = 140  # the title: the longest reference, kind, page and part
# Entries on a page of /child (cut in the database; a page whose lines need more room than
# one message comes in parts).
PAGE_ENTRIES = 15


def kind_from_word(word: str) -> str | None:
    """``incidents`` / ``incident`` → ``incident``; None if not a kind."""
    w = word.strip().lower()
    for kind in KIND_LABELS:
        if w in (kind, kind + "s"):
            return kind
    return None


def day(d: date) -> str:
    """'Wed 25 Nov 2026'."""
    return f"{d:%a} {d.day} {d:%b %Y}"


def _names(names: Iterable[str]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


# ------------------------------------------------------------------ entry lines (plain text)

def placement_started(carers: list[str]) -> str:
    return f"Placement started with {_names(carers)}"


def placement_ended(carers: list[str]) -> str:
    return f"Placement with {_names(carers)} ended"


def placement_removed(carer: str, start: str, end: str | None) -> str:
    period = f"from {start}" + (f" to {end}" if end else "")
    return f"Placement with {carer} ({period}) removed from the directory"


def handover(before: str | None, after: str | None, references: list[str]) -> str:
    items = ", ".join(references) if references else "no open items"
    return f"Handover from {before or 'nobody'} to {after}: {items}"


def allocation_changed(before: str | None, after: str | None) -> str:
    if after is None:
        return f"No allocated social worker (was {before})"
    if before is None:
        return f"Allocated to {after}"
    return f"Allocated social worker changed from {before} to {after}"


def incident(reference: str, category: str, urgency: str, told: list[str],
             acknowledged: str | None, outcome: str | None, status: str) -> str:
    parts = [f"{reference} {category} ({urgency})",
             "told " + (", ".join(told) if told else "nobody could be told")]
    parts.append(acknowledged or "not yet acknowledged")
    if outcome:
        parts.append(outcome)
    elif status != "closed":
        parts.append("open")
    return " · ".join(parts)


def acknowledged(by: str, at: datetime, after: timedelta, tz: ZoneInfo) -> str:
    return f"acknowledged by {by} at {when(at, tz)} ({waited(after)} after the report)"


def outcome(label: str, by: str, at: datetime | None, tz: ZoneInfo) -> str:
    return f"outcome: {label}, closed by {by}" + (f" at {when(at, tz)}" if at else "")


def notification(reference: str, by: str, on_time: bool | None) -> str:
    late = {True: " (within the deadline)", False: " (after the deadline)", None: ""}[on_time]
    return (f"{reference}: Ofsted and the responsible authority notified, recorded by "
            f"{by}{late}")


# ------------------------------------------------------------------ chat pages

def _line(at: datetime, dated: bool, text: str, tz: ZoneInfo) -> tuple[str, str]:
    stamp = day(local(at, tz).date()) if dated else when(at, tz)
    return f"• <b>{h(stamp)}</b> — ", text


def pages(child_ref: str, entries: list, tz: ZoneInfo, kind: str | None, *, page: int = 1,
          pages: int = 1, limit: int = MAX_MESSAGE) -> list[str]:
    """Page ``page`` of ``pages`` (its entries, newest first) as Telegram messages: one,
    or, when its lines need more room, its parts in order; nothing is cut, a line too long
    for a message continues in the next."""
    budget = limit - PAGE_TITLE_ROOM
    blocks: list[str] = []
    for e in entries:
        prefix, text = _line(e.at, e.dated, e.text, tz)
        room = budget - tg_len(prefix)
        escaped = h(text)
        if tg_len(escaped) <= room:  # nearly always: one line, no cutting needed
            blocks.append(prefix + escaped)
            continue
        for i, piece in enumerate(split_escaped(text, room)):
            blocks.append((prefix if i == 0 else "  … ") + h(piece))
    if not blocks:
        blocks = ["Nothing recorded" + (f" of this kind ({KIND_LABELS[kind]})." if kind else ".")]
    grouped = pack(blocks, budget, sep="\n")
    parts = len(grouped)
    what = f" ({KIND_LABELS[kind]})" if kind else ""
    where = f", page {page} of {pages}" if pages > 1 else ""
    out = []
    for i, part in enumerate(grouped, 1):
        title = (f"🧒 <b>{h(child_ref)}</b> — chronology{h(what)}, newest first{where}"
                 + (f" (part {i} of {parts})" if parts > 1 else ""))
        out.append(title + "\n\n" + "\n".join(part))
    return out


def page_buttons(child_ref: str, page: int, total: int, kind: str | None, *, part: int = 1,
                 parts: int = 1) -> Buttons:
    """◀ Previous / Next ▶: through the parts of a page, then to the page before or after
    (a page is entered at its first part)."""
    extra = (kind,) if kind else ()
    row = []
    if part > 1:
        row.append(("◀ Previous",
                    callbacks.CHILD_PAGE_PART.data(child_ref, page, part - 1, *extra)))
    elif page > 1:
        row.append(("◀ Previous", callbacks.CHILD_PAGE.data(child_ref, page - 1, *extra)))
    if part < parts:
        row.append(("Next ▶", callbacks.CHILD_PAGE_PART.data(child_ref, page, part + 1, *extra)))
    elif page < total:
        row.append(("Next ▶", callbacks.CHILD_PAGE.data(child_ref, page + 1, *extra)))
    return [row] if row else []


# ------------------------------------------------------------------ plain text and CSV

CSV_COLUMNS = ["at", "date", "kind", "event", "incident", "entry"]


def plain(child_ref: str, entries: list, tz: ZoneInfo) -> str:
    lines = [f"Chronology of {child_ref}, newest first"]
    for e in entries:
        stamp = day(local(e.at, tz).date()) if e.dated else when(e.at, tz)
        lines.append(f"{stamp}  {e.text}")
    if not entries:
        lines.append("Nothing recorded.")
    return "\n".join(lines)


def oversight(by: str | None, details: dict, reference: str | None) -> str:
    """An oversight entry: its decision (rationale and actions are in the record)."""
    on = f"{reference}: " if reference else ""
    decision = str(details.get("decision") or "").strip()
    line = f"{on}management oversight by {by or 'someone'}"
    if decision:
        line += f": {decision}"
    actions = details.get("actions") or []
    if actions:
        line += f" ({len(actions)} action{'' if len(actions) == 1 else 's'})"
    return line


# ------------------------------------------------------------------ the notification register

def _ref(reference: str | None) -> str:
    return f"{reference}: " if reference else ""


def register_opened(reference: str, label: str, recipients: list[str], due: str) -> str:
    """A notifiable event opened: what, whom to tell, by when."""
    to = _names(recipients) if recipients else "nobody configured"
    return f"{reference}: {label} — to notify {to} by {due}"


def recipient_notified(reference: str, recipient: str, method: str | None,
                       ref: str | None, by: str | None, on_time: bool) -> str:
    how = f" ({method})" if method else ""
    given = f" (reference {ref})" if ref else ""
    late = "within the deadline" if on_time else "after the deadline"
    return (f"{reference}: {recipient} notified{how}{given}, recorded by {by or 'someone'} "
            f"({late})")


def recipient_confirmed(reference: str, recipient: str, ref: str | None, by: str | None) -> str:
    given = f" (reference {ref})" if ref else ""
    return (f"{reference}: {recipient}: phone notification confirmed in writing{given}, "
            f"recorded by {by or 'someone'}")


def recipient_not_required(reference: str, recipient: str, reason: str) -> str:
    return f"{reference}: {recipient} not required: {reason}"


def not_notifiable(reference: str, label: str, by: str | None, reason: str) -> str:
    return f"{reference}: {label} — not notifiable after review by {by or 'someone'}: {reason}"


# ------------------------------------------------------------------ oversight actions

def action_done(reference: str | None, what: str, by: str | None, on_time: bool) -> str:
    late = "" if on_time else " (after its due date)"
    return f"{_ref(reference)}oversight action done by {by or 'someone'}{late}: {what}"


def action_open(reference: str | None, what: str, owner: str | None, *, overdue: bool) -> str:
    state = "overdue, not recorded done" if overdue else "due"
    return f"{_ref(reference)}oversight action {state} (owner {owner or 'nobody'}): {what}"
