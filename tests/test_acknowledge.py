"""Acknowledgement: once, by a recipient; everyone's alert shows who; refusals logged."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import AuditEvent, Incident, IncidentRecipient


async def events(world, name):
    async with world.services.db.read() as s:
        return list((await s.execute(select(AuditEvent).where(AuditEvent.event == name)
                                     .order_by(AuditEvent.id))).scalars())


async def incident(world, ref):
    async with world.services.db.read() as s:
        return (await s.execute(select(Incident).where(Incident.reference == ref))).scalar_one()


async def reported(world):
    patel, okoro, khan, smith = await world.link_all("sw-patel", "ssw-okoro", "sw-khan", "carer-smith")
    ref = await world.report(smith, child="A1", category="Other / general update", text="Update")
    await world.settle()
    return patel, okoro, khan, smith, ref


async def test_second_tap_and_other_recipient_are_told_who_already(world):
    patel, okoro, khan, smith, ref = await reported(world)
    alert = await patel.wait_for(ref)
    copy = await okoro.wait_for(ref)
    await patel.click("Acknowledge", message_id=alert.message_id)
    await patel.wait_for_answer("Acknowledged")
    # Okoro taps on the copy before the edit reached them.
    await okoro.press_data(f"ack:{(await incident(world, ref)).id}", message_id=copy.message_id)
    answer = await okoro.wait_for_answer("Already acknowledged by Priya Patel at 10:00")
    assert answer.show_alert
    await patel.press_data(f"ack:{(await incident(world, ref)).id}", message_id=alert.message_id)
    await patel.wait_for_answer("Already acknowledged by Priya Patel")
    inc = await incident(world, ref)
    assert inc.acknowledged_by_id == "sw-patel"
    assert len(await events(world, "acknowledged")) == 1
    await world.settle()
    notices = [m for m in smith.messages if "was acknowledged by" in m.text]
    assert len(notices) == 1


async def test_non_recipient_and_forged_buttons_are_refused_and_logged(world):
    patel, okoro, khan, smith, ref = await reported(world)
    inc = await incident(world, ref)
    await khan.send("/help")
    await khan.wait_for("Receiving alerts")
    await khan.press_data(f"ack:{inc.id}")  # Omar is not on this report
    await khan.wait_for_answer("not a recipient")
    for forged in ("ack:abc", "ack:", "ack:1:2", "ack:999999", "zzz:1", "x" * 64):
        await khan.press_data(forged)
        await khan.wait_for_answer("not valid")
    inc = await incident(world, ref)
    assert inc.status == "open" and inc.acknowledged_by_id is None
    refused = await events(world, "access_refused")
    assert len(refused) == 7 and all(e.actor_id == "sw-khan" for e in refused)
    assert refused[0].incident_id == inc.id and refused[0].details["why"] == "not a recipient of this incident"


async def test_team_manager_may_acknowledge(world):
    patel, okoro, khan, smith, ref = await reported(world)
    jones = await world.linked("tm-jones")
    inc = await incident(world, ref)
    await jones.send("/help")
    await jones.wait_for("team manager")
    await jones.press_data(f"ack:{inc.id}")
    await jones.wait_for_answer("Acknowledged")
    await world.settle()
    assert "Acknowledged by Alex Jones" in patel.messages[-1].text


async def test_unlinked_allocated_worker_carer_told_who_to_phone(world):
    okoro, khan, duty, smith = await world.link_all("ssw-okoro", "sw-khan", "sw-duty", "carer-smith")
    ref = await world.report(smith, child="A1", category="Other / general update", text="Update")
    receipt = smith.messages[-1].text
    # Priya has not linked Telegram: her cover Omar has it, and Sam is told to phone Priya.
    assert "Omar Khan — covering for the allocated social worker" in receipt
    assert "Please also phone" in receipt and "Priya Patel: 0116 000 0001" in receipt
    await khan.wait_for(ref)
    await okoro.wait_for(ref)
    async with world.services.db.read() as s:
        inc = (await s.execute(select(Incident).where(Incident.reference == ref))).scalar_one()
        holders = {(r.person_id, r.reason) for r in (await s.execute(
            select(IncidentRecipient).where(IncidentRecipient.incident_id == inc.id))).scalars()}
    assert holders == {("sw-khan", "cover"), ("ssw-okoro", "supervising")}
    missed = await events(world, "recipient_missed")
    assert [(e.details["person"], e.details["why"]) for e in missed] == [
        ("sw-patel", "has not linked Telegram")]


async def test_every_step_is_in_the_audit_log_in_order(world):
    patel, okoro, khan, smith, ref = await reported(world)
    alert = await patel.wait_for(ref)
    await patel.click("Acknowledge", message_id=alert.message_id)
    await patel.wait_for_answer("Acknowledged")
    await world.settle()
    async with world.services.db.read() as s:
        rows = list((await s.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars())
    names = [r.event for r in rows]
    # The directory import: each child's first allocation (for its chronology), then the import.
    assert names[:4] == ["allocation_changed"] * 3 + ["directory_changed"]
    assert names.count("linked") == 4
    i = names.index("reported")
    assert names[i:i + 2] == ["reported", "routed"]
    assert names.index("acknowledged") > i
    delivered = [r.details["kind"] for r in rows if r.event == "delivered"]
    assert sorted(delivered) == ["alert", "alert", "notice", "receipt"]
    from bot import audit

    async with world.services.db.read() as s:
        result = await audit.verify(s)
    assert result.ok and result.count == len(rows)
