"""The append-only audit log with a hash chain.

Each event's hash is SHA-256 over a canonical JSON encoding of the event
(id, time, event, actor, Telegram id, incident, details) and the previous
event's hash. Appending takes the single ``audit_head`` row for update inside
the caller's transaction, so events form one linear chain even with several
writers (on SQLite the writer already holds the database lock). Every writer of
every instance queues on that row until the holder commits, so an append locks
it after its other statements, and ``record_all`` appends several events with
one INSERT (a report's Submit writes its events last that way). ``verify``
walks the chain and names the first event that was altered, inserted or
deleted. The application never updates or deletes audit rows. Appends are Core
statements, also on a bare connection with no ORM session (``record_on``: the
dispatcher's record of its sends), and return light ``Written`` objects.

The chain also vouches for the record itself (``storage/content.py``): events
about an incident carry digests of its fields when they changed and of the
thread messages added, a session listener registered here seals at commit any
change made after the last event (``record_updated``), and ``verify`` checks
every incident and message against the chain after walking it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session

from storage import content as record_content
from storage.models import AuditEvent, AuditHead, Incident, IncidentMessage

GENESIS = "0" * 64
# session.info key: (the transaction, the audit head it locked).
_HELD = "fosterbot_audit_head"
# session.info key: the time of the last event appended (for the safety-net event).
_LAST_AT = "fosterbot_audit_last_at"
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


def event_hash(row: Any) -> str:
    """The hash of an event (an ``AuditEvent`` row, a Core row or a ``Written``)."""
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


class _Head:
    """The chain head as this transaction holds it (locked), advanced by each append."""

    __slots__ = ("count", "last_event_id", "last_hash")

    def __init__(self, last_event_id: int, last_hash: str, count: int) -> None:
        self.last_event_id, self.last_hash, self.count = last_event_id, last_hash, count


# Built once: the appends are the hottest statements of the per-update path (issue 18), so
# they run as Core statements on the session's connection, not as ORM objects and flushes.
_HEAD = AuditHead.__table__
_EVENTS = AuditEvent.__table__
_LOCK_HEAD = select(_HEAD.c.last_event_id, _HEAD.c.last_hash, _HEAD.c.count).where(
    _HEAD.c.id == 1).with_for_update()
_ADVANCE_HEAD = _HEAD.update().where(_HEAD.c.id == 1).values(
    last_event_id=bindparam("new_id"), last_hash=bindparam("new_hash"),
    count=bindparam("new_count"))
_INSERT_EVENT = _EVENTS.insert()
_EVENT_KEYS = ("id", "at", "event", "actor_id", "telegram_user_id", "incident_id", "details",
               "prev_hash", "hash")
_ONE_STATEMENT_UP_TO = 20  # events; more (rare: a retention purge) take the two statements


@functools.lru_cache(maxsize=_ONE_STATEMENT_UP_TO)
def _insert_and_advance(n: int) -> Any:
    """PostgreSQL: the ``n`` events' INSERT and the head's advance as one statement (the
    INSERT a data-modifying ``WITH``, which PostgreSQL runs to completion whether or not the
    UPDATE reads it): one round trip fewer per append. Row ``i``'s values are the parameters
    ``e{i}_{column}``; the head's are those of ``_ADVANCE_HEAD``."""
    rows = [{key: bindparam(f"e{i}_{key}", type_=_EVENTS.c[key].type) for key in _EVENT_KEYS}
            for i in range(n)]
    return _ADVANCE_HEAD.add_cte(_EVENTS.insert().values(rows).cte("appended"))


def _lock_head(session: Session) -> _Head:
    """The chain head, locked for the rest of the caller's transaction.

    The row is made by a migration (``_select_head`` creates it if missing).

    Only the first event of a transaction (or of a savepoint) locks and reads the
    row: the head is kept in ``session.info`` with the transaction and the
    savepoint it was read in, and later events there use it as they advanced it
    (the lock is held until the commit; every event writes the head it advanced).
    Read anywhere else — after a savepoint was left, rolled back or begun — it
    is read again, so a rolled-back savepoint's events are never chained on.
    """
    where = (session.get_transaction(), session.get_nested_transaction())
    held = session.info.get(_HELD)
    if held is not None and where[0] is not None and held[0] == where:
        return held[1]
    head = _select_head(session)
    if where[0] is not None:
        session.info[_HELD] = (where, head)
    return head


def _select_head(session: Session) -> _Head:
    """Lock and read the head row on the session's connection (``_select_head_on``)."""
    return _select_head_on(session.connection())


