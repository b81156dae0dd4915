"""The carer's guided report: /report, the answers, the review buttons, /cancel.

Thin: each handler opens a write transaction, asks ``bot.record.reporting`` what
comes next, and shows it after the commit.
"""

from __future__ import annotations

from telegram import Update

from bot import callbacks
from bot.record import attachments, inbox, reporting, thread
from bot.record import report_texts as texts
from bot.record.prompt import Refused
from handlers.common import BotContext, linked, refuse, reply, show
from storage import queries
from storage.models import Person


@linked
async def report_command(update: Update, context: BotContext, person: Person) -> None:
    """Start (or resume) a report."""
    services = context.services
    chat_id = update.effective_chat.id
    # Nothing open (the usual case): on a bare connection; else the ORM's ``start`` decides.
    async with services.db.write_connection() as c:
        allowed = await services.access.can_report(c, person)
        p = await reporting.start_fresh(c, services, person, chat_id) if allowed else None
    if allowed and p is None:
        async with services.db.write() as s:
            p = await reporting.start(s, services, person, chat_id)
    if not allowed:
        await refuse(update, context, person, action="report", why="not a carer",
                     text=texts.NOT_A_CARER)
        return
    await reply(update, p.text, p.buttons)


@linked
async def cancel_command(update: Update, context: BotContext, person: Person) -> None:
    """Leave the current conversation; the draft is kept until submitted or discarded."""
    services = context.services
    async with services.db.write() as s:
        state = await thread.pending(s, services, person.id)
        if state is not None:
            thread.end_state(state, services.clock.now(), finished=False)
        draft = await reporting.active_draft(s, person.id)
    if state is not None:
        await reply(update, texts.PENDING_CANCELLED)
        return
    if draft is None:
        await reply(update, texts.NOTHING_TO_CANCEL)
        return
    await reply(update, *texts.paused(draft.id))


@linked
async def text_message(update: Update, context: BotContext, person: Person) -> None:
    """Text typed outside a button: a pending reply/follow-up/outcome, an answer to the open
    draft, or an offer to report it. Nothing typed is silently dropped."""
    services = context.services
    text = (update.effective_message.text or "").strip()
    if not text:
        return
    message_id = update.effective_message.message_id
    try:
        # A routine report's description (the usual case): on a bare connection, its one
        # write standing alone (``Database.write_statements``); anything else, in an ORM
        # session (``inbox.take_input``: the one rule for free input).
        async with services.db.write_statements() as c:
            p = await inbox.take_input_on(c, services, person, text, message_id)
        if p is None:
            async with services.db.write() as s:
                p = await inbox.take_input(s, services, person, update.effective_chat.id, text,
                                           message_id=message_id)
    except Refused as exc:
        await refuse(update, context, person, action="message", why=exc.why, text=exc.text,
                     incident_id=exc.incident_id)
        return
    if p is None:
        await reply(update, texts.NOT_UNDERSTOOD)
        return
    if p.notice:
        await reply(update, p.notice)
    await reply(update, p.text, p.buttons)
    await after_commit(context, p)


def wake_for(context: BotContext, p: reporting.Prompt) -> None:
    """Wake the dispatcher for what the commit owes, and the engine with a report's clocks."""
    services = context.services
    if p.wake or p.submitted is not None:
        services.wake_dispatcher()
    if p.submitted is not None:
        incident = p.submitted.incident
        services.wake_engine(incident.next_due_at, incident.notification_next_at)


async def keep_files(context: BotContext, p: reporting.Prompt) -> None:
    if p.files_for is not None:
        await attachments.keep_files(context.services, context.bot, p.files_for)


async def after_commit(context: BotContext, p: reporting.Prompt) -> None:
    """Wake the dispatcher for what was owed; keep the incident's files when configured."""
    wake_for(context, p)
    await keep_files(context, p)


