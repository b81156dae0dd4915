"""The acknowledgement ladder end to end through the fake Bot API: reminders, escalations,
acknowledging on someone's behalf, and acknowledgement stopping everything."""

from __future__ import annotations

from datetime import timedelta

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
    assert reminder.button_labels[0] == "✅ Acknowledge"
    assert not [m for m in jones.messages if ref in m.text]

    assert await tick(world, minutes=15) == 1
    esc = await jones.wait_for("Escalation")
    assert ref in esc.text and "waited" not in esc.text and "30 min" in esc.text
    assert "Priya Patel (allocated social worker)" in esc.text
    assert esc.button_labels[0] == "✅ Acknowledge"
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
    assert "✅ Acknowledge" not in patel.messages[-1].button_labels

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


ALLEGATION = "Allegation or serious complaint about a carer or househol…"  # as the button shows it


async def test_notification_reminder_button(world):
    jones, patel, smith = await world.link_all("tm-jones", "sw-patel", "carer-smith")
    ref = await world.report(smith, child="A1", category=ALLEGATION, text="A complaint was made.")
    await world.runner.engine.run_due()
    await world.settle()
    reminder = await jones.wait_for("must be notified without delay")
    assert ref in reminder.text and "Deadline" in reminder.text
    assert reminder.button_labels == [
        "Ofsted: online form", "Ofsted: email", "Ofsted: phone", "Placing authority: online form",
        "Placing authority: email", "Placing authority: phone"]

    # A worker who is not a manager cannot record it, even with forged button data.
    inc = await incident(world, ref)
    await patel.press_data(f"notified:{inc.id}")
    assert "Only the notification owner" in (await patel.wait_for_answer()).text
    await patel.press_data(reminder.buttons[0][0][1])
    assert "Only the notification owner" in (await patel.wait_for_answer()).text
    assert (await incident(world, ref)).notified_at is None
    # The old single button, still in chats from before the register, records nothing.
    await jones.press_data(f"notified:{inc.id}")
    assert "records nothing" in (await jones.wait_for_answer()).text

    jones.mark()
    await tick(world, hours=2)
    second = await jones.wait_for("must be notified without delay")
    world.clock.advance(minutes=10)
    await jones.click("Ofsted: online form", message_id=second.message_id)
    await jones.wait_for_answer()
    await jones.click("Placing authority: email", message_id=second.message_id)
    assert "reminders stop" in (await jones.wait_for_answer()).text
    await world.settle()
    inc = await incident(world, ref)
    assert inc.notified_by_id == "tm-jones"
    for m in (reminder, second):
        shown = [x for x in jones.messages if x.message_id == m.message_id][0]
        assert "last by <b>Alex Jones</b>" in shown.text or "last by Alex Jones" in shown.text
        assert not shown.buttons
    count = len(jones.messages)
    await tick(world, hours=6)
    assert not [m for m in jones.messages[count:] if "must be notified" in m.text]
    assert [e.actor_id for e in await events(world, ref, "notification_made")] == \
        ["tm-jones", "tm-jones"]


async def test_away_and_back_commands(world):
    patel, khan, smith = await world.link_all("sw-patel", "sw-khan", "carer-smith")
    await patel.send("/away")
    assert "/away UNTIL" in (await patel.wait_for("Use")).text
    await patel.send("/away someday")
    await patel.wait_for("could not read")
    await patel.send("/away 2026-11-20")
    await patel.wait_for("not in the future")
    await patel.send("/away 2026-12-01 carer-smith")
    await patel.wait_for("cannot cover")
    await patel.send("/away 2026-12-01 sw-khan")
    answer = await patel.wait_for("marked away")
    assert "09:00 Tue 1 Dec 2026" in answer.text and "Omar Khan" in answer.text

    ref = await world.report(smith, child="A1", category=MISSING, text="Gone out.")
    receipt = smith.messages[-1].text
    assert "Omar Khan — covering for the allocated social worker" in receipt
    assert ref in (await khan.wait_for(ref)).text
    assert not [m for m in patel.messages if ref in m.text]
    khan.mark()
    await tick(world, minutes=15)
    assert ref in (await khan.wait_for("Reminder")).text

    await patel.send("/back")
    await patel.wait_for("Welcome back")
    second = await world.report(smith, child="C3", category=MISSING, text="Again.")
    assert second in (await patel.wait_for(second)).text
    changes = [e.details for e in await events(world, None, "directory_changed")
               if e.details.get("source") in ("/away", "/back")]
    assert [c["source"] for c in changes] == ["/away", "/back"]
    assert changes[0]["cover"] == "sw-khan" and changes[0]["away_until"].startswith("2026-12-01")


async def test_away_is_for_workers_only(world):
    smith = await world.linked("carer-smith")
    await smith.send("/away tomorrow")
    await smith.wait_for("Only social workers")
    [e] = await events(world, None, "access_refused")
    assert e.actor_id == "carer-smith" and e.details["action"] == "away"