def _select_head_on(conn: Connection) -> _Head:
    """Lock and read the head row; create it first if this database lacks it.

    Migration ``4_audit_head_row`` creates the row, so normally this is one
    statement. The fallback INSERT … ON CONFLICT DO NOTHING means two writers
    racing to create it cannot fail on the primary key.
    """
    row = conn.execute(_LOCK_HEAD).first()
    if row is None:
        ins = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(_HEAD)
        conn.execute(ins.values(id=1, last_event_id=0, last_hash=GENESIS, count=0)
                     .on_conflict_do_nothing(index_elements=["id"]))
        row = conn.execute(_LOCK_HEAD).one()
    return _Head(*row)


@dataclass(frozen=True)
class Event:
    """An event to append (``record_all``): what ``record`` takes, kept until written."""

    event: str
    at: datetime
    actor_id: str | None = None
    telegram_user_id: int | None = None
    incident_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


def event(name: str, *, at: datetime, actor_id: str | None = None,
          telegram_user_id: int | None = None, incident_id: int | None = None,
          **details: Any) -> Event:
    """An event for ``record_all``, with the same arguments as ``record``."""
    return Event(name, at, actor_id, telegram_user_id, incident_id, details)


@dataclass(slots=True)
class Written:
    """An event as appended: what callers of ``record`` use (its id, details, hash), without
    the cost of an ORM object (it was inserted with a Core statement, never through a
    session). ``event_hash`` takes it like a row."""

    id: int
    at: datetime
    event: str
    actor_id: str | None
    telegram_user_id: int | None
    incident_id: int | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


async def record(
    session: AsyncSession,
    event: str,
    *,
    at: datetime,
    actor_id: str | None = None,
    telegram_user_id: int | None = None,
    incident_id: int | None = None,
    **details: Any,
) -> Written:
    """Append one event in the caller's transaction (it commits or rolls back with it).

    An event about an incident also carries the incident's record as it now is
    (``storage.content.snapshot``) when it changed since the chain last vouched for it,
    and the thread messages added in this transaction.

    Returns the event as written (a ``Written``: the row is inserted with a Core statement,
    not through the session, so it is not in the session's identity map).
    """
    return (await record_all(session, [Event(event, at, actor_id, telegram_user_id,
                                             incident_id, details)]))[0]


async def record_all(session: AsyncSession, events: Sequence[Event]) -> list[Written]:
    """Append several events, in order, as ``record`` would one after another, but with one
    INSERT for them all and one update of the head: a transaction that can gather its
    events and write them last (a report's Submit) holds the head's lock for the least
    time (issue 18: every writer of every instance queues on that one row)."""
    if not events:
        return []
    return await session.run_sync(_append_all, events)


async def record_on(conn: AsyncConnection, events: Sequence[Event]) -> list[Written]:
    """``record_all`` on a bare connection in a write transaction (no ORM session: a hot
    path's Core statements, the dispatcher's record of its sends). The events carry no
    snapshot of the record: nothing is changed through an ORM session here, so there is
    nothing for the chain to vouch for beyond the events themselves. The head is locked
    exactly as ``_lock_head`` does, after the caller's other statements, until the commit;
    do not mix this with ``record`` on a session sharing the same transaction."""
    if not events:
        return []
    return await conn.run_sync(_append_on, events)


def _append_on(conn: Connection, events: Sequence[Event]) -> list[Written]:
    prepared = [(ev, ev.at.astimezone(timezone.utc), _clean(ev.details)) for ev in events]
    return _write(conn, _select_head_on(conn), prepared)


def _clean(details: dict[str, Any]) -> dict[str, Any]:
    """The details as JSON will keep them (so the hash verifies after a reload)."""
    return json.loads(json.dumps(details, default=str))


def _append(session: Session, event: str, at: datetime, actor_id: str | None,
            telegram_user_id: int | None, incident_id: int | None,
            details: dict[str, Any]) -> Written:
    return _append_all(session, [Event(event, at, actor_id, telegram_user_id, incident_id,
                                       details)])[0]


def _append_all(session: Session, events: Sequence[Event]) -> list[Written]:
    # Pending changes first: the snapshots below look at flushed rows, and what the events
    # are about is written before the events that vouch for it.
    session.flush()
    prepared = []
    # An incident's snapshot is taken once per append (its first event here carries it, as
    # before: the later ones would find nothing changed since).
    vouched: set[int] = set()
    changed = False
    for ev in events:
        clean = _clean(ev.details)
        if ev.incident_id is not None and ev.incident_id not in vouched:
            vouched.add(ev.incident_id)
            snap = record_content.snapshot(session, ev.incident_id)
            if snap:
                # A snapshot and the caller's own (a retention purge) are kept side by side.
                clean[record_content.KEY] = {**clean.get(record_content.KEY, {}), **snap}
                changed = True
        # Round to microseconds the database keeps, so the hash verifies after a reload.
        prepared.append((ev, ev.at.astimezone(timezone.utc), clean))
    if changed:
        session.flush()  # the records' new content_hash, before the events about them
    # The head is locked only now, after every other statement of the append: it stays
    # locked until the commit, and every writer queues on it.
    written = _write(session.connection(), _lock_head(session), prepared)
    session.info[_LAST_AT] = (session.get_transaction(), prepared[-1][1])
    return written


