"""The core loop end to end: link, report, alert, acknowledge, all recorded."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import AuditEvent, Incident


async def test_report_alert_acknowledge(world):
    patel, okoro, smith = await world.link_all("sw-patel", "ssw-okoro", "carer-smith")
    ref = await world.report(smith, child="A1", category="Contact (family time) concern",
                             text="Came back from contact upset <b>and</b> quiet.")
    alert = await patel.wait_for(ref)
    assert "Contact (family time) concern" in alert.text
    assert "Came back from contact upset <b>and</b> quiet." in alert.text  # escaped, shown literally
    assert "Child: A1" in alert.text
    copy = await okoro.wait_for(ref)
    assert "supervising social worker" in copy.text
    receipt = smith.messages[-1].text
    assert "Priya Patel" in receipt and "Grace Okoro" in receipt

    await patel.click("Acknowledge", message_id=alert.message_id)
    answer = await patel.wait_for_answer("Acknowledged")
    assert ref in answer.text
    await world.settle()
    assert "Acknowledged by Priya Patel at 10:00" in patel.messages[-1].text
    assert "Acknowledged by Priya Patel at 10:00" in okoro.messages[-1].text
    assert "✅ Acknowledge" not in okoro.messages[-1].button_labels  # Reply/Close remain
    notice = await smith.wait_for("was acknowledged by")
    assert "Priya Patel" in notice.text

    await okoro.click("Acknowledge", message_id=copy.message_id) if "✅ Acknowledge" in okoro.messages[-1].button_labels else None
    async with world.services.db.read() as s:
        inc = (await s.execute(select(Incident).where(Incident.reference == ref))).scalar_one()
        assert inc.status == "acknowledged" and inc.acknowledged_by_id == "sw-patel"
        events = [e.event for e in (await s.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars()]
    assert "reported" in events and "acknowledged" in events and "delivered" in events
