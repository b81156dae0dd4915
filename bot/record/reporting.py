"""The guided report: a draft row is the conversation's state.

Every answer a carer gives is written to their draft at once, inside the
handler, so a restart loses nothing and the conversation simply continues from
``draft.step``. The steps:

``child`` (skipped when one child is placed) → ``category`` (guidance shown;
for urgent categories the emergency numbers come first) → ``description`` →
the record fields, each skippable: ``when`` (Now / Earlier today / typed, read
by ``bot/rules/when_parse.py``), ``where``, ``present``, ``words`` (the child's own
words), ``action`` (action already taken), ``views`` (the child's views),
``opinion`` (optional: the carer's opinion, kept apart from the facts) →
``review`` (Submit / Edit / Cancel) → submitted. "Skip the rest" jumps to the
review; "Edit" on the review picks one part to change and comes back.

Urgent categories submit as soon as the description arrives (child + category
+ one message), so the alert is never held up; the record fields are then
asked *after* the receipt by a second draft carrying ``incident_id`` (the
"after" questions), each answer becoming a follow-up message on the incident
and a field of ``incident.details`` (keys in ``bot/record/render.py``).

Free text or a file sent outside a report makes an ``offer`` draft ("Report
this as an incident?"): Yes starts a report with it; No offers the carer's open
reports (``offer_add``) to add it to; otherwise it is discarded and the carer
is told plainly that it was not kept.

Files (photos, voice notes, video notes, documents) sent during a report are
attached to the draft and move to the incident on submission.

Each function returns a :class:`Prompt`: what to show next, worded in
``bot/record/report_texts.py``. Button data carries the draft id, so a button
from an old, finished or someone else's draft is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, insert, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from bot import audit
from bot.delivery.outbox import RECEIPT_PRIORITY, owed
from bot.record import attachments, thread
from bot.record import report_texts as texts
from bot.record.attachments import Media
from bot.record.incidents import MAX_DESCRIPTION, ReportError, file_report, finish_report
from bot.record.prompt import Prompt, Refused
from bot.rules import paste
from bot.rules.categories import CATEGORY_QUESTIONS
from bot.rules.when_parse import WhenError, parse_when
from bot.texts import when
from storage import queries
from storage.rows import column_keys, detached
from storage.models import Delivery, Draft, Incident, Person

_DRAFTS = Draft.__table__

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["Prompt", "StaleButton"]

# Every record-field step, in the order asked: a category's own questions first (only those
# it lists, bot/rules/categories.py), then the general ones (``steps_for`` picks a draft's).
DETAIL_STEPS = (*CATEGORY_QUESTIONS, "when", "where", "present", "words", "action", "views",
                "opinion")
STEPS = ("offer", "offer_add", "child", "category", "description", *DETAIL_STEPS, "review")
MAX_FIELD = 4096  # one Telegram message: an answer is never cut

# record-field step -> its key in draft.data and incident.details (questions: report_texts)
FIELD_KEYS: dict[str, str] = {**{q: q for q in CATEGORY_QUESTIONS}, "where": "where", "present": "present", "words": "child_words",
                              "action": "action_taken", "views": "child_views",
                              "opinion": "opinion"}


class StaleButton(Exception):
    """The button belongs to a draft that is finished, someone else's, or at another step."""


async def active_draft(session: AsyncSession, carer_id: str,
                       drafts: list[Draft] | None = None) -> Draft | None:
    """The person's report in progress (not a pending thread state), if any.

    ``drafts``: the person's ``thread.open_drafts`` already read in this transaction."""
    for d in drafts if drafts is not None else await thread.open_drafts(session, carer_id):
        if not thread.is_thread_state(d):
            return d
    return None


def _touch(draft: Draft, now: datetime, step: str | None = None, **data: object) -> None:
    if step:
        draft.step = step
    if data:
        merged = dict(draft.data or {})
        merged.update(data)
        draft.data = merged
    draft.last_activity_at = now
    draft.reminded_at = None


