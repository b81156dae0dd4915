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
polling loop (``bot/polling.py``) and the webhook (``bot/webhook.py``) confirm
an update to Telegram only after it was handled.

Rows older than ``KEEP`` are pruned by the housekeeping loop (Telegram keeps
an unconfirmed update for at most 24 hours).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from storage.db import Database
from storage.models import Person, ProcessedUpdate

KEEP = timedelta(days=7)


async def seen(db: Database, update_id: int) -> bool:
    async with db.read() as s:
        return await seen_in(s, update_id)


async def seen_in(session: AsyncSession, update_id: int) -> bool:
    """``seen`` inside the caller's transaction."""
    row = await session.execute(
        select(ProcessedUpdate.update_id).where(ProcessedUpdate.update_id == update_id)
    )
    return row.first() is not None


async def record(db: Database, update_id: int, *, now: datetime,
                 telegram_user_id: int | None = None) -> bool:
    """Remember the update as handled (True if it was new); the sender is reachable again."""
    async with db.write() as s:
        ins = (postgresql.insert if db.is_postgres else sqlite.insert)(ProcessedUpdate)
        res = await s.execute(
            ins.values(update_id=update_id, processed_at=now)
            .on_conflict_do_nothing(index_elements=["update_id"])
        )
        if telegram_user_id is not None:
            back = (
                await s.execute(
                    update(Person)
                    .where(Person.telegram_user_id == telegram_user_id,
                           Person.unreachable_since.is_not(None))
                    .values(unreachable_since=None, unreachable_reason=None)
                    .returning(Person.id)
                    .execution_options(synchronize_session=False)
                )
            ).scalars().all()
            for person_id in back:
                await audit.record(s, "person_reachable", at=now, actor_id=person_id,
                                   telegram_user_id=telegram_user_id,
                                   why="wrote to the bot again")
        return res.rowcount == 1


async def prune(db: Database, now: datetime) -> int:
    async with db.write() as s:
        res = await s.execute(
            delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < now - KEEP)
        )
        return res.rowcount or 0
