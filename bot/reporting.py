"""The guided report: a draft row is the conversation's state.

Every answer a carer gives is written to their draft at once, inside the
handler, so a restart loses nothing and the conversation simply continues from
``draft.step``. The steps:

``child`` (skipped when one child is placed) → ``category`` (guidance shown;
for urgent categories the emergency numbers come first) → ``description`` →
``review`` (Submit / Edit / Cancel) → submitted.

Each function returns a :class:`Prompt`: what to show the carer next. Button
data carries the draft id, so a button from an old, finished or someone
else's draft is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit, callbacks
from bot.incidents import MAX_DESCRIPTION, ReportError, Submitted, submit_report
from bot.texts import URGENCY_MARK, clip, emergency_lines, h
from storage import queries
from storage.models import Draft, Person

if TYPE_CHECKING:
    from bot.services import Services

STEPS = ("offer", "child", "category", "description", "review")


@dataclass
class Prompt:
    text: str
    buttons: list[list[tuple[str, str]]] = field(default_factory=list)
    submitted: Submitted | None = None
    done: bool = False  # the draft is finished (submitted or discarded)


async def active_draft(session: AsyncSession, carer_id: str) -> Draft | None:
    return (
        await session.execute(
            select(Draft)
            .where(Draft.carer_id == carer_id, Draft.submitted_incident_id.is_(None),
                   Draft.discarded_at.is_(None))
            .order_by(Draft.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


def _touch(draft: Draft, now: datetime, step: str | None = None, **data: object) -> None:
    if step:
        draft.step = step
    if data:
        merged = dict(draft.data or {})
        merged.update(data)
        draft.data = merged
    draft.last_activity_at = now
    draft.reminded_at = None


async def start(
    session: AsyncSession, services: "Services", carer: Person, chat_id: int,
    *, text: str | None = None,
) -> Prompt:
    """Begin a report, or continue the one in progress."""
    now = services.clock.now()
    draft = await active_draft(session, carer.id)
    if draft is not None and draft.step != "offer":
        _touch(draft, now)  # coming back counts as activity (bot/drafts.py)
        p = await prompt(session, services, draft)
        p.text = "You have a report in progress; carrying on where you left off.\n\n" + p.text
        return p
    if draft is None:
        draft = Draft(carer_id=carer.id, chat_id=chat_id, step="child", data={},
                      created_at=now, last_activity_at=now)
        session.add(draft)
        await session.flush()
        await audit.record(session, "draft_started", at=now, actor_id=carer.id, draft=draft.id)
    if text:
        _touch(draft, now, description=text)
    children = await queries.children_placed_with(session, carer.id, services.today(now))
    if not children:
        draft.discarded_at = now
        return Prompt(
            "I cannot find a child currently placed with you, so I cannot take a report here. "
            "Please phone your supervising social worker"
            + (f" or the duty line on <b>{h(services.settings.service.duty_phone)}</b>."
               if services.settings.service.duty_phone else "."),
            done=True,
        )
    if len(children) == 1:
        _touch(draft, now, step="category", child=children[0].ref)
    else:
        _touch(draft, now, step="child")
    return await prompt(session, services, draft)


async def prompt(session: AsyncSession, services: "Services", draft: Draft) -> Prompt:
    """What the carer should see for the draft's current step."""
    data = draft.data or {}
    if draft.step == "child":
        children = await queries.children_placed_with(
            session, draft.carer_id, services.today()
        )
        rows = [[(c.ref, callbacks.encode("rc", draft.id, c.ref))] for c in children]
        rows.append([("Cancel", callbacks.encode("rx", draft.id))])
        return Prompt("Which child is this about?", rows)
    if draft.step == "category":
        rows = [
            [(c.label if len(c.label) <= 60 else c.label[:57] + "…",
              callbacks.encode("rk", draft.id, c.key))]
            for c in services.settings.categories
        ]
        rows.append([("Cancel", callbacks.encode("rx", draft.id))])
        return Prompt(f"Report about <b>{h(data.get('child'))}</b>. What happened? Choose one:", rows)
    if draft.step == "description":
        cat = services.settings.category(data.get("category", ""))
        parts = []
        if cat and cat.urgency == "urgent":
            s = services.settings.service
            parts.append(emergency_lines(s.out_of_hours_phone, s.duty_phone))
            parts.append("")
        if cat:
            parts.append(f"<b>{h(cat.label)}</b>")
            if cat.guidance:
                parts.append(h(cat.guidance))
        parts.append("")
        parts.append(
            "Now write what happened in one message: what, when and where, who was there, "
            "the child's own words if relevant, and what you have done already."
        )
        if data.get("description"):
            parts.append("")
            parts.append("What you wrote before (send a new message to replace it):")
            parts.append(f"<i>{h(clip(data['description'], 1500))}</i>")
            return Prompt("\n".join(parts), [[("Keep what I wrote", callbacks.encode("rd", draft.id))],
                                             [("Cancel", callbacks.encode("rx", draft.id))]])
        return Prompt("\n".join(parts), [[("Cancel", callbacks.encode("rx", draft.id))]])
    if draft.step == "review":
        cat = services.settings.category(data.get("category", ""))
        lines = [
            "<b>Please check your report</b>",
            f"Child: <b>{h(data.get('child'))}</b>",
            f"Category: {h(cat.label if cat else data.get('category'))}",
            f"Urgency: {URGENCY_MARK.get(cat.urgency, '') if cat else ''}",
            "",
            h(clip(data.get("description", ""), 3000)),
        ]
        return Prompt(
            "\n".join(lines),
            [[("✅ Submit", callbacks.encode("rs", draft.id))],
             [("✏️ Edit", callbacks.encode("re", draft.id)),
              ("✖️ Cancel", callbacks.encode("rx", draft.id))]],
        )
    if draft.step == "offer":
        return Prompt(
            "Report this as an incident?",
            [[("Yes, report it", callbacks.encode("ry", draft.id)),
              ("No", callbacks.encode("rn", draft.id))]],
        )
    return Prompt("Send /report to start a report.")