def steps_for(services: "Services", draft: Draft) -> tuple[str, ...]:
    """The record-field steps this draft asks: its category's own questions, then the rest."""
    cat = services.settings.category((draft.data or {}).get("category", ""))
    own = set(cat.questions) if cat else set()
    return tuple(s for s in DETAIL_STEPS if s not in CATEGORY_QUESTIONS or s in own)


def _after(draft: Draft) -> bool:
    """The questions asked after an urgent report was submitted."""
    return bool((draft.data or {}).get("incident_id"))


async def start(
    session: AsyncSession, services: "Services", carer: Person, chat_id: int,
    *, text: str | None = None,
) -> Prompt:
    """Begin a report, or continue the one in progress."""
    now = services.clock.now()
    # One read of the open drafts serves both (ending pending states leaves the report).
    drafts = await thread.open_drafts(session, carer.id)
    await thread.end_all(session, services, carer.id, drafts)
    draft = await active_draft(session, carer.id, drafts)
    if draft is not None and draft.step not in ("offer", "offer_add"):
        _touch(draft, now)  # coming back counts as activity (bot/record/drafts.py)
        p = await prompt(session, services, draft)
        p.text = texts.resumed(p.text)
        return p
    # The children before the draft is written: a new draft is inserted at its first step
    # (one child: the category, the child chosen), not inserted and then updated.
    children = await queries.children_placed_with(session, carer.id, services.today(now))
    step, fields = None, {"description": text} if text else {}
    if len(children) == 1:
        step, fields["child"] = "category", children[0].ref
    elif children:
        step = "child"
    if draft is None:
        draft = Draft(carer_id=carer.id, chat_id=chat_id, step=step or "child", data=fields,
                      created_at=now, last_activity_at=now)
        session.add(draft)
        await session.flush()
        await audit.record(session, "draft_started", at=now, actor_id=carer.id, draft=draft.id)
    elif step or fields:
        _touch(draft, now, step, **fields)
    if not children:
        draft.discarded_at = now
        return Prompt(texts.no_child_placed(services.settings.service.duty_phone), done=True)
    return await prompt(session, services, draft)


# /report with nothing open (the usual case) runs on a bare connection (``Database.
# write_connection``): Core statements built once, no ORM session (issue 18).
_NEW_DRAFT = insert(_DRAFTS).returning(_DRAFTS.c.id)


async def start_fresh(conn: AsyncConnection, services: "Services", carer: Person,
                      chat_id: int) -> Prompt | None:
    """:func:`start` for a carer with no draft and no pending state open, on a bare write
    connection: the same draft, audit event and first question. None when something is
    open (a report to resume, an offer, a pending reply): then :func:`start` decides, in an
    ORM session of its own."""
    if await thread.open_draft_rows(conn, carer.id):
        return None
    now = services.clock.now()
    refs = await queries.child_refs_placed_with(conn, carer.id, services.today(now))
    # As start: inserted at its first step (one child: the category, the child chosen), and
    # with no child placed inserted already discarded (the record shows the attempt).
    child = refs[0] if len(refs) == 1 else None
    draft_id = (await conn.execute(_NEW_DRAFT, {
        "carer_id": carer.id, "chat_id": chat_id, "step": "category" if child else "child",
        "data": {"child": child} if child else {}, "created_at": now, "last_activity_at": now,
        "reminded_at": None, "submitted_incident_id": None,
        "discarded_at": None if refs else now})).scalar_one()
    await audit.record_on(conn, [audit.Event("draft_started", now, carer.id,
                                             details={"draft": draft_id})])
    if not refs:
        return Prompt(texts.no_child_placed(services.settings.service.duty_phone), done=True)
    if child is not None:
        return Prompt(*texts.ask_category(draft_id, child, services.settings.categories))
    return Prompt(*texts.ask_child(draft_id, refs))


