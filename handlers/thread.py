"""The incident thread from Telegram: its buttons and files sent to the bot.

Buttons (short callback data, checked against the database and ``bot/people/access.py``;
every refusal is logged): ``add:<incident>`` Add more / Answer (the carer),
``fix:<incident>`` Correct something (the carer), ``reply:<incident>`` Reply to
carer, ``close:<incident>`` Close with outcome, ``oc:<incident>:<code>`` the
outcome chosen, ``reopen:<incident>``, ``att:<incident>`` View attachments,
``det:<incident>`` Show details / Full record, ``tx:<draft>`` cancel and
``tf:<draft>`` Done for a pending state.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot import audit, callbacks
from bot.record import attachments, inbox, thread
from bot.record import render as record
from bot.record.attachments import Media
from bot.record.prompt import Refused
from bot.texts import STALE_BUTTON, h, when
from handlers.common import BotContext, linked, refuse, reply, send_parts
from handlers.report import after_commit
from storage.models import Incident, Person

log = logging.getLogger(__name__)
NO_VIEW = "You do not have access to this report. Nothing was shown."


@linked
async def thread_button(update: Update, context: BotContext, person: Person) -> None:
    """Buttons on alerts, receipts and thread messages."""
    services = context.services
    query = update.callback_query
    cb = callbacks.decode(query.data)
    arg = cb.int_arg(0) if cb else None
    chat_id = update.effective_chat.id
    actions = {
        "add": lambda s: thread.begin_add(s, services, person, chat_id, arg, "followup"),
        "fix": lambda s: thread.begin_add(s, services, person, chat_id, arg, "correction"),
        "reply": lambda s: thread.begin_reply(s, services, person, chat_id, arg),
        "close": lambda s: thread.begin_close(s, services, person, arg),
        "oc": lambda s: thread.choose_outcome(s, services, person, chat_id, arg, cb.args[1]),
        "reopen": lambda s: thread.begin_reopen(s, services, person, chat_id, arg),
        "tx": lambda s: thread.cancel(s, services, person, arg),
        "tf": lambda s: thread.finish(s, services, person, arg),
    }
    if cb is None or arg is None or len(cb.args) != (2 if cb.action == "oc" else 1):
        await refuse(update, context, person, action=cb.action if cb else "button",
                     why="malformed callback", text=STALE_BUTTON)
        return
    if cb.action in ("att", "det"):
        await _view(update, context, person, cb.action, arg)
        return
    if cb.action not in actions:
        await refuse(update, context, person, action=cb.action, why="unknown action",
                     text=STALE_BUTTON)
        return
    try:
        async with services.db.write() as s:
            p = await actions[cb.action](s)
    except Refused as exc:
        await refuse(update, context, person, action=cb.action, why=exc.why, text=exc.text,
                     incident_id=exc.incident_id)
        return
    await query.answer()
    await reply(update, p.text, p.buttons)
    await after_commit(context, p)


async def _view(update: Update, context: BotContext, person: Person, action: str,
                incident_id: int) -> None:
    """Show details (the full record) or re-send the attachments, to an authorised person.

    The button is answered only once everything was sent (or with what went wrong), and the
    audit records what was actually delivered: a view that failed is not recorded as read.
    """
    services = context.services
    async with services.db.read() as s:
        incident = await s.get(Incident, incident_id)
        allowed = incident is not None and await services.access.may_view(s, person, incident)
        if allowed:
            if action == "det":
                chunks = await record.render(s, services, incident)
            else:
                files = await attachments.for_incident(s, incident.id)
                uploaders = {a.uploaded_by_id for a in files}
                names = {pid: (await s.get(Person, pid)) for pid in uploaders}
    if not allowed:
        await refuse(update, context, person, action="view " + ("details" if action == "det"
                                                                 else "attachments"),
                     why="no such incident" if incident is None else "no access to this incident",
                     text=STALE_BUTTON if incident is None else NO_VIEW,
                     incident_id=incident.id if incident is not None else None)
        return
    chat_id = update.effective_chat.id
    if action == "att" and not files:
        await update.callback_query.answer()
        await reply(update, f"<b>{h(incident.reference)}</b> has no attachments.")
        return
    if action == "det":
        total = len(chunks)
        delivered = await send_parts(context.bot, chat_id, chunks)
    else:
        total = len(files)
        delivered = await _send_files(context, services, incident, files, names, chat_id)
    if delivered:
        async with services.db.write() as s:
            details = {"count": delivered} if action == "att" else {"parts": delivered}
            if delivered < total:
                details.update(of=total, complete=False)
            await audit.record(s, "details_viewed" if action == "det" else "attachments_viewed",
                               at=services.clock.now(), actor_id=person.id,
                               telegram_user_id=update.effective_user.id,
                               incident_id=incident.id, **details)
    if delivered == total:
        await _answer(update, None)
    else:
        what = "record" if action == "det" else "attachments"
        await _answer(update, f"Sorry, the {what} could not be shown in full ({delivered} of "
                              f"{total} sent): Telegram did not accept the rest. Please tap the "
                              "button again.")


async def _answer(update: Update, text: str | None) -> None:
    """Answer the button after a long send; Telegram refuses answers to old taps (about 15 s),
    so then a failure is said in the chat instead (a success needs no words)."""
    try:
        await update.callback_query.answer(text, show_alert=text is not None)
    except BadRequest as exc:
        log.info("could not answer the button (%s)", exc.message)
        if text is not None:
            await reply(update, h(text))


async def _send_files(context: BotContext, services, incident: Incident, files: list,
                      names: dict, chat_id: int) -> int:
    """Re-send the incident's files in order; stop at the first refusal; how many arrived."""
    bot = context.bot
    for i, a in enumerate(files, 1):
        who = names.get(a.uploaded_by_id)
        caption = (f"{h(incident.reference)} · {i} of {len(files)} · "
                   f"{attachments.KIND_LABELS.get(a.kind, a.kind)} from "
                   f"{h(who.name if who else a.uploaded_by_id)}, {when(a.created_at, services.tz)}")
        kw = {"chat_id": chat_id, "caption": caption, "parse_mode": ParseMode.HTML}
        try:
            if a.kind == "photo":
                await bot.send_photo(photo=a.file_id, **kw)
            elif a.kind == "voice":
                await bot.send_voice(voice=a.file_id, **kw)
            elif a.kind == "video":
                await bot.send_video(video=a.file_id, **kw)
            elif a.kind == "video_note":
                await bot.send_message(chat_id=chat_id, text=caption, parse_mode=ParseMode.HTML)
                await bot.send_video_note(chat_id=chat_id, video_note=a.file_id)
            else:
                await bot.send_document(document=a.file_id, **kw)
        except TelegramError as exc:
            log.warning("attachment %s of %s not sent: %s", i, incident.reference, exc)
            return i - 1
    return len(files)


@linked
async def media_message(update: Update, context: BotContext, person: Person) -> None:
    """A photo, voice note, video note, video or document: to the report being written, the
    pending follow-up or reply, or offered as a new report. Never silently dropped."""
    services = context.services
    media: Media | None = attachments.media_of(update.effective_message)
    if media is None:
        await reply(update, "I could not use that message here. Send /report to start a report, "
                            "or /help.")
        return
    try:
        async with services.db.write() as s:
            p = await inbox.take_input(s, services, person, update.effective_chat.id,
                                       media.caption, media)
    except Refused as exc:
        await refuse(update, context, person, action="file", why=exc.why, text=exc.text,
                     incident_id=exc.incident_id)
        return
    if p is None:
        await reply(update, "I could not use that file here: to send it on a report, press "
                            "“Reply to carer” on its alert first. /help shows what you can do.")
        return
    if p.notice:
        await reply(update, p.notice)
    await reply(update, p.text, p.buttons)
    await after_commit(context, p)
