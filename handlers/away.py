"""/away <until> [cover] and /back: social workers set or clear cover while away."""

from __future__ import annotations

from telegram import Update

from bot.people import away
from bot.texts import h, when
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
    lines = [f"🏖 You are marked away until <b>{when(result.until, services.tz)}</b>."]
    if result.covered_by is not None:
        label = "your cover" if result.covered_as == "cover" else "the duty social worker"
        lines.append(f"New alerts and reminders about your children go to "
                     f"<b>{h(result.covered_by.name)}</b> ({label}) until then.")
    else:
        lines.append("⚠️ Nobody can take your alerts while you are away (no cover and no duty "
                     "worker on Telegram): they go to your team manager. Please arrange cover.")
    lines.append("Send /back when you return early.")
    await reply(update, "\n".join(lines))


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