async def prompt(session: AsyncSession, services: "Services", draft: Draft) -> Prompt:
    """What the carer should see for the draft's current step."""
    data = draft.data or {}
    if draft.step == "child":
        children = await queries.children_placed_with(
            session, draft.carer_id, services.today()
        )
        return Prompt(*texts.ask_child(draft.id, [c.ref for c in children]))
    if draft.step == "category":
        return Prompt(*texts.ask_category(draft.id, data.get("child"),
                                          services.settings.categories))
    if draft.step == "description":
        return _ask_description(services, draft)
    if draft.step in DETAIL_STEPS:
        return await _detail_prompt(session, services, draft)
    if draft.step == "review":
        return await _review(session, services, draft)
    if draft.step == "offer":
        n = await attachments.count_for_draft(session, draft.id)
        return Prompt(*texts.offer(draft.id, files_kept=bool(n)))
    if draft.step == "offer_add":
        reports = await thread.open_reports_of(session, draft.carer_id)
        return Prompt(*texts.offer_add(draft.id, [
            (inc.id, inc.reference, inc.child_ref, _category_label(services, inc.category))
            for inc in reports]))
    return Prompt(texts.nothing_to_show())


def _ask_description(services: "Services", draft: Draft) -> Prompt:
    data = draft.data or {}
    cat = services.settings.category(data.get("category", ""))
    return Prompt(*texts.ask_description(
        draft.id, cat, services.settings.service,
        sent_at_once=bool(cat and cat.urgency == "urgent" and not data.get("back_to_review")),
        before=data.get("description")))


def _category_label(services: "Services", key: str) -> str:
    cat = services.settings.category(key)
    return cat.label if cat else key


async def _detail_prompt(session: AsyncSession, services: "Services", draft: Draft) -> Prompt:
    data = draft.data or {}
    step = draft.step
    steps = steps_for(services, draft)
    reference = None
    if _after(draft):
        incident = await session.get(Incident, data["incident_id"])
        reference = incident.reference if incident else ""
    head = texts.field_head(steps.index(step) + 1 if step in steps else 1, len(steps), reference)
    if step == "when":
        return Prompt(*texts.ask_when(draft.id, head, today=data.get("when_mode") == "today",
                                      after=_after(draft)))
    return Prompt(*texts.ask_field(draft.id, step, head, before=data.get(FIELD_KEYS[step]),
                                   after=_after(draft)))


async def _review(session: AsyncSession | AsyncConnection, services: "Services",
                  draft: Draft) -> Prompt:
    data = draft.data or {}
    cat = services.settings.category(data.get("category", ""))
    return Prompt(*texts.review(
        draft.id, child_ref=data.get("child"),
        category_label=cat.label if cat else data.get("category"),
        urgency=cat.urgency if cat else None,
        occurred_at=(datetime.fromisoformat(data["occurred_at"]) if data.get("occurred_at")
                     else None),
        tz=services.tz, description=data.get("description", ""),
        fields=[(key, data[key]) for key in FIELD_KEYS.values() if data.get(key)],
        attachments=await attachments.count_for_draft(session, draft.id)))


async def _own_draft(session: AsyncSession, carer: Person, draft_id: int | None, *steps: str) -> Draft:
    draft = await session.get(Draft, draft_id) if draft_id else None
    return _own(draft, carer, steps)


def _own(draft: Draft | None, carer: Person, steps: tuple[str, ...]) -> Draft:
    """``draft`` when it is the carer's, still open and at one of ``steps`` (any, if none)."""
    if (
        draft is None or draft.carer_id != carer.id or draft.submitted_incident_id is not None
        or draft.discarded_at is not None or (steps and draft.step not in steps)
    ):
        raise StaleButton()
    return draft


# The category tap and "Skip the rest" run on a bare connection (``Database.write_connection``):
# the draft's row is read and written with Core statements built once, not through an ORM
# session (issue 18). ``_save`` writes every column ``_touch`` changes, as the ORM's flush
# would have.
_DRAFT_KEYS = column_keys(Draft)
_OWN_ROW = select(_DRAFTS).where(_DRAFTS.c.id == bindparam("draft_id"))
_SAVE = (
    update(_DRAFTS).where(_DRAFTS.c.id == bindparam("draft_id"))
    .values(step=bindparam("to_step", type_=_DRAFTS.c.step.type),
            data=bindparam("to_data", type_=_DRAFTS.c.data.type),
            last_activity_at=bindparam("to_last_activity_at",
                                       type_=_DRAFTS.c.last_activity_at.type),
            reminded_at=bindparam("to_reminded_at", type_=_DRAFTS.c.reminded_at.type))
)


