"""Attachments: photos, voice notes, video notes, videos and documents on a report.

An attachment is recorded by its Telegram file id the moment it arrives: on
the draft while a report is being written (``draft_id``), moved to the
incident when the report is submitted, or straight onto the incident with the
follow-up message it came with (``incident_id`` + ``message_id``).

With ``storage.keep_files = true`` the service keeps its own copy: after the
commit, :func:`keep_files` downloads every attachment of the incident that has
no local copy yet to ``storage.files_dir/<incident reference>/`` and records
its path and SHA-256 (of the file as received). Folders are 0700 and files
0600 (``storage.files``); with a data key configured the file is stored
encrypted (``storage.crypto``): read it back with :func:`read_kept`. Downloading happens outside any transaction; a failure is
logged and retried the next time the incident gains an attachment (the
Telegram file id stays on the record either way).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot import audit
from storage import crypto, files
from storage.models import Attachment, Incident

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

KINDS = ("photo", "voice", "video_note", "video", "document")
KIND_LABELS = {"photo": "photo", "voice": "voice note", "video_note": "video note",
               "video": "video", "document": "document"}
_EXT = {"photo": ".jpg", "voice": ".oga", "video_note": ".mp4", "video": ".mp4"}


@dataclass(frozen=True)
class Media:
    kind: str
    file_id: str
    file_unique_id: str
    file_name: str | None = None
    caption: str = ""


def media_of(message: Any) -> Media | None:
    """The one file a Telegram message carries (largest size of a photo), or None."""
    if message is None:
        return None
    caption = (getattr(message, "caption", None) or "").strip()
    if message.photo:
        best = max(message.photo, key=lambda p: (p.width or 0) * (p.height or 0))
        return Media("photo", best.file_id, best.file_unique_id, None, caption)
    for kind in ("voice", "video_note", "video", "document"):
        f = getattr(message, kind, None)
        if f is not None:
            name = getattr(f, "file_name", None)
            return Media(kind, f.file_id, f.file_unique_id, name[:255] if name else None, caption)
    return None


def describe(counts: dict[str, int]) -> str:
    """'2 photos and 1 voice note'."""
    parts = []
    for kind in KINDS:
        n = counts.get(kind, 0)
        if n:
            label = KIND_LABELS[kind]
            parts.append(f"{n} {label}{'' if n == 1 else 's'}")
    if not parts:
        return "no attachments"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


async def add(
    session: AsyncSession, *, media: Media, uploaded_by: str, now: datetime,
    draft_id: int | None = None, incident_id: int | None = None, message_id: int | None = None,
) -> Attachment:
    row = Attachment(
        incident_id=incident_id, draft_id=draft_id, message_id=message_id,
        uploaded_by_id=uploaded_by, kind=media.kind, file_id=media.file_id[:255],
        file_unique_id=media.file_unique_id[:255], file_name=media.file_name, created_at=now,
    )
    session.add(row)
    await session.flush()
    await audit.record(session, "attachment_added", at=now, actor_id=uploaded_by,
                       incident_id=incident_id, attachment=row.id, kind=media.kind,
                       draft=draft_id, message=message_id)
    return row


async def move_draft(session: AsyncSession, draft_id: int, incident_id: int,
                     message_id: int | None = None) -> int:
    """Attach a draft's files to an incident (and optionally one of its messages)."""
    res = await session.execute(
        update(Attachment)
        .where(Attachment.draft_id == draft_id, Attachment.incident_id.is_(None))
        .values(incident_id=incident_id, message_id=message_id)
        .execution_options(synchronize_session=False)
    )
    return res.rowcount or 0


# Asked at every report's review: built once, on the table (a session or a bare connection).
_COUNT_FOR_DRAFT = (select(func.count(Attachment.__table__.c.id))
                    .where(Attachment.__table__.c.draft_id == bindparam("draft_id")))


async def count_for_draft(session: AsyncSession | AsyncConnection, draft_id: int) -> int:
    return (await session.execute(_COUNT_FOR_DRAFT, {"draft_id": draft_id})).scalar_one()


async def count_for(session: AsyncSession, incident_id: int) -> int:
    return (await session.execute(
        select(func.count(Attachment.id)).where(Attachment.incident_id == incident_id)
    )).scalar_one()


async def kinds_for(session: AsyncSession, incident_id: int,
                    message_id: int | None = None) -> dict[str, int]:
    q = select(Attachment.kind, func.count(Attachment.id)).where(
        Attachment.incident_id == incident_id)
    if message_id is not None:
        q = q.where(Attachment.message_id == message_id)
    return {k: n for k, n in (await session.execute(q.group_by(Attachment.kind))).all()}


async def for_incident(session: AsyncSession, incident_id: int) -> list[Attachment]:
    return list((await session.execute(
        select(Attachment).where(Attachment.incident_id == incident_id).order_by(Attachment.id)
    )).scalars())


def _safe(part: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in part)[:80] or "file"


async def keep_files(services: "Services", bot: Any, incident_id: int) -> int:
    """Download the incident's attachments that have no local copy; returns how many were kept."""
    if not services.settings.storage.keep_files:
        return 0
    async with services.db.read() as s:
        incident = await s.get(Incident, incident_id)
        pending = [a for a in await for_incident(s, incident_id) if a.local_path is None]
    if incident is None or not pending:
        return 0
    root = files.private_dir(services.settings.storage.files_dir, tighten=True)
    folder = files.private_dir(root / _safe(incident.reference), tighten=True)
    ring = crypto.keyring()
    kept = 0
    for att in pending:
        ext = _EXT.get(att.kind, "")
        if att.file_name and "." in att.file_name:
            ext = "." + _safe(att.file_name.rsplit(".", 1)[1])[:10]
        target = folder / f"{att.id}-{att.kind}{ext}"
        partial = target.with_name(target.name + ".part")
        try:
            tg_file = await bot.get_file(att.file_id)
            data = bytes(await tg_file.download_as_bytearray())
            digest = hashlib.sha256(data).hexdigest()  # of the file itself, not its ciphertext
            files.write_private(partial, ring.seal_bytes(data))
            os.replace(partial, target)
        except Exception:  # noqa: BLE001 - the file id stays on the record; retried later
            log.warning("could not keep attachment %s of incident %s", att.id, incident_id,
                        exc_info=True)
            partial.unlink(missing_ok=True)
            continue
        async with services.db.write() as s:
            row = await s.get(Attachment, att.id)
            if row is not None and row.local_path is None:
                row.local_path = str(target)
                row.sha256 = digest
                await audit.record(s, "attachment_kept", at=services.clock.now(),
                                   incident_id=incident_id, attachment=att.id, sha256=digest)
                kept += 1
    return kept


def read_kept(path: str | Path) -> bytes:
    """A kept file's bytes as received (decrypted with the configured data keys)."""
    return crypto.keyring().open_bytes(Path(path).read_bytes(), f"kept file {path}")
