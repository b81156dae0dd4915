"""Minimal alerts: with privacy.minimal_alerts, alerts carry no personal detail; reads are audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.record import oversight
from bot.rules.oversight import Entry
from storage import queries
from storage.models import AuditEvent, Incident, Person

DESCRIPTION = "Told me her uncle hurt her at the weekend."
SECRET_BITS = [DESCRIPTION, "uncle", "Sam Smith", "Smith", "In her bedroom",
               "He said sorry later", "Actually it was Sunday", "Took her to the GP",
               "Strategy meeting booked for Friday"]


@pytest.fixture
def settings_overrides():
    return {"privacy": {"minimal_alerts": True}}


def everything_seen(user) -> list[str]:
    """Every text the bot ever showed this user (as sent and after each edit), and button labels."""
    seen = [ev.content for ev in user._events]
    seen += [label for m in user.messages for label in m.button_labels]
    return seen


async def test_alerts_and_thread_notices_leak_nothing_until_show_details(world):
    patel, okoro, duty, smith = await world.link_all("sw-patel", "ssw-okoro", "sw-duty",
                                                     "carer-smith")
    await smith.send("/report")
    await smith.wait_for("Which child")
    await smith.click("A1")
    await smith.wait_for("Choose one")
    await smith.click("Disclosure of abuse / child protection concern")
    await smith.wait_for("write what happened")
    await smith.send(DESCRIPTION)
    receipt = await smith.wait_for("received and recorded")
    ref = receipt.text.split("Report ")[1].split(" ")[0]
    await smith.wait_for("a few more questions")
    await smith.click("Now")
    await smith.wait_for("Where did it happen")
    await smith.send("In her bedroom")
    await smith.wait_for("Who was present")
    await smith.click("Stop here")
    await smith.wait_for("record of")
    await smith.click("Correct something", message_id=receipt.message_id)
    await smith.wait_for("Type the correction")
    await smith.send("Actually it was Sunday")
    await smith.wait_for("Correction added")

    alert = await patel.wait_for(ref)
    assert "URGENT" in alert.text and "Disclosure of abuse" in alert.text
    assert "Child: A1" in alert.text
    assert "🔍 Show details" in alert.button_labels
    await patel.click("Acknowledge", message_id=alert.message_id)
    await patel.wait_for_answer("Acknowledged")
    await patel.click("Reply to carer", message_id=alert.message_id)
    await patel.wait_for("Write your reply to the carer")
    await patel.send("Took her to the GP? Please call me.")  # the worker's own words, in their chat
    await smith.wait_for("replied about your report")
    await smith.click("Answer")
    await smith.wait_for("Send what you want to add")
    await smith.send("He said sorry later")
    await patel.wait_for("New follow-up on")
    async with world.services.db.write() as s:  # a disclosure needs oversight before closing
        inc = await queries.incident_by_reference(s, ref)
        await oversight.record(s, world.services, person=await s.get(Person, "tm-jones"),
                               entry=Entry("Strategy discussion", "A disclosure"), incident=inc)
    await patel.click("Close with outcome", message_id=alert.message_id)
    await patel.wait_for("what was the outcome")
    await patel.click("Strategy discussion")
    await patel.wait_for("type a short note")
    await patel.send("Strategy meeting booked for Friday")
    await patel.wait_for("Closed")
    await world.settle()

    for user in (okoro, duty):
        assert sum(ref in t for t in everything_seen(user)) >= 4  # alert, follow-ups, edits
        for text in everything_seen(user):
            for secret in SECRET_BITS:
                assert secret not in text, (user, secret, text)
    # Patel typed some of those words herself; everything the bot sent her is still clean.
    own = {"Took her to the GP? Please call me.", "Strategy meeting booked for Friday"}
    for text in everything_seen(patel):
        for secret in SECRET_BITS:
            if secret in own:
                continue
            assert secret not in text, (secret, text)
    assert "Closed by Priya Patel" in alert.text and "Strategy" not in alert.text

    # Show details: the full record, to an authorised person, each read audited.
    patel.mark()
    await patel.click("Show details", message_id=alert.message_id)
    record = await patel.wait_for("full record")
    await patel.wait_for_answer()
    assert DESCRIPTION in record.text and "Sam Smith" in record.text
    assert "Where (added after submitting): In her bedroom" in record.text
    assert "Correction by Sam Smith" in record.text and "Actually it was Sunday" in record.text
    assert "Strategy meeting booked for Friday" in record.text
    okoro.mark()
    await okoro.click("Show details")
    await okoro.wait_for("full record")
    await okoro.wait_for_answer()  # answered once the record was sent, and its read recorded
    async with world.services.db.read() as s:
        inc = (await s.execute(select(Incident).where(Incident.reference == ref))).scalar_one()
        reads = (await s.execute(select(AuditEvent).where(
            AuditEvent.event == "details_viewed").order_by(AuditEvent.id))).scalars().all()
    assert [(r.actor_id, r.incident_id) for r in reads] == [("sw-patel", inc.id),
                                                          ("ssw-okoro", inc.id)]