async def _own_row(conn: AsyncConnection, carer: Person, draft_id: int | None,
                   *steps: str) -> Draft:
    """:func:`_own_draft` on a bare connection: the row as a detached ``Draft`` (changed by
    ``_touch``, written by ``_save``)."""
    row = (await conn.execute(_OWN_ROW, {"draft_id": draft_id})).first() if draft_id else None
    return _own(detached(Draft, _DRAFT_KEYS, row) if row is not None else None, carer,
                steps)


async def _save(conn: AsyncConnection, draft: Draft) -> None:
    await conn.execute(_SAVE, {"draft_id": draft.id, "to_step": draft.step, "to_data": draft.data,
                               "to_last_activity_at": draft.last_activity_at,
                               "to_reminded_at": draft.reminded_at})


async def choose_child(session, services, carer, draft_id, ref) -> Prompt:
    draft = await _own_draft(session, carer, draft_id, "child")
    placed = {c.ref for c in await queries.children_placed_with(session, carer.id, services.today())}
    if ref not in placed:
        raise StaleButton()
    _touch(draft, services.clock.now(), step="category", child=ref)
    return await prompt(session, services, draft)


async def choose_category(conn: AsyncConnection, services, carer, draft_id, key) -> Prompt:
    """The category tapped (on a write connection: see ``_own_row``). Reads, then one write
    (the draft's UPDATE), which may stand alone (``Database.write_statements``)."""
    draft = await _own_row(conn, carer, draft_id, "category")
    if services.settings.category(key) is None:
        raise StaleButton()
    _touch(draft, services.clock.now(), step="description", category=key)
    await _save(conn, draft)
    return _ask_description(services, draft)


async def keep_description(session, services, carer, draft_id) -> Prompt:
    draft = await _own_draft(session, carer, draft_id, "description")
    if not (draft.data or {}).get("description"):
        raise StaleButton()
    return await _after_description(session, services, carer, draft)


def _is_urgent(services: "Services", draft: Draft) -> bool:
    cat = services.settings.category((draft.data or {}).get("category", ""))
    return bool(cat and cat.urgency == "urgent")


async def _after_description(session, services, carer: Person, draft: Draft) -> Prompt:
    """Urgent: submit now. Otherwise on to the record fields (or back to the review)."""
    now = services.clock.now()
    data = draft.data or {}
    if data.get("back_to_review"):
        _touch(draft, now, step="review", back_to_review=False)
        return await prompt(session, services, draft)
    if _is_urgent(services, draft):
        return await _submit(session, services, carer, draft)
    _touch(draft, now, step=steps_for(services, draft)[0])
    return await prompt(session, services, draft)


async def _next(session, services, carer: Person, draft: Draft) -> Prompt:
    """After a record field was answered or skipped."""
    now = services.clock.now()
    data = draft.data or {}
    steps = steps_for(services, draft)
    i = steps.index(draft.step) if draft.step in steps else len(steps) - 1
    if data.get("back_to_review") or i + 1 == len(steps):
        if _after(draft):
            return await _end_after(session, services, draft)
        _touch(draft, now, step="review", back_to_review=False, when_mode=None)
        return await prompt(session, services, draft)
    _touch(draft, now, step=steps[i + 1], when_mode=None)
    return await prompt(session, services, draft)


async def _end_after(session, services, draft: Draft) -> Prompt:
    thread.end_state(draft, services.clock.now(), finished=True)
    incident = await session.get(Incident, draft.data["incident_id"])
    return Prompt(texts.record_updated(incident.reference if incident else ""),
                  done=True, wake=True)


