"""/oncall (who is on call now and next for my team) and /swap (swap a rota shift)."""

from __future__ import annotations

from telegram import Update

from bot.people import oncall
from bot.texts import h, when
from handlers.common import BotContext, linked, reply
from storage.models import Person


@linked
async def oncall_command(update: Update, context: BotContext, person: Person) -> None:
    """Who is on duty and out of hours for my team, now and next."""
    services = context.services
    async with services.db.read() as s:
        text = await oncall.oncall_text(s, person, services.clock.now(), services.tz)
    await reply(update, text)


@linked
async def swap_command(update: Update, context: BotContext, person: Person) -> None:
    """Swap one of my rota shifts with another member of the rota."""
    services = context.services
    args = context.args or []
    if len(args) not in (2, 3):
        await reply(update, oncall.SWAP_USAGE)
        return
    now = services.clock.now()
    try:
        today = services.today(now)
        day = oncall.parse_day(args[1], today)
        their_day = oncall.parse_day(args[2], today) if len(args) == 3 else None
        async with services.db.write() as s:
            made = await oncall.swap(s, person, other_id=args[0], day=day, their_day=their_day,
                                     now=now, tz=services.tz)
            names = {p: (await s.get(Person, p)).name for p, _ in made}
    except oncall.SwapError as exc:
        await reply(update, h(str(exc)) + "\n\n" + oncall.SWAP_USAGE)
        return
    services.wake_dispatcher()
    lines = ["🔁 Swapped. They have been told."]
    for taker, shift in made:
        who = "You are" if taker == person.id else f"{h(names[taker])} is"
        lines.append(f"{who} on call from {when(shift.starts_at, services.tz)} "
                     f"until {when(shift.ends_at, services.tz)}.")
    await reply(update, "\n".join(lines))