@linked
async def draft_button(update: Update, context: BotContext, person: Person) -> None:
    """Buttons of the report conversation (child, category, submit, edit, cancel, offer)."""
    services = context.services
    query = update.callback_query
    pressed = callbacks.parse(query.data, *callbacks.REPORT)
    if pressed is None:
        await refuse(update, context, person, action="report button", why="malformed callback",
                     text=texts.STALE)
        return
    draft_id, second = pressed.args[0], pressed.arg(1)
    cb = callbacks
    actions = {
        cb.REPORT_CHILD: lambda s: reporting.choose_child(s, services, person, draft_id, second),
        cb.REPORT_KEEP_DESCRIPTION: lambda s: reporting.keep_description(s, services, person,
                                                                         draft_id),
        cb.REPORT_SUBMIT: lambda s: reporting.submit(s, services, person, draft_id),
        cb.REPORT_EDIT: lambda s: reporting.edit(s, services, person, draft_id, second),
        cb.REPORT_DISCARD: lambda s: reporting.discard(s, services, person, draft_id),
        cb.REPORT_OFFER_YES: lambda s: reporting.accept_offer(s, services, person, draft_id),
        cb.REPORT_OFFER_NO: lambda s: reporting.decline_offer(s, services, person, draft_id),
        cb.REPORT_OFFER_DROP: lambda s: reporting.discard(s, services, person, draft_id,
                                                          why="declined offer"),
        cb.REPORT_OFFER_ADD_TO: lambda s: reporting.add_offer_to_report(s, services, person,
                                                                        draft_id, second),
        cb.REPORT_WHEN: lambda s: reporting.when_choice(s, services, person, draft_id, second),
        cb.REPORT_SKIP: lambda s: reporting.skip(s, services, person, draft_id),
    }
    # Two steps of every report run on a bare write connection (no ORM session: less Python),
    # each with how it opens it. The category's one write, the draft's UPDATE, stands alone
    # (``Database.write_statements``: on PostgreSQL no BEGIN and COMMIT); "Skip the rest" may
    # write more (after an urgent report), in one transaction.
    db = services.db
    on_connection = {
        cb.REPORT_CATEGORY: (db.write_statements, lambda c: reporting.choose_category(
            c, services, person, draft_id, second)),
        cb.REPORT_SKIP_REST: (db.write_connection, lambda c: reporting.skip_rest(
            c, services, person, draft_id)),
    }
    try:
        if pressed.action in on_connection:
            opened, step = on_connection[pressed.action]
            async with opened() as c:
                p = await step(c)
        else:
            async with services.db.write() as s:
                p = await actions[pressed.action](s)
    except reporting.StaleButton:
        await refuse(update, context, person, action="report button", why="stale or foreign draft",
                     text=texts.STALE)
        return
    except Refused as exc:
        await refuse(update, context, person, action="report button", why=exc.why, text=exc.text,
                     incident_id=exc.incident_id)
        return
    # The alert is committed: wake the dispatcher before the two round trips of the answer
    # and the edit, so that the social worker's alert does not wait for them (issue 18's
    # Submit → alert latency). The receipt may then arrive before the review turns into
    # "Submitting …": both say the report is in.
    wake_for(context, p)
    await query.answer()
    await show(update, p.text, p.buttons)
    await keep_files(context, p)


@linked
async def myreports_command(update: Update, context: BotContext, person: Person) -> None:
    """The carer's recent reports and their status."""
    services = context.services
    async with services.db.read() as s:
        rows = await queries.recent_incidents_of_carer(s, person.id, limit=10)
        names = await queries.people_by_id(s, {r.acknowledged_by_id for r in rows if r.acknowledged_by_id})
    if not rows:
        await reply(update, texts.NO_REPORTS_YET)
        return
    reports = []
    for r in rows:
        cat = services.settings.category(r.category)
        by = names.get(r.acknowledged_by_id)
        reports.append(texts.MyReport(
            incident_id=r.id, reference=r.reference, child_ref=r.child_ref,
            category_label=cat.label if cat else r.category, status=r.status,
            reported_at=r.reported_at, acknowledged_by=by.name if by else None,
            acknowledged_at=r.acknowledged_at))
    await reply(update, *texts.my_reports(reports, services.tz))
