"""A handler's reply that Telegram keeps refusing is handed to the outbox, not lost.

The rate limiter (``bot/delivery/pacing.py`` ``SharedRateLimiter``) waits out a
429 on a handler's request for up to ``max_wait`` seconds (60). When Telegram's
waits add up to more than that, a text reply (``sendMessage``) becomes a
``deliveries`` row (kind ``handler_reply``) due when Telegram said to try again,
and the handler carries on as if it had been sent: the person gets it later,
through the outbox, and is never told "Sorry" about a message that will arrive.

Order in the chat: while a chat has handed-over replies not yet sent, every
further text reply to it is handed over too, due no earlier than the last of
them, so the dispatcher (each chat's rows in priority and id order) delivers them
in the order the handlers wrote them. Which chats owe such replies is the outbox's
own record, read on every handler send to a chat (the ``pending`` rows of kind
``handler_reply``, through the partial index ``ix_deliveries_handoff_pending``,
migration ``0020_handoff_pending_index``, normally empty): nothing is kept in
memory, so neither a restart nor another instance lets a direct reply overtake
one still in the outbox.

That read is made once per update, not once per send: the update's first read
(``bot/runtime/updates.py``, which also finds the sender and whether the update
is new) asks it for the update's chat too, and the answer is kept for the rest of
the update (:func:`answering`, set up by the update processor; :func:`learned`).
It stays true while the update is handled because nothing else can hand over a
reply to that chat meanwhile: a chat's updates are handled one at a time, on
every instance (``bot/runtime/update_processor.py``, ``Cluster.chat``), every send
outside them is the outbox's own (never handed over), and a hand-over inside the
update marks the chat as owing at once (:meth:`Handoff.take`). The one way it goes
stale is harmless: a reply the dispatcher sends meanwhile leaves the chat owing
nothing, and the update's next reply is still handed over, due at once, behind
nothing (a moment later, never out of order). A send to another chat, or one
made outside an update (none today), reads the outbox as before.

Decisions and limits:

* Only text replies are carried (HTML, or plain text, which is escaped; inline
  buttons with callback data). Files, edits and anything else the outbox cannot
  send are not handed over: the rate limiter waits them out as long as Telegram
  asks (the handler, and only its chat, waits), so no ``RetryAfter`` reaches a
  handler; a callback answer too late for Telegram is dropped quietly instead
  (``SharedRateLimiter``'s docstring).
* The handler receives a stand-in ``Message`` with ``message_id`` 0: no handler
  edits the replies it sends by their id; a later edit of it would be refused by
  Telegram ("message to edit not found") and handled where edits are.
* The wait is the injected clock's (``next_attempt_at``), like every due time.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from telegram import InlineKeyboardMarkup

from bot.clock import Clock
from bot.delivery.outbox import RECEIPT_PRIORITY, enqueue
from bot.texts import h
from storage.db import Database, is_unavailable
from storage.models import Delivery

log = logging.getLogger(__name__)

KIND = "handler_reply"


@dataclass
class _Known:
    """What this update knows of whether its chat owes handed-over replies (None: not read)."""

    chat: int
    owes: bool | None = None


_KNOWN: contextvars.ContextVar[_Known | None] = contextvars.ContextVar(
    "fosterbot_handoff_known", default=None)


@contextlib.contextmanager
def answering(chat: Any) -> Iterator[None]:
    """Requests made inside answer an update from ``chat``: what the update learns of whether
    the chat owes handed-over replies is kept for them (see the module docstring)."""
    token = _KNOWN.set(_Known(int(chat)) if _numeric(chat) else None)
    try:
        yield
    finally:
        _KNOWN.reset(token)


def learned(chat: Any, owes: bool) -> None:
    """The update's first read found whether ``chat`` owes handed-over replies."""
    known = _KNOWN.get()
    if known is not None and _numeric(chat) and known.chat == int(chat):
        known.owes = owes


