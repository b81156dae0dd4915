"""Drafts survive restarts; an abandoned one is reminded once, then discarded with its text.

The draft row is the conversation state, so stopping and starting the bot in the
middle of /report just carries on. Idle times are moved with the FakeClock and
the housekeeping pass is run by hand.
"""

from __future__ import annotations

from sqlalchemy import select

from storage.models import AuditEvent, Draft, Incident

CATEGORY = "Contact (family time) concern"


async def sweep(world):
    result = await world.runner.housekeeper.run_once()
    await world.settle()
    return result


async def to_review(world, carer, text: str) -> None:
    await carer.send("/report")
    await carer.wait_for("Which child")
    await carer.click("A1")
    await carer.wait_for("Choose one")
    await carer.click(CATEGORY)
    await carer.wait_for("write what happened")
    await carer.send(text)
    await carer.wait_for("When did it happen")  # the record's questions: skipped here
    await carer.click("Skip the rest")
    await carer.wait_for("Please check your report")


async def audit_events(world, name: str) -> list[AuditEvent]:
    async with world.services.db.read() as s:
        return list((await s.execute(select(AuditEvent).where(AuditEvent.event == name)
                                     .order_by(AuditEvent.id))).scalars())


async def test_idle_draft_is_reminded_once_then_discarded_with_what_was_typed(world):
    smith = await world.linked("carer-smith")
    await to_review(world, smith, "He came back <quiet> & would not eat.")
    smith.mark()
    world.clock.advance(hours=1)
    assert (await sweep(world)).reminded == 0

    world.clock.advance(hours=1, minutes=1)
    assert (await sweep(world)).reminded == 1
    reminder = await smith.wait_for("unfinished report")
    assert "about A1" in reminder.text and "/report to carry on" in reminder.text
    assert "🗑 Discard" in reminder.button_labels
    world.clock.advance(hours=5)
    assert (await sweep(world)).reminded == 0  # one reminder only
    assert len([m for m in smith.messages if "unfinished report" in (m.text or "")]) == 1

    world.clock.advance(days=2)
    result = await sweep(world)
    assert result.discarded == 1
    final = await smith.wait_for("was discarded")
    assert "He came back <quiet> & would not eat." in final.text  # escaped, shown literally
    async with world.services.db.read() as s:
        draft = (await s.execute(select(Draft))).scalar_one()
    assert draft.discarded_at == world.clock.now() and draft.submitted_incident_id is None
    assert [e.details["why"] for e in await audit_events(world, "draft_discarded")] == ["expired"]
    assert len(await audit_events(world, "draft_reminded")) == 1

    smith.mark()
    await smith.send("/report")  # a fresh start, not the old draft
    await smith.wait_for("Which child")


async def test_coming_back_after_the_reminder_keeps_the_draft(world):
    smith = await world.linked("carer-smith")
    await to_review(world, smith, "Kept text.")
    world.clock.advance(hours=3)
    await sweep(world)
    await smith.wait_for("unfinished report")
    world.clock.advance(days=1, hours=22)
    smith.mark()
    await smith.send("/report")
    review = await smith.wait_for("carrying on where you left off")
    assert "Kept text." in review.text
    world.clock.advance(hours=1)  # two days after the first activity, an hour after the last
    result = await sweep(world)
    assert result.discarded == 0 and result.reminded == 0
    await smith.click("Submit")
    await smith.wait_for("received and recorded")


async def test_discard_button_on_the_reminder(world):
    smith = await world.linked("carer-smith")
    await to_review(world, smith, "Never mind.")
    world.clock.advance(hours=3)
    await sweep(world)
    reminder = await smith.wait_for("unfinished report")
    await smith.click("Discard", message_id=reminder.message_id)
    await smith.wait_for("discarded")
    async with world.services.db.read() as s:
        assert (await s.execute(select(Draft))).scalar_one().discarded_at is not None


async def test_unanswered_offer_is_offered_again_then_returned(world):
    smith = await world.linked("carer-smith")
    await smith.send("Forgot to say: she has a cough.")
    await smith.wait_for("Report this as an incident?")
    world.clock.advance(hours=2, seconds=1)
    await sweep(world)
    again = await smith.wait_for("has not been reported")
    assert "Forgot to say: she has a cough." in again.text
    assert again.button_labels == ["Yes, report it", "No"]
    world.clock.advance(days=2)
    await sweep(world)
    final = await smith.wait_for("I did not report the message")
    assert "Forgot to say: she has a cough." in final.text


async def test_restart_in_the_middle_of_a_report_carries_on(world):
    smith = await world.linked("carer-smith")
    await smith.send("/report")
    await smith.wait_for("Which child")
    await smith.click("A1")
    await smith.wait_for("Choose one")
    await smith.click(CATEGORY)
    await smith.wait_for("write what happened")

    await world.stop_bot()
    await smith.send("Typed while the bot was down.")  # waits at Telegram (the fake)
    world.clock.advance(minutes=10)
    await world.start_bot()

    await smith.wait_for("When did it happen")
    await smith.click("Skip the rest")
    review = await smith.wait_for("Please check your report")
    assert "Typed while the bot was down." in review.text
    await world.stop_bot()
    await world.start_bot()
    await smith.click("Submit")
    receipt = await smith.wait_for("received and recorded")
    async with world.services.db.read() as s:
        inc = (await s.execute(select(Incident))).scalar_one()
    assert inc.reference in receipt.text and inc.description == "Typed while the bot was down."