def _write(conn: Connection, head: _Head,
           prepared: Sequence[tuple[Event, datetime, dict[str, Any]]]) -> list[Written]:
    """Chain the prepared events on ``head`` (locked), insert them in one statement and
    advance the head."""
    written, params = [], []
    for ev, at, clean in prepared:
        row = Written(head.last_event_id + 1, at, ev.event, ev.actor_id, ev.telegram_user_id,
                      ev.incident_id, clean, head.last_hash, "")
        row.hash = event_hash(row)
        params.append({
            "id": row.id, "at": at, "event": ev.event, "actor_id": ev.actor_id,
            "telegram_user_id": ev.telegram_user_id, "incident_id": ev.incident_id,
            "details": clean, "prev_hash": row.prev_hash, "hash": row.hash})
        written.append(row)
        head.last_event_id = row.id
        head.last_hash = row.hash
        head.count += 1
    advance = {"new_id": head.last_event_id, "new_hash": head.last_hash,
               "new_count": head.count}
    if conn.dialect.name == "postgresql" and len(params) <= _ONE_STATEMENT_UP_TO:
        for i, p in enumerate(params):
            advance.update((f"e{i}_{key}", p[key]) for key in _EVENT_KEYS)
        conn.execute(_insert_and_advance(len(params)), advance)
        return written
    conn.execute(_INSERT_EVENT, params if len(params) > 1 else params[0])
    conn.execute(_ADVANCE_HEAD, advance)
    return written


def _seal_before_commit(session: Session) -> None:
    """Safety net: a record changed after the last event about it in this transaction (or
    a message added without one) gets a ``record_updated`` event, so the chain always
    vouches for what is committed."""
    session.flush()  # pending changes are tracked when flushed (record_content.track_new)
    for incident_id, updated_at in record_content.unsealed(session):
        # The time of this transaction's last event, else of the record's last update.
        last = session.info.get(_LAST_AT)
        at = (last[1] if last is not None and last[0] is session.get_transaction()
              else updated_at or datetime.now(timezone.utc))
        _append(session, "record_updated", at, None, None, incident_id, {})


sa_event.listen(Session, "before_commit", _seal_before_commit)
sa_event.listen(Session, "before_flush", record_content.track_new)


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
                  incident_id: int | None = None, **details: Any) -> Written:
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

    Then, once the chain is intact, the record it vouches for
    (``storage/content.py``): every incident and thread message is read once and
    compared with the last snapshot the chain holds of it; each incident or
    message changed, deleted or inserted behind the application's back is named,
    with the fields that differ.
    """
    prev = None
    count = 0
    seen = _Snapshots()
    # Core rows through the session's connection: no ORM loading for a million rows.
    conn = await session.connection()
    async with aclosing(_pages(conn, _COLUMNS, AuditEvent.id, batch)) as pages:
        async for rows in pages:
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
                seen.take(row)
                prev = row
                count += 1
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
    problems = await _check_records(session, seen, batch)
    if problems:
        first = min(event_id for event_id, _ in problems)
        text = "\n".join(f"  {why}" for _, why in problems[:_MAX_REPORTED])
        more = len(problems) - _MAX_REPORTED
        return VerifyResult(False, count, f"the audit chain is intact ({count} events) but the "
                            f"record it vouches for was changed:\n{text}"
                            + (f"\n  … and {more} more" if more > 0 else ""), first)
    return VerifyResult(True, count, f"intact, {count} events", None, count, last_hash)


_MAX_REPORTED = 20


class _Snapshots:
    """The last snapshot of each incident and each message's digest, as the walk meets them."""

    def __init__(self) -> None:
        # incident id -> (event id, combined digest, reference)
        self.incidents: dict[int, tuple[int, str, str]] = {}
        # message id -> (event id, digest, incident id)
        self.messages: dict[int, tuple[int, str, int | None]] = {}

    def take(self, row: Any) -> None:
        snap = (row.details or {}).get(record_content.KEY)
        if not isinstance(snap, dict):
            return
        inc = snap.get("incident")
        if isinstance(inc, dict) and isinstance(inc.get("fields"), dict):
            self.incidents[int(inc["id"])] = (row.id, record_content.combined(inc["fields"]),
                                              str(inc.get("ref")))
        for mid, dg in (snap.get("messages") or {}).items():
            self.messages[int(mid)] = (row.id, str(dg), row.incident_id)
        purged = snap.get("purged")
        if isinstance(purged, dict):  # deleted by the application (retention): expected gone
            self.incidents.pop(int(purged.get("incident") or 0), None)
            for mid in purged.get("messages") or []:
                self.messages.pop(int(mid), None)


