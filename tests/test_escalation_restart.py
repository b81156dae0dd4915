"""Clocks that survive restarts, and engines that race: every overdue step once, in order."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import select

from bot.app import make_services
from bot.engine.escalation import EscalationEngine
from storage.models import AuditEvent, Delivery, EscalationAction
from tests.conftest import make_settings
from tests.escalation_helpers import Desk, actions, events, next_pending, tick

MISSING = "Child missing or absent without permission"


async def test_restart_in_the_middle_of_a_ladder(world):
    patel, jones, edt, smith = await world.link_all("sw-patel", "tm-jones", "edt-rota", "carer-smith")
    ref = await world.report(smith, child="A1", category=MISSING, text="Not back.")
    await tick(world, minutes=15)
    await patel.wait_for("Reminder")
    assert await actions(world, ref) == ["step1"]

    await world.stop_bot()
    world.clock.advance(hours=2)  # 12:15: step2 (10:30) and step3 (11:00) fell due while down
    jones.mark(), edt.mark()
    await world.start_bot()  # the engine catches up at start-up, by itself
    esc = await jones.wait_for("Escalation")
    assert "(this reminder is 1 h 45 min late: the service was unavailable)" in esc.text
    assert "(this reminder is 1 h 15 min late" in (await edt.wait_for("Escalation")).text
    await world.settle()
    assert await actions(world, ref) == ["step1", "step2", "step3"]
    assert [m.text.count(ref) > 0 for m in jones.messages].count(True) == 1
    assert [m.text.count(ref) > 0 for m in edt.messages].count(True) == 1
    # The repeats that fell due while down are stood for by the late step3 message; the
    # next one is in the future, then the ladder goes on as before.
    [p] = await next_pending(world, ref)
    assert (p.step, p.due_at.isoformat()) == ("repeat1", "2026-11-25T12:30:00+00:00")
    [step3] = [e for e in await events(world, ref, "escalated") if e.details["step"] == "step3"]
    assert step3.details["covers_missed"] == 5 and step3.details["late_seconds"] == 4500
    assert await tick(world, minutes=15) == 1
    assert await actions(world, ref) == ["step1", "step2", "step3", "repeat1"]


async def test_two_engines_racing_run_each_step_exactly_once(services, db_url):
    desk = Desk(services)
    await desk.load()
    incidents = [await desk.report(cat, child=child, carer=carer)
                 for cat, child, carer in [("missing", "A1", "carer-smith"),
                                           ("medication", "C3", "carer-smith"),
                                           ("self_harm", "B2", "carer-brown"),
                                           ("allegation", "A1", "carer-smith")] * 3]
    other = make_services(make_settings(db_url), clock=desk.clock)
    try:
        a, b = EscalationEngine(services, batch=5), EscalationEngine(other, batch=5)
        total = 0
        for _ in range(4):  # four rounds of racing, 50 minutes apart
            desk.clock.advance(minutes=50)
            fired = await asyncio.gather(a.run_due(), b.run_due())
            total += sum(fired)
    finally:
        await other.db.dispose()
    async with services.db.read() as s:
        keys = [(r.incident_id, r.step_key) for r in
                (await s.execute(select(EscalationAction))).scalars()]
        deliveries = Counter(
            d.idempotency_key for d in (await s.execute(
                select(Delivery).where(Delivery.kind.in_(
                    ("reminder", "escalation", "notification"))))).scalars()
        )
        audited = (await s.execute(select(AuditEvent).where(AuditEvent.event.in_(
            ("reminded", "escalated", "notification_reminded"))))).scalars().all()
    assert len(keys) == len(set(keys)) == total == len(audited)
    # Nothing lost: by 13:20 urgent reports ran step1..step3 and repeat1..; high ones step1.
    per = Counter(i for i, _ in keys)
    urgent = [i.id for i in incidents if i.urgency == "urgent"]
    assert all(per[i] >= 3 for i in urgent)
    assert set(deliveries.values()) == {1}
    # Each incident's steps ran in order.
    async with services.db.read() as s:
        for inc in incidents:
            rows = (await s.execute(select(EscalationAction).where(
                EscalationAction.incident_id == inc.id).order_by(EscalationAction.id))).scalars()
            ladder = [r.step_key for r in rows if not r.step_key.startswith("notify")]
            expected = ["step1", "step2", "step3"] if inc.urgency == "urgent" else ["step1"]
            assert ladder[:len(expected)] == expected
