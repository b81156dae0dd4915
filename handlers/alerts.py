"""Buttons on alerts: Acknowledge (idempotent, checked against the record)."""

from __future__ import annotations

from telegram import Update

from bot import callbacks
from bot.record import incidents
from bot.texts import STALE_BUTTON, hhmm
from handlers.common import BotContext, linked, pressed_button
from storage.models import Person


@linked
async def acknowledge_button(update: Update, context: BotContext, person: Person) -> None:
    """Acknowledge an incident; a repeat or a second person is told who already did."""
    services = context.services
    query = update.callback_query
    pressed = await pressed_button(update, context, person, callbacks.ACK, action="acknowledge")
    if pressed is None:
        return
    async with services.db.write() as s:
        result = await incidents.acknowledge(
            s, services, incident_id=pressed.args[0], person=person,
            telegram_user_id=update.effective_user.id,
        )
    if result.status == "acknowledged":
        services.wake_dispatcher()
        services.wake_engine()
        await query.answer(f"Acknowledged {result.incident.reference}. The carer has been told.")
    elif result.status == "already":
        at = hhmm(result.at, services.tz) if result.at else "?"
        await query.answer(f"Already acknowledged by {result.by_name} at {at}.", show_alert=True)
    else:
        await query.answer(STALE_BUTTON if result.status == "not_found"
                           else "You are not a recipient of this report, so you cannot "
                                "acknowledge it. Nothing was changed.", show_alert=True)