def purged(incident_id: int | None, message_ids: list[int]) -> dict[str, Any]:
    """Details for the event recording that the application itself deleted an incident
    (``None`` when it keeps the incident as a tombstone) and its messages (retention):
    ``audit.record(s, "record_purged", incident_id=…, **audit.purged(…))`` in the same
    transaction, and ``verify`` expects them gone."""
    return {record_content.KEY: {"purged": {"incident": incident_id,
                                            "messages": sorted(message_ids)}}}


async def _pages(conn: AsyncConnection, columns: Sequence[Any], id_column: Any,
                 size: int) -> AsyncIterator[Sequence[Row]]:
    """A table's rows in id order, ``size`` at a time (the chain, the incidents, the
    messages): keyset pages (``id > the last one read``), so memory stays bounded however
    long the table, and a row with id 0 or below is read like any other."""
    last_id = None
    while True:
        q = select(*columns).order_by(id_column).limit(size)
        if last_id is not None:
            q = q.where(id_column > last_id)
        rows = (await conn.execute(q)).all()
        if not rows:
            return
        yield rows
        last_id = rows[-1].id


async def _check_records(session: AsyncSession, seen: _Snapshots,
                         batch: int) -> list[tuple[int, str]]:
    """Every incident and message against the chain's last snapshot of it: (event id, why)."""
    problems = await _check_incidents(session, seen, batch)
    problems += await _check_messages(await session.connection(), seen, batch)
    problems.sort(key=lambda p: p[0])
    return problems


async def _check_incidents(session: AsyncSession, seen: _Snapshots,
                           batch: int) -> list[tuple[int, str]]:
    problems: list[tuple[int, str]] = []
    conn = await session.connection()
    cols = [Incident.id, *(getattr(Incident, f) for f in record_content.INCIDENT_FIELDS)]
    first_vouched = min(seen.incidents, default=None)
    async for rows in _pages(conn, cols, Incident.id, batch):
        for row in rows:
            known = seen.incidents.pop(row.id, None)
            if known is None:
                if first_vouched is not None and row.id > first_vouched:
                    problems.append((0, f"incident {row.reference} (id {row.id}) has no audit "
                                        "event: it was inserted outside the application"))
                continue  # recorded before the chain covered the record
            event_id, whole, _ = known
            fields = record_content.incident_fields(row)
            if record_content.combined(fields) != whole:
                changed = await _changed_fields(session, event_id, row.id, fields)
                problems.append((event_id, f"incident {row.reference} (id {row.id}) was changed "
                                           f"after event {event_id} recorded it: "
                                           f"{', '.join(changed) or 'its content'}"))
    for inc_id, (event_id, _, ref) in sorted(seen.incidents.items()):
        problems.append((event_id, f"incident {ref} (id {inc_id}) was deleted "
                                   f"(last recorded in event {event_id})"))
    return problems


async def _check_messages(conn: AsyncConnection, seen: _Snapshots,
                          batch: int) -> list[tuple[int, str]]:
    problems: list[tuple[int, str]] = []
    first_msg = min(seen.messages, default=None)
    mcols = [getattr(IncidentMessage, f) for f in record_content.MESSAGE_FIELDS]
    async for rows in _pages(conn, mcols, IncidentMessage.id, batch):
        for row in rows:
            known = seen.messages.pop(row.id, None)
            if known is None:
                if first_msg is not None and row.id > first_msg:
                    problems.append((0, f"thread message {row.id} (incident id "
                                        f"{row.incident_id}) has no audit event: it was "
                                        "inserted outside the application"))
                continue
            event_id, dg, _ = known
            if record_content.message_digest(row) != dg:
                problems.append((event_id, f"thread message {row.id} (incident id "
                                           f"{row.incident_id}) was changed after event "
                                           f"{event_id} recorded it"))
    for mid, (event_id, _, inc_id) in sorted(seen.messages.items()):
        problems.append((event_id, f"thread message {mid} (incident id {inc_id}) was deleted "
                                   f"(recorded in event {event_id})"))
    return problems


async def _changed_fields(session: AsyncSession, event_id: int, incident_id: int,
                          now: dict[str, str]) -> list[str]:
    details = (await session.execute(select(AuditEvent.details).where(AuditEvent.id == event_id))
               ).scalar_one()
    then = details[record_content.KEY]["incident"]["fields"]
    return [f for f in record_content.INCIDENT_FIELDS if then.get(f) != now.get(f)]


async def hash_of(session: AsyncSession, event_id: int) -> str | None:
    """The stored hash of one event (None if there is no such event)."""
    return (await session.execute(select(AuditEvent.hash).where(AuditEvent.id == event_id))
            ).scalar_one_or_none()
