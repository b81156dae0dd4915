"""The incident thread: follow-ups, replies, corrections, outcomes and reopening.

Every message on the thread is an ``incident_messages`` row (kind ``followup``,
``reply``, ``correction``, ``outcome`` or ``reopen``) written with its audit
event and the deliveries it owes, in one transaction.

"The next thing you type is a reply / the outcome / …" is a *pending state*:
a ``drafts`` row (the table holds any conversation in progress, for carers and
workers alike, so it survives a restart) with one of these steps:

===========  ===================================  ===============================
step         data                                 who
===========  ===================================  ===============================
``add``      ``incident_id``, ``kind``            the carer who reported it
             (``followup`` | ``correction``)
``reply``    ``incident_id``                      a recipient or the team manager
``outcome``  ``incident_id``, ``code``            a recipient or the team manager
``reopen``   ``incident_id``                      its worker or the team manager
===========  ===================================  ===============================

(The questions asked after an urgent report are pending states too; see
``bot/record/reporting.py``.) A pending state ends by setting ``discarded_at``
(``data.finished`` says it was used rather than abandoned). Starting one
replaces the person's earlier pending states, and one left untouched for
``PENDING_TTL`` lapses, so text typed much later is not sent somewhere by
surprise.

Decisions:

* A worker's reply goes to the carer only (it is on the record for everyone).
* Closing a report that nobody acknowledged also records the acknowledgement
  (closing is a response); reopening therefore returns it to ``acknowledged``
  and restarts the outcome clock.
* The carer is told who closed the report and when, not the outcome: an
  outcome may be a referral about their own household (LADO, police).
* A closed report takes no more follow-ups; the carer is pointed to /report.

What each step says (prompts, notices, refusals, buttons) is worded in
``bot/record/thread_texts.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Iterable

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot import audit
from bot.delivery.outbox import (
    NOTICE_PRIORITY,
    PRIORITY,
    RECEIPT_PRIORITY,
    enqueue,
    enqueue_long,
)
from bot.escalation import clocks
from bot.record import attachments, notification, oversight
from bot.record import thread_texts as texts
from bot.record.alerts import record_buttons
from bot.record.attachments import Media
from bot.record.incidents import MAX_DESCRIPTION, refresh_alerts
from bot.record.prompt import Prompt, Refused
from bot.rules import paste
from bot.rules.outcomes import OUTCOMES
from bot.texts import STALE_BUTTON, when
from storage import content as record_content
from storage import queries
from storage.models import Draft, Incident, IncidentMessage, Person
from storage.rows import column_keys, detached

if TYPE_CHECKING:
    from bot.services import Services

NOTE_REFERENCE = "noteref"  # the reference a notified body gave, asked after the tap
# "task_note": the next message is the note of a statutory task done (bot/record/tasks.py).
THREAD_STEPS = ("add", "reply", "outcome", "reopen", "task_note", NOTE_REFERENCE,
                "visit")  # "visit": the guided /visit (bot/record/visit_guide.py)
PENDING_TTL = timedelta(hours=2)
AFTER_TTL = timedelta(days=1)  # the questions after an urgent report
MAX_MESSAGE = 4096  # Telegram's own limit for one message: anything a person can send
# A follow-up joined from the pieces of a split paste stays one entry up to the length a
# description may have (four messages); a piece beyond it is a follow-up of its own.
MAX_JOINED = MAX_DESCRIPTION
EVENTS = {"followup": "followup_added", "reply": "reply_sent", "correction": "correction_added"}


# ----------------------------------------------------------------- pending states

def is_thread_state(draft: Draft) -> bool:
    return draft.step in THREAD_STEPS or bool((draft.data or {}).get("incident_id"))


# Read by every step of a report and every message typed: built once.
_OPEN_DRAFTS = (
    select(Draft).where(Draft.carer_id == bindparam("person_id"),
                        Draft.submitted_incident_id.is_(None), Draft.discarded_at.is_(None))
    .order_by(Draft.id.desc())
)


async def open_drafts(session: AsyncSession, person_id: str) -> list[Draft]:
    """The person's unfinished drafts and pending states, newest first."""
    return list((await session.execute(_OPEN_DRAFTS, {"person_id": person_id})).scalars())


_DRAFT_KEYS = column_keys(Draft)