async def _answer(session, services, carer: Person, draft: Draft, key: str, value: str,
                  *, occurred_at: datetime | None = None, shown: str | None = None) -> Prompt:
    """Store one record field; after an urgent report it also goes on the thread."""
    now = services.clock.now()
    if _after(draft):
        incident = await session.get(Incident, draft.data["incident_id"])
        if incident is None or incident.reporter_id != carer.id:
            raise StaleButton()
        msg = await thread.post_message(
            session, services, incident=incident, author=carer, kind="followup",
            text=texts.answer_on_record(None if key == "when_text" else key, shown or value))
        details = dict(incident.details or {})
        details[key] = value
        details["added_later"] = {**(details.get("added_later") or {}), key: msg.id}
        incident.details = details
        if occurred_at is not None and incident.occurred_at is None:
            incident.occurred_at = occurred_at
        p = await _next(session, services, carer, draft)
        p.wake = True
        return p
    extra = {key: value}
    if occurred_at is not None:
        extra["occurred_at"] = occurred_at.isoformat()
    _touch(draft, now, **extra)
    return await _next(session, services, carer, draft)


def _continues(draft: Draft, message_id: int | None) -> bool:
    """Was this message sent straight after the last piece of the description, before the bot
    answered it? (``bot.rules.paste``: the one rule for split pastes.)"""
    return paste.follows((draft.data or {}).get("desc_msg"), message_id)


def _join(draft: Draft, now: datetime, text: str, message_id: int | None) -> str | None:
    """Add ``text`` to the draft's description (a continuation, or the first piece); anything
    beyond ``MAX_DESCRIPTION`` goes to the notes. Returns a notice when something overflowed."""
    data = draft.data or {}
    before = (data.get("description") or "") if _continues(draft, message_id) else ""
    whole = paste.joined(before, text)
    notice = None
    if len(whole) > MAX_DESCRIPTION:
        notes = list(data.get("notes", []))
        notes.append(whole[MAX_DESCRIPTION:])
        _touch(draft, now, notes=notes)
        notice = texts.description_overflow(len(whole), MAX_DESCRIPTION)
        whole = whole[:MAX_DESCRIPTION]
    _touch(draft, now, description=whole, desc_msg=message_id)
    return notice


async def text_received(session, services, draft: Draft, text: str,
                        message_id: int | None = None, carer: Person | None = None) -> Prompt:
    """Free text typed while a draft is open (``message_id``: Telegram's, to join the pieces
    of a long paste; ``carer``: the draft's carer when the caller already has them, as
    the sender identified for this update)."""
    now = services.clock.now()
    text = text.strip()
    if carer is None or carer.id != draft.carer_id:
        carer = await session.get(Person, draft.carer_id)
    if _continues(draft, message_id) and (draft.step != "description"):
        return await _continued(session, services, carer, draft, text, message_id)
    if draft.step == "description":
        notice = _join(draft, now, text, message_id)
        p = await _after_description(session, services, carer, draft)
        p.notice = notice
        return p
    if draft.step == "when":
        try:
            at = parse_when(text, now, services.tz)
        except WhenError as exc:
            p = await prompt(session, services, draft)
            p.text = texts.when_unreadable(str(exc)) + p.text
            return p
        return await _answer(session, services, carer, draft, "when_text", text[:100],
                             occurred_at=at, shown=when(at, services.tz))
    if draft.step in FIELD_KEYS:
        key = FIELD_KEYS[draft.step]
        return await _answer(session, services, carer, draft, key, text[:MAX_FIELD])
    # Any other step: keep the text so nothing typed is lost, and re-ask.
    notes = list((draft.data or {}).get("notes", []))
    notes.append(text[:MAX_DESCRIPTION])
    _touch(draft, now, notes=notes)
    if not (draft.data or {}).get("description"):
        _touch(draft, now, description=text[:MAX_DESCRIPTION])
    p = await prompt(session, services, draft)
    p.notice = texts.KEPT_TYPED
    return p


async def description_on(conn: AsyncConnection, services, draft: Draft, text: str,
                         message_id: int | None = None) -> Prompt | None:
    """:func:`text_received` for a draft at its description step whose next step is a
    record question or the review (a routine report: the usual case), on a bare write
    connection; ``draft`` is detached (``thread.open_draft_rows``) and saved here. None,
    with nothing changed, for anything else (urgent, back to the review): then
    :func:`text_received` decides, in an ORM session. Its one write is the draft's UPDATE,
    which may stand alone (``Database.write_statements``); every other statement reads."""
    if draft.step != "description" or (draft.data or {}).get("back_to_review"):
        return None
    if _is_urgent(services, draft):
        return None
    first = steps_for(services, draft)[0]
    if first not in DETAIL_STEPS and first != "review":
        return None
    now = services.clock.now()
    notice = _join(draft, now, text.strip(), message_id)
    _touch(draft, now, step=first)
    await _save(conn, draft)
    p = await prompt(conn, services, draft)
    p.notice = notice
    return p


