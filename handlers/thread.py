"""The incident thread from Telegram: its buttons and files sent to the bot.

Buttons (``callbacks.THREAD``: short callback data, checked against the database and
``bot/people/access.py``; every refusal is logged): Add more / Answer and Correct
something (the carer), Reply to carer, Close with outcome and the outcome chosen,
Reopen, View attachments, Show details / Full record, and Cancel / Done for a pending
state.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot import audit, callbacks
from bot.record import attachments, inbox, thread
from bot.record import render as record
from bot.record import thread_texts as texts
from bot.record.attachments import Media
from bot.record.prompt import Refused
from bot.texts import STALE_BUTTON, h
from handlers.common import BotContext, linked, refuse, reply, send_parts
from handlers.report import after_commit
from storage.models import Incident, Person

log = logging.getLogger(__name__)


@linked
async def thread_button(update: Update, context: BotContext, person: Person) -> None:
    """Buttons on alerts, receipts and thread messages."""
    services = context.services
    query = update.callback_query
    pressed = callbacks.parse(query.data, *callbacks.THREAD)
    if pressed is None:
        code = (query.data or "").split(":", 1)[0]
        await refuse(update, context, person,
                     action=code if code in callbacks.ACTIONS else "button",
                     why="malformed callback", text=STALE_BUTTON)
        return
    arg = pressed.args[0]
    chat_id = update.effective_chat.id
    cb = callbacks
    if pressed.action in (cb.ATTACHMENTS, cb.DETAILS):
        await _view(update, context, person, pressed.action, arg)
        return
    actions = {
        cb.ADD: lambda s: thread.begin_add(s, services, person, chat_id, arg, "followup"),
        cb.FIX: lambda s: thread.begin_add(s, services, person, chat_id, arg, "correction"),
        cb.REPLY: lambda s: thread.begin_reply(s, services, person, chat_id, arg),
        cb.CLOSE: lambda s: thread.begin_close(s, services, person, arg),
        cb.OUTCOME: lambda s: thread.choose_outcome(s, services, person, chat_id, arg,
                                                    pressed.args[1]),
        cb.REOPEN: lambda s: thread.begin_reopen(s, services, person, chat_id, arg),
        cb.PENDING_CANCEL: lambda s: thread.cancel(s, services, person, arg),
        cb.PENDING_DONE: lambda s: thread.finish(s, services, person, arg),
    }
    try:
        async with services.db.write() as s:
            p = await actions[pressed.action](s)
    except Refused as exc:
        await refuse(update, context, person, action=pressed.action.code, why=exc.why,
                     text=exc.text, incident_id=exc.incident_id)
        return
    await query.answer()
    await reply(update, p.text, p.buttons)
    await after_commit(context, p)


async def _view(update: Update, context: BotContext, person: Person,
                action: callbacks.Action, incident_id: int) -> None:
    """Show details (the full record) or re-send the attachments, to an authorised person.

    The button is answered only once everything was sent (or with what went wrong), and the
    audit records what was actually delivered: a view that failed is not recorded as read.
    """
    services = context.services
    async with services.db.read() as s:
        incident = await s.get(Incident, incident_id)
        allowed = incident is not None and await services.access.may_view(s, person, incident)
        if allowed:
            if action is callbacks.DETAILS:
                chunks = await record.render(s, services, incident)
            else:
                files = await attachments.for_incident(s, incident.id)
                uploaders = {a.uploaded_by_id for a in files}
                names = {pid: (await s.get(Person, pid)) for pid in uploaders}
    if not allowed:
        await refuse(update, context, person, action="view " + ("details" if action is callbacks.DETAILS
                                                                 else "attachments"),
                     why="no such incident" if incident is None else "no access to this incident",
                     text=STALE_BUTTON if incident is None else texts.NO_VIEW,
                     incident_id=incident.id if incident is not None else None)
        return
    chat_id = update.effective_chat.id
    details = action is callbacks.DETAILS
    if not details and not files:
        await update.callback_query.answer()
        await reply(update, texts.no_attachments(incident.reference))
        return
    if details:
        total = len(chunks)
        delivered = await send_parts(context.bot, chat_id, chunks)
    else:
        total = len(files)
        delivered = await _send_files(context, services, incident, files, names, chat_id)
    if delivered:
        async with services.db.write() as s:
            counts = {"parts": delivered} if details else {"count": delivered}
            if delivered < total:
                counts.update(of=total, complete=False)
            await audit.record(s, "details_viewed" if details else "attachments_viewed",
                               at=services.clock.now(), actor_id=person.id,
                               telegram_user_id=update.effective_user.id,
                               incident_id=incident.id, **counts)
    if delivered == total:
        await _answer(update, None)
    else:
        await _answer(update, texts.view_incomplete("record" if details else "attachments",
                                                    delivered, total))


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
        caption = texts.attachment_caption(
            incident.reference, i, len(files), attachments.KIND_LABELS.get(a.kind, a.kind),
            who.name if who else a.uploaded_by_id, a.created_at, services.tz)
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
        await reply(update, texts.FILE_NOT_USABLE)
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
        await reply(update, texts.FILE_NOWHERE)
        return
    if p.notice:
        await reply(update, p.notice)
    await reply(update, p.text, p.buttons)
    await after_commit(context, p)
