"""What every handler shares: the typed context, identifying the sender, refusing strangers."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import CallbackContext, ExtBot

from bot import audit, callbacks, texts
from bot.services import Services
from storage import queries
from storage.models import Person

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)


_UNKNOWN = object()


class BotContext(CallbackContext[ExtBot, dict, dict, dict]):
    """Handlers reach the services through ``context.services``.

    PTB builds one context per update and hands it to every handler group, so
    the sender looked up in group -1 (``load_sender``) is kept here for the
    handler that runs next.
    """

    @property
    def services(self) -> Services:
        return self.application.bot_data["services"]

    def sender_of(self, update: Update) -> Person | None | object:
        """The sender loaded for this update (None: not linked), or ``_UNKNOWN``."""
        loaded = self.__dict__.get("_fosterbot_sender")
        if loaded is None or loaded[0] is not update:
            return _UNKNOWN
        return loaded[1]


async def load_sender(session: AsyncSession, update: Update, context: BotContext) -> Person | None:
    """The Person linked to the update's sender, with their roles, in one query; kept on the
    context for ``@linked`` (and the roles for ``Access``) for the rest of this update."""
    user = update.effective_user
    if user is None:
        return None
    person, roles = await queries.person_and_roles_by_telegram(session, user.id)
    remember_sender(update, context, person, roles)
    return person


def remember_sender(update: Update, context: BotContext, person: Person | None,
                    roles: frozenset[str]) -> None:
    """Keep the sender found for this update (None: not linked) and their roles (``Access``)
    for the rest of the update (``@linked``, ``sender_of``)."""
    if person is not None:
        context.services.access.remember_roles(person, roles)
    context.__dict__["_fosterbot_sender"] = (update, person)


def keyboard(buttons: list[list[tuple[str, str]]] | None) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in buttons]
    )


async def reply(update: Update, text: str, buttons=None) -> None:
    chat = update.effective_chat
    if chat is None:
        return
    await chat.send_message(text, parse_mode=ParseMode.HTML, reply_markup=keyboard(buttons))


async def send_parts(bot: ExtBot, chat_id: int, parts: list[str]) -> int:
    """Send HTML messages in order (each already within Telegram's limit: ``bot.chunks``); stop
    at the first one Telegram refuses. Returns how many arrived. Pacing and 429s are the
    bot's rate limiter's business (``bot/delivery/pacing.py``)."""
    for n, part in enumerate(parts):
        try:
            await bot.send_message(chat_id=chat_id, text=part, parse_mode=ParseMode.HTML)
        except TelegramError as exc:
            log.warning("message %d of %d to chat %s refused: %s", n + 1, len(parts), chat_id, exc)
            return n
    return len(parts)


async def show(update: Update, text: str, buttons=None) -> None:
    """Replace the message a button was on (or send a new one when it cannot be edited)."""
    query = update.callback_query
    if query is not None and query.message is not None:
        try:
            await query.edit_message_text(text, parse_mode=ParseMode.HTML,
                                          reply_markup=keyboard(buttons))
            return
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return
            log.info("could not edit message, sending anew: %s", exc.message)
    await reply(update, text, buttons)


async def refuse_stranger(update: Update, context: BotContext) -> None:
    """Unknown Telegram accounts get one polite sentence and nothing else (and an audit row),
    at most once per ``limits.stranger_window``; further attempts in the window are only
    counted, and the count goes in the next window's audit row (bot/people/limits.py)."""
    services = context.services
    user = update.effective_user
    what = "button" if update.callback_query else "message"
    now = services.clock.now()
    async with services.db.write() as s:
        verdict = await services.limits.stranger(s, user.id, now) if user else None
        if verdict is None or verdict.allow:
            extra = {"repeats": verdict.repeats} if verdict is not None and verdict.repeats else {}
            await audit.refused(s, at=now, telegram_user_id=user.id if user else None,
                                action=what, why="Telegram account not linked", **extra)
    if verdict is not None and not verdict.allow:
        if update.callback_query is not None:
            await update.callback_query.answer()  # stops the spinner; says nothing
        return
    if update.callback_query is not None:
        await update.callback_query.answer(texts.unknown_user(), show_alert=True)
    else:
        await reply(update, texts.unknown_user())


Handler = Callable[[Update, BotContext, Person], Awaitable[Any]]


def linked(func: Handler) -> Callable[[Update, BotContext], Awaitable[Any]]:
    """Run ``func`` with the sender's Person, or refuse a sender who is not linked."""

    @functools.wraps(func)
    async def wrapper(update: Update, context: BotContext) -> Any:
        user = update.effective_user
        if user is None:
            return None
        person = context.sender_of(update)
        if person is _UNKNOWN:
            async with context.services.db.read() as s:
                person = await load_sender(s, update, context)
        if person is None or not person.active:
            await refuse_stranger(update, context)
            return None
        message = update.message
        if message is not None and (message.text or "").startswith("/"):
            if not await _command_allowed(update, context, person):
                return None
        return await func(update, context, person)

    return wrapper


async def _command_allowed(update: Update, context: BotContext, person: Person) -> bool:
    """A linked person's command within ``limits.commands_per_minute``; over it, they are told
    once a minute (and it is audited once), and the extra commands are not run."""
    services = context.services
    verdict = services.limits.command(update.effective_user.id, services.clock.now())
    if verdict.allow:
        return True
    if verdict.tell:
        async with services.db.write() as s:
            await audit.record(s, "rate_limited", at=services.clock.now(), actor_id=person.id,
                               telegram_user_id=update.effective_user.id, action="command",
                               limit=services.settings.limits.commands_per_minute)
        await reply(update, texts.h(texts.COMMANDS_TOO_FAST))
    return False


async def pressed_button(update: Update, context: BotContext, person: Person,
                         *actions: callbacks.Action, action: str) -> callbacks.Pressed | None:
    """The tapped button decoded as one of ``actions``; None when its data is not one of them
    (forged or from an old version): the tap is then refused as stale and recorded as
    ``action``, and the handler simply returns."""
    pressed = callbacks.parse(update.callback_query.data, *actions)
    if pressed is None:
        await refuse(update, context, person, action=action, why="malformed callback",
                     text=texts.STALE_BUTTON)
    return pressed


async def refuse(update: Update, context: BotContext, person: Person, *, action: str, why: str,
                 text: str, incident_id: int | None = None, **details: Any) -> None:
    services = context.services
    async with services.db.write() as s:
        await audit.refused(s, at=services.clock.now(), actor_id=person.id,
                            telegram_user_id=update.effective_user.id if update.effective_user else None,
                            incident_id=incident_id, action=action, why=why, **details)
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    else:
        await reply(update, texts.h(text))