async def _continued(session, services, carer: Person, draft: Draft, text: str,
                     message_id: int | None) -> Prompt:
    """The next piece of a description that arrived split: joined to it (or, once an urgent
    report has gone, added to it as a follow-up everyone who has it is told about)."""
    now = services.clock.now()
    if _after(draft):
        incident = await session.get(Incident, draft.data["incident_id"])
        if incident is None or incident.reporter_id != carer.id:
            raise StaleButton()
        await thread.post_message(session, services, incident=incident, author=carer,
                                  kind="followup", text=f"What happened (continued): {text}")
        _touch(draft, now, desc_msg=message_id)
        p = await prompt(session, services, draft)
        p.notice = texts.rest_added_to(incident.reference)
        p.wake = True
        return p
    notice = _join(draft, now, text, message_id)
    length = len((draft.data or {}).get("description", ""))
    p = await prompt(session, services, draft)
    p.notice = notice or texts.added_to_description(length)
    return p


async def media_received(session, services, draft: Draft, media: Media) -> Prompt:
    """A photo, voice note, video note or document sent during a report (or its offer)."""
    now = services.clock.now()
    if _after(draft):
        incident = await session.get(Incident, draft.data["incident_id"])
        carer = await session.get(Person, draft.carer_id)
        await thread.post_message(session, services, incident=incident, author=carer,
                                  kind="followup", text=media.caption, media=[media])
        draft.last_activity_at = now
        p = await prompt(session, services, draft)
        p.text = texts.file_added_to(incident.reference) + p.text
        p.wake, p.files_for = True, incident.id
        return p
    await attachments.add(session, media=media, uploaded_by=draft.carer_id, now=now,
                          draft_id=draft.id)
    n = await attachments.count_for_draft(session, draft.id)
    note = texts.file_attached(attachments.KIND_LABELS[media.kind], n)
    if media.caption and draft.step == "description":
        p = await text_received(session, services, draft, media.caption)
        p.text = note + p.text
        return p
    if media.caption:
        notes = list((draft.data or {}).get("notes", []))
        notes.append(media.caption[:MAX_DESCRIPTION])
        _touch(draft, now, notes=notes)
    draft.last_activity_at = now
    p = await prompt(session, services, draft)
    p.text = note + p.text
    return p


async def when_choice(session, services, carer, draft_id, choice: str) -> Prompt:
    draft = await _own_draft(session, carer, draft_id, "when")
    now = services.clock.now()
    if choice == "now":
        return await _answer(session, services, carer, draft, "when_text", "now",
                             occurred_at=now, shown=when(now, services.tz))
    if choice == "today":
        _touch(draft, now, when_mode="today")
        return await prompt(session, services, draft)
    raise StaleButton()


async def skip(session, services, carer, draft_id) -> Prompt:
    draft = await _own_draft(session, carer, draft_id, *DETAIL_STEPS)
    skipped = list((draft.data or {}).get("skipped", []))
    if draft.step not in skipped:
        skipped.append(draft.step)
    if _after(draft):
        _touch(draft, services.clock.now())
    else:
        _touch(draft, services.clock.now(), skipped=skipped)
    return await _next(session, services, carer, draft)


async def skip_rest(conn: AsyncConnection, services, carer, draft_id) -> Prompt:
    """"Skip the rest" of the record's questions (on a write connection: see ``_own_row``)."""
    draft = await _own_row(conn, carer, draft_id, *DETAIL_STEPS)
    if _after(draft):  # the questions after an urgent report: the ORM joins the transaction
        async with AsyncSession(bind=conn, expire_on_commit=False) as session:
            p = await _end_after(session, services,
                                 await _own_draft(session, carer, draft_id, *DETAIL_STEPS))
            await session.flush()
        return p
    steps = steps_for(services, draft)
    i = steps.index(draft.step) if draft.step in steps else 0
    skipped = list((draft.data or {}).get("skipped", []))
    skipped += [s for s in steps[i:] if s not in skipped
                and not (draft.data or {}).get(FIELD_KEYS.get(s, "when_text"))]
    _touch(draft, services.clock.now(), step="review", skipped=skipped, back_to_review=False,
           when_mode=None)
    await _save(conn, draft)
    return await _review(conn, services, draft)