async def open_draft_rows(conn: AsyncConnection, person_id: str) -> list[Draft]:
    """:func:`open_drafts` on a bare connection: detached ``Draft`` objects (changes to them
    are not saved by any session; see ``reporting._save``)."""
    rows = await conn.execute(_OPEN_DRAFTS, {"person_id": person_id})
    return [detached(Draft, _DRAFT_KEYS, row) for row in rows]


def _lapsed(draft: Draft, now: datetime) -> bool:
    ttl = PENDING_TTL if draft.step in THREAD_STEPS else AFTER_TTL
    return now - draft.last_activity_at > ttl


def end_state(draft: Draft, now: datetime, *, finished: bool) -> None:
    data = dict(draft.data or {})
    data["finished"] = finished
    draft.data = data
    draft.discarded_at = now
    draft.last_activity_at = now


async def pending(session: AsyncSession, services: "Services", person_id: str,
                  drafts: list[Draft] | None = None) -> Draft | None:
    """The person's current pending state, if any (lapsed ones are ended here).

    ``drafts``: the person's ``open_drafts`` already read in this transaction."""
    now = services.clock.now()
    current = None
    for d in drafts if drafts is not None else await open_drafts(session, person_id):
        if not is_thread_state(d):
            continue
        if current is None and not _lapsed(d, now):
            current = d
        elif _lapsed(d, now):
            end_state(d, now, finished=False)
            await audit.record(session, "pending_lapsed", at=now, actor_id=person_id,
                               draft=d.id, step=d.step)
    return current


async def end_all(session: AsyncSession, services: "Services", person_id: str,
                  drafts: list[Draft] | None = None) -> None:
    """End every pending state of a person (a new one, or a new report, replaces them).

    ``drafts``: the person's ``open_drafts`` already read in this transaction."""
    now = services.clock.now()
    for d in drafts if drafts is not None else await open_drafts(session, person_id):
        if is_thread_state(d):
            end_state(d, now, finished=False)


async def _new_state(session: AsyncSession, services: "Services", person: Person, chat_id: int,
                     step: str, **data: object) -> Draft:
    await end_all(session, services, person.id)
    now = services.clock.now()
    draft = Draft(carer_id=person.id, chat_id=chat_id, step=step, data=dict(data),
                  created_at=now, last_activity_at=now)
    session.add(draft)
    await session.flush()
    return draft


async def ask_notification_reference(session: AsyncSession, services: "Services",
                                     person: Person, chat_id: int, *,
                                     incident_id: int | None, record_id: int,
                                     field: str) -> Draft:
    """After a notification (or its written confirmation) is recorded by a tap: the next
    thing the person types is the reference it was given. ``incident_id`` is None for an
    event without a report (a DBS referral): the record alone names what it is about."""
    return await _new_state(session, services, person, chat_id, NOTE_REFERENCE,
                            incident_id=incident_id, record_id=record_id, field=field)


async def _incident(session: AsyncSession, incident_id: int | None) -> Incident:
    incident = await session.get(Incident, incident_id) if incident_id else None
    if incident is None:
        raise Refused("no such incident", STALE_BUTTON)
    return incident


# ----------------------------------------------------------------- starting a state

async def begin_add(session, services, person: Person, chat_id: int, incident_id: int | None,
                    kind: str = "followup") -> Prompt:
    incident = await _incident(session, incident_id)
    if not await services.access.may_add(session, person, incident):
        raise Refused("not the reporter of this incident", texts.NOT_REPORTER, incident.id)
    if incident.status == "closed":
        return Prompt(texts.closed_no_more(incident.reference))
    draft = await _new_state(session, services, person, chat_id, "add",
                             incident_id=incident.id, kind=kind)
    if kind == "correction":
        return Prompt(*texts.ask_correction(draft.id, incident.reference))
    return Prompt(*texts.ask_followup(draft.id, incident.reference))


async def begin_reply(session, services, person: Person, chat_id: int,
                      incident_id: int | None) -> Prompt:
    incident = await _incident(session, incident_id)
    if not await services.access.may_reply(session, person, incident):
        raise Refused("not a recipient of this incident", texts.NOT_HOLDER_REPLY, incident.id)
    if incident.status == "closed":
        return Prompt(texts.closed_reopen_first(incident.reference))
    draft = await _new_state(session, services, person, chat_id, "reply", incident_id=incident.id)
    return Prompt(*texts.ask_reply(draft.id, await _carer_name(session, services, incident),
                                   incident.reference))


