"""Outbound pacing: stay inside Telegram's flood limits so a burst produces no 429s.

Telegram allows about 30 messages a second overall and about one a second per
private chat, with a small burst. The dispatcher keeps under both with two kinds
of token bucket, both on a monotonic clock (real time, not the injected
business clock: pacing is about the wire, not about due times):

* :class:`GlobalGate` — one bucket for the whole bot (``delivery.global_per_second``,
  burst ``delivery.global_burst``). Waiters are served in priority order
  (urgent alerts before routine notices), not in arrival order. The burst is
  kept small on purpose: a bucket of rate 28/s and burst 5 conforms to
  Telegram's 30/s-and-30 even when network jitter bunches requests together by
  most of a second. A 429 that looks global pauses the gate (:meth:`pause`).
* :class:`ChatPacer` — one bucket per chat (``delivery.per_chat_per_second``,
  burst ``delivery.per_chat_burst``), *charged when the send completes* rather
  than when it starts. Telegram charges a message when it arrives, which is
  between the two, so charging at completion keeps our count of recent
  messages at or above Telegram's and the per-chat limit is never crossed even
  with the same rate and burst as Telegram's.

Clock and sleep are injectable so tests can run the pacing on virtual time.

One gate for every send: :class:`Pacing` holds the two, and both the outbox
dispatcher and :class:`SharedRateLimiter` (python-telegram-bot's rate-limiter
hook, so every request a handler makes: replies, edits, files, exports) draw on
it; a chat's replies and its alerts share one allowance.

Several instances on PostgreSQL: ``Pacing.shared`` is the service-wide budget
(``storage/send_budget.py``, token buckets in the database), asked after the
in-memory gate for every send of every instance — the leader's outbox and each
instance's handler replies — so the limits hold for the service as a whole. It
books each send's slot in one call (:meth:`Pacing.shared_turn`); this process
keeps a copy of the chat buckets it booked (:meth:`Pacing.chat_delay`), so it
does not ask for a chat before the database would have its token — the shared
chat bucket counts sends and edits together, one less burst, from the start of
a send.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from telegram.error import BadRequest, RetryAfter
from telegram.ext import BaseRateLimiter

from bot.metrics import Metrics

log = logging.getLogger(__name__)

Monotonic = Callable[[], float]
_EPSILON = 1e-9  # float dust: a bucket 0.999999999 full has its token
Sleep = Callable[[float], Awaitable[Any]]


class TokenBucket:
    """``rate`` tokens a second up to ``burst``; starts full."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.at = now

    def _refill(self, now: float) -> None:
        if now > self.at:
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 if one is now)."""
        if now < self.at:  # held (block_until)
            return (self.at - now) + max(0.0, 1 - self.tokens) / self.rate
        self._refill(now)
        return 0.0 if self.tokens >= 1 - _EPSILON else (1 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1

    def block_until(self, until: float) -> None:
        """No token before ``until`` (Telegram told us to wait); one token then."""
        if until > self.at:
            self.tokens = min(self.tokens, 1.0)
            self.at = until

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.burst


class GlobalGate:
    """Grants one send at a time at ``rate`` a second, lowest priority key first."""

    def __init__(self, rate: float, burst: float, *, clock: Monotonic = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.clock = clock
        self.sleep = sleep
        self.bucket = TokenBucket(rate, burst, clock())
        self.paused_until = 0.0
        self._heap: list[tuple[Any, int, asyncio.Future]] = []
        self._seq = itertools.count()
        self._pump_task: asyncio.Task | None = None
        self.granted = 0

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, f in self._heap if not f.done())

    async def acquire(self, key: Any) -> None:
        """Wait for a send slot; ``key`` orders waiters (smaller goes first)."""
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (key, next(self._seq), fut))
        if self._pump_task is None or self._pump_task.done():
            self._pump_task = asyncio.create_task(self._pump(), name="fosterbot-pacing")
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.bucket.tokens += 1  # granted but not used: give the slot back
            fut.cancel()
            raise

    def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (a global flood-control answer)."""
        self.paused_until = max(self.paused_until, self.clock() + seconds)

    async def _pump(self) -> None:
        while True:
            while self._heap and self._heap[0][2].done():
                heapq.heappop(self._heap)
            if not self._heap:
                return
            now = self.clock()
            wait = max(self.bucket.wait_time(now), self.paused_until - now)
            if wait > 0:
                await self.sleep(wait)
                continue
            _, _, fut = heapq.heappop(self._heap)
            if fut.done():
                continue
            self.bucket.take(now)
            self.granted += 1
            fut.set_result(None)
            # Let the granted sender run before granting the next slot.
            await asyncio.sleep(0)


