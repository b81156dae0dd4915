"""The outbox: every message the bot owes someone, and the dispatcher that sends it.

A delivery row is written in the same transaction as the change that causes it
(``enqueue``), so a committed report always has its alerts, and an alert is
never sent for a report that was rolled back. The :class:`Dispatcher` then
claims due rows with a lease (a conditional UPDATE whose row count says who won;
portable to SQLite and PostgreSQL), sends them, and records the Telegram
message id or the failure. Delivery is at least once: the Bot API has no
idempotency key, so a send that timed out may have arrived; every button is
idempotent and texts are worded so a rare duplicate is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot import audit
from bot.clock import Clock
from storage.db import Database
from storage.models import Delivery, Person

log = logging.getLogger(__name__)

PRIORITY = {"urgent": 0, "high": 1, "routine": 3}
RECEIPT_PRIORITY = 1
NOTICE_PRIORITY = 4

Buttons = list[list[tuple[str, str]]]


async def enqueue(
    session: AsyncSession,
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
) -> Delivery:
    """Owe someone a message (in the caller's transaction)."""
    if person is not None and chat_id is None:
        chat_id = person.telegram_chat_id
    row = Delivery(
        idempotency_key=key,
        incident_id=incident_id,
        person_id=person.id if person is not None else None,
        chat_id=chat_id,
        kind=kind,
        method=method,
        payload={"text": text, "buttons": [[list(b) for b in row] for row in (buttons or [])]},
        target_delivery_id=target_delivery_id,
        priority=priority,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


def markup(buttons: list[list[list[str]]] | None) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in buttons]
    )


PERMANENT_CHAT_ERRORS = (
    "bot was blocked by the user",
    "user is deactivated",
    "chat not found",
    "bot can't initiate conversation",
)


@dataclass
class SendOutcome:
    status: str  # sent | retry | failed
    message_id: int | None = None
    error: str | None = None
    retry_in: float | None = None
    unreachable: bool = False