async def begin_close(session, services, person: Person, incident_id: int | None) -> Prompt:
    incident = await _incident(session, incident_id)
    if not await services.access.may_close(session, person, incident):
        raise Refused("not a recipient of this incident", texts.NOT_HOLDER_CLOSE, incident.id)
    if incident.status == "closed":
        return Prompt(await _closed_already(session, services, incident))
    # A section 47 enquiry's outcome may be recorded here too, even while closing waits.
    enquiry = await notification.enquiry_button(session, services, person, incident)
    held = await oversight.hold_close(session, services, incident, person)
    if held:
        return Prompt(held, [enquiry] if enquiry else [], wake=True)
    text, rows = texts.ask_outcome(incident.id, incident.reference)
    if enquiry:
        rows.insert(len(rows) - 1, enquiry)  # above Cancel
    return Prompt(text, rows)


async def choose_outcome(session, services, person: Person, chat_id: int,
                         incident_id: int | None, code: str) -> Prompt:
    incident = await _incident(session, incident_id)
    if code not in OUTCOMES:
        raise Refused("unknown outcome code", STALE_BUTTON, incident.id)
    if not await services.access.may_close(session, person, incident):
        raise Refused("not a recipient of this incident", texts.NOT_HOLDER_CLOSE, incident.id)
    if incident.status == "closed":
        return Prompt(await _closed_already(session, services, incident))
    draft = await _new_state(session, services, person, chat_id, "outcome",
                             incident_id=incident.id, code=code)
    return Prompt(*texts.ask_outcome_note(draft.id, incident.reference, code))


async def begin_reopen(session, services, person: Person, chat_id: int,
                       incident_id: int | None) -> Prompt:
    incident = await _incident(session, incident_id)
    if not await services.access.may_reopen(session, person, incident):
        raise Refused("may not reopen this incident", texts.MAY_NOT_REOPEN, incident.id)
    if incident.status != "closed":
        return Prompt(texts.not_closed(incident.reference))
    draft = await _new_state(session, services, person, chat_id, "reopen",
                             incident_id=incident.id)
    return Prompt(*texts.ask_reopen_reason(draft.id, incident.reference))


async def _own_state(session, person: Person, draft_id: int | None) -> Draft:
    draft = await session.get(Draft, draft_id) if draft_id else None
    if (draft is None or draft.carer_id != person.id or draft.discarded_at is not None
            or not is_thread_state(draft)):
        raise Refused("stale or foreign pending state", STALE_BUTTON)
    return draft


async def cancel(session, services, person: Person, draft_id: int | None) -> Prompt:
    if draft_id:
        draft = await _own_state(session, person, draft_id)
        end_state(draft, services.clock.now(), finished=False)
    return Prompt(texts.cancelled())


async def finish(session, services, person: Person, draft_id: int | None) -> Prompt:
    draft = await _own_state(session, person, draft_id)
    end_state(draft, services.clock.now(), finished=True)
    incident = await session.get(Incident, (draft.data or {}).get("incident_id"))
    return Prompt(texts.finished(incident.reference if incident else ""))


# ----------------------------------------------------------------- answers

