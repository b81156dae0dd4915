"""/oversee REF (with the entry on the following lines) and the "Record oversight" button.

Thin: ``bot/record/oversight.py`` finds the subject, checks the person may
oversee it (``Access.may_oversee``), reads and records the entry; a refusal is
answered politely and logged as ``access_refused``.
"""

from __future__ import annotations

from telegram import Update

from bot import callbacks
from bot.record import oversight
from bot.record import oversight_texts as texts
from bot.texts import h
from handlers.common import BotContext, linked, pressed_button, refuse, reply
from storage.models import Incident, Person


@linked
async def oversee_command(update: Update, context: BotContext, person: Person) -> None:
    """/oversee INC-… or /oversee CHILD, then Decision:, Rationale:, Action: lines."""
    services = context.services
    message = update.effective_message
    first, _, body = (message.text or "").partition("\n")
    words = first.split()
    if len(words) < 2:
        await reply(update, h(texts.USAGE))
        return
    try:
        async with services.db.write() as s:
            shown, _ = await oversight.oversee(s, services, person, words[1], body)
    except oversight.NotAllowed as exc:
        await refuse(update, context, person, action="oversee", why=exc.why, text=exc.text,
                     incident_id=exc.incident_id, subject=words[1][:40])
        return
    services.wake_dispatcher()  # the managers', holders' and owners' notices
    services.wake_engine()  # the actions' clocks
    await reply(update, shown)


@linked
async def oversee_button(update: Update, context: BotContext, person: Person) -> None:
    """"📝 Record oversight" (``ov:<incident>``): the entry's form for that report."""
    services = context.services
    query = update.callback_query
    pressed = await pressed_button(update, context, person, *callbacks.OVERSIGHT,
                                   action="oversee button")
    if pressed is None:
        return
    async with services.db.read() as s:
        incident = await s.get(Incident, pressed.args[0])
        try:
            if incident is None:
                raise oversight.NotAllowed("no such incident", texts.NO_SUCH)
            await oversight.subject(s, services, person, incident.reference)
        except oversight.NotAllowed as exc:
            failure = exc
        else:
            failure = None
    if failure is not None:
        await refuse(update, context, person, action="oversee button", why=failure.why,
                     text=failure.text, incident_id=failure.incident_id)
        return
    await query.answer()
    await reply(update, texts.form(incident.reference))