class StaleButton(Exception):
    """The button belongs to a draft that is finished, someone else's, or at another step."""


async def _own_draft(session: AsyncSession, carer: Person, draft_id: int | None, *steps: str) -> Draft:
    draft = await session.get(Draft, draft_id) if draft_id else None
    if (
        draft is None or draft.carer_id != carer.id or draft.submitted_incident_id is not None
        or draft.discarded_at is not None or (steps and draft.step not in steps)
    ):
        raise StaleButton()
    return draft


async def choose_child(session, services, carer, draft_id, ref) -> Prompt:
    draft = await _own_draft(session, carer, draft_id, "child")
    placed = {c.ref for c in await queries.children_placed_with(session, carer.id, services.today())}
    if ref not in placed:
        raise StaleButton()
    _touch(draft, services.clock.now(), step="category", child=ref)
    return await prompt(session, services, draft)


async def choose_category(session, services, carer, draft_id, key) -> Prompt:
    draft = await _own_draft(session, carer, draft_id, "category")
    if services.settings.category(key) is None:
        raise StaleButton()
    _touch(draft, services.clock.now(), step="description", category=key)
    return await prompt(session, services, draft)


async def keep_description(session, services, carer, draft_id) -> Prompt:
    draft = await _own_draft(session, carer, draft_id, "description")
    if not (draft.data or {}).get("description"):
        raise StaleButton()
    _touch(draft, services.clock.now(), step="review")
    return await prompt(session, services, draft)


async def text_received(session, services, draft: Draft, text: str) -> Prompt:
    """Free text typed while a draft is open."""
    now = services.clock.now()
    text = text.strip()
    if draft.step == "description":
        if len(text) > MAX_DESCRIPTION:
            _touch(draft, now, description=text[:MAX_DESCRIPTION])
            p = await prompt(session, services, draft)
            p.text = (f"That is {len(text)} characters; I kept the first {MAX_DESCRIPTION}. "
                      "You can add the rest as a follow-up after submitting.\n\n") + p.text
            _touch(draft, now, step="review")
            return await prompt(session, services, draft)
        _touch(draft, now, step="review", description=text)
        return await prompt(session, services, draft)
    # Any other step: keep the text so nothing typed is lost, and re-ask.
    notes = list((draft.data or {}).get("notes", []))
    notes.append(text[:MAX_DESCRIPTION])
    _touch(draft, now, notes=notes)
    if not (draft.data or {}).get("description"):
        _touch(draft, now, description=text[:MAX_DESCRIPTION])
    p = await prompt(session, services, draft)
    p.text = "I have kept what you typed. Please use the buttons to carry on.\n\n" + p.text
    return p


async def edit(session, services, carer, draft_id) -> Prompt:
    draft = await _own_draft(session, carer, draft_id, "review")
    _touch(draft, services.clock.now(), step="description")
    return await prompt(session, services, draft)


async def accept_offer(session, services, carer, draft_id) -> Prompt:
    draft = await _own_draft(session, carer, draft_id, "offer")
    text = (draft.data or {}).get("description")
    return await start(session, services, carer, draft.chat_id, text=text)


async def discard(session, services, carer, draft_id, *, why: str = "cancelled") -> Prompt:
    draft = await _own_draft(session, carer, draft_id)
    now = services.clock.now()
    draft.discarded_at = now
    await audit.record(session, "draft_discarded", at=now, actor_id=carer.id, draft=draft.id, why=why)
    if draft.step == "offer":
        return Prompt("OK, I have not kept that message. Send /report whenever you need to.", done=True)
    return Prompt("Report cancelled and discarded. Send /report to start again.", done=True)


async def submit(session, services, carer, draft_id) -> Prompt:
    draft = await _own_draft(session, carer, draft_id, "review")
    data = draft.data or {}
    try:
        result = await submit_report(
            session, services, carer=carer, child_ref=data.get("child", ""),
            category_key=data.get("category", ""), description=data.get("description", ""),
            details={k: v for k, v in data.items() if k not in ("child", "category", "description")},
            draft_id=draft.id,
        )
    except ReportError as exc:
        p = await prompt(session, services, draft)
        p.text = f"⚠️ {h(str(exc))}\n\n" + p.text
        return p
    draft.submitted_incident_id = result.incident.id
    draft.last_activity_at = services.clock.now()
    return Prompt(
        f"Submitting <b>{h(result.incident.reference)}</b>… your receipt follows.",
        submitted=result, done=True,
    )


async def offer(session, services, carer: Person, chat_id: int, text: str) -> Prompt:
    """A carer typed outside a report: keep the text in a draft and offer to report it."""
    now = services.clock.now()
    draft = Draft(carer_id=carer.id, chat_id=chat_id, step="offer",
                  data={"description": text[:MAX_DESCRIPTION]}, created_at=now,
                  last_activity_at=now)
    session.add(draft)
    await session.flush()
    await audit.record(session, "draft_started", at=now, actor_id=carer.id, draft=draft.id,
                       source="free text")
    return await prompt(session, services, draft)
