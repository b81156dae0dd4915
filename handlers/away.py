"""/away <until> [cover] and /back: social workers set or clear cover while away."""

from __future__ import annotations

from telegram import Update

from bot.people import away
from bot.texts import h
from handlers.common import BotContext, linked, refuse, reply
from storage.models import Person

NOT_FOR_YOU = "Only social workers and managers can use /away and /back."


@linked
async def away_command(update: Update, context: BotContext, person: Person) -> None:
    """Mark myself away until a date, optionally naming who covers."""
    services = context.services
    args = context.args or []
    if not args or len(args) > 2:
        await reply(update, away.USAGE)
        return
    try:
        until = away.parse_until(args[0], services, services.clock.now())
        async with services.db.write() as s:
            result = await away.set_away(s, services, person, until=until,
                                         cover_id=args[1] if len(args) == 2 else None)
    except away.AwayError as exc:
        await reply(update, h(str(exc)) + "\n\n" + away.USAGE)
        return
    except PermissionError as exc:
        await refuse(update, context, person, action="away", why=str(exc), text=NOT_FOR_YOU)
        return
    await reply(update, away.away_confirmation(result, services.tz))


@linked
async def back_command(update: Update, context: BotContext, person: Person) -> None:
    """I am back: alerts come to me again."""
    services = context.services
    try:
        async with services.db.write() as s:
            await away.set_back(s, services, person)
    except PermissionError as exc:
        await refuse(update, context, person, action="back", why=str(exc), text=NOT_FOR_YOU)
        return
    await reply(update, "👋 Welcome back. New alerts and reminders come to you again.")