async def state_input(session, services, person: Person, draft: Draft, text: str,
                      media: Media | None = None, *, message_id: int | None = None) -> Prompt:
    """Text or a file sent while a pending state is open (``message_id``: Telegram's, to
    join the pieces of a long paste to the follow-up they belong to)."""
    now = services.clock.now()
    data = draft.data or {}
    text = (text or "").strip()
    if draft.step == NOTE_REFERENCE:  # about a record, which may have no report
        if len(text) > MAX_MESSAGE:
            return Prompt(*texts.too_long(draft.id, len(text), MAX_MESSAGE))
        draft.last_activity_at = now
        if media is not None or not text:
            return Prompt(*texts.text_needed(draft.id))
        prompt = await notification.reference_received(
            session, services, record_id=int(data.get("record_id") or 0), person=person,
            field=str(data.get("field") or ""), text=text)
        end_state(draft, now, finished=True)
        return prompt
    incident = await _incident(session, data.get("incident_id"))
    if len(text) > MAX_MESSAGE:
        return Prompt(*texts.too_long(draft.id, len(text), MAX_MESSAGE))
    draft.last_activity_at = now

    if draft.step == "add":
        if not await services.access.may_add(session, person, incident):
            raise Refused("not the reporter of this incident", STALE_BUTTON, incident.id)
        if incident.status == "closed":
            end_state(draft, now, finished=False)
            return Prompt(texts.closed_meanwhile_not_added(incident.reference))
        kind = data.get("kind", "followup")
        if kind == "correction" and not text:
            return Prompt(*texts.correction_needs_words(draft.id))
        if kind == "followup" and media is None and text:
            joined = await _join_piece(session, services, person, incident, draft, text,
                                       message_id)
            if joined is not None:
                return joined
        msg = await post_message(session, services, incident=incident, author=person,
                                 kind=kind, text=text, media=[media] if media else [])
        # A text may be continued by the next piece of a split paste (``_join_piece``).
        draft.data = {**data, "message": msg.id, "pieces": 1,
                      "last_msg": message_id if media is None else None}
        if kind == "correction":
            end_state(draft, now, finished=True)
            return Prompt(texts.correction_added(incident.reference), wake=True, files_for=incident.id if media else None)
        return Prompt(
            *texts.followup_added(draft.id, incident.reference), wake=True,
            files_for=incident.id if media else None)

    if draft.step == "reply":
        if not await services.access.may_reply(session, person, incident):
            raise Refused("not a recipient of this incident", STALE_BUTTON, incident.id)
        if incident.status == "closed":
            end_state(draft, now, finished=False)
            return Prompt(texts.closed_meanwhile_not_sent(incident.reference))
        if not text and media is None:
            return Prompt(*texts.reply_needed(draft.id))
        await post_message(session, services, incident=incident, author=person, kind="reply",
                           text=text, media=[media] if media else [])
        end_state(draft, now, finished=True)
        return Prompt(texts.reply_sent(await _carer_name(session, services, incident),
                                       incident.reference), wake=True,
                      files_for=incident.id if media else None)

    if media is not None or not text:
        return Prompt(*texts.text_needed(draft.id))

    if draft.step == "outcome":
        result = await close(session, services, incident=incident, person=person,
                             code=data.get("code", ""), text=text)
        end_state(draft, now, finished=True)
        return result

    if draft.step == "reopen":
        result = await reopen(session, services, incident=incident, person=person, reason=text)
        end_state(draft, now, finished=True)
        return result

    raise Refused("unknown pending state", STALE_BUTTON, incident.id)


async def _join_piece(session, services, person: Person, incident: Incident, draft: Draft,
                      text: str, message_id: int | None) -> Prompt | None:
    """The next piece of a long paste that Telegram split (``bot.rules.paste``, the rule the
    description follows too) joins the follow-up the first piece made: one entry on the
    record, vouched for again by the audit chain (``followup_continued``). Whoever has the
    report is sent the piece, marked as continued. None: not a continuation (or the joined
    text would pass ``MAX_JOINED``), so it is a follow-up of its own: nothing is lost."""
    data = draft.data or {}
    if not paste.follows(data.get("last_msg"), message_id) or not data.get("message"):
        return None
    msg = await session.get(IncidentMessage, data["message"])
    if msg is None or msg.incident_id != incident.id or msg.kind != "followup":
        return None
    whole = paste.joined(msg.text, text)
    if len(whole) > MAX_JOINED:
        return None
    now = services.clock.now()
    msg.text = whole
    incident.updated_at = now
    pieces = int(data.get("pieces") or 1) + 1
    await audit.record(session, "followup_continued", at=now, actor_id=person.id,
                       incident_id=incident.id, message=msg.id, chars=len(whole),
                       added=len(text), **record_content.revouch(msg))
    await _tell_recipients(session, services, incident, person, msg, {},
                           piece=(f"(continued) {text}", f"part{pieces}"))
    draft.data = {**data, "last_msg": message_id, "pieces": pieces}
    return Prompt(*texts.followup_joined(draft.id, incident.reference, len(whole)), wake=True)


# ----------------------------------------------------------------- the record

