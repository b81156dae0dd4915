"""/tasks (my open statutory tasks), /done (record one done with a note), /compliance."""

from __future__ import annotations

from telegram import Update

from bot import callbacks
from bot.record import tasks, visit_guide
from bot.review import compliance
from handlers import review
from handlers.common import BotContext, linked, pressed_button, reply
from storage.models import Person


@linked
async def tasks_command(update: Update, context: BotContext, person: Person) -> None:
    services = context.services
    async with services.db.read() as s:
        mine = await tasks.open_tasks(s, services, person)
    await reply(update, tasks.tasks_text(mine, person, services), tasks.tasks_buttons(mine))


@linked
async def tasks_button(update: Update, context: BotContext, person: Person) -> None:
    """Done on a task in /tasks: the next message is its note."""
    services = context.services
    query = update.callback_query
    pressed = await pressed_button(update, context, person, *callbacks.TASKS, action="task_done")
    if pressed is None:
        return
    async with services.db.write() as s:
        p = await tasks.begin_done(s, services, person, update.effective_chat.id,
                                   int(pressed.args[0]))
    await query.answer()
    await reply(update, p.text, p.buttons)


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
    """/visit CHILD DATE alone|not-alone note: a placement visit (reg. 28); /visit alone
    guides the worker through buttons (bot/record/visit_guide.py)."""
    services = context.services
    words = (update.effective_message.text or "").split(maxsplit=4)
    if len(words) == 1:
        async with services.db.write() as s:
            p = await visit_guide.start(s, services, person, update.effective_chat.id)
        await reply(update, p.text, p.buttons)
        return
    if len(words) < 5:
        await reply(update, tasks.VISIT_USAGE)
        return
    _cmd, child, day, alone, note = words
    async with services.db.write() as s:
        done = await tasks.record_visit(s, services, person, child, day, alone, note)
    services.wake_engine()
    await reply(update, done.text)


@linked
async def visit_button(update: Update, context: BotContext, person: Person) -> None:
    """The guided /visit's buttons: child, day, seen alone, confirm."""
    services = context.services
    query = update.callback_query
    pressed = await pressed_button(update, context, person, *callbacks.VISIT, action="visit")
    if pressed is None:
        return
    step = {callbacks.VISIT_CHILD: visit_guide.child_chosen,
            callbacks.VISIT_DAY: visit_guide.day_chosen,
            callbacks.VISIT_ALONE: visit_guide.alone_chosen,
            callbacks.VISIT_CONFIRM: visit_guide.confirmed}[pressed.action]
    async with services.db.write() as s:
        p = await step(s, services, person, int(pressed.args[0]), str(pressed.args[1]))
    if p.done:
        services.wake_engine()  # the next visit's clock
    await query.answer()
    await reply(update, p.text, p.buttons)


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
