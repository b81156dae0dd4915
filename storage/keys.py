"""``fosterbot keys rotate``: re-encrypt every stored value and kept file with the current key.

Walks each encrypted column (:data:`ENCRYPTED`) in id order, ``batch`` rows per
transaction (rows locked for the batch on PostgreSQL; SQLite writers hold the
database lock), and rewrites each value that is not already under the current
key — plain values written before a key was configured included — then does
the same for kept attachment files (each rewritten through a temporary file
and an atomic rename). Every batch commits on its own, so an interrupted run
keeps what it did; running it again skips the values already under the current
key and finishes the rest. It can run while the bot runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Text, func, select, type_coerce, update

from storage import crypto, files
from storage.db import Database
from storage.models import Attachment, Delivery, Draft, Incident, IncidentMessage

# (table, its encrypted columns)
ENCRYPTED: tuple[tuple[Any, tuple[str, ...]], ...] = (
    (Incident, ("description", "details", "outcome_text")),
    (IncidentMessage, ("text",)),
    (Draft, ("data",)),
    (Delivery, ("payload",)),
)
BATCH = 500

# (what, rows looked at so far, rows in all, values rewritten so far)
Progress = Callable[[str, int, int, int], None]


@dataclass
class RotateResult:
    key_id: str
    checked: int = 0
    rewritten: int = 0
    files_checked: int = 0
    files_rewritten: int = 0
    files_missing: list[str] = field(default_factory=list)


def _needs(ring: crypto.Keyring, raw: Any) -> bool:
    """Whether a stored value is not yet under the current key."""
    if raw is None:
        return False
    if isinstance(raw, str):
        return crypto.text_key_id(raw) != ring.current
    return True  # a plain JSON document


def _plain(ring: crypto.Keyring, raw: Any, purpose: str, is_json: bool) -> Any:
    if not isinstance(raw, str):
        return raw  # plain JSON
    text = ring.open_text(raw, purpose)
    return json.loads(text) if is_json else text


async def _rotate_table(db: Database, ring: crypto.Keyring, model: Any, columns: tuple[str, ...],
                        batch: int, result: RotateResult, progress: Progress | None) -> None:
    table = model.__table__
    name = table.name
    is_json = {c: isinstance(table.c[c].type, crypto.EncryptedJSON) for c in columns}
    raw = [type_coerce(table.c[c], JSON() if is_json[c] else Text()).label(c) for c in columns]
    async with db.read() as s:
        total = (await s.execute(select(func.count()).select_from(table))).scalar_one()
    done = rewritten = 0
    last_id: int | None = None
    while True:
        async with db.write() as s:
            q = select(table.c.id, *raw).order_by(table.c.id).limit(batch)
            if last_id is not None:
                q = q.where(table.c.id > last_id)
            if db.is_postgres:
                q = q.with_for_update(of=table)
            rows = (await s.execute(q)).all()
            if not rows:
                break
            for row in rows:
                values = {}
                for c in columns:
                    value = getattr(row, c)
                    if _needs(ring, value):
                        values[c] = _plain(ring, value, f"{name}.{c}", is_json[c])
                if values:
                    await s.execute(update(table).where(table.c.id == row.id).values(**values))
                    rewritten += len(values)
                    result.rewritten += len(values)
            last_id = rows[-1].id
            done += len(rows)
        result.checked += len(rows) * len(columns)
        if progress is not None:
            progress(name, done, total, rewritten)


def rotate_file(ring: crypto.Keyring, path: Path) -> bool:
    """Re-encrypt one kept file under the current key; False if it already was."""
    stored = path.read_bytes()
    if crypto.file_key_id(stored) == ring.current:
        return False
    plain = ring.open_bytes(stored, f"kept file {path}")
    partial = path.with_name(path.name + ".rotating")
    files.write_private(partial, ring.seal_bytes(plain))
    os.replace(partial, path)
    return True


async def _rotate_files(db: Database, ring: crypto.Keyring, batch: int, result: RotateResult,
                        progress: Progress | None) -> None:
    async with db.read() as s:
        paths = [p for (p,) in (await s.execute(
            select(Attachment.local_path).where(Attachment.local_path.is_not(None))
            .order_by(Attachment.id))).all()]
    for n, p in enumerate(paths, 1):
        path = Path(p)
        if not path.exists():
            result.files_missing.append(p)
        elif rotate_file(ring, path):
            result.files_rewritten += 1
        result.files_checked += 1
        if progress is not None and (n % batch == 0 or n == len(paths)):
            progress("kept files", n, len(paths), result.files_rewritten)


async def rotate(db: Database, *, batch: int = BATCH, progress: Progress | None = None,
                 ring: crypto.Keyring | None = None) -> RotateResult:
    """Re-encrypt everything not under the current key (see the module docstring)."""
    ring = ring or crypto.keyring()
    if not ring.enabled:
        raise crypto.DataKeyError(f"no data key is configured: set {crypto.ENV} (the first "
                                  "key encrypts; make one with: fosterbot keys new ID)")
    result = RotateResult(ring.current or "")
    for model, columns in ENCRYPTED:
        await _rotate_table(db, ring, model, columns, batch, result, progress)
    await _rotate_files(db, ring, batch, result, progress)
    return result
