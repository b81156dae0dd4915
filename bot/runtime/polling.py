"""Long polling that confirms updates to Telegram only after they were handled.

python-telegram-bot's ``Updater`` confirms a batch of updates (by asking for
the next offset) as soon as it has *queued* them, before any handler ran: a
crash at that moment loses the batch, and with it whatever a carer had just
typed. This loop confirms an update only once it and every update before it
were handled: it asks Telegram for ``offset`` = the lowest update id still in
hand. After a crash Telegram delivers the unconfirmed updates again; those
already handled are skipped by ``processed_updates`` (``bot/runtime/updates.py``).

Updates are handled different chats at once (the application's per-chat
update processor keeps each chat in order). The loop waits up to
``patience`` seconds for a batch; if some update takes longer (a manager's
export, a write waiting for a ``fosterbot`` command's lock) it polls again
without confirming it, so that the slow update holds up only its own chat:
Telegram then sends the updates still in hand again with the new ones (they
are at or after the offset), and those in hand are skipped. So a new chat
waits at most ``patience`` seconds behind a slow one. The default, 0.2 s, is measured
(``bench/alert_latency.py``): an update is often held for a moment by its own
chat's pacing (Telegram's ~1 message a second per chat), and at 0.5 s a Submit
tap that arrived then waited for it — PostgreSQL's alert p99 was 500 ms, one
report in twenty; at 0.2 s it is 240 ms, at the cost of a re-poll (in-hand
updates are not parsed again) every 0.2 s while something is in hand. At most
``max_in_hand`` updates are in hand at a time.

Re-sent updates still in hand are dropped before python-telegram-bot parses
them: the loop reads getUpdates' JSON itself and builds ``Update`` objects
only for new ids. (Parsing an update is most of what it costs to receive it;
under a burst of reports the updates in hand were sent again at every poll,
and parsing them again took about a tenth of the bot's CPU.) Nor is their JSON
decoded again when the application's getUpdates request is an ``UpdatesRequest``
(``bot/runtime/updates_request.py``, as ``bot/app.py`` builds it): they come back
as stubs, which are skipped. An update that
cannot be parsed is logged by id and size (not content) and confirmed, so it is not fetched
for ever.

A failed poll never ends the loop (only a refused token does): a 429 is
waited out as long as Telegram asks, anything else — a network error, a 5xx, a
403, a bug — is logged and retried with a backoff doubling up to 30 s.

An update whose handling failed because the database was unavailable
(``bot/runtime/failures.py``) is not counted as done: the offset stays at it, so
Telegram keeps it, and the loop takes it again after a back-off (1 s doubling to
``RETRY_MAX``) until it is handled. Meanwhile the loop waits for that back-off
instead of polling in a tight circle.

Stopping (SIGTERM) interrupts the long poll at once but lets the updates in
hand finish; what they confirm is confirmed on the way out.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from typing import Any

from telegram import Update
from telegram.error import (
    Conflict,
    EndPointNotFound,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import Application
from telegram.warnings import PTBUserWarning

from bot.delivery.stopping import unless_stopped
from bot.runtime import failures, inbound
from bot.runtime.updates_request import UPDATES_REQUEST, UpdatesRequest, is_known_stub

log = logging.getLogger(__name__)
RETRY_MAX = 10.0  # seconds between tries of an update that failed on the database
POLL_RETRY_FIRST = 1.0  # seconds before polling again after a failed poll (doubling to 30)

# ``_fetch`` calls getUpdates through ``Bot.do_api_request`` on purpose (for the raw
# JSON); python-telegram-bot warns that ``Bot.get_updates`` exists.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.get_updates'",
                        category=PTBUserWarning)


def _pause_after(exc: BaseException, backoff: float) -> float:
    """How long to wait before polling again after ``exc``: what a 429 asks, else ``backoff``."""
    if isinstance(exc, RetryAfter):
        seconds = exc.retry_after
        seconds = seconds.total_seconds() if hasattr(seconds, "total_seconds") else seconds
        return max(float(seconds), backoff)
    return backoff


class Poller:
    def __init__(self, app: Application, *, timeout: int = 10,
                 allowed_updates: list[str] | None = None, patience: float = 0.2,
                 max_in_hand: int = 256) -> None:
        self.app = app
        self.timeout = timeout
        self.allowed_updates = allowed_updates
        self.patience = patience
        self.max_in_hand = max_in_hand
        self.offset: int | None = None  # what the next getUpdates asks for (confirms < it)
        self.handled = 0
        self._confirmed: int | None = None  # the offset Telegram has been sent
        self._in_hand: dict[int, asyncio.Task] = {}  # update id -> its handling
        self._done_above: set[int] = set()  # handled, but an earlier update is still in hand
        self._highest: int | None = None  # the highest update id taken
        # Failed on the database: update id -> (monotonic time it may be tried again, tries).
        self._retry: dict[int, tuple[float, int]] = {}
        self.retried = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None
        request = app.bot_data.get(UPDATES_REQUEST)
        if isinstance(request, UpdatesRequest):
            request.known = self._in_hand_already

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        await self.app.bot.delete_webhook(drop_pending_updates=False)
        self._stop.clear()
        self._task = asyncio.create_task(self._loop(), name="fosterbot-polling")

    async def stop(self) -> None:
        """Stop taking updates; those in hand are finished and confirmed."""
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._in_hand:
            await asyncio.gather(*self._in_hand.values(), return_exceptions=True)
        if self.offset is not None and self.offset != self._confirmed:
            try:  # confirm the last updates (the update this may return is not handled)
                await self.app.bot.get_updates(offset=self.offset, timeout=0, limit=1)
            except TelegramError:
                log.info("could not confirm the last updates; they will be skipped as seen")

    async def _interruptible(self, aw: Any) -> Any:
        return await unless_stopped(self._stop, aw, asyncio.CancelledError)

    async def _loop(self) -> None:
        backoff = POLL_RETRY_FIRST
        while not self._stop.is_set():
            if len(self._in_hand) >= self.max_in_hand:
                await self._wait(None, every=False)
                continue
            asked = self.offset
            if self._retry and not self._in_hand:
                # Telegram answers at once while it holds a failed update: wait for its turn.
                due = min(at for at, _ in self._retry.values()) - time.monotonic()
                if due > 0:
                    try:
                        await self._interruptible(asyncio.sleep(min(due, RETRY_MAX)))
                    except asyncio.CancelledError:
                        return
            try:
                raw = await self._interruptible(
                    self._fetch(asked, 0 if self._in_hand or self._retry else self.timeout))
            except asyncio.CancelledError:
                return
            except (InvalidToken, EndPointNotFound):
                # do_api_request reports a refused token as an unknown endpoint (401/404);
                # getUpdates exists, so it is the token.
                log.critical("Telegram refused the bot token; polling stopped")
                return
            except Exception as exc:  # noqa: BLE001 - the loop must outlive any one poll
                pause = _pause_after(exc, backoff)
                if isinstance(exc, (NetworkError, Conflict, RetryAfter)):
                    log.warning("polling failed (%s); retrying in %gs", exc, pause)
                else:
                    log.error("polling failed; retrying in %gs", pause, exc_info=exc)
                try:
                    await self._interruptible(asyncio.sleep(pause))
                except asyncio.CancelledError:
                    return
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = POLL_RETRY_FIRST
            if asked is not None:
                self._confirmed = asked
            self._take(self._parse_new(raw))
            if self._in_hand:
                # Usually all finish within ``patience`` and the next poll is an
                # ordinary long poll; otherwise poll again then, for other chats.
                try:
                    await self._interruptible(self._wait(self.patience, every=True))
                except asyncio.CancelledError:
                    return

    async def _fetch(self, offset: int | None, timeout: int) -> list:
        """getUpdates' result as JSON: a list of updates not yet parsed."""
        params: dict[str, Any] = {"timeout": timeout}
        if offset is not None:
            params["offset"] = offset
        if self.allowed_updates is not None:
            params["allowed_updates"] = self.allowed_updates
        # The getUpdates request's own read timeout (bot/app.py) covers the long poll.
        raw = await self.app.bot.do_api_request("get_updates", api_kwargs=params)
        return raw if isinstance(raw, list) else []

    def _parse_new(self, raw: list) -> list[Update]:
        """The new updates among ``raw``, parsed; those in hand or handled are not parsed again."""
        bot = self.app.bot
        new = []
        for data in raw:
            update_id = data.get("update_id") if isinstance(data, dict) else None
            if not isinstance(update_id, int):
                log.error("getUpdates returned an entry without an update id, ignored: %s",
                          inbound.describe(None, data))
                continue
            if is_known_stub(data) or not self._is_new(update_id):
                continue
            if inbound.muted(self.app.bot_data.get("services"), data):
                self._skip(update_id)  # a stranger answered already in this window
                continue
            try:
                update = Update.de_json(inbound.clean(data), bot)
                bot.insert_callback_data(update)
            except Exception as exc:  # noqa: BLE001 - confirmed, not fetched for ever
                # By id and size only: the content is a person's words (never logged).
                log.error("could not read %s; it is confirmed without being handled",
                          inbound.describe(update_id, data, exc))
                self._skip(update_id)
                continue
            new.append(update)
        return new

    def _skip(self, update_id: int) -> None:
        """Count an update that cannot be handled as done (so that it is confirmed)."""
        self._done_above.add(update_id)
        self._saw(update_id)
        self._advance()

    def _saw(self, update_id: int) -> None:
        if self._highest is None or update_id > self._highest:
            self._highest = update_id

    def _in_hand_already(self, update_id: int) -> bool:
        """In hand, or handled while an earlier one is still in hand: sent again by
        Telegram, and not to be decoded again (``UpdatesRequest``)."""
        return update_id in self._in_hand or update_id in self._done_above

    def _is_new(self, update_id: int) -> bool:
        if self._in_hand_already(update_id):
            return False
        if update_id in self._retry:
            return self._retry[update_id][0] <= time.monotonic()
        return self.offset is None or update_id >= self.offset

    def _take(self, updates: list) -> None:
        processor = self.app.update_processor
        for u in updates:
            task = asyncio.create_task(processor.process_update(u, self.app.process_update(u)),
                                       name=f"fosterbot-update-{u.update_id}")
            self._in_hand[u.update_id] = task
            task.add_done_callback(lambda t, uid=u.update_id: self._finished(uid, t))
            self._saw(u.update_id)
        if updates:
            self._advance()

    def _finished(self, update_id: int, task: asyncio.Task) -> None:
        self._in_hand.pop(update_id, None)
        if failures.take(self.app.bot_data, update_id):
            tries = self._retry.get(update_id, (0.0, 0))[1] + 1
            self._retry[update_id] = (time.monotonic() + min(RETRY_MAX, 2.0 ** (tries - 1)),
                                      tries)
            self.retried += 1
            self._advance()
            return
        self._retry.pop(update_id, None)
        self._done_above.add(update_id)
        self.handled += 1
        if not task.cancelled() and task.exception() is not None:
            log.error("handling an update failed", exc_info=task.exception())
        self._advance()

    def _advance(self) -> None:
        """The offset: the lowest update still in hand (or waiting to be tried again), else one
        past the highest taken."""
        if self._in_hand or self._retry:
            self.offset = min([*self._in_hand, *self._retry])
        elif self._highest is not None:
            self.offset = self._highest + 1
        if self.offset is not None:
            self._done_above = {i for i in self._done_above if i >= self.offset}

    async def _wait(self, timeout: float | None, *, every: bool) -> None:
        """Until every update in hand (or, ``every=False``, one of them) is handled."""
        if self._in_hand:
            await asyncio.wait(list(self._in_hand.values()), timeout=timeout,
                               return_when=asyncio.ALL_COMPLETED if every
                               else asyncio.FIRST_COMPLETED)
