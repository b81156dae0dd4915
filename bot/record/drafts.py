"""Abandoned report drafts: one reminder, then discarded — with what the carer typed sent back.

The draft row *is* the conversation state (``bot/record/reporting.py``), so a restart
in the middle of ``/report`` loses nothing; this module only deals with drafts
nobody comes back to.

* A draft idle for ``engine.draft_remind_after`` gets ONE reminder (``/report``
  to carry on, or Discard; for an unanswered "Report this as an incident?"
  offer, the offer again). Any answer to the draft resets the idle clock and
  so allows one more reminder after the next idle spell.
* A draft idle for ``engine.draft_keep`` and already reminded is discarded, and
  the carer gets a last message that quotes what they typed, so nothing typed
  is thrown away silently. If the reminder went out late (the bot was down),
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

from bot import audit, callbacks
from bot.delivery.outbox import NOTICE_PRIORITY, enqueue, enqueue_long
from bot.rules.durations import Duration
from bot.texts import clip, h, when
from storage.models import Draft, Person

if TYPE_CHECKING:
    from bot.services import Services

BATCH = 200
QUOTE_LIMIT = 3300  # what the carer typed, quoted back within Telegram's 4096


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
    started = when(draft.created_at, services.tz)
    if draft.step == "offer":
        text = (f"You sent me this at {started} and it has not been reported:\n\n"
                f"<i>{h(clip(typed_text(draft), QUOTE_LIMIT))}</i>\n\n"
                "Report it as an incident?")
        buttons = [[("Yes, report it", callbacks.encode("ry", draft.id)),
                    ("No", callbacks.encode("rn", draft.id))]]
    else:
        child = (draft.data or {}).get("child")
        about = f" about <b>{h(child)}</b>" if child else ""
        text = (f"📝 You have an unfinished report{about}, started {started}.\n"
                "Send /report to carry on where you left off, or discard it.\n"
                f"If it is not finished it will be discarded after "
                f"{h(in_words(services.settings.engine.draft_keep))} without activity, and "
                "what you typed will be sent back to you.")
        buttons = [[("🗑 Discard", callbacks.encode("rx", draft.id))]]
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
    if draft.step == "offer":
        lines = [f"I did not report the message you sent at {when(draft.created_at, services.tz)}."]
    else:
        lines = [f"Your unfinished report (started {when(draft.created_at, services.tz)}) "
                 "was discarded after a long time without activity."]
    if typed:
        lines += ["Here is what you had typed, so nothing is lost:", "",
                  f"<i>{h(typed)}</i>", ""]
    lines.append("Send /report to start a report; you can paste this text in.")
    await enqueue_long(  # in as many messages as it takes (bot.chunks)
        session, key=f"draft-expired:{draft.id}", kind="draft_expired", now=now,
        chat_id=draft.chat_id, person=carer, priority=NOTICE_PRIORITY, text="\n".join(lines),
    )
    await audit.record(session, "draft_discarded", at=now, actor_id=draft.carer_id,
                       draft=draft.id, why="expired", step=draft.step,
                       typed_chars=len(typed), returned_to_carer=True)
