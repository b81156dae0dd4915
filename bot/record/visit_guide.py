"""``/visit`` without arguments: a guided exchange that records a placement visit.

The worker is asked, one message at a time, with buttons:

1. **which child** — the children allocated to them who are in a placement today, by
   pseudonymous reference (with the next visit's due time when one is owed);
2. **the day** — Today / Yesterday / Type a date (``2026-11-30`` or ``30/11/2026``; not in
   the future, and the child must have been in placement that day);
3. **seen alone** — Yes / No;
4. **a note** — typed (the record needs one, as ``/visit`` with arguments does);
5. **confirm** — the summary, then **Record visit** or **Cancel**.

The state is a ``drafts`` row (step ``visit``, the answers in ``data``), so a restart
loses nothing; it lapses like any pending step (``bot.record.thread``), and ``/cancel``
ends it. Every button names the draft and is checked against it (the presser's own, still
open, at that stage): an old or forged button is refused politely. Recording goes through
the one domain function, ``bot.record.tasks.record_visit``, which checks again that the
worker is the child's allocated worker.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit, callbacks
from bot.people import statutory
from bot.record import tasks, thread
from bot.record.prompt import Prompt
from bot.texts import h, when
from storage.models import Child, Draft, Person, Placement, Task

if TYPE_CHECKING:
    from bot.services import Services

STEP = "visit"
MAX_CHILDREN = 30
STALE = "This visit form is no longer open. Send /visit to start again."
NONE_ALLOCATED = ("You have no children in placement allocated to you. Visits are recorded by "
                  "the child's allocated social worker.")
TYPE_DATE = ("Type the day of the visit, for example <code>2026-11-30</code> or "
             "<code>30/11/2026</code>. /cancel to stop.")


def _day_text(d: date) -> str:
    return f"{d:%a} {d.day} {d:%b %Y}"


def parse_day(text: str) -> date | None:
    """``2026-11-30`` or ``30/11/2026`` (day first, as written in England)."""
    text = text.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    parts = text.replace(".", "/").replace("-", "/").split("/")
    if len(parts) == 3 and all(p.isdigit() for p in parts) and len(parts[2]) == 4:
        try:
            return date(int(parts[2]), int(parts[1]), int(parts[0]))
        except ValueError:
            return None
    return None


async def _children(session: AsyncSession, person: Person, today: date) -> list[str]:
    """References of the active children allocated to ``person`` in a placement today."""
    return list((await session.execute(
        select(Child.ref).distinct().join(Placement, Placement.child_ref == Child.ref)
        .where(Child.allocated_social_worker_id == person.id, Child.active.is_(True),
               Placement.start_date <= today,
               (Placement.end_date.is_(None)) | (Placement.end_date >= today))
        .order_by(Child.ref).limit(MAX_CHILDREN))).scalars())


async def start(session: AsyncSession, services: "Services", person: Person,
                chat_id: int) -> Prompt:
    """``/visit`` alone: which child?"""
    today = services.today()
    refs = await _children(session, person, today)
    if not refs:
        return Prompt(NONE_ALLOCATED)
    due = dict((await session.execute(
        select(Task.child_ref, Task.due_at).where(
            Task.child_ref.in_(refs), Task.kind == statutory.VISIT, statutory.is_open())
        .order_by(Task.due_at.desc()))).all())
    await thread.end_all(session, services, person.id)
    now = services.clock.now()
    draft = Draft(carer_id=person.id, chat_id=chat_id, step=STEP, data={"stage": "child"},
                  created_at=now, last_activity_at=now)
    session.add(draft)
    await session.flush()
    buttons = []
    for ref in refs:
        label = ref + (f" · due {when(due[ref], services.tz)}" if ref in due else "")
        buttons.append([(label, callbacks.VISIT_CHILD.data(draft.id, ref))])
    return Prompt("🏠 <b>Record a visit</b>\nWhich child did you visit? /cancel to stop.",
                  buttons)


async def _open(session: AsyncSession, services: "Services", person: Person, draft_id: int,
                *stages: str) -> Draft | None:
    draft = await session.get(Draft, draft_id)
    if (draft is None or draft.carer_id != person.id or draft.step != STEP
            or draft.discarded_at is not None
            or (draft.data or {}).get("stage") not in stages
            or services.clock.now() - draft.last_activity_at > thread.PENDING_TTL):
        return None
    return draft


def _set(draft: Draft, now: datetime, **values: object) -> None:
    draft.data = {**(draft.data or {}), **values}
    draft.last_activity_at = now


def _day_buttons(draft_id: int) -> list[list[tuple[str, str]]]:
    return [[("Today", callbacks.VISIT_DAY.data(draft_id, "today")),
             ("Yesterday", callbacks.VISIT_DAY.data(draft_id, "yesterday"))],
            [("Type a date", callbacks.VISIT_DAY.data(draft_id, "type"))]]


async def child_chosen(session: AsyncSession, services: "Services", person: Person,
                       draft_id: int, child_ref: str) -> Prompt:
    draft = await _open(session, services, person, draft_id, "child")
    if draft is None:
        return Prompt(STALE)
    if child_ref not in await _children(session, person, services.today()):
        await audit.refused(session, at=services.clock.now(), actor_id=person.id,
                            action="visit", why="not the child's allocated worker",
                            child=child_ref)
        return Prompt("Visits are recorded by the child's allocated social worker; you are "
                      "not allocated to that child.")
    _set(draft, services.clock.now(), stage="day", child=child_ref)
    return Prompt(f"Child <b>{h(child_ref)}</b>. On which day was the visit?",
                  _day_buttons(draft.id))


async def _check_day(session: AsyncSession, services: "Services", child_ref: str,
                     day: date) -> str | None:
    """Why the day cannot be a visit to the child (None: it can)."""
    if day > services.today():
        return "A visit is recorded after it happened: that day is in the future."
    placed = (await session.execute(select(Placement.id).where(
        Placement.child_ref == child_ref, Placement.start_date <= day,
        (Placement.end_date.is_(None)) | (Placement.end_date >= day)).limit(1))).first()
    if placed is None:
        return f"Child {h(child_ref)} was not in a placement on {_day_text(day)}."
    return None


async def _day_set(session: AsyncSession, services: "Services", draft: Draft,
                   day: date) -> Prompt:
    child = (draft.data or {})["child"]
    why = await _check_day(session, services, child, day)
    if why is not None:
        _set(draft, services.clock.now(), stage="day")
        return Prompt(f"{why} Choose another day.", _day_buttons(draft.id))
    _set(draft, services.clock.now(), stage="alone", day=day.isoformat())
    return Prompt(f"Child <b>{h(child)}</b>, {_day_text(day)}. Was the child seen alone?",
                  [[("Yes", callbacks.VISIT_ALONE.data(draft.id, "y")),
                    ("No", callbacks.VISIT_ALONE.data(draft.id, "n"))]])


async def day_chosen(session: AsyncSession, services: "Services", person: Person,
                     draft_id: int, word: str) -> Prompt:
    draft = await _open(session, services, person, draft_id, "day", "day_text")
    if draft is None or word not in ("today", "yesterday", "type"):
        return Prompt(STALE)
    if word == "type":
        _set(draft, services.clock.now(), stage="day_text")
        return Prompt(TYPE_DATE)
    today = services.today()
    return await _day_set(session, services, draft,
                          today if word == "today" else today - timedelta(days=1))


async def alone_chosen(session: AsyncSession, services: "Services", person: Person,
                       draft_id: int, answer: str) -> Prompt:
    draft = await _open(session, services, person, draft_id, "alone")
    if draft is None:
        return Prompt(STALE)
    _set(draft, services.clock.now(), stage="note", alone=answer == "y")
    return Prompt("Type a short note of the visit (what you saw, what was agreed). "
                  "/cancel to stop.")


def _summary(data: dict) -> str:
    return (f"Child <b>{h(data['child'])}</b> · {_day_text(date.fromisoformat(data['day']))}"
            f" · seen alone: {'yes' if data['alone'] else 'no'}\nNote: {h(data['note'])}")


async def text_input(session: AsyncSession, services: "Services", person: Person,
                     draft: Draft, text: str) -> Prompt:
    """Typed text while the guide waits: the day (stage ``day_text``) or the note."""
    now = services.clock.now()
    stage = (draft.data or {}).get("stage")
    text = (text or "").strip()
    if stage == "day_text":
        day = parse_day(text)
        if day is None:
            draft.last_activity_at = now
            return Prompt(f"I could not read that as a day. {TYPE_DATE}")
        return await _day_set(session, services, draft, day)
    if stage == "note":
        if not text:
            draft.last_activity_at = now
            return Prompt("Please type a short note of the visit (/cancel to stop).")
        _set(draft, now, stage="confirm", note=text[:tasks.NOTE_MAX])
        return Prompt("Record this visit?\n" + _summary(draft.data),
                      [[("✅ Record visit", callbacks.VISIT_CONFIRM.data(draft.id, "y")),
                        ("✖ Cancel", callbacks.VISIT_CONFIRM.data(draft.id, "n"))]])
    draft.last_activity_at = now
    return Prompt("Please use the buttons above to answer, or /cancel to stop.")


async def confirmed(session: AsyncSession, services: "Services", person: Person,
                    draft_id: int, answer: str) -> Prompt:
    draft = await _open(session, services, person, draft_id, "confirm")
    if draft is None:
        return Prompt(STALE)
    now = services.clock.now()
    data = dict(draft.data or {})
    if answer != "y":
        thread.end_state(draft, now, finished=False)
        return Prompt("Cancelled: no visit recorded.")
    done = await tasks.record_visit(session, services, person, data["child"], data["day"],
                                    "alone" if data["alone"] else "not-alone", data["note"])
    thread.end_state(draft, now, finished=done.ok)
    return Prompt(done.text, done=done.ok)