async def edit(session, services, carer, draft_id, part: str | None = None) -> Prompt:
    """Edit from the review: choose the part, answer it again, come back to the review."""
    draft = await _own_draft(session, carer, draft_id, "review")
    if part is None:
        return Prompt(*texts.edit_menu(draft.id, [
            (s, texts.step_label(s, FIELD_KEYS.get(s)))
            for s in ("description", *steps_for(services, draft))]))
    if part == "review":
        return await prompt(session, services, draft)
    if part not in ("description", *steps_for(services, draft)):
        raise StaleButton()
    _touch(draft, services.clock.now(), step=part, back_to_review=True, when_mode=None)
    return await prompt(session, services, draft)


async def accept_offer(session, services, carer, draft_id) -> Prompt:
    draft = await _own_draft(session, carer, draft_id, "offer")
    text = (draft.data or {}).get("description")
    return await start(session, services, carer, draft.chat_id, text=text)


async def decline_offer(session, services, carer, draft_id) -> Prompt:
    """No to "Report this?": offer the carer's open reports, else say plainly it was not kept."""
    draft = await _own_draft(session, carer, draft_id, "offer")
    if not await thread.open_reports_of(session, carer.id):
        return await discard(session, services, carer, draft_id, why="declined offer")
    _touch(draft, services.clock.now(), step="offer_add")
    return await prompt(session, services, draft)


async def add_offer_to_report(session, services, carer, draft_id, incident_id: int | None) -> Prompt:
    draft = await _own_draft(session, carer, draft_id, "offer_add")
    incident = await session.get(Incident, incident_id) if incident_id else None
    if incident is None:
        raise StaleButton()
    if not await services.access.may_add(session, carer, incident):
        raise Refused("not the reporter of this incident", texts.NOT_REPORTER, incident.id)
    if incident.status == "closed":
        raise StaleButton()
    now = services.clock.now()
    n = await attachments.count_for_draft(session, draft.id)
    await thread.post_message(session, services, incident=incident, author=carer, kind="followup",
                              text=(draft.data or {}).get("description", ""), draft_id=draft.id)
    _touch(draft, now, added_to=incident.id)
    draft.discarded_at = now
    await audit.record(session, "draft_added_to_report", at=now, actor_id=carer.id,
                       incident_id=incident.id, draft=draft.id)
    return Prompt(texts.added_to_report(incident.reference), done=True, wake=True, files_for=incident.id if n else None)


async def discard(session, services, carer, draft_id, *, why: str = "cancelled") -> Prompt:
    draft = await _own_draft(session, carer, draft_id)
    now = services.clock.now()
    draft.discarded_at = now
    await audit.record(session, "draft_discarded", at=now, actor_id=carer.id, draft=draft.id, why=why)
    if draft.step in ("offer", "offer_add"):
        return Prompt(texts.offer_not_kept(), done=True)
    return Prompt(texts.report_discarded(), done=True)


async def submit(session, services, carer, draft_id) -> Prompt:
    draft = await _own_draft(session, carer, draft_id, "review")
    return await _submit(session, services, carer, draft)


DETAIL_KEYS = (*CATEGORY_QUESTIONS, "when_text", "where", "present", "child_words", "action_taken", "child_views",
               "opinion", "skipped", "notes")


