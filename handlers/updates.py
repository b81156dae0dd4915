"""Every update, before and after the other handlers: handled once (see bot/runtime/updates.py)."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot import metrics
from bot.runtime import updates
from handlers.common import BotContext, remember_sender
from storage.db import is_unavailable
from storage.models import Person

log = logging.getLogger(__name__)


async def skip_if_seen(update: Update, context: BotContext) -> None:
    """Group -1: an update already handled (a redelivery) stops here and changes nothing.

    The same statement also identifies the sender (see ``common.load_sender``), so that
    ``@linked`` needs no transaction of its own, and reads whether the chat owes replies
    handed to the outbox (bot/delivery/handoff.py), so that no reply has to ask."""
    if update.update_id is None:
        return
    user, chat = update.effective_user, update.effective_chat
    seen, person, roles = await updates.check(context.services.db, update.update_id,
                                              user.id if user is not None else None,
                                              chat.id if chat is not None else None)
    if seen:
        log.info("update %s was already handled; ignoring the redelivery", update.update_id)
        metrics.mark_update("duplicate")
        raise ApplicationHandlerStop()
    if user is not None:
        remember_sender(update, context, person, roles)


async def record_handled(update: Update, context: BotContext) -> None:
    """Last group: remember the update as handled; its sender is reachable again."""
    if update.update_id is None:
        return
    user = update.effective_user
    # A sender who was reachable when this update arrived has nothing to clear: skip
    # that statement. (Not linked then, e.g. /start with an invite: look them up.)
    sender = context.sender_of(update)
    reachable = isinstance(sender, Person) and sender.unreachable_since is None
    try:
        await context.services.handled.add(updates.Handled(
            update.update_id, context.services.clock.now(),
            telegram_user_id=user.id if user and not reachable else None))
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        # The work is done; only its record failed. Handling it again on redelivery is
        # harmless (see bot/runtime/updates.py), telling the person it failed would not be.
        log.warning("update %s was handled but could not be recorded (%s)", update.update_id,
                    exc)
