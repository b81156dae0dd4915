"""The carer's guided report: /report, the answers, the review buttons, /cancel.

Thin: each handler opens a write transaction, asks ``bot.record.reporting`` what
comes next, and shows it after the commit.
"""

from __future__ import annotations

from telegram import Update

from bot import callbacks
from bot.record import attachments, inbox, reporting, thread
from bot.record.prompt import Refused
from bot.texts import h, when
from handlers.common import BotContext, linked, refuse, reply, show
from storage import queries
from storage.models import Person

NOT_A_CARER = "Only foster carers can send reports. /help shows what you can do."
STALE = "That button is from a report that is finished or no longer yours."


@linked
async def report_command(update: Update, context: BotContext, person: Person) -> None:
    """Start (or resume) a report."""
    services = context.services
    async with services.db.write() as s:
        if not await services.access.can_report(s, person):
            allowed = False
        else:
            allowed = True
            p = await reporting.start(s, services, person, update.effective_chat.id)
    if not allowed:
        await refuse(update, context, person, action="report", why="not a carer", text=NOT_A_CARER)
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
        await reply(update, "Cancelled. Nothing more will be sent from what you type next.")
        return
    if draft is None:
        await reply(update, "Nothing to cancel. /help shows what you can do.")
        return
    await reply(
        update,
        "Paused. Your report in progress is kept: send /report to carry on, or discard it.",
        [[("🗑 Discard it", callbacks.encode("rx", draft.id))]],
    )


@linked
async def text_message(update: Update, context: BotContext, person: Person) -> None:
    """Text typed outside a button: a pending reply/follow-up/outcome, an answer to the open
    draft, or an offer to report it. Nothing typed is silently dropped."""
    services = context.services
    text = (update.effective_message.text or "").strip()
    if not text:
        return
    try:
        async with services.db.write() as s:
            p = await inbox.take_input(s, services, person, update.effective_chat.id, text,
                                       message_id=update.effective_message.message_id)
    except Refused as exc:
        await refuse(update, context, person, action="message", why=exc.why, text=exc.text,
                     incident_id=exc.incident_id)
        return
    if p is None:
        await reply(update, "I only act on commands and buttons. To reply on a report, use the "
                            "“Reply to carer” button on its alert. /help shows what you can do.")
        return
    if p.notice:
        await reply(update, p.notice)
    await reply(update, p.text, p.buttons)
    await after_commit(context, p)


async def after_commit(context: BotContext, p: reporting.Prompt) -> None:
    """Wake the dispatcher for what was owed; keep the incident's files when configured."""
    services = context.services
    if p.wake or p.submitted is not None:
        services.wake_dispatcher()
    if p.submitted is not None:
        incident = p.submitted.incident
        services.wake_engine(incident.next_due_at, incident.notification_next_at)
    if p.files_for is not None:
        await attachments.keep_files(services, context.bot, p.files_for)


async def _draft_button(update: Update, context: BotContext, person: Person) -> None:
    services = context.services
    query = update.callback_query
    cb = callbacks.decode(query.data)
    draft_id = cb.int_arg(0) if cb else None
    actions = {
        "rc": lambda s: reporting.choose_child(s, services, person, draft_id, cb.args[1]),
        "rk": lambda s: reporting.choose_category(s, services, person, draft_id, cb.args[1]),
        "rd": lambda s: reporting.keep_description(s, services, person, draft_id),
        "rs": lambda s: reporting.submit(s, services, person, draft_id),
        "re": lambda s: reporting.edit(s, services, person, draft_id,
                                       cb.args[1] if len(cb.args) > 1 else None),
        "rx": lambda s: reporting.discard(s, services, person, draft_id),
        "ry": lambda s: reporting.accept_offer(s, services, person, draft_id),
        "rn": lambda s: reporting.decline_offer(s, services, person, draft_id),
        "rq": lambda s: reporting.discard(s, services, person, draft_id, why="declined offer"),
        "ra": lambda s: reporting.add_offer_to_report(s, services, person, draft_id,
                                                      cb.int_arg(1)),
        "rw": lambda s: reporting.when_choice(s, services, person, draft_id, cb.args[1]),
        "rz": lambda s: reporting.skip(s, services, person, draft_id),
        "rr": lambda s: reporting.skip_rest(s, services, person, draft_id),
    }
    needs_two = {"rc", "rk", "ra", "rw"}
    if cb is None or cb.action not in actions or draft_id is None or (
        cb.action in needs_two and len(cb.args) != 2
    ) or len(cb.args) > 2:
        await refuse(update, context, person, action="report button", why="malformed callback",
                     text=STALE)
        return
    try:
        async with services.db.write() as s:
            p = await actions[cb.action](s)
    except reporting.StaleButton:
        await refuse(update, context, person, action="report button", why="stale or foreign draft",
                     text=STALE)
        return
    except Refused as exc:
        await refuse(update, context, person, action="report button", why=exc.why, text=exc.text,
                     incident_id=exc.incident_id)
        return
    await query.answer()
    await show(update, p.text, p.buttons)
    await after_commit(context, p)


@linked
async def draft_button(update: Update, context: BotContext, person: Person) -> None:
    """Buttons of the report conversation (child, category, submit, edit, cancel, offer)."""
    await _draft_button(update, context, person)


@linked
async def myreports_command(update: Update, context: BotContext, person: Person) -> None:
    """The carer's recent reports and their status."""
    services = context.services
    async with services.db.read() as s:
        rows = await queries.recent_incidents_of_carer(s, person.id, limit=10)
        names = await queries.people_by_id(s, {r.acknowledged_by_id for r in rows if r.acknowledged_by_id})
    if not rows:
        await reply(update, "You have not sent any reports yet. /report starts one.")
        return
    lines = ["<b>Your recent reports</b>"]
    buttons = []
    for r in rows:
        if r.status != "closed":
            buttons.append([(f"➕ Add to {r.reference}", callbacks.encode("add", r.id)),
                            (f"✏️ Correct {r.reference}", callbacks.encode("fix", r.id))])
        cat = services.settings.category(r.category)
        status = {
            "open": "⏳ waiting for acknowledgement",
            "acknowledged": "✅ acknowledged by "
            + h(names[r.acknowledged_by_id].name if r.acknowledged_by_id in names else "someone")
            + (f" at {when(r.acknowledged_at, services.tz)}" if r.acknowledged_at else ""),
            "closed": "☑️ closed",
        }.get(r.status, r.status)
        lines.append(f"\n<b>{h(r.reference)}</b> — {h(r.child_ref)}, "
                     f"{h(cat.label if cat else r.category)}\n"
                     f"Sent {when(r.reported_at, services.tz)}: {status}")
    await reply(update, "\n".join(lines), buttons)
