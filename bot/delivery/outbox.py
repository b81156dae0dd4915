"""The outbox: every message the bot owes someone, and the dispatcher that sends it.

A delivery row is written in the same transaction as the change that causes it
(``enqueue``), so a committed report always has its alerts, and an alert is
never sent for a report that was rolled back. The :class:`Dispatcher` sends it.

Claiming. Due rows are claimed with a lease: a conditional
``UPDATE … SET locked_until = now + lease WHERE id IN (…) AND status = 'pending'
AND next_attempt_at <= now AND (locked_until IS NULL OR locked_until < now)`` whose
``RETURNING`` says which rows this process won (portable to SQLite and PostgreSQL). The
guard alone decides: it is re-checked on the row as it stands when the UPDATE takes it, so
a row another dispatcher leased (or sent, or put off) after the candidates were read is
not taken. On PostgreSQL the candidates' ``SELECT`` and the lease are therefore two
statements each of its own (``Database.write_statements``: no transaction, two round trips
instead of four; a claim that finds nothing is one instead of three), as they were one
write transaction on SQLite. A row whose lease is close to running out before its turn
comes is re-confirmed (same guard) just before the send.

Order and pace. Rows are claimed and sent in (priority, id) order: urgent
alerts (0) before receipts and high alerts (1), routine alerts (3), notices
(4). Different chats are sent concurrently, each chat's rows one after another
in that order; the pacing (``bot/delivery/pacing.py``) keeps the bot within Telegram's
flood limits, so a burst gets no 429 at all.

Telegram's answers. Sent → the message id is recorded (``delivered`` audit
event) and the row is never sent again: every later claim requires
``status = 'pending'``. 429 → the chat is held for ``retry_after`` (in memory and
in the table; several chats limited at once pause everything). 5xx, time-outs
and dropped connections → retried with exponential backoff (2 s … 5 min) until
``delivery.retry_for`` after the row was created. "Blocked", "deactivated",
"chat not found", "can't initiate conversation" → the person is marked
unreachable. A row that finally fails is ``status = 'failed'`` with a
``delivery_failed`` audit event, and the ``on_failure`` hook (``bot/engine/rerouting.py``)
runs in the same transaction: alerts are rerouted, the carer and the team
manager are told.

At least once, and the one window. The Bot API has no idempotency key. If the
process dies after Telegram accepted a message but before the ``sent`` row was
committed (a few milliseconds per send; sends that finish together are
recorded in one transaction, so at most the time of one such transaction
more), the message is sent again after the restart: the recipient sees it
twice. The same happens when a response is lost on the network (the request arrived, the answer did not). Nothing else can
produce a duplicate: a database error after a send is retried with the message
id kept in memory and the row held (``_record_carefully``), never resent.

Crash recovery. Each lease names the dispatcher's instance (``lease_owner``); a
restarted sender reclaims a dead predecessor's leases at once
(``bot/delivery/leases.py``), so alerts claimed before a ``kill -9`` go out
within seconds, not after the lease (60 s). Every button is idempotent and texts
are worded so that this rare duplicate is harmless; the opposite choice (never
resend an uncertain message) could lose an alert, which is worse.

Graceful stop: sends already on the wire finish and are recorded; every other
claimed row is put back (lease cleared, attempt not counted).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, any_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot import audit
from bot.chunks import split_html
from bot.clock import Clock
from bot.delivery import leases
from bot.delivery.pacing import Monotonic, Pacing, Sleep, outbox_send
from bot.delivery.stopping import unless_stopped
from bot.metrics import Metrics
from bot.texts import MAX_MESSAGE
from storage import queries
from storage.db import Database
from storage.models import Delivery, Person

log = logging.getLogger(__name__)

PRIORITY = {"urgent": 0, "high": 1, "routine": 3}
RECEIPT_PRIORITY = 1
RECORD_BACKOFF_MAX = 5.0  # seconds between tries to record a send the database refused
RECORD_BATCH = 50  # sends recorded in one transaction at most (``Dispatcher._record_sent``)
NOTICE_PRIORITY = 4

Buttons = list[list[tuple[str, str]]]


def owed(
    *,
    key: str,
    kind: str,
    now: datetime,
    text: str,
    person: Person | None = None,
    chat_id: int | None = None,
    buttons: Buttons | None = None,
    priority: int = 5,
    incident_id: int | None = None,
    method: str = "send",
    target_delivery_id: int | None = None,
    silent: bool = False,
) -> Delivery:
    """A message owed, as a row not yet added (``enqueue`` adds one; ``enqueue_all`` several
    in one INSERT). ``silent``: delivered without a sound (Telegram's
    ``disable_notification``), for routine alerts out of hours."""
    if person is not None and chat_id is None:
        chat_id = person.telegram_chat_id
    return Delivery(
        idempotency_key=key,
        incident_id=incident_id,
        person_id=person.id if person is not None else None,
        chat_id=chat_id,
        kind=kind,
        method=method,
        payload={"text": text, "buttons": [[list(b) for b in row] for row in (buttons or [])],
                 **({"silent": True} if silent else {})},
        target_delivery_id=target_delivery_id,
        priority=priority,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


async def enqueue(session: AsyncSession, **kw: Any) -> Delivery:
    """Owe someone a message (in the caller's transaction); ``owed`` names the arguments."""
    row = owed(**kw)
    session.add(row)
    await session.flush()
    return row


# The columns ``owed`` fills, in one Core INSERT for ``enqueue_all`` (built once).
_OWED_COLUMNS = ("idempotency_key", "incident_id", "person_id", "chat_id", "kind", "method",
                 "payload", "target_delivery_id", "priority", "status", "attempts",
                 "next_attempt_at", "created_at")
_INSERT_OWED = Delivery.__table__.insert()


async def enqueue_all(session: AsyncSession, rows: list[Delivery]) -> list[Delivery]:
    """Owe several messages built by ``owed``, written in the order given (a chat's messages
    of one priority go out in that order) with one Core INSERT on the session's connection:
    the rows are not added to the session (their ``id`` stays unset; ``enqueue`` when the
    row is wanted back)."""
    if rows:
        params = [{c: getattr(row, c) for c in _OWED_COLUMNS} for row in rows]
        conn = await session.connection()
        await conn.execute(_INSERT_OWED, params if len(params) > 1 else params[0])
    return rows


async def enqueue_long(session: AsyncSession, *, key: str, text: str,
                       buttons: Buttons | None = None, **kw: Any) -> list[Delivery]:
    """``enqueue`` a text of any length as one or more messages (``bot.chunks``: within
    Telegram's limit, never cut inside a tag or an entity); the buttons go on the last one,
    so they stay under everything they are about. The first row keeps ``key``."""
    parts = split_html(text, MAX_MESSAGE)
    rows = []
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        rows.append(await enqueue(session, key=key if n == 0 else f"{key}:{n + 1}", text=part,
                                  buttons=buttons if last else None, **kw))
    return rows


def markup(buttons: list[list[list[str]]] | None) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in buttons]
    )


