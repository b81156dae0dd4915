"""Whatever no other handler took: unknown commands, stray buttons, unsupported messages."""

from __future__ import annotations

from telegram import Update

from bot.record import thread_texts
from bot.texts import STALE_BUTTON
from handlers.common import BotContext, linked, refuse, reply
from storage.models import Person


@linked
async def unknown_command(update: Update, context: BotContext, person: Person) -> None:
    """An unknown command gets pointed at /help."""
    await reply(update, "I do not know that command. /help lists what you can do.")


@linked
async def unknown_button(update: Update, context: BotContext, person: Person) -> None:
    """A button whose data nothing recognises: forged or out of date."""
    await refuse(update, context, person, action="button", why="unrecognised callback data",
                 text=STALE_BUTTON)


@linked
async def other_message(update: Update, context: BotContext, person: Person) -> None:
    """Media outside a report (attachments arrive with the conversation work)."""
    await reply(update, thread_texts.FILE_NOT_USABLE)
