"""Retention (UK GDPR storage limitation): what people typed is not kept for ever.

Run by the housekeeping loop (``bot/runtime/housekeeping.py``), in batches:

* **Drafts** (``retention.drafts``, 30 days): a draft is deleted that long
  after it was discarded, or after its last activity once submitted, with the files sent
  into it that never became part of a report. (An abandoned draft is first
  discarded by ``bot/record/drafts.py`` and everything in it quoted back to the
  carer; only then can it be deleted.)
* **Processed update ids** (``retention.processed_updates``, 7 days): see
  ``bot/runtime/updates.py``.
* **Closed records** (``retention.closed_records``, off by default): a record
  closed longer ago than that becomes a *tombstone*: the incident row keeps its
  reference, child reference, team, category, urgency, dates, who acknowledged
  and closed it and the outcome code; its description, record answers, outcome
  note, thread messages, attachments (rows and kept files) and the text of the
  messages the bot sent about it are removed, and ``purged_at`` is set. A
  ``record_purged`` audit event says so. The audit log itself holds no free
  text, so the hash chain is untouched and ``fosterbot audit verify`` passes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from storage.models import Attachment, Delivery, Draft, Incident, IncidentMessage

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

BATCH = 200
TOMBSTONE = "[removed under the retention policy]"


@dataclass
class RetentionResult:
    drafts: int = 0
    records: int = 0


def _remove_file(path: str | None) -> None:
    if not path:
        return
    try:
        Path(path).unlink(missing_ok=True)
    except OSError:
        log.warning("retention: could not delete a kept file (%s)", Path(path).name)


async def purge_drafts(session: AsyncSession, services: "Services", now: datetime) -> int:
    keep = services.settings.retention.drafts.amount
    ids = list((await session.execute(
        select(Draft.id)
        .where(or_(Draft.discarded_at < now - keep,
                   and_(Draft.submitted_incident_id.is_not(None),
                        Draft.last_activity_at < now - keep)))
        .order_by(Draft.id).limit(BATCH)
    )).scalars())
    if not ids:
        return 0
    loose = (await session.execute(
        select(Attachment).where(Attachment.draft_id.in_(ids), Attachment.incident_id.is_(None))
    )).scalars().all()
    for a in loose:
        _remove_file(a.local_path)
        await session.delete(a)
    await session.execute(delete(Draft).where(Draft.id.in_(ids)))
    await audit.record(session, "drafts_purged", at=now, count=len(ids),
                       older_than_days=keep.days)
    return len(ids)


async def purge_closed_records(session: AsyncSession, services: "Services", now: datetime) -> int:
    keep = services.settings.retention.closed_records
    if keep is None:
        return 0
    incidents = (await session.execute(
        select(Incident)
        .where(Incident.status == "closed", Incident.purged_at.is_(None),
               Incident.closed_at < now - keep.amount)
        .order_by(Incident.id).limit(BATCH)
    )).scalars().all()
    for inc in incidents:
        files = (await session.execute(
            select(Attachment).where(Attachment.incident_id == inc.id))).scalars().all()
        for a in files:
            _remove_file(a.local_path)
            await session.delete(a)
        await session.flush()
        message_ids = list((await session.execute(
            select(IncidentMessage.id).where(IncidentMessage.incident_id == inc.id))).scalars())
        messages = (await session.execute(
            delete(IncidentMessage).where(IncidentMessage.incident_id == inc.id))).rowcount or 0
        sent = (await session.execute(
            update(Delivery)
            .where(Delivery.incident_id == inc.id,
                   and_(Delivery.status != "pending"))
            .values(payload={"text": "", "buttons": []})
            .execution_options(synchronize_session=False)
        )).rowcount or 0
        inc.description = TOMBSTONE
        inc.details = {}
        inc.outcome_text = None
        inc.purged_at = now
        inc.updated_at = now
        await audit.record(session, "record_purged", at=now, incident_id=inc.id,
                           reference=inc.reference, closed_at=inc.closed_at.isoformat(),
                           messages=messages, attachments=len(files), deliveries=sent,
                           older_than_days=keep.amount.days,
                           **audit.purged(None, message_ids))
    return len(incidents)


async def run(session: AsyncSession, services: "Services", now: datetime) -> RetentionResult:
    """One retention pass (in the caller's write transaction)."""
    return RetentionResult(drafts=await purge_drafts(session, services, now),
                           records=await purge_closed_records(session, services, now))