# Telegram answers that mean the person cannot be reached in this chat at all.
PERMANENT_CHAT_ERRORS = (
    "bot was blocked by the user",
    "user is deactivated",
    "chat not found",
    "bot can't initiate conversation",
    "bot was kicked",
)


_DELIVERIES = Delivery.__table__
_MARK_SENT = (
    _DELIVERIES.update()
    .where(_DELIVERIES.c.id == bindparam("delivery_id"), _DELIVERIES.c.status == "pending")
    .values(status="sent", sent_at=bindparam("sent_when"),
            telegram_message_id=bindparam("message_id"), locked_until=None, lease_owner=None)
    .returning(_DELIVERIES.c.kind, _DELIVERIES.c.incident_id, _DELIVERIES.c.person_id)
)
_MARK_SENT_WITH_ERROR = _MARK_SENT.values(last_error=bindparam("error_text"))


def _id_in(name: str, pg: bool) -> Any:
    """``deliveries.id`` among the list of ids given as parameter ``name``. On PostgreSQL as
    ``= ANY(array)``: one statement text whatever the list's length, so each connection
    prepares it once (an expanding ``IN`` has a text per length: under a burst, a new
    server-side prepare, a round trip, for most claims). SQLite has no arrays: an
    expanding ``IN`` there."""
    if pg:
        return _DELIVERIES.c.id == any_(bindparam(name, type_=postgresql.ARRAY(Integer)))
    return _DELIVERIES.c.id.in_(bindparam(name, expanding=True))


def _candidates(held: bool, pg: bool) -> Any:
    """The due rows' (id, chat), in sending order: ``now``, ``n`` (how many at most) and,
    when ``held``, the ids this dispatcher holds already (``held``) as parameters. No row
    lock: the lease's guard decides which of them this dispatcher wins."""
    q = (select(_DELIVERIES.c.id, _DELIVERIES.c.chat_id)
         .where(_DELIVERIES.c.status == "pending",
                _DELIVERIES.c.next_attempt_at <= bindparam("now"),
                or_(_DELIVERIES.c.locked_until.is_(None),
                    _DELIVERIES.c.locked_until < bindparam("now")))
         .order_by(_DELIVERIES.c.priority, _DELIVERIES.c.id)
         .limit(bindparam("n")))
    if held:
        q = q.where(~_id_in("held", pg))
    return q


