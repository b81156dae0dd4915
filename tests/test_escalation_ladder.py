"""The acknowledgement ladder end to end through the fake Bot API: reminders, escalations,
acknowledging on someone's behalf, and acknowledgement stopping everything."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage.models import Delivery
from tests.escalation_helpers import actions, events, incident, next_pending, tick

MISSING = "Child missing or absent without permission"  # urgent, copies duty
CONTACT = "Contact (family time) concern"  # routine


async def test_urgent_ladder_reminder_escalation_and_ack_on_behalf(world):
    patel, jones, edt, smith = await world.link_all("sw-patel", "tm-jones", "edt-rota", "carer-smith")
    ref = await world.report(smith, child="A1", category=MISSING, text="Not back from school.")
    await patel.wait_for(ref)
    [p] = await next_pending(world, ref)
    assert (p.clock, p.step, p.notify) == ("acknowledgement", "step1", "recipients")
    assert p.due_at == world.clock.now() + timedelta(minutes=15)

    assert await tick(world, minutes=14) == 0
    patel.mark()
    assert await tick(world, minutes=1) == 1
    reminder = await patel.wait_for("Reminder")
    assert ref in reminder.text and "waited 15 min" in reminder.text
    assert "late" not in reminder.text
    assert reminder.button_labels == ["✅ Acknowledge"]
    assert not [m for m in jones.messages if ref in m.text]

    assert await tick(world, minutes=15) == 1
    esc = await jones.wait_for("Escalation")
    assert ref in esc.text and "waited" not in esc.text and "30 min" in esc.text
    assert "Priya Patel (allocated social worker)" in esc.text
    assert esc.button_labels == ["✅ Acknowledge"]
    told = await smith.wait_for("passed to")
    assert "Alex Jones" in told.text and ref in told.text

    assert await tick(world, minutes=30) == 1
    assert ref in (await edt.wait_for("Escalation")).text
    edt.mark()
    assert await tick(world, minutes=15) == 1  # repeat of the last step
    assert "1 h 15 min" in (await edt.wait_for("Escalation")).text
    assert await actions(world, ref) == ["step1", "step2", "step3", "repeat1"]
    [p] = await next_pending(world, ref)
    assert (p.step, p.notify) == ("repeat2", "edt")

    # The manager acknowledges from the escalation message: recorded as on behalf of Patel.
    await jones.click("Acknowledge", message_id=esc.message_id)
    await jones.wait_for_answer("Acknowledged")
    await world.settle()
    inc = await incident(world, ref)
    assert inc.status == "acknowledged" and inc.acknowledged_by_id == "tm-jones"
    assert inc.acknowledged_on_behalf_of_id == "sw-patel"
    assert "acknowledged by" in (await smith.wait_for("was acknowledged by")).text
    assert "Acknowledged by Alex Jones" in patel.messages[-1].text
    assert not patel.messages[-1].buttons

    # Acknowledgement stopped the ladder: nothing more however long we wait, but the outcome
    # clock is now pending.
    sent_before = {u: len(u.messages) for u in (patel, jones, edt)}
    assert await tick(world, hours=3) == 0
    assert {u: len(u.messages) for u in (patel, jones, edt)} == sent_before
    assert "Acknowledged by Alex Jones" in edt.messages[-1].text  # its escalation was edited
    assert await actions(world, ref) == ["step1", "step2", "step3", "repeat1"]
    [p] = await next_pending(world, ref)
    assert p.clock == "outcome"
    names = [e.event for e in await events(world, ref)]
    assert names.count("reminded") == 1 and names.count("escalated") == 3
    assert "escalation_stopped" in names
    ack = (await events(world, ref, "acknowledged"))[0]
    assert ack.details["on_behalf_of"] == "sw-patel"
