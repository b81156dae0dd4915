"""Digests of the record itself, so the audit chain vouches for incidents and messages.

The audit chain (``bot.audit``) proves its own events were not altered; this
module lets it prove the same of the record. Each audit event about an
incident carries, under ``details["record"]``:

* ``incident``: the incident's id, reference and one digest per field of
  :data:`INCIDENT_FIELDS` — only when the record changed since the chain last
  vouched for it (``incidents.content_hash`` holds the digest of that last
  snapshot, so most events carry nothing);
* ``messages``: ``{message id: digest}`` for thread messages added in this
  transaction. A message is never edited; the one exception, a follow-up joined
  from the pieces of a split paste, is vouched for again by the event that grows
  it (:func:`revouch`), and the walk keeps the latest digest.

A digest is SHA-256 over the canonical JSON of the value (plain text, before
encryption at rest, so rotating keys changes nothing), cut to 32 hex digits.
``audit verify`` keeps the last snapshot of each incident and each message's
digest while it walks the chain, then reads every incident and message once and
names any whose content differs (and which fields), any that was deleted, and
any that appeared without an audit event: linear time, memory proportional to
the number of records.

A change made after the last event about an incident in a transaction (or a
message added without an event) is caught at commit by :func:`unsealed`, and
``bot.audit`` appends a ``record_updated`` event for it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from storage.models import Incident, IncidentMessage

KEY = "record"
DIGEST_CHARS = 32
INCIDENT_FIELDS = (
    "reference", "team_id", "child_ref", "reporter_id", "category", "urgency", "occurred_at",
    "reported_at", "description", "details", "status", "acknowledged_by_id",
    "acknowledged_at", "acknowledged_on_behalf_of_id", "closed_by_id", "closed_at",
    "outcome_code", "outcome_text", "notifiable", "notified_at", "notified_by_id",
)
MESSAGE_FIELDS = ("id", "incident_id", "author_id", "kind", "text", "created_at")
# session.info key: (the transaction, ids of messages added in it).
_NEW = "fosterbot_new_messages"
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value.astimezone(timezone.utc).replace(tzinfo=None)
                .isoformat(timespec="microseconds") + "Z")
    return value


def digest(value: Any) -> str:
    return hashlib.sha256(_ENCODER.encode(_plain(value)).encode()).hexdigest()[:DIGEST_CHARS]


def incident_fields(row: Any) -> dict[str, str]:
    """One digest per vouched-for field of an incident (an ORM object or a Core row)."""
    return {f: digest(getattr(row, f)) for f in INCIDENT_FIELDS}


def combined(fields: dict[str, str]) -> str:
    return hashlib.sha256(_ENCODER.encode(fields).encode()).hexdigest()


def message_digest(row: Any) -> str:
    return digest({f: _plain(getattr(row, f)) for f in MESSAGE_FIELDS})


# -- while writing ------------------------------------------------------------------

def track_new(session: Session, _flush_context: Any = None, _instances: Any = None) -> None:
    """``before_flush``: remember the messages added, the incidents whose record changed
    and the incidents inserted in this transaction (a flushed object may leave the identity
    map before the commit)."""
    new = [o for o in session.new if isinstance(o, IncidentMessage)]
    inserted = [o for o in session.new if isinstance(o, Incident)]
    changed = [o.id for o in session.dirty
               if isinstance(o, Incident) and o.content_hash is not None
               and combined(incident_fields(o)) != o.content_hash]
    if not new and not changed and not inserted:
        return
    tx = session.get_transaction()
    held = session.info.get(_NEW)
    if held is None or held[0] is not tx:
        held = (tx, [], set(), [])
        session.info[_NEW] = held
    held[1].extend(new)
    held[2].update(changed)
    held[3].extend(inserted)


def _inserted_here(session: Session, inc: Incident) -> bool:
    """Whether this transaction inserted ``inc`` (its values are the ones it wrote)."""
    held = session.info.get(_NEW)
    return (held is not None and held[0] is session.get_transaction()
            and any(o is inc for o in held[3]))


def _new_messages(session: Session) -> list[IncidentMessage]:
    held = session.info.get(_NEW)
    if held is None or held[0] is not session.get_transaction():
        return []
    return held[1]


def _changed_ids(session: Session) -> set[int]:
    held = session.info.get(_NEW)
    if held is None or held[0] is not session.get_transaction():
        return set()
    return held[2]


def snapshot(session: Session, incident_id: int) -> dict[str, Any] | None:
    """What an event about ``incident_id`` must carry now (None: nothing changed).

    Looks only at incidents this session holds or changed: one it never loaded was not
    changed through it.
    """
    out: dict[str, Any] = {}
    inc = session.identity_map.get(identity_key(Incident, incident_id))
    if inc is None and incident_id in _changed_ids(session):
        inc = session.get(Incident, incident_id)  # changed, flushed, then let go of
    if inc is not None and inc.id is not None:
        fields = incident_fields(inc)
        whole = combined(fields)
        if whole != inc.content_hash:
            _reload_unchanged(session, inc)
            fields = incident_fields(inc)
            whole = combined(fields)
        if whole != inc.content_hash:
            out["incident"] = {"id": inc.id, "ref": inc.reference, "fields": fields}
            inc.content_hash = whole
    messages = {}
    for m in _new_messages(session):
        if m.incident_id == incident_id and m.content_hash is None and m.id is not None:
            m.content_hash = message_digest(m)
            messages[str(m.id)] = m.content_hash
    if messages:
        out["messages"] = messages
    return out or None


def vouch(inc: Incident) -> dict[str, Any]:
    """What the next event about ``inc`` carries (``snapshot``'s incident part), for a writer
    that stores the new ``content_hash`` itself, in the same UPDATE as its own change of the
    record (numbering a report: ``bot/record/incidents.py`` ``finish_report``). Sets it on
    ``inc`` as already written, so the ORM does not write it again; the event that carries
    the snapshot must then be appended in the same transaction."""
    fields = incident_fields(inc)
    set_committed_value(inc, "content_hash", combined(fields))
    return {"incident": {"id": inc.id, "ref": inc.reference, "fields": fields}}


def revouch(message: IncidentMessage) -> dict[str, Any]:
    """The details an event carries to vouch for a thread message again after it grew (the
    pieces of a split paste joined into one follow-up): its new digest, which ``audit
    verify`` takes as the message's content from that event on."""
    message.content_hash = message_digest(message)
    return {KEY: {"messages": {str(message.id): message.content_hash}}}


def _reload_unchanged(session: Session, inc: Incident) -> None:
    """Before vouching for a record, read again the fields this session did not change:
    another transaction (or a Core UPDATE here) may have changed them since it was loaded,
    and the chain must hold what will be committed, not a stale copy."""
    state = inspect(inc)
    if inc in session.new or state.expired:
        return
    if inc.content_hash is None and _inserted_here(session, inc):
        # Inserted by this transaction and never vouched for yet (the ``reported`` event
        # right after the insert): no other transaction can have changed it, and what it
        # holds is what the insert wrote. Reading it back would only cost a statement.
        return
    names = [f for f in (*INCIDENT_FIELDS, "content_hash") if f not in state.committed_state]
    if names:
        session.refresh(inc, attribute_names=names)


def unsealed(session: Session) -> list[tuple[int, datetime | None]]:
    """Incidents (id, last updated) whose record this transaction changed, or whose new
    messages it added, after the last event about them."""
    found: dict[int, datetime | None] = {}
    for m in _new_messages(session):
        if m.content_hash is None and m.incident_id not in found:
            found[m.incident_id] = m.created_at
    for incident_id in sorted(_changed_ids(session) - set(found)):
        inc = session.get(Incident, incident_id)
        if inc is not None and combined(incident_fields(inc)) != inc.content_hash:
            found[inc.id] = inc.updated_at
    return list(found.items())
