"""The "Ofsted and responsible authority notified" button on notification reminders."""

from __future__ import annotations

from telegram import Update

from bot import callbacks
from bot.record import notification
from bot.texts import STALE_BUTTON, hhmm
from handlers.common import BotContext, linked, refuse
from storage.models import Person


@linked
async def notified_button(update: Update, context: BotContext, person: Person) -> None:
    """Record that the notification was made; a repeat is told who recorded it."""
    services = context.services
    query = update.callback_query
    pressed = callbacks.parse(query.data, callbacks.NOTIFIED)
    if pressed is None:
        await refuse(update, context, person, action="record notification",
                     why="malformed callback", text=STALE_BUTTON)
        return
    async with services.db.write() as s:
        result = await notification.record_notified(
            s, services, incident_id=pressed.args[0], person=person,
            telegram_user_id=update.effective_user.id,
        )
    if result.status == "recorded":
        services.wake_dispatcher()
        await query.answer(f"Recorded: {result.incident.reference} notified. Reminders stop.")
    elif result.status == "already":
        at = hhmm(result.at, services.tz) if result.at else "?"
        await query.answer(f"Already recorded by {result.by_name} at {at}.", show_alert=True)
    elif result.status == "refused":
        await query.answer("Only a manager of the child's team can record this. Nothing was "
                           "changed.", show_alert=True)
    else:
        await query.answer(STALE_BUTTON, show_alert=True)
