"""Handled updates are recorded together when they finish together (bot/updates.HandledLog)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, select

from bot.runtime import updates
from storage.models import ProcessedUpdate


def count_transactions(db) -> dict:
    seen = {"begins": 0}

    @event.listens_for(db.engine.sync_engine, "begin")
    def _begin(_conn) -> None:
        seen["begins"] += 1

    return seen


async def recorded(db) -> set[int]:
    async with db.read() as s:
        return set((await s.execute(select(ProcessedUpdate.update_id))).scalars())


async def test_a_burst_is_recorded_in_a_few_transactions(services, clock):
    log = updates.HandledLog(services.db)
    await log.add(updates.Handled(1, clock.now()))  # the pool is warm
    seen = count_transactions(services.db)
    await asyncio.gather(*(log.add(updates.Handled(i, clock.now())) for i in range(100, 150)))
    assert set(range(100, 150)) <= await recorded(services.db)
    # The first is written alone; those that finished meanwhile go in the next.
    assert seen["begins"] <= 3


async def test_a_lone_update_is_recorded_at_once(services, clock):
    log = updates.HandledLog(services.db)
    await asyncio.wait_for(log.add(updates.Handled(7, clock.now())), timeout=5)
    assert 7 in await recorded(services.db)
    await log.add(updates.Handled(7, clock.now()))  # a redelivery recorded again: no error
    assert 7 in await recorded(services.db)


async def test_a_failed_batch_fails_each_of_its_updates_and_the_next_batch_works(
        services, clock, monkeypatch):
    log = updates.HandledLog(services.db)
    real = updates.record
    calls = {"n": 0}

    async def failing_once(db, handled):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("disk full")
        return await real(db, handled)

    monkeypatch.setattr(updates, "record", failing_once)
    first = await asyncio.gather(log.add(updates.Handled(20, clock.now())),
                                 return_exceptions=True)
    assert isinstance(first[0], RuntimeError) and "disk full" in str(first[0])
    await log.add(updates.Handled(21, clock.now()))
    assert await recorded(services.db) >= {21} and 20 not in await recorded(services.db)


async def test_a_cancelled_waiter_does_not_cancel_the_others(services, clock):
    log = updates.HandledLog(services.db)
    a = asyncio.create_task(log.add(updates.Handled(30, clock.now())))
    b = asyncio.create_task(log.add(updates.Handled(31, clock.now())))
    await asyncio.sleep(0)
    a.cancel()
    await b
    with pytest.raises(asyncio.CancelledError):
        await a
    assert {30, 31} <= await recorded(services.db)


async def test_a_very_large_burst_is_split_into_bounded_transactions(services, clock, monkeypatch):
    log = updates.HandledLog(services.db)
    monkeypatch.setattr(updates.HandledLog, "MAX_BATCH", 7)
    sizes = []
    real = updates.record

    async def recording(db, handled):
        sizes.append(len(handled))
        return await real(db, handled)

    monkeypatch.setattr(updates, "record", recording)
    await asyncio.gather(*(log.add(updates.Handled(i, clock.now())) for i in range(1000, 1030)))
    assert set(range(1000, 1030)) <= await recorded(services.db)
    assert max(sizes) == 7 and sum(sizes) == 30
