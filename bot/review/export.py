"""CSV exports of incidents and audit events for a period, with the audit chain head.

Streamed: each file comes from one ordered query read through a server-side
cursor (``stream`` with ``yield_per``) in partitions of ``batch`` rows written
straight to the file, so memory stays bounded however long the period, the
database scans the range once (paging with ``id > last … LIMIT`` would re-read
the time range for every page), and each file is one consistent snapshot.
Three files:

* ``incidents_<from>_<to>.csv`` — reports made in the period (one row each);
* ``audit_<from>_<to>.csv`` — audit events recorded in the period, each with its
  ``prev_hash`` and ``hash``; ``at`` is written exactly as the hash chain
  encodes it and ``details`` as canonical JSON, so each row's hash can be
  recomputed from the file (``bot.audit.canonical``);
* ``audit-chain-head_<from>_<to>.json`` — the chain head when the export began
  (last event id, its hash, the number of events), the period, the scope, and
  each CSV file's row count and SHA-256. Decision: a separate small file rather
  than a trailing line, so the CSV files stay plain tables any program reads.
  The export contains no event after that head, so a copy can later be checked
  against the live log: event ``last_event_id`` must still carry ``last_hash``
  (``fosterbot audit verify --head FILE``).

All times are UTC (ISO 8601). A manager's export (scope = their teams) holds
their teams' incidents and the audit events about those incidents; events not
about an incident (directory changes, refusals of strangers) are only in the
administrator's export (scope ``None``). Text cells starting with ``=``, ``+``,
``-``, ``@``, tab or carriage return get a leading apostrophe so a spreadsheet
never runs a carer's text as a formula. Making an export is an audit event
(``export_made``).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select

from bot import audit
from bot.config import Settings
from bot.review import Scope
from bot.review.periods import Period
from storage import files
from storage.db import Database
from storage.models import AuditEvent, AuditHead, Child, ChildEvent, Incident, Person

BATCH = 5000

INCIDENT_COLUMNS = [
    "reference", "team", "child", "reporter_id", "reporter", "category", "category_label",
    "urgency", "status", "occurred_at", "reported_at", "out_of_hours", "acknowledged_at",
    "acknowledged_by_id", "acknowledged_by", "on_behalf_of_id", "minutes_to_acknowledge",
    "closed_at", "closed_by_id", "outcome_code", "outcome_text", "escalation_level",
    "next_step", "next_due_at", "notifiable", "notification_due_at", "notified_at",
    "notified_on_time", "description",
]
AUDIT_COLUMNS = [
    "id", "at", "event", "actor_id", "telegram_user_id", "incident_id", "incident_reference",
    "details", "prev_hash", "hash",
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A CSV cell: times as UTC ISO 8601, booleans as true/false, formulas defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


audit_time = audit.time_text  # ``at`` exactly as the hash chain encodes it
_DETAILS = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_details(details: dict[str, Any] | None) -> str:
    return _DETAILS.encode(details or {})


@dataclass
class ExportResult:
    files: list[Path]
    incidents: int = 0
    events: int = 0
    head: dict[str, Any] = field(default_factory=dict)


Progress = Callable[[str, int], None]


async def _head(db: Database) -> dict[str, Any]:
    async with db.read() as s:
        head = (await s.execute(select(AuditHead).where(AuditHead.id == 1))).scalar_one_or_none()
    if head is None:
        return {"last_event_id": 0, "last_hash": audit.GENESIS, "count": 0}
    return {"last_event_id": head.last_event_id, "last_hash": head.last_hash, "count": head.count}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


async def _write_incidents(db: Database, settings: Settings, period: Period, scope: Scope,
                           path: Path, batch: int, progress: Progress | None) -> int:
    async with db.read() as s:
        names = dict((await s.execute(select(Person.id, Person.name))).all())
    labels = {c.key: c.label for c in settings.categories}
    cond = [Incident.reported_at >= period.start, Incident.reported_at < period.end]
    if scope is not None:
        cond.append(Incident.team_id.in_(sorted(scope)))
    count = 0
    q = select(Incident).where(*cond).order_by(Incident.id).execution_options(yield_per=batch)
    with files.open_private(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(INCIDENT_COLUMNS)
        async with db.read() as s:
            result = await s.stream_scalars(q)
            async for rows in result.partitions(batch):
                for i in rows:
                    minutes = (round((i.acknowledged_at - i.reported_at).total_seconds() / 60, 2)
                               if i.acknowledged_at else None)
                    on_time = None
                    if i.notifiable and i.notified_at is not None and i.notification_due_at:
                        on_time = i.notified_at <= i.notification_due_at
                    w.writerow([cell(v) for v in (
                        i.reference, i.team_id, i.child_ref, i.reporter_id,
                        names.get(i.reporter_id), i.category, labels.get(i.category, i.category),
                        i.urgency, i.status, i.occurred_at, i.reported_at, i.out_of_hours,
                        i.acknowledged_at, i.acknowledged_by_id,
                        names.get(i.acknowledged_by_id or ""), i.acknowledged_on_behalf_of_id,
                        minutes, i.closed_at, i.closed_by_id, i.outcome_code, i.outcome_text,
                        i.escalation_level, i.next_step, i.next_due_at, i.notifiable,
                        i.notification_due_at, i.notified_at, on_time, i.description,
                    )])
                count += len(rows)
                if progress:
                    progress("incidents", count)
                await _let_others_run()
    return count


async def _let_others_run() -> None:
    """Yield to the event loop between partitions.

    On SQLite the driver runs on the loop's thread (``storage.sqlite_inloop``),
    so reading a partition does not let other updates in by itself; without
    this an export inside the bot would hold every chat up until it finished.
    """
    await asyncio.sleep(0)


async def _write_audit(db: Database, period: Period, scope: Scope, head_id: int, path: Path,
                       batch: int, progress: Progress | None) -> int:
    cond = [AuditEvent.at >= period.start, AuditEvent.at < period.end, AuditEvent.id <= head_id]
    if scope is not None:  # events about the teams' reports, or about their children
        cond.append(or_(
            AuditEvent.incident_id.in_(
                select(Incident.id).where(Incident.team_id.in_(sorted(scope)))),
            AuditEvent.id.in_(
                select(ChildEvent.audit_event_id).join(Child, Child.ref == ChildEvent.child_ref)
                .where(Child.team_id.in_(sorted(scope))))))
    q = (select(AuditEvent.id, AuditEvent.at, AuditEvent.event, AuditEvent.actor_id,
                AuditEvent.telegram_user_id, AuditEvent.incident_id, Incident.reference,
                AuditEvent.details, AuditEvent.prev_hash, AuditEvent.hash)
         .outerjoin(Incident, Incident.id == AuditEvent.incident_id))
    count = 0
    q = q.where(*cond).order_by(AuditEvent.id).execution_options(yield_per=batch)
    with files.open_private(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(AUDIT_COLUMNS)
        async with db.read() as s:
            conn = await s.connection()  # Core rows: no ORM loading
            result = await conn.stream(q)
            async for rows in result.partitions(batch):
                w.writerows(
                    [r.id, audit_time(r.at), cell(r.event), cell(r.actor_id),
                     cell(r.telegram_user_id), cell(r.incident_id), cell(r.reference),
                     canonical_details(r.details), r.prev_hash, r.hash]
                    for r in rows
                )
                count += len(rows)
                if progress:
                    progress("audit events", count)
                await _let_others_run()
    return count


async def export(db: Database, settings: Settings, *, period: Period, scope: Scope,
                 out_dir: Path, now: datetime, actor_id: str | None = None,
                 telegram_user_id: int | None = None, batch: int = BATCH,
                 progress: Progress | None = None) -> ExportResult:
    """Write the three files to ``out_dir``; record the export as an audit event."""
    tz = ZoneInfo(settings.service.timezone)
    files.private_dir(out_dir)  # created 0700; the files below are created 0600
    slug = period.slug(tz)
    head = await _head(db)
    inc_path = out_dir / f"incidents_{slug}.csv"
    aud_path = out_dir / f"audit_{slug}.csv"
    head_path = out_dir / f"audit-chain-head_{slug}.json"
    n_inc = await _write_incidents(db, settings, period, scope, inc_path, batch, progress)
    n_aud = await _write_audit(db, period, scope, head["last_event_id"], aud_path, batch, progress)
    manifest = {
        "chain_head": head,
        "exported_at": now.astimezone(timezone.utc).isoformat(),
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat(),
                   "label": period.label},
        "scope": sorted(scope) if scope is not None else "all",
        "files": {
            inc_path.name: {"rows": n_inc, "sha256": _sha256(inc_path)},
            aud_path.name: {"rows": n_aud, "sha256": _sha256(aud_path)},
        },
    }
    files.write_private(head_path, json.dumps(manifest, indent=2) + "\n")
    async with db.write() as s:
        await audit.record(
            s, "export_made", at=now, actor_id=actor_id, telegram_user_id=telegram_user_id,
            period=manifest["period"], scope=manifest["scope"], incidents=n_inc, events=n_aud,
            chain_head=head, files=manifest["files"],
        )
    return ExportResult([inc_path, aud_path, head_path], n_inc, n_aud, head)
