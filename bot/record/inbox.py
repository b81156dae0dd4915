"""Where a message typed or sent outside a button goes: the one rule for free input.

In order: the person's newest pending step (a reply, a follow-up, an outcome note,
or a record question asked after an urgent report), when it is newer than their
report in progress; else the report in progress; else, for a carer, an offer to
report it (an earlier unanswered offer is replaced, its text kept in the new
one). Anyone else gets None, and the handler says plainly that the message was
not used. Nothing a carer typed is silently dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.record import reporting, tasks, thread, visit_guide
from bot.record.attachments import Media
from bot.record.prompt import Prompt
from storage.models import Person

if TYPE_CHECKING:
    from bot.services import Services


async def take_input_on(
    conn: AsyncConnection, services: "Services", person: Person, text: str,
    message_id: int | None = None,
) -> Prompt | None:
    """:func:`take_input` when the one thing open is a carer's report at its description
    step (the usual message), on a bare write connection (no ORM session: issue 18); the
    rule's answer is then the report's (``reporting.description_on``: reads, then the
    draft's one UPDATE, so ``conn`` may be ``Database.write_statements``). None, with
    nothing changed, in every other case: then :func:`take_input` decides, in an ORM
    session."""
    drafts = await thread.open_draft_rows(conn, person.id)
    # No pending state (nothing for ``thread.pending`` to choose or end), one report open.
    if not drafts or any(thread.is_thread_state(d) for d in drafts):
        return None
    if not await services.access.can_report(conn, person):
        return None
    return await reporting.description_on(conn, services, drafts[0], text, message_id)


async def take_input(
    session: AsyncSession, services: "Services", person: Person, chat_id: int,
    text: str, media: Media | None = None, message_id: int | None = None,
) -> Prompt | None:
    """Hand ``text`` (or ``media`` with its caption as ``text``) to whatever awaits it
    (``message_id``: Telegram's id of the message, to join the pieces of a long paste)."""
    drafts = await thread.open_drafts(session, person.id)  # read once for both questions
    state = await thread.pending(session, services, person.id, drafts)
    is_carer = await services.access.can_report(session, person)
    draft = await reporting.active_draft(session, person.id, drafts) if is_carer else None
    if state is not None and (draft is None or state.id > draft.id):
        if state.step == tasks.NOTE_STEP:
            return await tasks.note_input(session, services, person, state, text)
        if state.step == visit_guide.STEP:
            return await visit_guide.text_input(session, services, person, state, text)
        if state.step in reporting.DETAIL_STEPS:
            if media is not None:
                return await reporting.media_received(session, services, state, media)
            return await reporting.text_received(session, services, state, text, message_id,
                                                 carer=person)
        return await thread.state_input(session, services, person, state, text, media,
                                        message_id=message_id)
    if draft is not None and draft.step not in ("offer", "offer_add"):
        if media is not None:
            return await reporting.media_received(session, services, draft, media)
        return await reporting.text_received(session, services, draft, text, message_id,
                                             carer=person)
    if is_carer:
        if draft is not None and media is None and reporting.continues_offer(draft, message_id):
            return await reporting.continue_offer(session, services, draft, text, message_id)
        if draft is not None:  # an earlier unanswered offer: replaced by this one
            draft.discarded_at = services.clock.now()
        return await reporting.offer(session, services, person, chat_id, text, media,
                                     message_id=message_id)
    return None