# (holding rows already, PostgreSQL) -> the candidates' statement (``Dispatcher._claim``).
_CANDIDATES = {(held, pg): _candidates(held, pg) for held in (False, True) for pg in (False, True)}


def _lease(pg: bool) -> Any:
    """The lease on the chosen rows (``chosen``), still pending, still due and not leased
    meanwhile; every column back."""
    return (
        _DELIVERIES.update()
        .where(_id_in("chosen", pg),
               _DELIVERIES.c.status == "pending",
               _DELIVERIES.c.next_attempt_at <= bindparam("now"),
               or_(_DELIVERIES.c.locked_until.is_(None),
                   _DELIVERIES.c.locked_until < bindparam("now")))
        .values(locked_until=bindparam("token"), attempts=_DELIVERIES.c.attempts + 1,
                lease_owner=bindparam("owner"))
        .returning(*_DELIVERIES.c)
    )


# (PostgreSQL) -> the lease's statement (``Dispatcher._claim``).
_LEASE = {pg: _lease(pg) for pg in (False, True)}


class Claimed:
    """A delivery this dispatcher leased, as it holds it in memory: the row's values (read
    by attribute, as a ``Delivery``'s), built from the lease's RETURNING without an ORM
    object; ``locked_until`` is moved on when the lease is re-confirmed."""

    __slots__ = tuple(c.key for c in _DELIVERIES.c)

    def __init__(self, *values: Any) -> None:
        for name, value in zip(self.__slots__, values):
            setattr(self, name, value)


@dataclass
class SendOutcome:
    status: str  # sent | retry | failed | cancelled | wait
    message_id: int | None = None
    error: str | None = None
    retry_in: float | None = None
    unreachable: bool = False  # mark the person unreachable (Telegram says the chat is gone)
    hold_chat: bool = False  # a 429: hold every delivery to this chat for retry_in
    attempted: bool = True  # a request reached (or may have reached) Telegram


# (delivery, outcome, session, now) -> None; runs in the transaction that marks it failed.
FailureHook = Callable[[AsyncSession, Delivery, SendOutcome, datetime], Awaitable[None]]


class _Stopping(Exception):
    """Internal: the dispatcher is stopping; put the row back."""


def _seconds(delay: float | timedelta) -> float:
    return delay.total_seconds() if isinstance(delay, timedelta) else float(delay)