async def _submit(session, services, carer: Person, draft: Draft) -> Prompt:
    """Submit the draft: the report is filed, the draft's own writes follow, and the report
    is numbered and its alerts owed last (``incidents.finish_report``: the reference's lock
    is held only for the transaction's last few statements)."""
    data = draft.data or {}
    occurred = datetime.fromisoformat(data["occurred_at"]) if data.get("occurred_at") else None
    try:
        filed = await file_report(
            session, services, carer=carer, child_ref=data.get("child", ""),
            category_key=data.get("category", ""), description=data.get("description", ""),
            occurred_at=occurred,
            details={k: data[k] for k in DETAIL_KEYS if data.get(k)},
            draft_id=draft.id,
        )
    except ReportError as exc:
        p = await prompt(session, services, draft)
        p.text = texts.report_refused(str(exc)) + p.text
        return p
    now = services.clock.now()
    incident = filed.incident
    await _mark_submitted(session, draft, incident.id, now)
    questions = None
    if incident.urgency == "urgent":
        after = Draft(carer_id=carer.id, chat_id=draft.chat_id, step="when",
                      data={"incident_id": incident.id, "category": incident.category,
                            "desc_msg": data.get("desc_msg")},
                      created_at=now, last_activity_at=now)
        after.step = steps_for(services, after)[0]
        session.add(after)

        async def questions() -> list[Delivery]:
            """The questions that follow, after the receipt: their heading names the report,
            so they are rendered once it has its number (from the session: no statement)."""
            first = await prompt(session, services, after)
            cat = services.settings.category(incident.category)
            return [owed(
                key=f"after:{incident.id}", kind="notice", now=now, person=carer,
                incident_id=incident.id, priority=RECEIPT_PRIORITY,
                text=texts.questions_after_submit(first.text,
                                                  first_of_all=cat.first if cat else ""),
                buttons=first.buttons,
            )]
    await session.flush()  # the draft's own writes, before the reference is locked
    result = await finish_report(session, services, filed, then=questions)
    return Prompt(
        texts.submitting(incident.reference),
        submitted=result, done=True, wake=True, files_for=incident.id,
    )


# The draft's "submitted" mark as one Core UPDATE (built once): no unit of work for two columns.
_MARK_SUBMITTED = (_DRAFTS.update().where(_DRAFTS.c.id == bindparam("draft_id"))
                   .values(submitted_incident_id=bindparam("incident_id"),
                           last_activity_at=bindparam("at")))


async def _mark_submitted(session: AsyncSession, draft: Draft, incident_id: int,
                          now: datetime) -> None:
    """The draft is done: it names the incident it became. A draft with other changes not
    yet written (an urgent report's description, just joined) is written by the ORM with
    them in one UPDATE; otherwise by ``_MARK_SUBMITTED``, the ORM told it is written."""
    if inspect(draft).modified:
        draft.submitted_incident_id = incident_id
        draft.last_activity_at = now
        return
    conn = await session.connection()
    await conn.execute(_MARK_SUBMITTED, {"draft_id": draft.id, "incident_id": incident_id,
                                         "at": now})
    set_committed_value(draft, "submitted_incident_id", incident_id)
    set_committed_value(draft, "last_activity_at", now)


def continues_offer(draft: Draft, message_id: int | None) -> bool:
    """The next piece of a long paste typed outside a report (the offer is still open)."""
    return draft.step == "offer" and _continues(draft, message_id)


async def continue_offer(session, services, draft: Draft, text: str,
                         message_id: int | None) -> Prompt:
    """Join the next piece of a long paste to the text already offered as a report."""
    notice = _join(draft, services.clock.now(), text, message_id)
    p = await prompt(session, services, draft)
    p.notice = notice
    return p


async def offer(session, services, carer: Person, chat_id: int, text: str,
                media: Media | None = None, *, message_id: int | None = None) -> Prompt:
    """A carer typed (or sent a file) outside a report: keep it in a draft and offer to report it."""
    now = services.clock.now()
    data = {"description": text[:MAX_DESCRIPTION], "desc_msg": message_id} if text else {}
    draft = Draft(carer_id=carer.id, chat_id=chat_id, step="offer", data=data, created_at=now,
                  last_activity_at=now)
    session.add(draft)
    await session.flush()
    await audit.record(session, "draft_started", at=now, actor_id=carer.id, draft=draft.id,
                       source="file" if media else "free text")
    if media is not None:
        await attachments.add(session, media=media, uploaded_by=carer.id, now=now,
                              draft_id=draft.id)
    return await prompt(session, services, draft)