async def post_message(
    session: AsyncSession, services: "Services", *, incident: Incident, author: Person,
    kind: str, text: str, media: Iterable[Media] = (), draft_id: int | None = None,
) -> IncidentMessage:
    """Store a follow-up, reply or correction (with its files) and tell whoever should know."""
    now = services.clock.now()
    msg = IncidentMessage(incident_id=incident.id, author_id=author.id, kind=kind,
                          text=text[:MAX_MESSAGE], created_at=now)
    session.add(msg)
    await session.flush()
    n = await attachments.move_draft(session, draft_id, incident.id, msg.id) if draft_id else 0
    for m in media:
        await attachments.add(session, media=m, uploaded_by=author.id, now=now,
                              incident_id=incident.id, message_id=msg.id)
        n += 1
    incident.updated_at = now
    await audit.record(session, EVENTS.get(kind, kind), at=now, actor_id=author.id,
                       incident_id=incident.id, message=msg.id, chars=len(msg.text),
                       attachments=n)
    counts = await attachments.kinds_for(session, incident.id, msg.id) if n else {}
    if kind == "reply":
        await _tell_carer_reply(session, services, incident, author, msg, counts)
    else:
        await _tell_recipients(session, services, incident, author, msg, counts)
    if n:

        await refresh_alerts(session, services, incident, reason=f"att{msg.id}")
    return msg


async def _tell_recipients(session, services, incident: Incident, author: Person,
                           msg: IncidentMessage, counts: dict[str, int],
                           piece: tuple[str, str] | None = None) -> None:
    """Owe each recipient the message (``piece``: (text, key suffix) of a piece joined to it
    since, sent in place of the whole)."""
    minimal = services.settings.privacy.minimal_alerts
    cat = services.settings.category(incident.category)
    label = cat.label if cat else incident.category
    text = texts.to_recipients(
        kind=msg.kind, reference=incident.reference, category_label=label,
        child_ref=incident.child_ref, minimal=minimal, author_name=author.name,
        at=msg.created_at, tz=services.tz, text=piece[0] if piece else msg.text,
        files=attachments.describe(counts) if counts else "")
    suffix = f":{piece[1]}" if piece else ""
    total = await attachments.count_for(session, incident.id)
    buttons = []
    if incident.status != "closed":
        buttons.append(texts.reply_to_carer_button(incident.id))
    buttons.append(record_buttons(incident.id, total if counts else 0, minimal))
    recipients = await queries.recipients_of(session, incident.id)
    people = await queries.people_by_id(session, {r.person_id for r in recipients})
    for r in recipients:
        person = people.get(r.person_id)
        if person is None or person.id == author.id or person.telegram_chat_id is None:
            continue
        await enqueue_long(session, key=f"{msg.kind}:{msg.id}:{person.id}{suffix}",
                           kind=msg.kind, now=services.clock.now(), person=person, incident_id=incident.id,
                           priority=PRIORITY.get(incident.urgency, 3) + 1, text=text,
                           buttons=buttons)


async def _tell_carer_reply(session, services, incident: Incident, author: Person,
                            msg: IncidentMessage, counts: dict[str, int]) -> None:
    carer = await session.get(Person, incident.reporter_id)
    if carer is None or carer.telegram_chat_id is None:
        return
    text = texts.to_carer_reply(author_name=author.name, reference=incident.reference,
                                at=msg.created_at, tz=services.tz, text=msg.text,
                                files=attachments.describe(counts) if counts else "")
    await enqueue_long(session, key=f"reply:{msg.id}", kind="reply", now=msg.created_at,
                       person=carer, incident_id=incident.id, priority=RECEIPT_PRIORITY, text=text,
                       buttons=texts.carer_reply_buttons(incident.id, has_files=bool(counts)))


async def _notice_to_carer(session, incident: Incident, *, key: str, now, text: str) -> None:
    """Owe the reporting carer a notice about their report (closed, reopened, ...)."""
    carer = await session.get(Person, incident.reporter_id)
    if carer is not None:
        await enqueue(session, key=key, kind="notice", now=now, person=carer,
                      incident_id=incident.id, priority=NOTICE_PRIORITY, text=text)


async def _carer_name(session, services, incident: Incident) -> str:
    """The carer's name, or "the carer" in minimal-alert mode (names only via Show details)."""
    if services.settings.privacy.minimal_alerts:
        return texts.THE_CARER
    carer = await session.get(Person, incident.reporter_id)
    return carer.name if carer else texts.THE_CARER


