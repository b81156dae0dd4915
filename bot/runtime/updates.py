"""Incoming updates are handled once; a person who writes to the bot is reachable again.

Telegram delivers an update again when it did not see it acknowledged: a
webhook answer that never arrived, or polling that stopped before it
confirmed the offset. ``processed_updates`` remembers every update id that was
handled, so a redelivered update changes nothing.

Decision: the id is recorded *after* the handlers ran (a TypeHandler in the
last group), and checked before them (a TypeHandler in group -1 that stops a
known update). Recording it first would make a crash in the middle of a
handler lose the update for good — the carer's typed text with it — because
the redelivery would be skipped. The price is the opposite, narrower window:
a crash after a handler committed and before the id was recorded handles the
update again, which every handler tolerates (answers are written to the draft
again, a second Submit or Acknowledge is refused as already done). Our own
polling loop (``bot/runtime/polling.py``) and the webhook (``bot/runtime/webhook.py``) confirm
an update to Telegram only after it was handled.

Updates that finish together are recorded together (``HandledLog``, a group
commit): one write transaction for all the ids that finished while the last
one was being written. Each update still counts as handled only once its id is
committed (its handling waits for that), so nothing above changes; on SQLite
a burst of updates takes about one turn each at the single write lock instead
of two (the handler's and the record's).

Rows older than ``KEEP`` are pruned by the housekeeping loop (Telegram keeps
an unconfirmed update for at most 24 hours).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot import audit
from bot.delivery import handoff
from storage.rows import column_keys, detached
from storage.db import Database
from storage.models import Delivery, Person, PersonRole, ProcessedUpdate

KEEP = timedelta(days=7)

# Every update asks and records once: Core statements on the table, built once (issue 18).
_PROCESSED = ProcessedUpdate.__table__
_SEEN = select(_PROCESSED.c.update_id).where(_PROCESSED.c.update_id == bindparam("update_id"))


async def seen_in(conn: AsyncConnection, update_id: int) -> bool:
    """Whether this update id was already handled."""
    row = await conn.execute(_SEEN, {"update_id": update_id})
    return row.first() is not None


# The sender (every column of their ``people`` row) and their roles, whether the update was
# handled, and whether its chat owes handed-over replies (``bot/delivery/handoff.py``), in one
# Core statement: every update from a linked person asks all three (issue 18).
_PEOPLE = Person.__table__
_ROLES = PersonRole.__table__
_PERSON_KEYS = column_keys(Person)
_SENDER_AND_SEEN = (
    select(*_PEOPLE.c, _ROLES.c.role,
           exists().where(_PROCESSED.c.update_id == bindparam("update_id")).label("seen"),
           exists().where(handoff.WAITING_FOR_CHAT).select_from(Delivery).label("owes"))
    .select_from(_PEOPLE.outerjoin(_ROLES, _ROLES.c.person_id == _PEOPLE.c.id))
    .where(_PEOPLE.c.telegram_user_id == bindparam("telegram_user_id"))
)


async def seen_and_sender(conn: AsyncConnection, update_id: int, telegram_user_id: int,
                          chat: int | None = None,
                          ) -> tuple[bool, Person | None, frozenset[str]]:
    """Whether this update id was already handled (:func:`seen_in`), and the person linked to
    its sender with their roles (None and no roles: nobody is), in one statement when
    somebody is linked (two when nobody is). The same statement reads whether ``chat`` (the
    update's) owes handed-over replies, kept for the rest of the update
    (``handoff.learned``), so its handlers' sends need not ask."""
    rows = (await conn.execute(_SENDER_AND_SEEN, {"update_id": update_id,
                                                  "telegram_user_id": telegram_user_id,
                                                  "chat": chat})
            ).all()
    if not rows:
        return await seen_in(conn, update_id), None, frozenset()
    first = rows[0]
    if chat is not None:
        handoff.learned(chat, bool(first.owes))
    return (bool(first.seen), detached(Person, _PERSON_KEYS, first),
            frozenset(row.role for row in rows if row.role is not None))


async def check(db: Database, update_id: int, telegram_user_id: int | None,
                chat: int | None = None) -> tuple[bool, Person | None, frozenset[str]]:
    """:func:`seen_and_sender` (:func:`seen_in` when the update has no sender) as the one read
    on a connection of its own (``Database.read_connection``: no ORM session; on PostgreSQL
    one round trip)."""
    async with db.read_connection() as conn:
        if telegram_user_id is None:
            return await seen_in(conn, update_id), None, frozenset()
        return await seen_and_sender(conn, update_id, telegram_user_id, chat)


@dataclass(frozen=True)
class Handled:
    """An update that was handled; ``telegram_user_id``: its sender may have been unreachable."""

    update_id: int
    at: datetime
    telegram_user_id: int | None = None


def _insert(dialect: Any) -> Any:
    return dialect.insert(_PROCESSED).on_conflict_do_nothing(index_elements=["update_id"])


# Built once per dialect and run with one parameter set per id (the batch's size does not make
# a new statement to compile).
_RECORD = {"postgresql": _insert(postgresql), "sqlite": _insert(sqlite)}


async def record(db: Database, handled: list[Handled]) -> None:
    """Remember the updates as handled, in one transaction; their senders are reachable
    again. Core on a bare connection; an ORM session joins it only when a sender was marked
    unreachable (rare: their ``person_reachable`` event goes in the same transaction).
    Otherwise the ids are one statement (``Database.write_statements``: on PostgreSQL one
    round trip instead of three, BEGIN and COMMIT; all the ids or none, as before)."""
    if not handled:
        return
    rows = {h.update_id: {"update_id": h.update_id, "processed_at": h.at} for h in handled}
    senders = {h.telegram_user_id: h.at for h in handled if h.telegram_user_id is not None}
    async with db.write_connection() if senders else db.write_statements() as conn:
        await conn.execute(_RECORD[db.dialect], list(rows.values()))
        if senders:
            async with AsyncSession(bind=conn, expire_on_commit=False) as s:
                await _reachable_again(s, senders)
                await s.flush()


async def _reachable_again(s: AsyncSession, senders: dict[int, datetime]) -> None:
    back = (
        await s.execute(
            update(Person)
            .where(Person.telegram_user_id.in_(sorted(senders)),
                   Person.unreachable_since.is_not(None))
            .values(unreachable_since=None, unreachable_reason=None)
            .returning(Person.id, Person.telegram_user_id)
            .execution_options(synchronize_session=False)
        )
    ).all()
    for person_id, telegram_user_id in sorted(back):
        await audit.record(s, "person_reachable", at=senders[telegram_user_id],
                           actor_id=person_id, telegram_user_id=telegram_user_id,
                           why="wrote to the bot again")


class HandledLog:
    """Records handled updates, those that finish together in one transaction.

    ``add`` returns once the update's id is committed. While one batch is being
    written, the ids that finish queue for the next; a lone update is written at
    once (no timer, so no added wait). A batch that fails fails each of its
    updates' ``add`` with the error, as a write of its own would have.
    """

    MAX_BATCH = 500  # ids per transaction (two bound parameters each)

    def __init__(self, db: Database) -> None:
        self.db = db
        self._queue: list[tuple[Handled, asyncio.Future]] = []
        self._writing: list[tuple[Handled, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    async def add(self, handled: Handled) -> None:
        done = asyncio.get_running_loop().create_future()
        self._queue.append((handled, done))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_queued(),
                                               name="fosterbot-handled-updates")
        # Shielded: a handler cancelled while waiting does not cancel the others' batch.
        await asyncio.shield(done)

    async def _write_queued(self) -> None:
        try:
            while self._queue:
                self._writing = self._queue[:self.MAX_BATCH]
                self._queue = self._queue[self.MAX_BATCH:]
                error: Exception | None = None
                try:
                    await record(self.db, [h for h, _ in self._writing])
                except Exception as exc:  # noqa: BLE001 - handed to every waiter
                    error = exc
                for _, done in self._writing:
                    if done.done():
                        continue
                    if error is None:
                        done.set_result(None)
                    else:
                        done.set_exception(error)
                self._writing = []
        finally:
            # Cancelled (the loop is closing): nobody may wait for ever.
            for _, done in self._writing + self._queue:
                if not done.done():
                    done.cancel()
            self._writing, self._queue = [], []
            self._writer = None


async def prune(db: Database, now: datetime, keep: timedelta = KEEP) -> int:
    """Forget handled update ids older than ``keep`` (``retention.processed_updates``)."""
    async with db.write() as s:
        res = await s.execute(
            delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < now - keep)
        )
        return res.rowcount or 0
