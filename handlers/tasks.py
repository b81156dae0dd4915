"""/tasks (my open statutory tasks), /done (record one done with a note), /compliance."""

from __future__ import annotations

from telegram import Update

from bot.record import tasks
from bot.review import compliance
from handlers import review
from handlers.common import BotContext, linked, reply
from storage.models import Person


@linked
async def tasks_command(update: Update, context: BotContext, person: Person) -> None:
    services = context.services
    async with services.db.read() as s:
        text = tasks.tasks_text(await tasks.open_tasks(s, services, person), person, services)
    await reply(update, text)


@linked
async def done_command(update: Update, context: BotContext, person: Person) -> None:
    services = context.services
    args = context.args or []
    if len(args) < 2 or not args[0].isdigit() or len(args[0]) > 12:
        await reply(update, tasks.DONE_USAGE)
        return
    text = (update.effective_message.text or "").split(maxsplit=2)
    note = text[2] if len(text) > 2 else ""
    async with services.db.write() as s:
        done = await tasks.record_done(s, services, person, int(args[0]), note)
    await reply(update, done.text)


@linked
async def visit_command(update: Update, context: BotContext, person: Person) -> None:
    """/visit CHILD DATE alone|not-alone note: a placement visit (reg. 28)."""
    services = context.services
    words = (update.effective_message.text or "").split(maxsplit=4)
    if len(words) < 5:
        await reply(update, tasks.VISIT_USAGE)
        return
    _cmd, child, day, alone, note = words
    async with services.db.write() as s:
        done = await tasks.record_visit(s, services, person, child, day, alone, note)
    services.wake_engine()
    await reply(update, done.text)


@linked
async def compliance_command(update: Update, context: BotContext, person: Person) -> None:
    """/compliance [period]: managers — statutory tasks on time and missed, per team."""
    services = context.services
    asked = await review.scope_and_period(update, context, person, "compliance")
    if asked is None:
        return
    scope, _label, period = asked
    async with services.db.read() as s:
        c = await compliance.compute(s, scope, period.start, period.end, services.clock.now(),
                                     period.label)
    await reply(update, compliance.render_chat(c, services.tz))
