"""Abandoned report drafts: one reminder, then discarded — with what the carer typed sent back.

The draft row *is* the conversation state (``bot/record/reporting.py``), so a restart
in the middle of ``/report`` loses nothing; this module only deals with drafts
nobody comes back to.

* A draft idle for ``engine.draft_remind_after`` gets ONE reminder (``/report``
  to carry on, or Discard; for an unanswered "Report this as an incident?"
  offer, the offer again). Any answer to the draft resets the idle clock and
  so allows one more reminder after the next idle spell.
* A draft idle for ``engine.draft_keep`` and already reminded is discarded, and
  the carer gets a last message that quotes everything they had given — child,
  category, when, the description, every answer and every note, in full (as
  many messages as it takes) — so nothing typed is thrown away silently. If the reminder went out late (the bot was down),
  the discard waits as long after the reminder as it would have normally
  (``draft_keep - draft_remind_after``), so the carer always has that long.

Both durations may be clock or working time (``services.calendar.add``).
Both steps are conditional updates on the row as it was read (``last_activity_at``
unchanged, still open), so a carer answering at the same moment wins. Messages
go through the outbox in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.delivery.outbox import NOTICE_PRIORITY, enqueue
from bot.record import report_texts as texts
from bot.record.render import FIELDS
from bot.rules.durations import Duration
from bot.texts import h, when
from storage.models import Draft, Person

if TYPE_CHECKING:
    from bot.services import Services

BATCH = 200
QUOTE_LIMIT = 3300  # what the carer typed, quoted back within Telegram's 4096
MESSAGE_BUDGET = 3500  # HTML characters per message of a full quote (Telegram: 4096)


@dataclass
class SweepResult:
    reminded: int = 0
    discarded: int = 0


def in_words(d: Duration) -> str:
    """``2d`` → "2 days"; working time as written ("1 working day")."""
    if d.working:
        return str(d)
    name = {"d": "day", "h": "hour", "m": "minute", "s": "second"}[d.unit]
    return f"{d.count} {name}{'' if d.count == 1 else 's'}"


def typed_text(draft: Draft) -> str:
    """Everything the carer typed into the draft, oldest first, without repeats."""
    data = draft.data or {}
    parts: list[str] = []
    for text in [*(data.get("notes") or []), data.get("description")]:
        if isinstance(text, str) and text.strip() and text.strip() not in parts:
            parts.append(text.strip())
    return "\n\n".join(parts)


def _escaped_pieces(text: str, size: int) -> list[str]:
    """``text`` escaped, cut (between characters, never inside an entity) into pieces
    of at most ``size`` characters."""
    pieces, current, length = [], [], 0
    for ch in text:
        e = h(ch)
        if length + len(e) > size:
            pieces.append("".join(current))
            current, length = [], 0
        current.append(e)
        length += len(e)
    if current:
        pieces.append("".join(current))
    return pieces


def answer_lines(draft: Draft, services: "Services") -> list[str]:
    """Every answer in the draft as HTML lines (escaped), in full, in the record's order."""
    data = draft.data or {}
    lines: list[str] = []
    if data.get("child"):
        lines.append(f"<b>Child:</b> {h(data['child'])}")
    if data.get("category"):
        cat = services.settings.category(data["category"])
        lines.append(f"<b>Category:</b> {h(cat.label if cat else data['category'])}")
    if data.get("occurred_at"):
        try:
            at = when(datetime.fromisoformat(data["occurred_at"]), services.tz)
        except (TypeError, ValueError):
            at = str(data["occurred_at"])
        lines.append(f"<b>When it happened:</b> {h(at)}")
    given: list[tuple[str, str]] = []
    if isinstance(data.get("description"), str) and data["description"].strip():
        given.append(("What happened", data["description"].strip()))
    for key, label in FIELDS:
        if isinstance(data.get(key), str) and data[key].strip():
            given.append((label, data[key].strip()))
    seen = {t for _, t in given}
    for note in data.get("notes") or []:
        if isinstance(note, str) and note.strip() and note.strip() not in seen:
            seen.add(note.strip())
            given.append(("You also wrote", note.strip()))
    for label, text in given:
        lines.append(texts.answer_label(label))
        for line in text.split("\n"):
            lines.extend(_escaped_pieces(line, MESSAGE_BUDGET - 100) or [""])
    return lines