class Handoff:
    """Hands a handler's text reply to the outbox (see the module docstring)."""

    def __init__(self, db: Database, clock: Clock, wake: Callable[[], None]) -> None:
        self.db = db
        self.clock = clock
        self.wake = wake
        self.handed = 0

    async def owes(self, chat: Any) -> bool:
        """Does ``chat`` still have handed-over replies waiting in the outbox?"""
        if not _numeric(chat):
            return False
        known = _KNOWN.get()
        if known is not None and known.chat == int(chat) and known.owes is not None:
            return known.owes  # read with the update's first read (see the module docstring)
        try:
            async with self.db.read_connection() as conn:
                return await _last_due(conn, int(chat)) is not None
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            # With the database down nothing in the outbox can be sent either, so no
            # reply waiting there can be overtaken; the reply that says what was not
            # saved (``bot/app.py``) must still reach the person.
            log.debug("handoff: the database is unavailable; chat %s owes nothing known", chat)
            return False

    async def take(self, endpoint: str, data: dict[str, Any], chat: Any,
                   retry_in: float) -> dict[str, Any] | None:
        """Owe the reply through the outbox, due in ``retry_in`` seconds (and after any
        reply already handed over for ``chat``); the stand-in result for the handler, or
        None when the request is not one the outbox can send."""
        payload = _carried(endpoint, data)
        if payload is None or not _numeric(chat):
            return None
        text, buttons, silent = payload
        now = self.clock.now()
        async with self.db.write() as s:
            due = max(now + timedelta(seconds=retry_in), await _last_due(s, int(chat)) or now)
            # A key of its own: a count kept in memory would start again after a restart
            # (or on another instance) and, with the clock where it was, repeat a key.
            row = await enqueue(s, key=f"{KIND}:{chat}:{uuid.uuid4().hex}",
                                kind=KIND, now=now, chat_id=int(chat), text=text,
                                buttons=buttons, priority=RECEIPT_PRIORITY, silent=silent)
            row.next_attempt_at = due
        self.handed += 1
        learned(chat, True)
        log.warning("a reply to chat %s was refused by Telegram (429) for longer than we wait: "
                    "handed to the outbox (delivery %s, due %s)", chat, row.id, due.isoformat())
        self.wake()
        return {"message_id": 0, "date": int(now.timestamp()),
                "chat": {"id": int(chat), "type": "private"}, "text": text}


# A chat's handed-over replies still waiting (bound parameter ``chat``): the partial index's
# conditions, so it reads only that index. Also asked by each update's first read.
WAITING_FOR_CHAT = and_(Delivery.chat_id == bindparam("chat"), Delivery.kind == KIND,
                        Delivery.status == "pending")
# When the chat's last waiting reply is due: asked by each hand-over, and before a send to
# a chat the update did not read it for. Built once, run as Core.
_LAST_DUE = select(func.max(Delivery.next_attempt_at)).where(WAITING_FOR_CHAT)


async def _last_due(db: AsyncSession | AsyncConnection, chat: int) -> datetime | None:
    """When the last reply handed over for ``chat`` and still waiting is due (None: none
    waits)."""
    return (await db.execute(_LAST_DUE, {"chat": chat})).scalar_one_or_none()


def _numeric(chat: Any) -> bool:
    """A chat id the outbox can hold (a number; an ``@username`` it cannot)."""
    try:
        int(chat)
    except (TypeError, ValueError):
        return False
    return True


def _carried(endpoint: str, data: dict[str, Any]) -> tuple[str, list, bool] | None:
    """(HTML text, buttons, silent) of a ``sendMessage`` the outbox can send, else None."""
    if endpoint.lower() != "sendmessage":
        return None
    text = data.get("text")
    if not isinstance(text, str) or not text:
        return None
    mode = data.get("parse_mode")
    if isinstance(mode, str) and mode.upper() == "HTML":
        pass
    elif mode is None or not isinstance(mode, str):
        text = h(text)
    else:
        return None  # Markdown: the outbox sends HTML
    buttons: list[list[tuple[str, str]]] = []
    markup = data.get("reply_markup")
    if markup is not None:
        if not isinstance(markup, InlineKeyboardMarkup):
            return None
        for row in markup.inline_keyboard:
            if any(not isinstance(b.callback_data, str) for b in row):
                return None
            buttons.append([(b.text, b.callback_data) for b in row])
    return text, buttons, bool(data.get("disable_notification"))
