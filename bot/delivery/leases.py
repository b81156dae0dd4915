"""Who holds a delivery's lease, and taking back the leases of a sender that died.

Every dispatcher gets an instance id, random per start, and writes it into each
lease it takes (``deliveries.lease_owner``). On start it registers itself in
``sender_instances`` (id, host, pid) and reclaims at once the leases of every
earlier instance on this host that is no longer alive: its pid is gone, or it
had this very pid (a container restarted as pid 1, or a reused pid) without
being one of this process's own instances. So urgent alerts claimed just before
a ``kill -9`` go out within seconds of the restart instead of waiting for the
lease (60 s) to run out. A sender on another host is never judged from here:
its leases still run out by themselves. (The host is the hostname: containers
sharing a database must keep distinct hostnames, as they do by default.)

On PostgreSQL with several instances (``bot/runtime/cluster.py``), ``alive`` answers
for every other instance on any host: each holds an advisory lock on its own
session while it runs, and a lock that is free means the instance is gone. The
new leader calls ``register`` when it is elected, so the leases of a leader
that died are taken back within seconds wherever it ran.

A reclaimed row keeps its attempt count: the dead sender may have sent it just
before dying (the documented at-least-once window, ``bot/delivery/outbox.py``).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, update

from storage.db import Database
from storage.models import Delivery, SenderInstance

log = logging.getLogger(__name__)

# Instances created by this process (alive by definition while it runs).
_MINE: set[str] = set()


@dataclass(frozen=True)
class Instance:
    id: str = field(default_factory=lambda: secrets.token_hex(8))
    host: str = field(default_factory=lambda: socket.gethostname()[:255])
    pid: int = field(default_factory=os.getpid)

    def __post_init__(self) -> None:
        _MINE.add(self.id)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to someone else
        return True
    except OSError:
        return False
    return True


def is_dead(row: SenderInstance, me: Instance) -> bool:
    if row.id == me.id or row.host != me.host:
        return False
    if row.pid == me.pid:
        return row.id not in _MINE  # an earlier process that had our pid
    return not pid_alive(row.pid)


Alive = Callable[[str], Awaitable[bool]]


async def _dead(rows: list[SenderInstance], me: Instance, alive: Alive | None) -> list[str]:
    if alive is None:
        return [r.id for r in rows if is_dead(r, me)]
    return [r.id for r in rows if r.id != me.id and not await alive(r.id)]


async def register(db: Database, me: Instance, now: datetime, *,
                   alive: Alive | None = None) -> int:
    """Record this sender and reclaim the leases of dead ones; the number reclaimed.
    ``alive(instance_id)``, when given, judges every other instance on any host (the
    cluster's instance locks); without it only this host's are judged, by their pids."""
    reclaimed = 0
    async with db.write() as s:
        rows = list((await s.execute(select(SenderInstance))).scalars().all())
        dead = await _dead(rows, me, alive)
        if dead:
            res = await s.execute(
                update(Delivery)
                .where(Delivery.lease_owner.in_(dead), Delivery.status == "pending")
                .values(locked_until=None, lease_owner=None)
                .execution_options(synchronize_session=False)
            )
            reclaimed = res.rowcount or 0
            await s.execute(delete(SenderInstance).where(SenderInstance.id.in_(dead)))
        if await s.get(SenderInstance, me.id) is None:
            s.add(SenderInstance(id=me.id, host=me.host, pid=me.pid, started_at=now, seen_at=now))
    if reclaimed:
        log.warning("took back %d deliveries claimed by a sender that is no longer running",
                    reclaimed)
    return reclaimed


async def unregister(db: Database, me: Instance) -> None:
    """A sender stopping cleanly (its claimed rows were already put back)."""
    try:
        async with db.write() as s:
            await s.execute(delete(SenderInstance).where(SenderInstance.id == me.id))
    except Exception:  # noqa: BLE001 - the next start on this host tidies it up
        log.warning("could not remove this sender's registration", exc_info=True)
