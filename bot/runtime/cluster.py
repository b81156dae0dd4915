"""Several instances on one PostgreSQL database: who leads, which are alive, per-chat turns, wake-ups.

Each instance keeps one dedicated connection (``storage/pg_session.py``) and
holds on it, as PostgreSQL session advisory locks:

* **its own instance lock** (key from its instance id, the id its leases carry):
  while it is held the instance is alive. A lease whose owner's lock is free
  belongs to a dead instance, wherever it ran, and the leader takes it back at
  once (``bot/delivery/leases.py``) instead of waiting for the lease to run out;
* **the leadership lock**, on the one instance that runs the outbox dispatcher,
  the escalation engine and the housekeeping. Followers try to take it every
  ``CHECK_EVERY`` second; the leader checks its connection as often. A leader
  that dies (``kill -9``, a lost host once the server drops its connection)
  frees the lock with its connection, so a follower leads within about a
  second; a leader that loses its connection stops leading at once (its
  dispatcher puts its claimed rows back), before another can have taken over
  for long;
* **the chat lock** of every update it is handling (webhook mode): two updates
  of one chat are never handled at once on two instances, and a redelivered
  update waits for the first delivery to finish, then finds it recorded in
  ``processed_updates`` and changes nothing.

Wake-ups: an instance that is not the leader turns ``Services.wake_dispatcher``
and ``wake_engine`` into a ``NOTIFY fosterbot_wake`` (after the commit that
made the delivery or the due time); the leader ``LISTEN``s and wakes its
dispatcher or brings its engine's timer forward at once. The dispatcher's and
the engine's polling stay as the safety net (a notification sent while the
leader reconnects is lost).

SQLite has no cluster: one instance, which leads itself (``bot/app.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from storage.pg_session import SessionConnection, advisory_key

log = logging.getLogger(__name__)

CHECK_EVERY = 1.0  # seconds: followers try to lead, the leader checks its connection
WAKE_CHANNEL = "fosterbot_wake"
LEADER_KEY = advisory_key("leader", "dispatcher-and-engine")
_CHAT_WAIT_FIRST, _CHAT_WAIT_MAX = 0.005, 0.1  # polling a chat lock another instance holds


def instance_key(instance_id: str) -> int:
    return advisory_key("instance", instance_id)


def chat_key(chat: Any) -> int:
    return advisory_key("chat", chat)


Hook = Callable[[], Awaitable[None]]


class Cluster:
    """This instance among the others on one PostgreSQL database (see the module docstring)."""

    def __init__(self, url: str, instance_id: str, *, on_elected: Hook, on_deposed: Hook,
                 on_wake: Callable[[str], None] | None = None,
                 check_every: float = CHECK_EVERY) -> None:
        self.instance_id = instance_id
        self.check_every = check_every
        self.leader = False
        self.elected_at: float | None = None  # time.monotonic() of the last election
        self._url = url
        self._conn = SessionConnection(url)
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self._on_wake = on_wake
        self._task: asyncio.Task | None = None
        self._notifies: set[asyncio.Task] = set()

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Connect, and lead at once if nobody does (a single instance starts as leader)."""
        await self._step()
        self._task = asyncio.create_task(self._loop(), name="fosterbot-cluster")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._notifies:
            await asyncio.gather(*self._notifies, return_exceptions=True)
        await self._depose("stopping")
        await self._conn.close()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.check_every)
            await self._step()

    async def _step(self) -> None:
        """One check: (re)connect, then lead if the lock is free, or check we still hold it."""
        try:
            if not self._conn.alive:
                # Its locks went with the lost connection: no longer the leader, whatever
                # the next connection finds.
                await self._depose("its connection was lost")
                await self._connect()
            if self.leader:
                await self._conn.ping()
                return
            if await self._conn.try_lock(LEADER_KEY):
                self.leader = True
                self.elected_at = time.monotonic()
                log.warning("cluster: instance %s leads (dispatcher, escalation engine, "
                            "housekeeping)", self.instance_id)
                await self._on_elected()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the connection is the liveness: start again
            log.error("cluster: the session connection failed (%s); %s", exc,
                      "stepping down" if self.leader else "reconnecting")
            await self._conn.close()
            await self._depose("its connection was lost")

    async def _connect(self) -> None:
        await self._conn.open()
        if not await self._conn.try_lock(instance_key(self.instance_id)):
            raise RuntimeError(f"instance id {self.instance_id} is held by another session")
        if self._on_wake is not None:
            await self._conn.listen(WAKE_CHANNEL, self._woken)

    async def _depose(self, why: str) -> None:
        if not self.leader:
            return
        self.leader = False
        log.warning("cluster: instance %s no longer leads (%s)", self.instance_id, why)
        try:
            await self._on_deposed()
        except Exception:  # noqa: BLE001 - logged; stopping must go on
            log.exception("cluster: stepping down failed")

    # ------------------------------------------------------------ liveness
    async def is_alive(self, instance_id: str) -> bool:
        """Whether the instance ``instance_id`` still holds its lock (runs, on any host)."""
        if instance_id == self.instance_id:
            return True
        return await self._conn.held_elsewhere(instance_key(instance_id))

    # ------------------------------------------------------------ chats
    @contextlib.asynccontextmanager
    async def chat(self, chat: Any) -> AsyncIterator[None]:
        """Hold ``chat``'s turn across instances while an update of it is handled. Without the
        session connection this raises ConnectionError (the update is answered with an error
        and Telegram sends it again)."""
        key = chat_key(chat)
        wait = _CHAT_WAIT_FIRST
        while not await self._conn.try_lock(key):
            await asyncio.sleep(wait)
            wait = min(_CHAT_WAIT_MAX, wait * 2)
        try:
            yield
        finally:
            try:
                if self._conn.alive:
                    await self._conn.unlock(key)
            except Exception:  # noqa: BLE001 - a lost connection released it anyway
                log.warning("cluster: could not release the lock of chat %s", chat,
                            exc_info=True)

    # ------------------------------------------------------------ wake-ups
    def wake_leader(self, what: str, at: datetime | None = None) -> None:
        """Tell the leader (another instance) that there is a delivery to send (``"outbox"``)
        or a new due time (``"engine"``, with ``at``). Best effort: polling is the safety net."""
        payload = what if at is None else f"{what} {at.isoformat()}"
        task = asyncio.create_task(self._notify(payload), name="fosterbot-wake-leader")
        self._notifies.add(task)
        task.add_done_callback(self._notifies.discard)

    async def _notify(self, payload: str) -> None:
        try:
            await self._conn.notify(WAKE_CHANNEL, payload)
        except Exception as exc:  # noqa: BLE001 - the leader's polling picks it up
            log.warning("cluster: could not wake the leader (%s)", exc)

    def _woken(self, payload: str) -> None:
        if self.leader and self._on_wake is not None:
            self._on_wake(payload)


def parse_wake(payload: str) -> tuple[str, datetime | None]:
    """``"outbox"`` or ``"engine 2026-12-03T16:00:00+00:00"`` → (what, due time)."""
    what, _, at = payload.partition(" ")
    try:
        return what, datetime.fromisoformat(at) if at else None
    except ValueError:
        return what, None
