"""Events in a child's chronology that belong to no incident, written as they happen.

Each is an audit event (the hash-chained record, with ``child`` in its details)
and a ``child_events`` row pointing at it (the chronology's index by child), in
the caller's transaction. Incidents, their acknowledgements, outcomes and
notifications are read from the incident record itself
(``bot/review/chronology.py``), so they are not copied here.

Kinds (``child_events.kind`` = the audit event's name):

``allocation_changed``  the allocated social worker changed (``from``, ``to``: person ids;
                        ``from`` is None when the child first appears)
``placement_removed``   a placement was taken out of the directory (``carer``, ``from``, ``to``)
``oversight_recorded``  a manager's oversight entry on the child
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from storage.models import ChildEvent

KINDS = ("allocation_changed", "placement_removed", "oversight_recorded", "handover")


async def record(session: AsyncSession, kind: str, *, child_ref: str, at: datetime,
                 actor_id: str | None, **details: Any) -> ChildEvent:
    """Record ``kind`` for ``child_ref``: the audit event and its chronology row."""
    if kind not in KINDS:
        raise ValueError(f"unknown child event {kind!r}")
    event = await audit.record(session, kind, at=at, actor_id=actor_id, child=child_ref,
                               **details)
    await session.flush()
    row = ChildEvent(child_ref=child_ref, at=at, kind=kind, actor_id=actor_id,
                     details=event.details, audit_event_id=event.id)
    session.add(row)
    return row
