"""Telegram faults through the fake Bot API: every alert ends delivered or rerouted, on record.

Faults are injected after the carer has reviewed the report and before Submit,
so they hit the dispatcher's sends (the handlers' own replies are edits).
Retries wait on the injected clock: the tests move it instead of sleeping.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from storage.models import AuditEvent, Delivery, Incident, IncidentRecipient, Person

A1_CATEGORY = "Contact (family time) concern"


@pytest.fixture
def settings_overrides():
    # Fast per-chat pacing: these tests are about faults (pacing: test_dispatcher.py).
    return {"delivery": {"retry_for": "10m", "per_chat_per_second": 50}}


async def submit(world, carer, *, before_submit=None, category=A1_CATEGORY,
                 text="Upset after contact.") -> str:
    """Walk a report about A1 to Submit; ``before_submit()`` runs just before the tap."""
    await carer.send("/report")
    await carer.wait_for("Which child")
    await carer.click("A1")
    await carer.wait_for("Choose one")
    await carer.click(category)
    await carer.wait_for("write what happened")
    await carer.send(text)
    await carer.wait_for("When did it happen")  # the record's questions: skipped here
    await carer.click("Skip the rest")
    await carer.wait_for("Please check your report")
    if before_submit is not None:
        before_submit()
    await carer.click("Submit")
    msg = await carer.wait_for("Submitting")
    return re.search(r"INC-\d{4}-\d{6}", msg.text).group(0)


def copies(user, ref: str) -> list:
    """Messages (as sent, edits not counted twice) in a chat that mention ``ref``."""
    return [m for m in user.messages if ref in (m.text or "")]


async def events(world, *names: str) -> list[AuditEvent]:
    async with world.services.db.read() as s:
        rows = (await s.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars().all()
    return [e for e in rows if not names or e.event in names]


async def advance_and_settle(world, seconds: float, steps: int = 1) -> None:
    for _ in range(steps):
        world.clock.advance(seconds=seconds)
        await world.settle()


async def test_429_storm_is_waited_out_and_each_alert_arrives_once(world, fake):
    patel, okoro, smith = await world.link_all("sw-patel", "ssw-okoro", "carer-smith")
    ref = await submit(world, smith,
                       before_submit=lambda: fake.fail_next("sendMessage", retry_after=1, times=4))
    await world.settle()
    assert fake.counters["injected_failures"] >= 1
    await advance_and_settle(world, 2, steps=6)
    assert len(copies(patel, ref)) == 1
    assert len(copies(okoro, ref)) == 1
    assert len([m for m in smith.messages if "received and recorded" in (m.text or "")]) == 1
    async with world.services.db.read() as s:
        rows = (await s.execute(select(Delivery).where(Delivery.kind != "edit"))).scalars().all()
    assert {d.status for d in rows} == {"sent"}
    assert any("rate limited" in (d.last_error or "") for d in rows)
    delivered = {e.details["to"] for e in await events(world, "delivered")}
    assert {"sw-patel", "ssw-okoro", "carer-smith"} <= delivered
    assert world.runner.dispatcher.rate_limited_count >= 1


async def test_502s_and_dropped_connections_are_retried_with_backoff(world, fake):
    patel, okoro, smith = await world.link_all("sw-patel", "ssw-okoro", "carer-smith")

    def faults():
        fake.fail_next("sendMessage", status=502, description="Bad Gateway", times=2,
                       chat_id=patel.id)
        fake.drop_next("sendMessage", times=1, chat_id=okoro.id)

    ref = await submit(world, smith, before_submit=faults)
    await world.settle()
    assert copies(patel, ref) == []  # still backing off
    await advance_and_settle(world, 5, steps=6)
    assert len(copies(patel, ref)) == 1
    assert len(copies(okoro, ref)) == 1
    async with world.services.db.read() as s:
        alert = (await s.execute(select(Delivery).where(
            Delivery.kind == "alert", Delivery.person_id == "sw-patel"))).scalar_one()
    assert alert.status == "sent" and alert.attempts == 3
    assert "Bad Gateway" in alert.last_error
    assert fake.counters["dropped"] == 1
    # The alert still works: acknowledging it updates everyone.
    await patel.click("Acknowledge", message_id=copies(patel, ref)[0].message_id)
    await patel.wait_for_answer("Acknowledged")


async def test_blocked_worker_is_rerouted_to_cover_and_the_carer_told(world, fake):
    patel, khan, okoro, jones, smith = await world.link_all(
        "sw-patel", "sw-khan", "ssw-okoro", "tm-jones", "carer-smith")
    ref = await submit(world, smith, before_submit=lambda: fake.block(patel.id))
    await world.settle()

    assert copies(patel, ref) == []
    alert = await khan.wait_for(ref)
    assert "covering for Priya Patel, who could not be reached" in alert.text
    assert "✅ Acknowledge" in alert.button_labels
    notice = await smith.wait_for("could not be reached")
    assert "Priya Patel could not be reached on Telegram, so Omar Khan (covering) has it now" \
        in notice.text
    assert ref in notice.text
    manager = await jones.wait_for("could not be delivered")
    assert ref in manager.text and "blocked" in manager.text.lower()
    assert "gone to Omar Khan instead" in manager.text

    names = [e.event for e in await events(world)]
    for expected in ("delivery_failed", "person_unreachable", "rerouted"):
        assert expected in names
    rerouted = (await events(world, "rerouted"))[0]
    assert rerouted.details["from"] == "sw-patel" and rerouted.details["to"] == "sw-khan"
    async with world.services.db.read() as s:
        p = await s.get(Person, "sw-patel")
        assert p.unreachable_since is not None and "blocked" in p.unreachable_reason.lower()
        inc = (await s.execute(select(Incident).where(Incident.reference == ref))).scalar_one()
        reasons = {r.person_id: r.reason for r in (await s.execute(
            select(IncidentRecipient).where(IncidentRecipient.incident_id == inc.id))).scalars()}
        failed = (await s.execute(select(Delivery).where(Delivery.status == "failed"))).scalars().all()
    assert reasons["sw-khan"] == "reroute:cover"
    assert [(d.kind, d.person_id) for d in failed] == [("alert", "sw-patel")]

    # The substitute can act on it.
    await khan.click("Acknowledge", message_id=alert.message_id)
    await khan.wait_for_answer("Acknowledged")
    await world.settle()
    assert "acknowledged by Omar Khan" in (await smith.wait_for("was acknowledged by")).text


async def test_deactivated_worker_goes_to_duty_when_cover_cannot_take_it(world, fake):
    # Omar Khan (Priya's cover) never linked Telegram, so the duty desk has it.
    patel, duty, smith = await world.link_all("sw-patel", "sw-duty", "carer-smith")
    ref = await submit(world, smith, before_submit=lambda: fake.deactivate(patel.id))
    await world.settle()
    alert = await duty.wait_for(ref)
    assert "duty social worker, because Priya Patel could not be reached" in alert.text
    notice = await smith.wait_for("has it now")
    assert "Duty Desk (North) (duty social worker) has it now" in notice.text
    rerouted = (await events(world, "rerouted"))[0]
    assert rerouted.details["to"] == "sw-duty"
    assert {"person": "sw-khan", "why": "has not linked Telegram"} in rerouted.details["missed"]
    unreachable = (await events(world, "person_unreachable"))[0]
    assert "deactivated" in unreachable.details["error"].lower()


async def test_nobody_reachable_tells_the_carer_whom_to_phone(world, fake):
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    ref = await submit(world, smith, before_submit=lambda: fake.block(patel.id))
    await world.settle()
    notice = await smith.wait_for("nobody else could be alerted")
    assert ref in notice.text
    assert "0116 000 0001" in notice.text  # Priya's phone
    assert "0116 000 0999" in notice.text  # the duty line
    names = [e.event for e in await events(world)]
    assert "reroute_failed" in names and "failure_not_reported" in names


async def test_alert_that_keeps_failing_is_rerouted_once_retries_run_out(world, fake):
    patel, khan, jones, smith = await world.link_all("sw-patel", "sw-khan", "tm-jones",
                                                     "carer-smith")
    ref = await submit(world, smith, before_submit=lambda: fake.fail_next(
        "sendMessage", status=502, description="Bad Gateway", times=1000, chat_id=patel.id))
    await world.settle()
    # Backoff 2, 4, 8 … s; retry_for is 10 minutes in this module.
    for _ in range(12):
        world.clock.advance(minutes=1)
        await world.settle()
    assert copies(patel, ref) == []
    alert = await khan.wait_for(ref)
    assert "covering for Priya Patel" in alert.text
    manager = await jones.wait_for("could not be delivered")
    assert "Bad Gateway" in manager.text and "unreachable" not in manager.text
    async with world.services.db.read() as s:
        p = await s.get(Person, "sw-patel")
        failed = (await s.execute(select(Delivery).where(Delivery.status == "failed"))).scalar_one()
    assert p.unreachable_since is None  # a server fault is not the person's doing
    assert failed.person_id == "sw-patel" and failed.attempts >= 6
    assert (failed.sent_at is None and failed.telegram_message_id is None)
    assert world.clock.now() - failed.created_at >= timedelta(minutes=10)


async def test_a_person_who_writes_again_is_reachable_again(world, fake):
    patel, khan, smith = await world.link_all("sw-patel", "sw-khan", "carer-smith")
    ref = await submit(world, smith, before_submit=lambda: fake.block(patel.id))
    await world.settle()
    await khan.wait_for(ref)
    fake.unblock(patel.id)
    await patel.send("/help")
    await world.settle()
    async with world.services.db.read() as s:
        assert (await s.get(Person, "sw-patel")).unreachable_since is None
    assert "person_reachable" in [e.event for e in await events(world)]
    patel.mark()
    ref2 = await submit(world, smith, text="Second report.")
    await world.settle()
    assert len(copies(patel, ref2)) == 1
