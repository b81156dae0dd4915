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

from sqlalchemy import inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEvent, AuditHead

GENESIS = "0" * 64
# session.info key: (the transaction, the audit head it locked).
_HELD = "fosterbot_audit_head"
# One encoder for every hash: sorted keys, no spaces, UTF-8 as is.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def time_text(at: datetime) -> str:
    """An instant as the chain encodes it: UTC, microseconds, ``Z`` (2026-11-25T10:00:00.000000Z)."""
    return at.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


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
    body = {
        "id": id,
        "at": time_text(at),
        "event": event,
        "actor": actor_id,
        "tg": telegram_user_id,
        "incident": incident_id,
        "details": details,
        "prev": prev_hash,
    }
    return _CANONICAL.encode(body).encode()


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
    """The chain head, locked for the rest of the caller's transaction.

    The row is made by a migration (``_select_head`` creates it if missing).
    ``populate_existing`` makes the ORM take the values the lock
    returned, not a copy of the row this session may have read earlier.

    Only the first event of a transaction locks the row: the locked head is
    kept in ``session.info`` with the transaction it was locked in, and later
    events of the same transaction use it as it is (the lock is held until the
    commit, and every event flushes the head it advanced). If a savepoint
    rolled back since, the ORM expired the head, and it is locked (read) again.
    """
    tx = session.sync_session.get_transaction()
    held = session.info.get(_HELD)
    if held is not None and tx is not None and held[0] is tx:
        head = held[1]
        state = inspect(head)
        if not state.expired_attributes and not state.detached and not state.deleted:
            return head
    head = await _select_head(session)
    if tx is not None:
        session.info[_HELD] = (tx, head)
    return head


async def _select_head(session: AsyncSession) -> AuditHead:
    """Lock and read the head row; create it first if this database lacks it.

    Migration ``4_audit_head_row`` creates the row, so normally this is one
    statement. The fallback INSERT … ON CONFLICT DO NOTHING means two writers
    racing to create it cannot fail on the primary key.
    """
    q = (select(AuditHead).where(AuditHead.id == 1).with_for_update()
         .execution_options(populate_existing=True))
    head = (await session.execute(q)).scalar_one_or_none()
    if head is not None:
        return head
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(AuditHead)
    await session.execute(
        ins.values(id=1, last_event_id=0, last_hash=GENESIS, count=0)
        .on_conflict_do_nothing(index_elements=["id"])
    )
    return (await session.execute(q)).scalar_one()


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
    last_id: int = 0
    last_hash: str = GENESIS


_COLUMNS = (
    AuditEvent.id, AuditEvent.at, AuditEvent.event, AuditEvent.actor_id,
    AuditEvent.telegram_user_id, AuditEvent.incident_id, AuditEvent.details,
    AuditEvent.prev_hash, AuditEvent.hash,
)


async def refused(session: AsyncSession, *, at: datetime, action: str, why: str,
                  actor_id: str | None = None, telegram_user_id: int | None = None,
                  incident_id: int | None = None, **details: Any) -> AuditEvent:
    """An ``access_refused`` event: who tried ``action`` and why it was refused."""
    return await record(session, "access_refused", at=at, actor_id=actor_id,
                        telegram_user_id=telegram_user_id, incident_id=incident_id,
                        action=action, why=why, **details)


def _broken(count: int, bad_id: int, message: str) -> VerifyResult:
    return VerifyResult(False, count, f"broken at event {bad_id}: {message}", bad_id)


def check_link(row: Any, prev: Any | None) -> tuple[int, str] | None:
    """Why ``row`` does not continue the chain after ``prev`` (None: the genesis), or None.

    Blames the event that was tampered with, not merely where the walk noticed:

    * a row whose own hash does not match its content was altered;
    * a row whose own hash is right but which does not follow ``prev``: if it
      names the same predecessor as ``prev`` does, ``prev`` was slipped in
      before it (inserted, later rows renumbered); otherwise ``prev`` was
      altered and its hash recomputed to hide it.
    """
    prev_hash = prev.hash if prev is not None else GENESIS
    own_ok = event_hash(row) == row.hash
    if row.prev_hash == prev_hash:
        if not own_ok:
            return row.id, f"event {row.id} ({row.event}) was altered: its content does not match its hash"
        return None
    if prev is None:
        return row.id, f"event {row.id} ({row.event}) does not start from the genesis (an event was inserted or altered)"
    if row.prev_hash == prev.prev_hash:
        return prev.id, (f"event {prev.id} ({prev.event}) was inserted: event {row.id} "
                         f"names the same predecessor")
    if own_ok:
        return prev.id, (f"event {prev.id} ({prev.event}) was altered: event {row.id} "
                         f"recorded a different hash for it")
    return row.id, f"event {row.id} ({row.event}) was altered: it does not follow event {prev.id}"


async def verify(session: AsyncSession, *, batch: int = 5000, progress=None) -> VerifyResult:
    """Walk the whole chain in id order; report the first break, or that it is intact.

    Finds, and names: an event whose content was edited (with or without its
    hash recomputed); an event deleted from the middle (a gap in the ids) or
    from the end (the chain head counts more events than there are); an event
    inserted before the first (an id below 1), in the middle (ids renumbered)
    or after the last (not in the chain head). The walk reads plain rows in
    batches (bounded memory) and starts below id 1 on purpose, so that a row
    inserted with id 0 or a negative id is seen.
    """
    prev = None
    count = 0
    last_id: int | None = None
    while True:
        q = select(*_COLUMNS).order_by(AuditEvent.id).limit(batch)
        if last_id is not None:
            q = q.where(AuditEvent.id > last_id)
        # Core rows through the session's connection: no ORM loading for a million rows.
        rows = (await (await session.connection()).execute(q)).all()
        if not rows:
            break
        for row in rows:
            expected_id = count + 1
            if row.id < expected_id:
                return _broken(count, row.id, f"event {row.id} ({row.event}) was inserted "
                                              f"(ids start at 1)")
            if row.id > expected_id:
                return _broken(count, expected_id, f"event(s) {expected_id}"
                               + (f"–{row.id - 1}" if row.id - 1 > expected_id else "")
                               + f" deleted (the next event found is {row.id})")
            problem = check_link(row, prev)
            if problem is not None:
                return _broken(count, *problem)
            prev = row
            count += 1
            last_id = row.id
        if progress is not None:
            progress(count)
    head = (await session.execute(select(AuditHead).where(AuditHead.id == 1))).scalar_one_or_none()
    head_count = head.count if head is not None else 0
    head_hash = head.last_hash if head is not None else GENESIS
    last_hash = prev.hash if prev is not None else GENESIS
    if count > head_count:
        extra = head_count + 1
        return _broken(count, extra, f"event {extra} was inserted after the last event the "
                                     f"chain head records ({head_count} events)")
    if count < head_count:
        return _broken(count, count + 1, f"the chain head records {head_count} events but "
                                         f"only {count} remain: the latest were deleted")
    if head_hash != last_hash:
        return _broken(count, count, f"event {count} does not match the chain head "
                                     f"(the last event or the head was altered)")
    return VerifyResult(True, count, f"intact, {count} events", None, count, last_hash)


async def hash_of(session: AsyncSession, event_id: int) -> str | None:
    """The stored hash of one event (None if there is no such event)."""
    return (await session.execute(select(AuditEvent.hash).where(AuditEvent.id == event_id))
            ).scalar_one_or_none()
