"""The managers' morning digest: sent at the start of working time through the outbox, not
when nothing is late, and once a day per manager even across restarts."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.models import Delivery
from tests.escalation_helpers import events, tick

MISSING = "Child missing or absent without permission"  # urgent


def digests(user) -> list:
    return [m for m in user.messages if "Needs action in" in m.text]


async def housekeeping(world) -> None:
    await world.runner.housekeeper.run_once()
    await world.settle()


async def test_digest_at_start_of_working_time_once_a_day_even_after_a_restart(world):
    jones, patel, smith = await world.link_all("tm-jones", "sw-patel", "carer-smith")
    # Wednesday 10:00: working time has started, but nothing is late — no digest today
    # (and none later today, when the report below becomes late).
    await housekeeping(world)
    ref = await world.report(smith, child="C3", category=MISSING, text="Not back from school.")
    await tick(world, minutes=30)
    await housekeeping(world)
    assert digests(jones) == []

    # Thursday 08:59: not yet. 09:00, working hours begin: the manager's digest.
    world.clock.set(world.clock.now().replace(day=26, hour=8, minute=59))
    await world.runner.engine.run_due()
    await housekeeping(world)
    assert digests(jones) == []
    await tick(world, minutes=1)
    await housekeeping(world)
    [digest] = digests(jones)
    assert "Needs action in North Children's Team: 1 report" in digest.text
    assert ref in digest.text
    assert "⏳ Not acknowledged: late by 22 h 45 min (since 10:15 Wed 25 Nov 2026)" in digest.text
    assert digests(patel) == [] and digests(smith) == []  # managers only

    # Again, and after a restart: still one.
    await housekeeping(world)
    await world.stop_bot()
    await world.start_bot()
    await housekeeping(world)
    await tick(world, hours=2)
    await housekeeping(world)
    assert len(digests(jones)) == 1
    async with world.services.db.read() as s:
        rows = (await s.execute(select(Delivery).where(Delivery.kind == "digest"))).scalars().all()
    assert [(d.person_id, d.status, d.idempotency_key) for d in rows] == [
        ("tm-jones", "sent", "digest:tm-jones:2026-11-26")]
    assert [e.details["to"] for e in await events(world, None, "digest_sent")] == ["tm-jones"]

    # Friday: the report was acknowledged on Thursday and its outcome is not due yet —
    # nothing late, no digest.
    alert = next(m for m in patel.messages if ref in m.text and "✅ Acknowledge" in m.button_labels)
    await patel.click("✅ Acknowledge", message_id=alert.message_id)
    await patel.wait_for_answer("Acknowledged")
    await world.settle()
    world.clock.set(world.clock.now().replace(day=27, hour=9, minute=5))
    await world.runner.engine.run_due()
    await housekeeping(world)
    assert len(digests(jones)) == 1



@pytest.mark.parametrize("settings_overrides", [{"digest": {"enabled": False}}])
async def test_no_digest_when_turned_off(world):
    jones, smith = await world.link_all("tm-jones", "carer-smith")
    await world.report(smith, child="C3", category=MISSING, text="Not back from school.")
    world.clock.set(world.clock.now().replace(day=26, hour=9, minute=30))
    await world.runner.engine.run_due()
    await housekeeping(world)
    assert digests(jones) == []