class ChatPacer:
    """Per-chat buckets, charged when a send completes."""

    def __init__(self, rate: float, burst: int, *, clock: Monotonic = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[Any, TokenBucket] = {}

    def bucket(self, chat: Any, now: float) -> TokenBucket:
        b = self._buckets.get(chat)
        if b is None:
            if len(self._buckets) > 10_000:
                self._forget_idle(now)
            b = self._buckets[chat] = TokenBucket(self.rate, self.burst, now)
        return b

    def delay(self, chat: Any) -> float:
        """Seconds to wait before the next send to ``chat``."""
        now = self.clock()
        return self.bucket(chat, now).wait_time(now)

    def charge(self, chat: Any) -> None:
        now = self.clock()
        self.bucket(chat, now).take(now)

    def hold(self, chat: Any, seconds: float) -> None:
        now = self.clock()
        self.bucket(chat, now).block_until(now + seconds)

    def _forget_idle(self, now: float) -> None:
        for chat in [c for c, b in self._buckets.items() if b.full(now)]:
            del self._buckets[chat]


# ----------------------------------------------------------------------------- one gate

# Telegram refuses to answer a button press older than about 15 s (undocumented; measured
# by others between 10 and 15 s): a callback answer whose 429 waits add up to more is dropped.
CALLBACK_ANSWER_WINDOW = 15.0
QUERY_TOO_OLD = "query is too old"
HANDLER_PRIORITY = 1  # a person is waiting for this answer: with receipts, after urgent alerts
_OUTBOX_SEND: contextvars.ContextVar[bool] = contextvars.ContextVar("fosterbot_outbox_send",
                                                                    default=False)


_UPDATE_CHAT: contextvars.ContextVar[Any] = contextvars.ContextVar("fosterbot_update_chat",
                                                                  default=None)


@contextlib.contextmanager
def handling_chat(chat_id: Any) -> Any:
    """Requests made inside answer an update from ``chat_id`` (set by the update processor,
    bot/runtime/update_processor.py): where a dropped button answer's words are sent."""
    token = _UPDATE_CHAT.set(chat_id)
    try:
        yield
    finally:
        _UPDATE_CHAT.reset(token)


def chat_key(chat_id: Any) -> Any:
    """The key a chat's bucket is kept under, however the chat id was given (int or str)."""
    try:
        return int(chat_id)
    except (TypeError, ValueError):
        return chat_id


class SharedBudget(Protocol):
    """The service-wide budget (``storage.send_budget.SendBudget``): ``reserve`` books a
    send's slot (``(seconds until it, True)``) or, when the chat itself has no token for a
    while, books nothing (``(seconds until it has, False)``)."""

    chat_rate: float
    chat_burst: float

    async def reserve(self, chat: Any) -> tuple[float, bool]: ...


class Pacing:
    """The one pacing gate for every send: the global gate and the per-chat buckets, shared by
    the outbox dispatcher and, through :class:`SharedRateLimiter`, by every request a handler
    makes (replies, edits, files, exports). A chat's replies and its alerts draw on one
    allowance, so together they stay inside Telegram's limits."""

    def __init__(self, *, global_per_second: float = 28.0, global_burst: int = 5,
                 per_chat_per_second: float = 1.0, per_chat_burst: int = 3,
                 clock: Monotonic = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self.clock = clock
        self.sleep = sleep
        self.gate = GlobalGate(global_per_second, global_burst, clock=clock, sleep=sleep)
        self.chats = ChatPacer(per_chat_per_second, per_chat_burst, clock=clock)
        # Edits of messages already in a chat (a page turned, a button's answer shown in
        # place) have an allowance of their own, at the same rate and burst (see ``pacer``).
        self.edits = ChatPacer(per_chat_per_second, per_chat_burst, clock=clock)
        self.retried_after = 0  # 429s waited out for handler requests
        self.dropped_answers = 0  # callback answers too late for Telegram (SharedRateLimiter)
        self._locks: dict[Any, asyncio.Lock] = {}
        self.shared: SharedBudget | None = None  # several instances: the database's buckets
        self._booked: ChatPacer | None = None  # this process's copy of the shared chat buckets

    @classmethod
    def from_settings(cls, delivery: Any, *, clock: Monotonic = time.monotonic,
                      sleep: Sleep = asyncio.sleep) -> Pacing:
        """From the ``[delivery]`` settings (bot.config.DeliverySettings); ``clock`` and
        ``sleep`` for a test that drives the time the pacing waits on."""
        return cls(global_per_second=delivery.global_per_second,
                   global_burst=delivery.global_burst,
                   per_chat_per_second=delivery.per_chat_per_second,
                   per_chat_burst=delivery.per_chat_burst, clock=clock, sleep=sleep)

    def pacer(self, edit: bool = False) -> ChatPacer:
        """The per-chat buckets a request draws on: new messages, or edits. Telegram documents
        about one new message a second per chat and answers 429 to edits made faster than
        that too, but does not count an edit as a new message; so edits are paced at the same
        rate from a bucket of their own (the emulator models it the same way). Both go
        through the one global gate."""
        return self.edits if edit else self.chats

    def share(self, budget: SharedBudget) -> None:
        """Several instances: every send also books its slot in ``budget`` (the database)."""
        self.shared = budget
        self._booked = ChatPacer(budget.chat_rate, budget.chat_burst, clock=self.clock)

    def chat_delay(self, chat: Any, edit: bool = False) -> float:
        """Seconds before ``chat`` may get another message (or ``edit``): its own allowance
        here, and, with a shared budget, the chat's bucket there as far as this process booked
        it (so the shared budget is asked only when it would have the chat's token)."""
        delay = self.pacer(edit).delay(chat)
        if self._booked is not None:
            delay = max(delay, self._booked.delay(chat))
        return delay

    def hold(self, chat: Any, seconds: float) -> None:
        """Telegram said "retry after ``seconds``" for ``chat``: nothing to it before then."""
        self.chats.hold(chat, seconds)
        self.edits.hold(chat, seconds)

    def chat_lock(self, chat: Any) -> asyncio.Lock:
        """Held from a chat's turn until its send is charged: a chat's bucket is charged when a
        send completes, so two senders (a handler and the outbox) must not both pass the check
        before either is charged."""
        lock = self._locks.get(chat)
        if lock is None:
            if len(self._locks) > 10_000:
                for c in [c for c, lk in self._locks.items() if not lk.locked()]:
                    del self._locks[c]
            lock = self._locks[chat] = asyncio.Lock()
        return lock

    async def turn(self, chat: Any, key: Any, *, edit: bool = False) -> None:
        """Wait until ``chat`` may get another message (or ``edit``) and the global gate
        grants ``key``."""
        while True:
            delay = self.chat_delay(chat, edit)
            if delay <= 0:
                break
            await self.sleep(delay)
        await self.gate.acquire(key)
        await self.shared_turn(chat)

    async def shared_turn(self, chat: Any) -> None:
        """Book the send's slot in the service-wide budget (several instances), if there is
        one, and wait until it. One call a send: asked again only when nothing was booked
        because another instance sent to the chat meanwhile (``SharedBudget``). A database
        that cannot answer does not stop the send: this process's own pacing still holds."""
        if self.shared is None or self._booked is None:
            return
        while True:
            try:
                wait, booked = await self.shared.reserve(chat)
            except Exception as exc:  # noqa: BLE001 - the in-memory gate still paces us
                log.warning("pacing: the shared send budget is unavailable (%s)", exc)
                return
            now = self.clock()
            bucket = self._booked.bucket(chat, now)
            if booked:
                bucket.take(now + wait)
                if wait > 0:
                    await self.sleep(wait)
                return
            bucket.block_until(now + wait)
            await self.sleep(wait)


class SharedRateLimiter(BaseRateLimiter[dict]):
    """python-telegram-bot's hook around every Bot API request, on our :class:`Pacing`.

    Requests that put a message in a chat wait for that chat's bucket and a global slot, and
    are charged to the chat when they complete (edits to the chat's edit allowance).

    A ``RetryAfter`` (429, Telegram's flood control) never reaches the handler:

    * It holds the chat (a request with no chat waits by itself: the gate is not paused, so
      other chats carry on) and the request is tried again once the wait is over, each wait
      logged as a warning. Only that chat waits: its handler (and the chat's next updates,
      which are handled in order) and the outbox's sends to it; other chats do not.
    * When Telegram's waits add up to more than ``max_wait`` (60 s), a text reply is handed
      to the outbox (``handoff``, bot/delivery/handoff.py) and arrives later, in order, so
      the handler is not kept waiting. Anything the outbox cannot carry — files (photos,
      documents, voice notes: "View attachments", ``/export``), edits and every other
      request — is waited out as long as Telegram asks, however long that adds up to.
    * A callback answer (``answerCallbackQuery``, the end of a button's spinner) is the one
      exception: Telegram refuses answers to taps older than about 15 s, so one whose waits
      would add up to more than ``CALLBACK_ANSWER_WINDOW`` is dropped quietly (logged; the
      handler gets ``True`` and carries on, the spinner stops by itself), and so is one
      Telegram calls "too old" after a wait. Its words, if it had any ("Acknowledged …",
      "Already acknowledged by …"), are not lost: they go to the chat of the press as a
      message, through the outbox (``handoff``), when Telegram allows. The work the button
      asked for (files, edits, the record) is not affected.

    Sends by the outbox dispatcher pass straight through (it paces itself on the same
    :class:`Pacing` and handles 429 by holding its rows)."""

    def __init__(self, pacing: Pacing, *, max_wait: float = 60.0,
                 metrics: Metrics | None = None, handoff: Any = None) -> None:
        self.pacing = pacing
        self.max_wait = max_wait
        self.metrics = metrics or Metrics()
        # bot.delivery.handoff.Handoff: a text reply refused for longer than ``max_wait``
        # goes to the outbox (and the chat's later replies after it, in order).
        self.handoff = handoff

    def _counted(self, callback, endpoint: str):
        """``callback`` counting each request it makes by method and result (the metrics)."""
        async def call(*args, **kwargs):
            try:
                result = await callback(*args, **kwargs)
            except RetryAfter:
                self.metrics.telegram_request(endpoint, "rate_limited")
                raise
            except BaseException:
                self.metrics.telegram_request(endpoint, "error")
                raise
            self.metrics.telegram_request(endpoint, "ok")
            return result
        return call

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        callback = self._counted(callback, endpoint)
        if _OUTBOX_SEND.get():
            return await callback(*args, **kwargs)
        chat = data.get("chat_id")
        kind = _paced_kind(endpoint)
        key = chat_key(chat) if chat is not None and kind is not None else None
        edit = kind == EDIT
        answer = endpoint.lower() == "answercallbackquery"
        waited = 0.0  # Telegram's 429 waits for this request, in all
        if key is not None and kind == SEND and self.handoff is not None \
                and await self.handoff.owes(key):
            handed = await self.handoff.take(endpoint, data, key, 0.0)
            if handed is not None:  # behind the replies already handed over: in order
                return handed
        while True:
            try:
                if key is None:
                    return await callback(*args, **kwargs)
                async with self.pacing.chat_lock(key):
                    await self.pacing.turn(key, (HANDLER_PRIORITY, 0), edit=edit)
                    try:
                        return await callback(*args, **kwargs)
                    finally:
                        self.pacing.pacer(edit).charge(key)
            except RetryAfter as exc:
                seconds = max(1.0, _as_seconds(exc.retry_after))
                waited += seconds
                if waited > self.max_wait and key is not None and kind == SEND \
                        and self.handoff is not None:
                    handed = await self.handoff.take(endpoint, data, key, seconds)
                    if handed is not None:
                        return handed
                if answer and waited > CALLBACK_ANSWER_WINDOW:
                    return await self._drop_answer(data, f"Telegram asked to wait {waited:g}s")
                self.pacing.retried_after += 1
                log.warning("Telegram rate limit (429) on %s to chat %s: waiting %gs "
                            "(%gs in all so far)", endpoint, chat, seconds, waited)
                if key is not None:
                    self.pacing.hold(key, seconds)
                else:
                    await self.pacing.sleep(seconds)
            except BadRequest as exc:
                if answer and waited > 0 and QUERY_TOO_OLD in exc.message.lower():
                    return await self._drop_answer(data,
                                                   "Telegram called it too old after the wait")
                raise

    async def _drop_answer(self, data: dict, why: str) -> bool:
        """A callback answer too late for Telegram to take: dropped quietly; its words, if it
        had any, go to the chat of the press as a message, through the outbox (see the class)."""
        self.pacing.dropped_answers += 1
        words, chat = data.get("text"), _UPDATE_CHAT.get()
        log.warning("the answer to button press %s was dropped (%s)%s",
                    data.get("callback_query_id"), why,
                    "; its words go to the chat as a message" if words and chat is not None
                    and self.handoff is not None else "")
        if isinstance(words, str) and words and chat is not None and self.handoff is not None:
            await self.handoff.take("sendMessage", {"text": words}, chat_key(chat), 0.0)
        return True


SEND, EDIT = "send", "edit"


def _paced_kind(endpoint: str) -> str | None:
    """Telegram's flood limits count what a chat is sent: new messages (sends, copies,
    forwards) and edits of them (text, caption, media, buttons: a page turned in place),
    each from its own allowance (``Pacing.pacer``). Callback answers and other calls are
    not paced (a 429 on them is still waited out)."""
    name = endpoint.lower()
    if name.startswith(("send", "copymessage", "forwardmessage")):
        return SEND
    if name.startswith("editmessage"):
        return EDIT
    return None


def _as_seconds(value: Any) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


@contextlib.contextmanager
def outbox_send() -> Any:
    """Mark the requests made inside as the dispatcher's (already paced)."""
    token = _OUTBOX_SEND.set(True)
    try:
        yield
    finally:
        _OUTBOX_SEND.reset(token)