class Dispatcher:
    """Sends due deliveries; woken after each commit that owes a message, and on a timer."""

    LEASE = timedelta(seconds=60)

    def __init__(
        self, db: Database, bot: Any, clock: Clock, *, retry_for: timedelta = timedelta(hours=6),
        poll_interval: float = 2.0, batch: int = 50,
    ) -> None:
        self.db = db
        self.bot = bot
        self.clock = clock
        self.retry_for = retry_for
        self.poll_interval = poll_interval
        self.batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False
        self.sent_count = 0

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="fosterbot-dispatcher")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                busy = await self.run_once()
            except Exception:  # noqa: BLE001 - the loop must survive; the error is logged
                log.exception("dispatcher pass failed")
                busy = False
            if busy:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def _claim(self, now: datetime) -> list[Delivery]:
        async with self.db.write() as s:
            rows = (
                await s.execute(
                    select(Delivery)
                    .where(Delivery.status == "pending", Delivery.next_attempt_at <= now,
                           or_(Delivery.locked_until.is_(None), Delivery.locked_until < now))
                    .order_by(Delivery.priority, Delivery.id)
                    .limit(self.batch)
                )
            ).scalars().all()
            claimed = []
            for row in rows:
                res = await s.execute(
                    update(Delivery)
                    .where(Delivery.id == row.id, Delivery.status == "pending",
                           or_(Delivery.locked_until.is_(None), Delivery.locked_until < now))
                    .values(locked_until=now + self.LEASE, attempts=Delivery.attempts + 1)
                )
                if res.rowcount == 1:
                    claimed.append(row)
            return claimed

    async def run_once(self) -> bool:
        """One pass: claim and send what is due. True if anything was sent or tried."""
        now = self.clock.now()
        claimed = await self._claim(now)
        for row in claimed:
            outcome = await self._send(row)
            await self._record(row, outcome)
        return bool(claimed)

    async def drain(self, max_passes: int = 100) -> None:
        """Send everything due now (tests and the demo)."""
        for _ in range(max_passes):
            if not await self.run_once():
                return

    async def _target_message_id(self, row: Delivery) -> tuple[str, int | None]:
        async with self.db.read() as s:
            target = await s.get(Delivery, row.target_delivery_id)
            if target is None or target.status in ("failed", "cancelled"):
                return "gone", None
            if target.status != "sent":
                return "wait", None
            return "ok", target.telegram_message_id

    async def _send(self, row: Delivery) -> SendOutcome:
        if row.chat_id is None:
            return SendOutcome("failed", error="no Telegram chat for this person", unreachable=True)
        text = row.payload.get("text", "")
        kb = markup(row.payload.get("buttons"))
        try:
            if row.method == "edit":
                state, message_id = await self._target_message_id(row)
                if state == "wait":
                    return SendOutcome("retry", error="waiting for the message to edit", retry_in=1)
                if state == "gone" or message_id is None:
                    return SendOutcome("cancelled", error="the message to edit was never sent")
                try:
                    await self.bot.edit_message_text(
                        chat_id=row.chat_id, message_id=message_id, text=text,
                        parse_mode=ParseMode.HTML, reply_markup=kb,
                    )
                except BadRequest as exc:
                    if "not modified" in exc.message.lower():
                        return SendOutcome("sent", message_id=message_id)
                    raise
                return SendOutcome("sent", message_id=message_id)
            msg = await self.bot.send_message(
                chat_id=row.chat_id, text=text, parse_mode=ParseMode.HTML, reply_markup=kb,
            )
            return SendOutcome("sent", message_id=msg.message_id)
        except RetryAfter as exc:
            delay = exc.retry_after
            seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
            return SendOutcome("retry", error=f"rate limited: retry after {seconds:g}s",
                               retry_in=seconds)
        except Forbidden as exc:
            return SendOutcome("failed", error=exc.message, unreachable=True)
        except BadRequest as exc:
            lowered = exc.message.lower()
            unreachable = any(p in lowered for p in PERMANENT_CHAT_ERRORS)
            return SendOutcome("failed", error=exc.message, unreachable=unreachable)
        except NetworkError as exc:  # includes TimedOut
            backoff = min(300.0, 2.0 ** min(row.attempts, 8))
            return SendOutcome("retry", error=f"network: {exc}", retry_in=backoff)
        except TelegramError as exc:
            return SendOutcome("failed", error=str(exc))

    async def _record(self, row: Delivery, outcome: SendOutcome) -> None:
        now = self.clock.now()
        async with self.db.write() as s:
            d = await s.get(Delivery, row.id)
            if d is None:
                return
            d.locked_until = None
            d.last_error = outcome.error
            if outcome.status == "sent":
                d.status = "sent"
                d.sent_at = now
                d.telegram_message_id = outcome.message_id
                self.sent_count += 1
                if d.kind != "edit":
                    await audit.record(
                        s, "delivered", at=now, actor_id=None, incident_id=d.incident_id,
                        delivery=d.id, kind=d.kind, to=d.person_id, message_id=outcome.message_id,
                    )
            elif outcome.status == "cancelled":
                d.status = "cancelled"
            elif outcome.status == "retry" and now - d.created_at < self.retry_for:
                d.next_attempt_at = now + timedelta(seconds=outcome.retry_in or 1)
            else:
                d.status = "failed"
                log.warning("delivery %s (%s to %s) failed: %s", d.id, d.kind, d.person_id,
                            outcome.error)
                await audit.record(
                    s, "delivery_failed", at=now, incident_id=d.incident_id, delivery=d.id,
                    kind=d.kind, to=d.person_id, error=outcome.error,
                )
                if outcome.unreachable and d.person_id:
                    person = await s.get(Person, d.person_id)
                    if person is not None and person.unreachable_since is None:
                        person.unreachable_since = now
                        person.unreachable_reason = outcome.error
                        await audit.record(
                            s, "person_unreachable", at=now, actor_id=None,
                            incident_id=d.incident_id, person=person.id, error=outcome.error,
                        )
