"""The append-only audit log with a hash chain.

Each event's hash is SHA-256 over a canonical JSON encoding of the event
(id, time, event, actor, Telegram id, incident, details) and the previous
event's hash. Appending takes the single ``audit_head`` row for update inside
the caller's transaction, so events form one linear chain even with several
writers (on SQLite the writer already holds the database lock). ``verify``
walks the chain and names the first event that was altered, inserted or
deleted. The application never updates or deletes audit rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEvent, AuditHead

GENESIS = "0" * 64


def canonical(
    *,
    id: int,
    at: datetime,
    event: str,
    actor_id: str | None,
    telegram_user_id: int | None,
    incident_id: int | None,
    details: dict[str, Any],
    prev_hash: str,
) -> bytes:
    at_utc = at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = {
        "id": id,
        "at": at_utc,
        "event": event,
        "actor": actor_id,
        "tg": telegram_user_id,
        "incident": incident_id,
        "details": details,
        "prev": prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(row: AuditEvent) -> str:
    return hashlib.sha256(
        canonical(
            id=row.id,
            at=row.at,
            event=row.event,
            actor_id=row.actor_id,
            telegram_user_id=row.telegram_user_id,
            incident_id=row.incident_id,
            details=row.details or {},
            prev_hash=row.prev_hash,
        )
    ).hexdigest()


async def _lock_head(session: AsyncSession) -> AuditHead:
    head = (
        await session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update())
    ).scalar_one_or_none()
    if head is None:
        # The first event ever: two writers may get here at once (PostgreSQL), so the
        # head is created with ON CONFLICT DO NOTHING and then locked like any other time.
        dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(AuditHead)
        await session.execute(
            ins.values(id=1, last_event_id=0, last_hash=GENESIS, count=0)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        head = (
            await session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update())
        ).scalar_one()
    return head


async def record(
    session: AsyncSession,
    event: str,
    *,
    at: datetime,
    actor_id: str | None = None,
    telegram_user_id: int | None = None,
    incident_id: int | None = None,
    **details: Any,
) -> AuditEvent:
    """Append one event in the caller's transaction (it commits or rolls back with it)."""
    head = await _lock_head(session)
    # Round to microseconds the database keeps, so the hash verifies after a reload.
    at = at.astimezone(timezone.utc)
    clean = json.loads(json.dumps(details, default=str))
    row = AuditEvent(
        id=head.last_event_id + 1,
        at=at,
        event=event,
        actor_id=actor_id,
        telegram_user_id=telegram_user_id,
        incident_id=incident_id,
        details=clean,
        prev_hash=head.last_hash,
        hash="",
    )
    row.hash = event_hash(row)
    session.add(row)
    head.last_event_id = row.id
    head.last_hash = row.hash
    head.count += 1
    await session.flush()
    return row


@dataclass
class VerifyResult:
    ok: bool
    count: int
    message: str
    first_bad_id: int | None = None


async def verify(session: AsyncSession, *, batch: int = 5000) -> VerifyResult:
    """Walk the chain in id order; report the first break, or that it is intact."""
    prev = GENESIS
    expected_id = 1
    count = 0
    last_id = 0
    while True:
        rows = (
            await session.execute(
                select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
            )
        ).scalars().all()
        if not rows:
            break
        for row in rows:
            if row.id != expected_id:
                kind = "deleted" if row.id > expected_id else "inserted"
                return VerifyResult(
                    False, count,
                    f"broken at event {expected_id}: event(s) {kind} (next id found is {row.id})",
                    expected_id,
                )
            if row.prev_hash != prev:
                return VerifyResult(
                    False, count,
                    f"broken at event {row.id} ({row.event}): it does not follow event "
                    f"{row.id - 1} (an event was deleted, inserted or altered before it)",
                    row.id,
                )
            if event_hash(row) != row.hash:
                return VerifyResult(
                    False, count,
                    f"broken at event {row.id} ({row.event}): its content was altered",
                    row.id,
                )
            prev = row.hash
            expected_id += 1
            count += 1
            last_id = row.id
        session.expunge_all()
    head = (await session.execute(select(AuditHead).where(AuditHead.id == 1))).scalar_one_or_none()
    if head is not None and (head.last_hash != prev or head.count != count):
        return VerifyResult(
            False, count,
            f"broken after event {count}: the chain head records {head.count} events "
            f"(the latest event(s) were deleted or the head altered)",
            count + 1,
        )
    return VerifyResult(True, count, f"intact, {count} events")
