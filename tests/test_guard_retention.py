"""Issue 14 (guard), finding 10: abandoned drafts are quoted back in full; retention.

* An abandoned draft's last message quotes every answer (child, category, when,
  description, where, who was present, the child's words…), in full, over as
  many messages as it takes — before, only the description and notes were
  quoted, clipped, and the draft row was kept for ever.
* Finished drafts are deleted ``retention.drafts`` (30 days) after their last
  activity; processed update ids after ``retention.processed_updates``.
* Closed records are kept unless ``retention.closed_records`` is set; then a
  closed record past it becomes a tombstone, and ``audit verify`` still passes.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot import audit
from storage.models import AuditEvent, Delivery, Draft, Incident, IncidentMessage, ProcessedUpdate

CATEGORY = "Contact (family time) concern"


async def sweep(world):
    result = await world.runner.housekeeper.run_once()
    await world.settle()
    return result


async def count(world, model) -> int:
    async with world.services.db.read() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def events(world, name: str) -> list[AuditEvent]:
    async with world.services.db.read() as s:
        return list((await s.execute(select(AuditEvent).where(AuditEvent.event == name)
                                     .order_by(AuditEvent.id))).scalars())


async def test_an_abandoned_draft_is_quoted_back_in_full_then_deleted(world):
    smith = await world.linked("carer-smith")
    # Long, and escaping makes it longer still: 900 '<' become 3 600 characters.
    description = ("She came home upset. " * 60 + "<" * 900 + " & then slept.").strip()
    answers = {
        "Where did it happen": "At the park <by the lake> & near the café",
        "Who was present": "Me, my partner & her brother",
        "Did the child say anything": '"I don\'t want to go back there"',
    }
    await smith.send("/report")
    await smith.wait_for("Which child")
    await smith.click("A1")
    await smith.wait_for("Choose one")
    await smith.click(CATEGORY)
    await smith.wait_for("write what happened")
    await smith.send(description)
    await smith.wait_for("When did it happen")
    await smith.click("Now")
    for question, answer in answers.items():
        await smith.wait_for(question)
        await smith.send(answer)
    await smith.wait_for("What have you done already")  # …and the carer goes away
    world.clock.advance(hours=2, minutes=1)
    assert (await sweep(world)).reminded == 1
    world.clock.advance(days=2)
    smith.mark()
    assert (await sweep(world)).discarded == 1
    await smith.wait_for("was discarded")
    returned = [m.text for m in smith.messages
                if "was discarded" in m.text or m.text.startswith("continued")]
    assert len(returned) >= 2 and all(len(t) <= 4096 for t in returned)
    whole = "\n".join(returned)
    assert description in whole.replace("\ncontinued (2/2)\n", "").replace(
        "\ncontinued (3/3)\n", "") or description.replace(" ", "") in "".join(whole.split())
    for answer in answers.values():
        assert answer in whole
    assert "A1" in whole and "Contact" in whole and "When it happened" in whole
    # Kept for the retention period, then deleted (with an audit event, no text).
    world.clock.advance(days=29)
    await sweep(world)
    assert await count(world, Draft) == 1
    world.clock.advance(days=1, minutes=1)
    await sweep(world)
    assert await count(world, Draft) == 0
    purged = await events(world, "drafts_purged")
    assert len(purged) == 1 and purged[0].details["count"] == 1
    assert description[:40] not in str(purged[0].details)


async def test_processed_update_ids_are_kept_for_their_retention_period(world):
    smith = await world.linked("carer-smith")
    await smith.send("/help")
    await smith.wait_for("/report")
    await world.settle()
    assert await count(world, ProcessedUpdate) >= 2
    world.clock.advance(days=7, minutes=1)
    await sweep(world)
    assert await count(world, ProcessedUpdate) == 0


async def close_a_report(world) -> tuple[str, object]:
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    ref = await world.report(smith, child="A1", category=CATEGORY,
                             text="Upset after contact; said her uncle shouted.")
    alert = await patel.wait_for(ref)
    await smith.send("/myreports")
    await smith.wait_for(ref)
    await patel.click("Close with outcome", message_id=alert.message_id)
    await patel.wait_for("what was the outcome")
    await patel.click("Advice given")
    await patel.wait_for("type a short note")
    await patel.send("Talked through a calmer handover with the carer.")
    await patel.wait_for("Closed " + ref)
    await world.settle()
    return ref, patel


async def incident(world, ref: str) -> Incident:
    async with world.services.db.read() as s:
        return (await s.execute(select(Incident).where(Incident.reference == ref))).scalar_one()


async def test_closed_records_are_kept_by_default(world):
    ref, _ = await close_a_report(world)
    world.clock.advance(days=3650)
    await sweep(world)
    inc = await incident(world, ref)
    assert inc.purged_at is None and "uncle shouted" in inc.description


class TestClosedRecordRetention:
    @pytest.fixture
    def settings_overrides(self):
        return {"retention": {"closed_records": "365d"}}

    async def test_a_closed_record_past_retention_leaves_a_tombstone_and_the_chain_verifies(
            self, world):
        ref, patel = await close_a_report(world)
        world.clock.advance(days=364)
        await sweep(world)
        assert (await incident(world, ref)).purged_at is None
        world.clock.advance(days=2)
        await sweep(world)
        inc = await incident(world, ref)
        assert inc.purged_at == world.clock.now()
        assert "uncle" not in inc.description and inc.details == {} and inc.outcome_text is None
        # The tombstone keeps what the statistics need.
        assert (inc.reference, inc.category, inc.status, inc.outcome_code) == (
            ref, "contact", "closed", "advice")
        async with world.services.db.read() as s:
            left = (await s.execute(select(IncidentMessage).where(
                IncidentMessage.incident_id == inc.id))).scalars().all()
            payloads = (await s.execute(select(Delivery.payload).where(
                Delivery.incident_id == inc.id))).scalars().all()
            chain = await audit.verify(s)
        assert left == []
        assert not any("uncle" in (p or {}).get("text", "") for p in payloads)
        assert chain.ok, chain.message
        purged = await events(world, "record_purged")
        assert [e.incident_id for e in purged] == [inc.id]
        # The manager's timeline still answers, from the tombstone.
        jones = await world.linked("tm-jones")
        await jones.send(f"/log {ref}")
        told = await jones.wait_for(ref)
        assert "uncle" not in told.text