class Dispatcher:
    """Sends due deliveries, paced, different chats at once, each chat in order.

    One background loop keeps an in-memory backlog topped up by claiming due
    rows (priority first, at most ``per_chat_burst`` per chat, at most
    ``max_backlog`` in all); one worker task per chat sends that chat's rows in
    (priority, id) order, each waiting for the chat's bucket and then for a
    slot from the global gate (granted in priority order). Woken after each
    commit that owes a message, and every ``poll_interval`` seconds.
    """

    def __init__(
        self, db: Database, bot: Any, clock: Clock, *, retry_for: timedelta = timedelta(hours=6),
        poll_interval: float = 2.0, lease: timedelta = timedelta(seconds=60),
        global_per_second: float = 28.0, global_burst: int = 5,
        per_chat_per_second: float = 1.0, per_chat_burst: int = 3,
        max_backlog: int | None = None, on_failure: FailureHook | None = None,
        monotonic: Monotonic = time.monotonic, sleep: Sleep = asyncio.sleep,
        pacing: Pacing | None = None, metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.metrics = metrics or Metrics()
        self.bot = bot
        self.clock = clock
        self.retry_for = retry_for
        self.poll_interval = poll_interval
        self.lease = lease
        self.per_chat_cap = max(1, per_chat_burst)
        self.max_backlog = max_backlog or max(20, int(global_per_second * 3))
        self.on_failure = on_failure
        self.monotonic = monotonic
        self.sleep = sleep
        # The one pacing gate, shared with every request handlers make (``SharedRateLimiter``).
        self.pacing = pacing or Pacing(
            global_per_second=global_per_second, global_burst=global_burst,
            per_chat_per_second=per_chat_per_second, per_chat_burst=per_chat_burst,
            clock=monotonic, sleep=sleep)
        self.gate = self.pacing.gate
        self.chats = self.pacing.chats
        self._queues: dict[Any, list[tuple[tuple[int, int], Delivery]]] = {}
        self._workers: dict[Any, asyncio.Task] = {}
        # Workers that have detached and are still giving their unsent rows back.
        self._finishing: set[asyncio.Task] = set()
        self._held: set[int] = set()
        # Sends waiting to be recorded together, and the task recording them (_record_sent).
        self._to_record: list[tuple[Delivery, SendOutcome, asyncio.Future]] = []
        self._recorder: asyncio.Task | None = None
        self._fill_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        # Whether the last claim left due rows behind. A finished send wakes the loop to
        # claim again only then: otherwise a claim would find nothing new (issue 18: two
        # claims in three found nothing in a burst). Rows that arrive later come with their
        # own wake (``wake``: the commit that owes them, or NOTIFY from another instance);
        # rows that fall due later (a retry's backoff) are found by the poll.
        self._more_due = False
        self._stop_event = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._recent_429: list[tuple[float, Any]] = []
        self.sent_count = 0
        self.rate_limited_count = 0
        # Written into every lease this dispatcher takes (bot/delivery/leases.py).
        self.instance = leases.Instance()
        self.reclaimed_count = 0
        # Set by the cluster (several instances on PostgreSQL): whether another instance runs.
        self.alive: leases.Alive | None = None

    @classmethod
    def from_settings(cls, db: Database, bot: Any, clock: Clock, delivery: Any,
                      **kwargs: Any) -> "Dispatcher":
        """Built from the ``[delivery]`` settings (bot.config.DeliverySettings)."""
        return cls(
            db, bot, clock, retry_for=delivery.retry_for.amount,
            poll_interval=delivery.poll_interval_seconds, lease=delivery.lease.amount,
            global_per_second=delivery.global_per_second, global_burst=delivery.global_burst,
            per_chat_per_second=delivery.per_chat_per_second,
            per_chat_burst=delivery.per_chat_burst, **kwargs,
        )

    # ------------------------------------------------------------ lifecycle
    @property
    def in_memory(self) -> int:
        """Deliveries claimed by this process and not yet recorded."""
        return len(self._held)

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._stopping = False
        self._stop_event.clear()
        try:
            self.reclaimed_count += await leases.register(self.db, self.instance,
                                                          self.clock.now(), alive=self.alive)
        except Exception:  # noqa: BLE001 - without it, dead leases just run out
            log.exception("dispatcher: could not register this sender")
        self._task = asyncio.create_task(self._loop(), name="fosterbot-dispatcher")

    async def stop(self) -> None:
        """Finish the sends in flight, put every other claimed row back, stop."""
        self._stopping = True
        self._stop_event.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
            await self._wait_workers()
            await leases.unregister(self.db, self.instance)
        await self._wait_workers()

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                claimed = await self._fill()
            except Exception:  # noqa: BLE001 - the loop must survive; the error is logged
                log.exception("dispatcher: claiming deliveries failed")
                claimed = 0
            if claimed and self._more_due and len(self._held) < self.max_backlog:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def run_once(self) -> bool:
        """Claim what is due now and send it all. True if anything was claimed."""
        claimed = await self._fill()
        await self._wait_workers()
        return bool(claimed)

    async def drain(self) -> None:
        """Send everything due now, keeping the backlog topped up (tests, demo, benchmark)."""
        while True:
            claimed = await self._fill()
            if not claimed and not self._workers:
                if not self._finishing:
                    return
                # A finished worker is still putting rows back: wait, then look again.
                await asyncio.gather(*list(self._finishing), return_exceptions=True)
                continue
            if self._workers and (not claimed or len(self._held) >= self.max_backlog):
                await asyncio.wait(list(self._workers.values()),
                                   return_when=asyncio.FIRST_COMPLETED)

    async def _wait_workers(self) -> None:
        while self._workers or self._finishing:
            await asyncio.gather(*list(self._workers.values()), *list(self._finishing),
                                 return_exceptions=True)

    # ------------------------------------------------------------ claiming
    async def _fill(self) -> int:
        async with self._fill_lock:
            if self._stopping:
                return 0
            room = self.max_backlog - len(self._held)
            if room <= 0:
                self._more_due = True
                return 0
            rows = await self._claim(self.clock.now(), room)
            for row in rows:
                self._assign(row)
            return len(rows)

    async def _claim(self, now: datetime, room: int) -> list[Claimed]:
        """Lease up to ``room`` due rows, at most ``per_chat_cap`` per chat in hand.

        The candidates are read as (id, chat) pairs only: a backlog may offer
        hundreds, and loading each as a full row (payload included) cost more
        than the rest of the claim. The chosen ones come back whole from the
        UPDATE … RETURNING that leases them. Both are Core statements built once,
        run on a bare connection (no ORM session: issue 18), on PostgreSQL each on its own
        (the module's docstring, Claiming).
        """
        counts: dict[Any, int] = {}
        for key, queue in self._queues.items():
            counts[key] = len(queue)
        async with self.db.write_statements() as conn:
            params: dict[str, Any] = {"now": now, "n": max(room * 4, 200)}
            if self._held:
                params["held"] = list(self._held)
            q = _CANDIDATES[(bool(self._held), self.db.is_postgres)]
            chosen: list[int] = []
            candidates = (await conn.execute(q, params)).all()
            # Whether due rows were left behind (a chat at its cap, the backlog full, the
            # candidates' limit reached): only then does a finished send call for a claim.
            self._more_due = len(candidates) >= params["n"]
            for row_id, chat_id in candidates:
                key = self._key_of(chat_id, row_id)
                if counts.get(key, 0) >= self.per_chat_cap:
                    self._more_due = True
                    continue
                counts[key] = counts.get(key, 0) + 1
                chosen.append(row_id)
                if len(chosen) >= room:
                    self._more_due = True
                    break
            if not chosen:
                return []
            claimed = [Claimed(*row) for row in await conn.execute(_LEASE[self.db.is_postgres], {
                "chosen": chosen, "now": now, "token": now + self.lease,
                "owner": self.instance.id})]
            claimed.sort(key=lambda r: (r.priority, r.id))
            return claimed

    @staticmethod
    def _key_of(chat_id: int | None, row_id: int) -> Any:
        return chat_id if chat_id is not None else ("no-chat", row_id)

    @classmethod
    def _key(cls, row: Delivery) -> Any:
        return cls._key_of(row.chat_id, row.id)

    def _assign(self, row: Delivery) -> None:
        key = self._key(row)
        self._held.add(row.id)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = []
        heapq.heappush(queue, ((row.priority, row.id), row))
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._chat_worker(key, queue),
                                                     name=f"fosterbot-send-{key}")

    async def _release(self, rows: list[Delivery], *, not_before: datetime | None = None) -> None:
        """Give claimed rows back unsent (their attempt did not happen)."""
        if not rows:
            return
        try:
            async with self.db.write() as s:
                for row in rows:
                    values: dict[str, Any] = {"locked_until": None, "lease_owner": None,
                                              "attempts": Delivery.attempts - 1}
                    if not_before is not None:
                        values["next_attempt_at"] = not_before
                    await s.execute(
                        update(Delivery)
                        .where(Delivery.id == row.id, Delivery.status == "pending",
                               Delivery.locked_until == row.locked_until)
                        .values(**values)
                        .execution_options(synchronize_session=False)
                    )
        except Exception:  # noqa: BLE001 - the leases run out by themselves
            log.exception("dispatcher: could not release %d claimed deliveries", len(rows))
        finally:
            for row in rows:
                self._held.discard(row.id)

    # ------------------------------------------------------------ sending
    async def _chat_worker(self, key: Any, queue: list) -> None:
        hold_until: datetime | None = None
        try:
            while queue and not self._stopping:
                _, row = heapq.heappop(queue)
                try:
                    outcome = await self._deliver(key, row)
                except _Stopping:
                    heapq.heappush(queue, ((row.priority, row.id), row))
                    break
                await self._record_carefully(row, outcome)
                self._held.discard(row.id)
                # A send that did not go (a failure's hook may have owed new messages: an
                # alert rerouted, the carer and manager told), or due rows left behind: claim.
                # Else every due row is in hand already (``_more_due``).
                if self._more_due or outcome.status != "sent":
                    self._wake.set()
                if outcome.hold_chat:
                    hold_until = self.clock.now() + timedelta(seconds=outcome.retry_in or 1)
                    await self._hold_chat(row.chat_id, hold_until)
                    break
        finally:
            # Detach first: rows claimed from now on get a fresh worker.
            if self._queues.get(key) is queue:
                del self._queues[key]
            me = asyncio.current_task()
            if self._workers.get(key) is me:
                del self._workers[key]
            rest = [row for _, row in queue]
            queue.clear()
            if rest and me is not None:
                self._finishing.add(me)
            try:
                await self._release(rest, not_before=hold_until)
            finally:
                self._finishing.discard(me)

    async def _until_stopped(self, aw: Awaitable[Any]) -> None:
        """Await ``aw`` unless the dispatcher stops first (then raise _Stopping)."""
        await unless_stopped(self._stop_event, aw, _Stopping)

    async def _deliver(self, key: Any, row: Delivery) -> SendOutcome:
        """Wait for the pacing, then call Telegram once."""
        if row.chat_id is None:
            return SendOutcome("failed", error="this person has not linked Telegram",
                               attempted=False)
        target_message_id = None
        if row.method == "edit":
            state, target_message_id, retry_in = await self._edit_target(row)
            if state == "wait":
                return SendOutcome("wait", error="waiting for the message to edit",
                                   retry_in=retry_in, attempted=False)
            if state == "gone":
                return SendOutcome("cancelled", error="the message to edit was never sent",
                                   attempted=False)
        # The chat's lock: handler replies to this chat (``SharedRateLimiter``) take turns
        # with it on the same buckets.
        edit = row.method == "edit"
        async with self.pacing.chat_lock(key):
            while True:
                delay = self.pacing.chat_delay(key, edit)
                if delay <= 0:
                    break
                await self._until_stopped(self.sleep(delay))
            await self._until_stopped(self.gate.acquire((row.priority, row.id)))
            await self._until_stopped(self.pacing.shared_turn(key))
            if not await self._confirm_lease(row):
                return SendOutcome("lost", error="the lease ran out and another sender took it",
                                   attempted=False)
            try:
                return await self._send(row, target_message_id)
            finally:
                self.pacing.pacer(edit).charge(key)

    async def _confirm_lease(self, row: Delivery) -> bool:
        """Re-check a lease that is close to running out (another process may take it then)."""
        now = self.clock.now()
        if row.locked_until is not None and row.locked_until - now > self.lease / 2:
            return True
        token = now + self.lease
        async with self.db.write() as s:
            res = await s.execute(
                update(Delivery)
                .where(Delivery.id == row.id, Delivery.status == "pending",
                       Delivery.locked_until == row.locked_until)
                .values(locked_until=token)
                .execution_options(synchronize_session=False)
            )
        if res.rowcount != 1:
            return False
        row.locked_until = token
        return True

    async def _edit_target(self, row: Delivery) -> tuple[str, int | None, float]:
        async with self.db.read() as s:
            target = await s.get(Delivery, row.target_delivery_id)
            if target is None or target.status in ("failed", "cancelled"):
                return "gone", None, 0
            if target.status != "sent":
                wait = (target.next_attempt_at - self.clock.now()).total_seconds()
                return "wait", None, max(1.0, wait)
            if target.telegram_message_id is None:
                return "gone", None, 0
            return "ok", target.telegram_message_id, 0

    async def _send(self, row: Delivery, target_message_id: int | None) -> SendOutcome:
        with outbox_send():  # paced here already; a 429 is handled here (held, not retried)
            return await self._send_paced(row, target_message_id)

    async def _send_paced(self, row: Delivery, target_message_id: int | None) -> SendOutcome:
        text = row.payload.get("text", "")
        kb = markup(row.payload.get("buttons"))
        try:
            if row.method == "edit":
                try:
                    await self.bot.edit_message_text(
                        chat_id=row.chat_id, message_id=target_message_id, text=text,
                        parse_mode=ParseMode.HTML, reply_markup=kb,
                    )
                except BadRequest as exc:
                    lowered = exc.message.lower()
                    if "not modified" in lowered:
                        return SendOutcome("sent", message_id=target_message_id)
                    if "message to edit not found" in lowered or "can't be edited" in lowered:
                        return SendOutcome("cancelled", error=exc.message)
                    raise
                return SendOutcome("sent", message_id=target_message_id)
            quiet = {"disable_notification": True} if row.payload.get("silent") else {}
            msg = await self.bot.send_message(
                chat_id=row.chat_id, text=text, parse_mode=ParseMode.HTML, reply_markup=kb,
                **quiet,
            )
            return SendOutcome("sent", message_id=msg.message_id)
        except RetryAfter as exc:
            seconds = max(1.0, _seconds(exc.retry_after))
            self._rate_limited(row.chat_id, seconds)
            return SendOutcome("retry", error=f"rate limited: retry after {seconds:g}s",
                               retry_in=seconds, hold_chat=True)
        except Forbidden as exc:
            return SendOutcome("failed", error=exc.message, unreachable=True)
        except BadRequest as exc:
            lowered = exc.message.lower()
            unreachable = any(p in lowered for p in PERMANENT_CHAT_ERRORS)
            return SendOutcome("failed", error=exc.message, unreachable=unreachable)
        except NetworkError as exc:  # 5xx, time-outs, dropped connections
            backoff = min(300.0, 2.0 ** min(row.attempts or 1, 8))
            return SendOutcome("retry", error=f"network: {exc}", retry_in=backoff)
        except TelegramError as exc:  # e.g. a bad token: keep trying, the operator is told
            backoff = min(300.0, 2.0 ** min(row.attempts or 1, 8))
            return SendOutcome("retry", error=str(exc), retry_in=backoff)

    def _rate_limited(self, chat_id: Any, seconds: float) -> None:
        """A 429: hold the chat; if several chats hear it at once, pause everything."""
        self.rate_limited_count += 1
        now = self.monotonic()
        self.pacing.hold(chat_id, seconds)
        self._recent_429 = [(t, c) for t, c in self._recent_429 if now - t < 1.0]
        self._recent_429.append((now, chat_id))
        if len({c for _, c in self._recent_429}) >= 2:
            self.gate.pause(seconds)
        log.warning("Telegram rate limit (429) on chat %s: holding for %gs", chat_id, seconds)

    async def _hold_chat(self, chat_id: int | None, until: datetime) -> None:
        if chat_id is None:
            return
        async with self.db.write() as s:
            await s.execute(
                update(Delivery)
                .where(Delivery.chat_id == chat_id, Delivery.status == "pending",
                       Delivery.next_attempt_at < until)
                .values(next_attempt_at=until)
                .execution_options(synchronize_session=False)
            )

    # ------------------------------------------------------------ recording
    async def _record_carefully(self, row: Delivery, outcome: SendOutcome) -> None:
        """Record an outcome, retrying a failed database write until it is recorded.

        What Telegram answered (the message id) is kept in memory and the row stays
        held by this process meanwhile, so a database that fails right after a send
        does not make it send again: the bookkeeping is retried (backoff up to
        ``RECORD_BACKOFF_MAX`` seconds) until the database takes it. Only a stop gives
        up (after a last few tries); then the lease is the last resort.

        Sends are recorded together (:meth:`_record_sent`); other outcomes one by one."""
        if outcome.status == "sent":
            await self._record_sent(row, outcome)
            return
        results = await self._carefully(lambda: self._record(row, outcome), [row], outcome)
        for result in results:
            self.metrics.delivery(result)

    async def _record_sent(self, row: Delivery, outcome: SendOutcome) -> None:
        """Record a send with the others that finished meanwhile, in one transaction (group
        commit): one ``delivered`` audit event each, but the audit chain's head — one row
        every writer of every instance locks until its commit — is locked once for all of
        them. Nothing waits to fill a batch: the first send recorded goes at once, and those
        that finish while its transaction runs go together in the next. The chat's worker
        goes on (its next row) only once its send is recorded, as before."""
        done = asyncio.get_running_loop().create_future()
        self._to_record.append((row, outcome, done))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_batches(),
                                                 name="fosterbot-record-sends")
        await done

    async def _record_batches(self) -> None:
        while self._to_record:
            batch = self._to_record[:RECORD_BATCH]
            del self._to_record[:RECORD_BATCH]
            try:
                for result in await self._record_batch([(r, o) for r, o, _ in batch]):
                    self.metrics.delivery(result)
            finally:
                for _, _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def _record_batch(self, batch: list[tuple[Delivery, SendOutcome]]) -> list[str | None]:
        """Record ``batch`` in one transaction; if that fails, each on its own (carefully), so
        one row the database refuses holds up only its own chat, as before."""
        if len(batch) > 1:
            try:
                return await self._record_all(batch)
            except Exception:  # noqa: BLE001 - logged; each is then recorded on its own
                log.warning("dispatcher: recording %d sends together failed; one by one",
                            len(batch), exc_info=True)
        results: list[str | None] = []
        for row, outcome in batch:
            results += await self._carefully(lambda r=row, o=outcome: self._record_all([(r, o)]),
                                             [row], outcome)
        return results

    async def _carefully(self, record: Callable[[], Awaitable[list[str | None]]],
                         rows: list[Delivery], outcome: SendOutcome) -> list[str | None]:
        """``record()`` until the database takes it (see :meth:`_record_carefully`); its
        results, or none when a stop gave up."""
        attempt = 0
        ids = ", ".join(str(r.id) for r in rows)
        while True:
            try:
                results = await record()
                if attempt:
                    log.warning("dispatcher: delivery %s (%s) recorded after %d failed "
                                "tries", ids, outcome.status, attempt)
                return results
            except Exception:  # noqa: BLE001 - logged; retried
                attempt += 1
                if attempt == 1 or attempt % 20 == 0:
                    log.exception("dispatcher: could not record delivery %s (%s); retrying",
                                  ids, outcome.status)
                if self._stopping and attempt >= 4:
                    log.error("dispatcher: stopping with delivery %s (%s, message %s) not "
                              "recorded", ids, outcome.status, outcome.message_id)
                    return []
                await asyncio.sleep(min(RECORD_BACKOFF_MAX, 0.05 * 2 ** min(attempt, 10)))

    async def _record(self, row: Delivery, outcome: SendOutcome) -> list[str | None]:
        """Record what Telegram answered, in a transaction of its own."""
        if outcome.status == "lost":
            return [None]
        return await self._record_all([(row, outcome)])

    async def _record_all(self, outcomes: list[tuple[Delivery, SendOutcome]]) -> list[str | None]:
        """Record several outcomes in one transaction; their results for the metrics.

        Sends (the common outcome) are recorded with Core statements on a bare connection
        (``_record_sent_on``); any other outcome needs the ORM (the failure hook)."""
        now = self.clock.now()
        if all(outcome.status == "sent" for _, outcome in outcomes):
            async with self.db.write_connection() as conn:
                return await self._record_sent_on(conn, outcomes, now)
        async with self.db.write() as s:
            return [await self._record_in(s, row, outcome, now) for row, outcome in outcomes]

    async def _record_sent_on(self, conn: AsyncConnection,
                              outcomes: list[tuple[Delivery, SendOutcome]],
                              now: datetime) -> list[str | None]:
        """Sends, each marked by ``_mark_sent``, then their ``delivered`` events appended
        together (``audit.record_on``: the head locked once, after the rest)."""
        results: list[str | None] = []
        events = []
        for row, outcome in outcomes:
            result, ev = await self._mark_sent(conn, row, outcome, now)
            results.append(result)
            if ev is not None:
                events.append(ev)
        await audit.record_on(conn, events)
        return results

    async def _mark_sent(self, conn: AsyncConnection, row: Delivery, outcome: SendOutcome,
                         now: datetime) -> tuple[str | None, audit.Event | None]:
        """One send in one conditional UPDATE … RETURNING (issue 18: no reading back of the
        row this process claimed; still only a row that is pending): the result for the
        metrics and the ``delivered`` event to append (none for an edit)."""
        values: dict[str, Any] = {"delivery_id": row.id, "sent_when": now,
                                  "message_id": outcome.message_id}
        stmt = _MARK_SENT
        if outcome.error is not None:  # kept after a later success: the row's history
            stmt, values["error_text"] = _MARK_SENT_WITH_ERROR, outcome.error
        d = (await conn.execute(stmt, values)).first()
        if d is None:
            return None, None
        self.sent_count += 1
        if d.kind == "edit":
            return "sent", None
        return "sent", audit.event("delivered", at=now, actor_id=None,
                                   incident_id=d.incident_id, delivery=row.id, kind=d.kind,
                                   to=d.person_id, message_id=outcome.message_id)

    async def _record_in(self, s: AsyncSession, row: Delivery, outcome: SendOutcome,
                         now: datetime) -> str | None:
        """Record one outcome in ``s``; the result for the metrics (None: not counted)."""
        if outcome.status == "sent":  # every send that succeeded reached Telegram
            # Among other outcomes: the event through the session (its head, as theirs).
            result, ev = await self._mark_sent(await s.connection(), row, outcome, now)
            if ev is not None:
                await audit.record_all(s, [ev])
            return result
        d = await s.get(Delivery, row.id)
        if d is None or d.status != "pending":
            return None
        d.locked_until = None
        d.lease_owner = None
        if outcome.error is not None:  # kept after a later success: the row's history
            d.last_error = outcome.error
        if not outcome.attempted:
            d.attempts = max(0, (d.attempts or 1) - 1)
        if outcome.status == "cancelled":
            d.status = "cancelled"
            return "cancelled"
        if outcome.status == "wait":
            d.next_attempt_at = now + timedelta(seconds=outcome.retry_in or 1)
            return None
        if outcome.status == "retry" and now - d.created_at < self.retry_for:
            d.next_attempt_at = now + timedelta(seconds=outcome.retry_in or 1)
            return "rate_limited" if outcome.hold_chat else "retried"
        await self._failed(s, d, outcome, now)
        return "failed"

    async def _failed(self, s: AsyncSession, d: Delivery, outcome: SendOutcome,
                      now: datetime) -> None:
        """A delivery that will not be sent: record it, mark the person, let the hook reroute."""
        d.status = "failed"
        if d.incident_id is not None and d.method == "send":
            await queries.mark_undelivered(s, d.incident_id, now)
        log.warning("delivery %s (%s to %s) failed: %s", d.id, d.kind, d.person_id, outcome.error)
        await audit.record(
            s, "delivery_failed", at=now, incident_id=d.incident_id, delivery=d.id,
            kind=d.kind, to=d.person_id, error=outcome.error, attempts=d.attempts,
        )
        if outcome.unreachable and d.person_id:
            person = await s.get(Person, d.person_id)
            if person is not None and person.unreachable_since is None:
                person.unreachable_since = now
                person.unreachable_reason = (outcome.error or "")[:200]
                await audit.record(
                    s, "person_unreachable", at=now, actor_id=None,
                    incident_id=d.incident_id, person=person.id, error=outcome.error,
                )
        if self.on_failure is not None:
            # In a savepoint: a broken hook must not undo the failure record (the row
            # would otherwise be retried, and fail, for ever).
            delivery_id, incident_id = d.id, d.incident_id  # rows expire if it rolls back
            try:
                async with s.begin_nested():
                    await self.on_failure(s, d, outcome, now)
            except Exception as exc:  # noqa: BLE001 - logged and on record
                log.exception("delivery %s: handling the failure went wrong", delivery_id)
                await audit.record(s, "failure_handling_error", at=now,
                                   incident_id=incident_id, delivery=delivery_id,
                                   error=repr(exc))
