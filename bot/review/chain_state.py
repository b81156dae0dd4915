"""The audit chain's state for the web console: its head now, and the last check of it.

Reading the head is one row (``audit_head``) and the last event's time; it is cheap and
shown on every visit. Walking the chain (``bot.audit.verify``) reads every event and
every record it vouches for — seconds for a million events — so it is not run on every
page view: an administrator asks for it (``check``) and the result is itself an audit
event (``audit_verified``: intact or not, how many events, the first bad one, the message),
so the page shows the last check with who ran it and when, whichever process ran it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from storage import queries
from storage.db import Database
from storage.models import AuditEvent, AuditHead

EVENT = "audit_verified"
MAX_MESSAGE = 2000


@dataclass(frozen=True)
class Check:
    at: datetime
    by: str
    ok: bool
    count: int
    message: str


@dataclass(frozen=True)
class ChainState:
    count: int
    last_event_id: int
    last_hash: str
    last_at: datetime | None
    last_check: Check | None


async def state(session: AsyncSession) -> ChainState:
    head = (await session.execute(select(AuditHead).where(AuditHead.id == 1))).scalar_one_or_none()
    last_id = head.last_event_id if head is not None else 0
    last_at = (await session.execute(select(AuditEvent.at).where(AuditEvent.id == last_id))
               ).scalar_one_or_none() if last_id else None
    row = (await session.execute(
        select(AuditEvent.at, AuditEvent.actor_id, AuditEvent.details)
        .where(AuditEvent.event == EVENT).order_by(AuditEvent.id.desc()).limit(1))).first()
    check = None
    if row is not None:
        d = row.details or {}
        people = await queries.people_by_id(session, {row.actor_id} if row.actor_id else set())
        by = people[row.actor_id].name if row.actor_id in people else (row.actor_id or "?")
        check = Check(row.at, by, bool(d.get("ok")), int(d.get("count") or 0),
                      str(d.get("message") or ""))
    return ChainState(head.count if head is not None else 0, last_id,
                      head.last_hash if head is not None else audit.GENESIS, last_at, check)


async def check(db: Database, *, now: datetime, actor_id: str) -> audit.VerifyResult:
    """Walk the chain now and record the result (``audit_verified``)."""
    async with db.read() as s:
        result = await audit.verify(s)
    async with db.write() as s:
        await audit.record(s, EVENT, at=now, actor_id=actor_id, ok=result.ok,
                           count=result.count, first_bad_id=result.first_bad_id,
                           message=result.message[:MAX_MESSAGE])
    return result
