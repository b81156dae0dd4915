"""The pieces several instances agree through, on PostgreSQL (``bot/runtime/cluster.py``,
``storage/send_budget.py``, ``bot/delivery/leases.py``), each on its own; the whole of them
with real processes is ``tests/test_multi_instance.py``."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from bot.delivery import leases
from bot.delivery.outbox import enqueue
from bot.runtime.cluster import Cluster
from storage import send_budget
from storage.db import Database
from storage.models import Delivery, SendBucket, SenderInstance
from storage.send_budget import SendBudget
from tests.conftest import WORKING_MORNING

pytestmark = pytest.mark.parametrize("backend", ["postgresql"])


class Member:
    """A cluster member that notes when it leads and what wakes it."""

    def __init__(self, url: str, name: str) -> None:
        self.events: list[str] = []
        self.woken: asyncio.Queue[str] = asyncio.Queue()
        self.cluster = Cluster(url, name, on_elected=self._elected, on_deposed=self._deposed,
                               on_wake=self.woken.put_nowait, check_every=0.05)

    async def _elected(self) -> None:
        self.events.append("elected")

    async def _deposed(self) -> None:
        self.events.append("deposed")


async def until(check, timeout: float = 3.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_one_leader_and_a_follower_takes_over_when_its_connection_goes(db_url):
    a, b = Member(db_url, "a" * 16), Member(db_url, "b" * 16)
    await a.cluster.start()
    await b.cluster.start()
    try:
        assert a.cluster.leader and not b.cluster.leader
        assert await b.cluster.is_alive(a.cluster.instance_id)
        # The leader's process stops dead: its connection goes, and its lock with it.
        a.cluster._task.cancel()
        await a.cluster._conn.close()
        await until(lambda: b.cluster.leader)
        assert not await b.cluster.is_alive(a.cluster.instance_id)
        # Were it only the connection, the old leader steps down at its next check and
        # comes back as a follower.
        await a.cluster._step()
        assert a.events == ["elected", "deposed"] and not a.cluster.leader
        assert await b.cluster.is_alive(a.cluster.instance_id)
        assert b.events == ["elected"]
    finally:
        await b.cluster.stop()
        await a.cluster.stop()
    assert b.events == ["elected", "deposed"]  # a clean stop steps down too


async def test_a_follower_wakes_the_leader_through_notify(db_url):
    a, b = Member(db_url, "c" * 16), Member(db_url, "d" * 16)
    await a.cluster.start()
    await b.cluster.start()
    try:
        b.cluster.wake_leader("outbox")
        b.cluster.wake_leader("engine", WORKING_MORNING)
        got = [await asyncio.wait_for(a.woken.get(), 3) for _ in range(2)]
        assert got == ["outbox", f"engine {WORKING_MORNING.isoformat()}"]
        assert b.woken.empty()  # only the leader acts on a wake-up
    finally:
        await b.cluster.stop()
        await a.cluster.stop()


async def test_a_chat_is_handled_by_one_instance_at_a_time(db_url):
    a, b = Member(db_url, "e" * 16), Member(db_url, "f" * 16)
    await a.cluster.start()
    await b.cluster.start()
    order: list[str] = []
    try:
        async with a.cluster.chat(777):
            waiting = asyncio.ensure_future(_in_turn(b.cluster, 777, order))
            await asyncio.sleep(0.2)
            async with b.cluster.chat(778):  # another chat does not wait
                order.append("other chat")
            order.append("a done")
        await asyncio.wait_for(waiting, 3)
    finally:
        await b.cluster.stop()
        await a.cluster.stop()
    assert order == ["other chat", "a done", "b"]


async def _in_turn(cluster: Cluster, chat: int, order: list[str]) -> None:
    async with cluster.chat(chat):
        order.append("b")


async def test_the_leases_of_a_dead_instance_on_another_host_are_taken_back(db_url):
    db = Database(db_url)
    live = Member(db_url, "1" * 16)
    await live.cluster.start()
    try:
        async with db.write() as s:
            rows = []
            for owner in ("dead-elsewhere", live.cluster.instance_id):
                s.add(SenderInstance(id=owner, host="another-host", pid=1,
                                     started_at=WORKING_MORNING, seen_at=WORKING_MORNING))
                row = await enqueue(s, key=f"k-{owner}", kind="notice", now=WORKING_MORNING,
                                    text="hello", chat_id=5)
                rows.append(row.id)
                await s.execute(update(Delivery).where(Delivery.id == row.id).values(
                    lease_owner=owner, locked_until=WORKING_MORNING + timedelta(minutes=1)))
        me = leases.Instance()
        assert await leases.register(db, me, WORKING_MORNING,
                                     alive=live.cluster.is_alive) == 1
        async with db.read() as s:
            owners = dict((await s.execute(select(Delivery.id, Delivery.lease_owner))).all())
            registered = set((await s.execute(select(SenderInstance.id))).scalars())
        assert owners == {rows[0]: None, rows[1]: live.cluster.instance_id}
        assert registered == {live.cluster.instance_id, me.id}
    finally:
        await live.cluster.stop()
        await db.dispose()


async def test_the_send_budget_is_one_for_every_instance(db_url):
    db_a, db_b = Database(db_url), Database(db_url)
    a = SendBudget(db_a, global_per_second=100, global_burst=100, per_chat_per_second=1,
                   per_chat_burst=3)
    b = SendBudget(db_b, global_per_second=100, global_burst=100, per_chat_per_second=1,
                   per_chat_burst=3)
    try:
        # A burst of 3 a chat, less one for the network's delay: two, from either instance.
        started = time.monotonic()
        assert await a.reserve(42) == (0.0, True) and await b.reserve(42) == (0.0, True)
        # The third would hold the whole service's next slot a second ahead: nothing is
        # booked, and the answer says when the chat has its token.
        wait, booked = await a.reserve(42)
        # The bucket refills in the database server's time (not injectable): the wait is a
        # whole token less what refilled while the three calls ran (slow on a loaded machine).
        elapsed = time.monotonic() - started
        assert not booked and 0 < wait <= 1.0 and wait >= 1.0 - elapsed - 0.05, (wait, elapsed)
        assert await b.reserve(43) == (0.0, True)  # another chat has its own bucket
        async with db_a.read() as s:
            keys = set((await s.execute(select(SendBucket.key))).scalars())
        assert keys == {"global", "chat:42", "chat:43"}
        assert (a.takes, a.waits, b.takes, b.waits) == (2, 1, 2, 0)
    finally:
        for budget in (a, b):
            await budget.close()
        await db_a.dispose()
        await db_b.dispose()


async def test_a_send_waiting_for_the_global_bucket_is_booked_once_at_its_slot(db_url):
    """Ten sends to ten chats at once with room for five a second: each is booked at once,
    a fifth of a second after the one before (never refused, never asked for again), and
    the previous version's call (``fosterbot_take_send``, during an upgrade) sees the slots
    booked ahead and takes nothing."""
    db = Database(db_url)
    tight = SendBudget(db, global_per_second=5, global_burst=1, per_chat_per_second=1,
                       per_chat_burst=3)
    try:
        slots = []
        for chat in range(10):
            wait, booked = await tight.reserve(chat)
            assert booked
            slots.append(time.monotonic() + wait)
        gaps = [later - earlier for earlier, later in itertools.pairwise(slots)]
        # A round trip lies between the moment the server books and the moment we read the
        # clock: each gap is 0.2 s give or take that.
        assert all(abs(gap - 0.2) < 0.05 for gap in gaps), gaps
        assert tight.takes == 10
        async with db.read() as s:
            taken = await s.scalar(text(
                "SELECT fosterbot_take_send('chat:99', 1, 2, 5, 1)"))
            keys = set((await s.execute(select(SendBucket.key))).scalars())
        assert taken > 1.5  # ten slots booked ahead at five a second: about two seconds
        assert "chat:99" not in keys and len(keys) == 11
    finally:
        await tight.close()
        await db.dispose()


async def test_housekeeping_removes_chat_buckets_idle_for_an_hour(world, caplog):
    """A chat bucket nobody drew on for an hour (by the server's clock) is full, as a missing
    row is taken to be: the housekeeping removes it, and logs how many went. The global
    bucket and the chats drawn on within the hour stay."""
    db = world.services.db
    async with db.write() as s:
        await s.execute(text(
            "INSERT INTO send_buckets (key, tokens, at) VALUES "
            "('global', 0, clock_timestamp() - interval '3 hours'), "
            "('chat:1', 2, clock_timestamp() - interval '61 minutes'), "
            "('chat:2', 0, clock_timestamp() - interval '59 minutes'), "
            "('chat:3', 1, clock_timestamp()) "
            "ON CONFLICT (key) DO UPDATE SET tokens = EXCLUDED.tokens, at = EXCLUDED.at"))
    with caplog.at_level(logging.INFO, logger="bot.runtime.housekeeping"):
        await world.runner.housekeeper.run_once()
    assert await bucket_keys(db) == {"global", "chat:2", "chat:3"}
    assert "send budget: 1 chat buckets idle for over 1:00:00 removed" in caplog.text
    # Never sooner than an emptied bucket refills, whatever the bound asked for.
    assert await send_budget.forget_idle(db, idle_for=timedelta(0), refill_seconds=3600) == 0
    assert await send_budget.forget_idle(db, idle_for=timedelta(minutes=30)) == 1
    assert await bucket_keys(db) == {"global", "chat:3"}


async def bucket_keys(db: Database) -> set[str]:
    async with db.read() as s:
        return set((await s.execute(select(SendBucket.key))).scalars())