async def _closed_already(session, services, incident: Incident) -> str:
    by = await session.get(Person, incident.closed_by_id) if incident.closed_by_id else None
    at = when(incident.closed_at, services.tz) if incident.closed_at else "?"
    return texts.closed_already(incident.reference, by.name if by else None, at)


async def close(session: AsyncSession, services: "Services", *, incident: Incident,
                person: Person, code: str, text: str) -> Prompt:
    """Record the outcome and close; every alert is edited and the carer told who closed it."""

    if code not in OUTCOMES:
        raise Refused("unknown outcome code", STALE_BUTTON, incident.id)
    if not await services.access.may_close(session, person, incident):
        raise Refused("not a recipient of this incident", STALE_BUTTON, incident.id)
    if incident.status != "closed":
        held = await oversight.hold_close(session, services, incident, person)
        if held:  # reached without "Close with outcome" (an older keyboard): keep their note
            return Prompt(held + texts.note_not_recorded(text), wake=True)
    now = services.clock.now()
    stopped = (incident.next_step, incident.next_due_at)
    res = await session.execute(
        update(Incident).where(Incident.id == incident.id, Incident.status != "closed")
        .values(status="closed", closed_by_id=person.id, closed_at=now, outcome_code=code,
                outcome_text=text[:MAX_MESSAGE], next_step=None, next_due_at=None,
                updated_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(incident)
    if res.rowcount != 1:
        return Prompt(await _closed_already(session, services, incident))
    if incident.acknowledged_at is None:
        incident.acknowledged_by_id = person.id
        incident.acknowledged_at = now
        await audit.record(session, "acknowledged", at=now, actor_id=person.id,
                           incident_id=incident.id, via="close",
                           waited_seconds=int((now - incident.reported_at).total_seconds()))
    msg = IncidentMessage(incident_id=incident.id, author_id=person.id, kind="outcome",
                          text=texts.outcome_on_record(code, text[:MAX_MESSAGE]), created_at=now)
    session.add(msg)
    await session.flush()
    await audit.record(session, "closed", at=now, actor_id=person.id, incident_id=incident.id,
                       outcome=code, message=msg.id)
    await clocks.after_close(session, incident, now, stopped_step=stopped[0],
                             stopped_due=stopped[1])
    await refresh_alerts(session, services, incident, reason=f"close{msg.id}")
    await _notice_to_carer(
        session, incident, key=f"closed:{msg.id}", now=now,
        text=texts.closed_notice(incident.reference, person.name, now, services.tz))
    return Prompt(texts.closed_done(incident.reference, code), wake=True)


async def reopen(session: AsyncSession, services: "Services", *, incident: Incident,
                 person: Person, reason: str) -> Prompt:
    """Reopen with a reason: back to acknowledged, outcome clock restarted, alerts edited."""

    if not await services.access.may_reopen(session, person, incident):
        raise Refused("may not reopen this incident", STALE_BUTTON, incident.id)
    now = services.clock.now()
    res = await session.execute(
        update(Incident).where(Incident.id == incident.id, Incident.status == "closed")
        .values(status="acknowledged", closed_by_id=None, closed_at=None, outcome_code=None,
                outcome_text=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(incident)
    if res.rowcount != 1:
        return Prompt(texts.not_closed(incident.reference))
    step, due = await clocks.after_reopen(session, services.calendar, incident, now)
    msg = IncidentMessage(incident_id=incident.id, author_id=person.id, kind="reopen",
                          text=reason[:MAX_MESSAGE], created_at=now)
    session.add(msg)
    await session.flush()
    await audit.record(session, "reopened", at=now, actor_id=person.id, incident_id=incident.id,
                       message=msg.id, outcome_step=step, outcome_due=clocks.iso(due))
    await refresh_alerts(session, services, incident, reason=f"reopen{msg.id}")
    await _notice_to_carer(
        session, incident, key=f"reopened:{msg.id}", now=now,
        text=texts.reopened_notice(incident.reference, person.name, now, services.tz))
    return Prompt(texts.reopened_done(incident.reference), wake=True)


async def open_reports_of(session: AsyncSession, carer_id: str, limit: int = 8) -> list[Incident]:
    return list((await session.execute(
        select(Incident).where(Incident.reporter_id == carer_id, Incident.status != "closed")
        .order_by(Incident.reported_at.desc(), Incident.id.desc()).limit(limit)
    )).scalars())