def pack(lines: list[str], size: int = MESSAGE_BUDGET) -> list[str]:
    """Whole lines into messages of at most ``size`` characters (each line fits one)."""
    messages, current = [], ""
    for line in lines:
        if current and len(current) + 1 + len(line) > size:
            messages.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        messages.append(current)
    return messages


def _still_open(draft: Draft):
    return (
        (Draft.id == draft.id) & (Draft.last_activity_at == draft.last_activity_at)
        & Draft.submitted_incident_id.is_(None) & Draft.discarded_at.is_(None)
    )


async def sweep(session: AsyncSession, services: "Services", now: datetime) -> SweepResult:
    """Remind or discard the drafts that are due (in the caller's write transaction)."""
    remind_after = services.settings.engine.draft_remind_after
    keep = services.settings.engine.draft_keep
    calendar = services.calendar
    q = (
        select(Draft)
        .where(Draft.submitted_incident_id.is_(None), Draft.discarded_at.is_(None))
        .order_by(Draft.last_activity_at)
        .limit(BATCH)
    )
    if not remind_after.working:  # working time: every open draft is checked below
        q = q.where(Draft.last_activity_at <= now - remind_after.amount)
    result = SweepResult()
    for draft in (await session.execute(q)).scalars().all():
        remind_at = calendar.add(draft.last_activity_at, remind_after)
        if now < remind_at:
            continue
        carer = await session.get(Person, draft.carer_id)
        if draft.reminded_at is None:
            if await _mark(session, draft, reminded_at=now):
                await _remind(session, services, draft, carer, now)
                result.reminded += 1
            continue
        keep_until = calendar.add(draft.last_activity_at, keep)
        due = max(keep_until, draft.reminded_at + (keep_until - remind_at))
        if now >= due and await _mark(session, draft, discarded_at=now):
            await _discard(session, services, draft, carer, now)
            result.discarded += 1
    return result


async def _mark(session: AsyncSession, draft: Draft, **values: datetime) -> bool:
    res = await session.execute(
        update(Draft).where(_still_open(draft)).values(**values)
        .execution_options(synchronize_session=False)
    )
    return res.rowcount == 1


async def _remind(session: AsyncSession, services: "Services", draft: Draft,
                  carer: Person | None, now: datetime) -> None:
    text, buttons = texts.draft_reminder(
        draft.id, offer=draft.step == "offer", started=draft.created_at, tz=services.tz,
        typed=typed_text(draft), child_ref=(draft.data or {}).get("child"),
        kept_for=in_words(services.settings.engine.draft_keep), quote_limit=QUOTE_LIMIT)
    await enqueue(
        session, key=f"draft-remind:{draft.id}:{draft.last_activity_at.timestamp()}",
        kind="draft_reminder", now=now, chat_id=draft.chat_id, person=carer,
        priority=NOTICE_PRIORITY, text=text, buttons=buttons,
    )
    await audit.record(session, "draft_reminded", at=now, actor_id=draft.carer_id,
                       draft=draft.id, step=draft.step,
                       idle_seconds=int((now - draft.last_activity_at).total_seconds()))


async def _discard(session: AsyncSession, services: "Services", draft: Draft,
                   carer: Person | None, now: datetime) -> None:
    typed = typed_text(draft)
    answers = answer_lines(draft, services)
    head = texts.draft_expired_head(offer=draft.step == "offer", started=draft.created_at,
                                    tz=services.tz, has_answers=bool(answers))
    messages = pack(head + answers + texts.DRAFT_EXPIRED_TAIL)
    for i, text in enumerate(messages):
        await enqueue(
            session, key=f"draft-expired:{draft.id}" + (f":{i}" if i else ""),
            kind="draft_expired", now=now, chat_id=draft.chat_id, person=carer,
            priority=NOTICE_PRIORITY,
            text=(texts.continued(i + 1, len(messages)) if i else "") + text,
        )
    await audit.record(session, "draft_discarded", at=now, actor_id=draft.carer_id,
                       draft=draft.id, why="expired", step=draft.step,
                       typed_chars=len(typed), returned_to_carer=True, messages=len(messages))
