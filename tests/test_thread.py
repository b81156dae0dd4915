"""The incident thread: free text, follow-ups, replies, corrections, outcomes, refusals."""

from __future__ import annotations

from sqlalchemy import select

from bot import audit
from storage.models import AuditEvent, Draft, Incident, IncidentMessage


async def _incident(world, ref: str) -> Incident:
    async with world.services.db.read() as s:
        return (await s.execute(select(Incident).where(Incident.reference == ref))).scalar_one()


async def _messages(world, incident_id: int) -> list[IncidentMessage]:
    async with world.services.db.read() as s:
        return list((await s.execute(select(IncidentMessage).where(
            IncidentMessage.incident_id == incident_id).order_by(IncidentMessage.id))).scalars())


async def _refusals(world) -> list[dict]:
    async with world.services.db.read() as s:
        rows = (await s.execute(select(AuditEvent).where(AuditEvent.event == "access_refused")
                                .order_by(AuditEvent.id))).scalars().all()
    return [{"actor": r.actor_id, "incident": r.incident_id, **r.details} for r in rows]


async def test_follow_up_reply_and_answer_make_one_thread(world):
    patel, okoro, smith = await world.link_all("sw-patel", "ssw-okoro", "carer-smith")
    ref = await world.report(smith, child="A1", category="Contact (family time) concern",
                             text="Upset after contact.")
    alert = await patel.wait_for(ref)
    receipt = smith.last
    await smith.click("Add more", message_id=receipt.message_id)
    await smith.wait_for("Send what you want to add")
    await smith.send("Also: she <b>did not</b> eat tea.")
    await smith.wait_for("Added to")
    note = await patel.wait_for("Follow-up on")
    assert ref in note.text and "Sam Smith" in note.text
    assert "she <b>did not</b> eat tea." in note.text  # escaped, shown literally
    await okoro.wait_for("Follow-up on")  # every recipient is told
    await smith.click("Done")
    await smith.wait_for("Done.")

    await patel.click("Reply to carer", message_id=alert.message_id)
    await patel.wait_for("Write your reply to Sam Smith")
    await patel.send("Thank you. I will ring you at 2pm.")
    await patel.wait_for("Sent to Sam Smith")
    got = await smith.wait_for("replied about your report")
    assert "Priya Patel" in got.text and "I will ring you at 2pm" in got.text
    await smith.click("Answer", message_id=got.message_id)
    await smith.wait_for("Send what you want to add")
    await smith.send("2pm is fine.")
    answer = await patel.wait_for("2pm is fine.")
    assert "Follow-up on" in answer.text

    # The worker's next unrelated text is not sent anywhere: the reply state ended.
    patel.mark()
    await patel.send("hello")
    await patel.wait_for("I only act on commands")

    inc = await _incident(world, ref)
    msgs = await _messages(world, inc.id)
    assert [(m.kind, m.author_id) for m in msgs] == [
        ("followup", "carer-smith"), ("reply", "sw-patel"), ("followup", "carer-smith")]
    async with world.services.db.read() as s:
        events = [e.event for e in (await s.execute(select(AuditEvent))).scalars()]
    assert events.count("followup_added") == 2 and events.count("reply_sent") == 1

    # The full record shows the timeline.
    await patel.click("Full record", message_id=alert.message_id)
    rec = await patel.wait_for("full record")
    assert "Reply from Priya Patel: Thank you. I will ring you at 2pm." in rec.text
    assert "Follow-up from Sam Smith: 2pm is fine." in rec.text


async def test_pending_reply_survives_a_restart(world):
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    ref = await world.report(smith, child="A1", category="Other / general update", text="Update.")
    alert = await patel.wait_for(ref)
    await patel.click("Reply to carer", message_id=alert.message_id)
    await patel.wait_for("Write your reply")
    await world.stop_bot()
    await world.start_bot()
    await patel.send("Noted, thanks.")
    await patel.wait_for("Sent to Sam Smith")
    await smith.wait_for("Noted, thanks.")


async def test_close_with_outcome_then_reopen(world):
    patel, okoro, khan, jones, smith = await world.link_all(
        "sw-patel", "ssw-okoro", "sw-khan", "tm-jones", "carer-smith")
    ref = await world.report(smith, child="A1", category="Contact (family time) concern",
                             text="Upset after contact.")
    alert = await patel.wait_for(ref)
    inc = await _incident(world, ref)

    await patel.click("Close with outcome", message_id=alert.message_id)
    await patel.wait_for("what was the outcome")
    assert {"No further action", "Advice given", "Visit arranged", "Strategy discussion",
            "Referred to LADO", "Referred to police", "Referred to child protection"} <= set(
        patel.last.button_labels)
    await patel.click("Advice given")
    await patel.wait_for("type a short note")
    world.clock.advance(minutes=30)
    await patel.send("Talked through a calmer handover with the carer.")
    await patel.wait_for("Closed " + ref)
    await world.settle()
    assert "Closed by Priya Patel at 10:30 — outcome: Advice given" in alert.text
    assert alert.button_labels == ["🔄 Reopen", "📄 Full record"]
    assert "Closed by Priya Patel" in okoro.messages[-1].text
    told = await smith.wait_for("was closed by")
    assert "Priya Patel" in told.text and "Advice" not in told.text

    inc = await _incident(world, ref)
    assert inc.status == "closed" and inc.closed_by_id == "sw-patel"
    assert inc.outcome_code == "advice"
    assert inc.outcome_text == "Talked through a calmer handover with the carer."
    assert inc.acknowledged_by_id == "sw-patel"  # closing is a response

    # A closed report takes no more follow-ups.
    await smith.press_data(f"add:{inc.id}")
    await smith.wait_for("is closed")

    # Khan does not hold it: no reopening. The supervising worker was only copied: no either.
    await khan.press_data(f"reopen:{inc.id}")
    await khan.wait_for_answer("Only the worker who holds this report")
    await okoro.click("Reopen")
    await okoro.wait_for_answer("Only the worker who holds this report")
    # The team manager may, with a reason.
    await jones.press_data(f"reopen:{inc.id}")
    await jones.wait_for("Why are you reopening")
    await jones.send("School has new information.")
    await jones.wait_for("Reopened " + ref)
    await world.settle()
    assert "Reopened by Alex Jones" in alert.text
    assert "☑️ Close with outcome" in alert.button_labels
    await smith.wait_for("was reopened by")
    inc = await _incident(world, ref)
    assert inc.status == "acknowledged" and inc.closed_at is None and inc.outcome_code is None
    msgs = await _messages(world, inc.id)
    assert [m.kind for m in msgs] == ["outcome", "reopen"]
    assert msgs[1].text == "School has new information."
    refusals = await _refusals(world)
    assert {(r["actor"], r["action"]) for r in refusals} >= {("sw-khan", "reopen"),
                                                             ("ssw-okoro", "reopen")}
    async with world.services.db.read() as s:
        events = [e.event for e in (await s.execute(select(AuditEvent))).scalars()]
    assert "closed" in events and "reopened" in events


async def test_correction_is_added_next_to_the_original(world):
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    ref = await world.report(smith, child="A1", category="Other / general update",
                             text="Went to the dentist on Monday.")
    alert = await patel.wait_for(ref)
    await smith.send("/myreports")
    await smith.wait_for("Your recent reports")
    await smith.click(f"Correct {ref}")
    await smith.wait_for("Type the correction")
    await smith.send("It was Tuesday, not Monday.")
    await smith.wait_for("Correction added")
    note = await patel.wait_for("Correction to")
    assert "It was Tuesday, not Monday." in note.text
    inc = await _incident(world, ref)
    assert inc.description == "Went to the dentist on Monday."  # never edited
    assert [(m.kind, m.text) for m in await _messages(world, inc.id)] == [
        ("correction", "It was Tuesday, not Monday.")]
    await patel.click("Full record", message_id=alert.message_id)
    rec = await patel.wait_for("full record")
    original = rec.text.index("Went to the dentist on Monday.")
    assert rec.text.index("Correction by Sam Smith") > original


async def test_free_text_offer_add_to_open_report_or_not_kept(world):
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    await smith.send("She came home late again")
    await smith.wait_for("Report this as an incident?")
    await smith.click("No")
    await smith.wait_for("not kept that message anywhere")  # no open reports: said plainly

    ref = await world.report(smith, child="A1", category="Other / general update", text="Update.")
    await patel.wait_for(ref)
    smith.mark()
    await smith.send("She came home late again")
    await smith.wait_for("Report this as an incident?")
    await smith.click("No")
    await smith.wait_for("Add it to one of your open reports?")
    await smith.click(ref)
    await smith.wait_for("Added to " + ref)
    note = await patel.wait_for("She came home late again")
    assert "Follow-up on" in note.text

    smith.mark()
    await smith.send("Another thought")
    await smith.wait_for("Report this as an incident?")
    await smith.click("No")
    await smith.wait_for("Add it to one")
    await smith.click("No, do not keep it")
    await smith.wait_for("not kept that message anywhere")

    smith.mark()
    await smith.send("He has a temperature")
    await smith.wait_for("Report this as an incident?")
    await smith.click("Yes, report it")
    await smith.wait_for("Which child")
    await smith.click("A1")
    await smith.wait_for("Choose one")
    await smith.click("Other / general update")
    prompt = await smith.wait_for("What you wrote before")
    assert "He has a temperature" in prompt.text


async def test_refusals_for_forged_buttons(world):
    patel, khan, smith, brown = await world.link_all("sw-patel", "sw-khan", "carer-smith",
                                                     "carer-brown")
    brown_ref = await world.report(brown, child=None, category="Other / general update",
                                   text="B2 had a good week.")
    await khan.wait_for(brown_ref)
    brown_inc = await _incident(world, brown_ref)
    smith_ref = await world.report(smith, child="A1", category="Other / general update",
                                   text="A1 had a good week.")
    await patel.wait_for(smith_ref)

    # A carer adding to someone else's report (forged callback data).
    await smith.press_data(f"add:{brown_inc.id}")
    await smith.wait_for_answer("Only the carer who sent this report")
    await smith.press_data(f"fix:{brown_inc.id}")
    await smith.wait_for_answer("Only the carer who sent this report")
    # ... and through the "add to an open report" offer.
    smith.mark()
    await smith.send("stray words")
    await smith.wait_for("Report this as an incident?")
    await smith.click("No")
    await smith.wait_for("Add it to one")
    async with world.services.db.read() as s:
        draft = (await s.execute(select(Draft).where(Draft.carer_id == "carer-smith",
                                                     Draft.step == "offer_add"))).scalar_one()
    await smith.press_data(f"ra:{draft.id}:{brown_inc.id}")
    await smith.wait_for_answer("Only the carer who sent a report")
    # A worker replying on / closing a report that is not theirs.
    await patel.press_data(f"reply:{brown_inc.id}")
    await patel.wait_for_answer("You do not hold this report")
    await patel.press_data(f"oc:{brown_inc.id}:nfa")
    await patel.wait_for_answer("You do not hold this report")
    await patel.press_data(f"det:{brown_inc.id}")
    await patel.wait_for_answer("You do not have access")
    await patel.press_data(f"att:{brown_inc.id}")
    await patel.wait_for_answer("You do not have access")
    # Malformed or unknown data.
    await patel.press_data("oc:1:bogus")
    await patel.wait_for_answer("not valid")
    await patel.press_data("reply:99999")
    await patel.wait_for_answer("not valid")

    assert await _messages(world, brown_inc.id) == []
    inc = await _incident(world, brown_ref)
    assert inc.status == "open"
    refusals = await _refusals(world)
    seen = {(r["actor"], r["action"], r["incident"]) for r in refusals}
    assert ("carer-smith", "add", brown_inc.id) in seen
    assert ("carer-smith", "fix", brown_inc.id) in seen
    assert ("carer-smith", "report button", brown_inc.id) in seen
    assert ("sw-patel", "reply", brown_inc.id) in seen
    assert ("sw-patel", "oc", brown_inc.id) in seen
    assert ("sw-patel", "view details", brown_inc.id) in seen
    assert ("sw-patel", "view attachments", brown_inc.id) in seen


async def test_a_long_paste_split_during_add_more_is_one_follow_up(world):
    """Issue 14 gap: Telegram splits a paste over 4096 characters into messages sent in a
    row. During "Add more" the pieces join one follow-up (as they join the description):
    one entry on the record that the audit chain still vouches for; a message typed after
    the bot answered is a follow-up of its own."""

    patel, smith = await world.link_all("sw-patel", "carer-smith")
    ref = await world.report(smith, child="A1", category="Contact (family time) concern",
                             text="Upset after contact.")
    await patel.wait_for(ref)
    receipt = smith.last
    await smith.click("Add more", message_id=receipt.message_id)
    await smith.wait_for("Send what you want to add")
    first = ("She told me more at bedtime. " * 200)[:4096]
    rest = "And that is when she fell asleep."
    await smith.send(first)  # both pieces arrive before the bot answers the first
    await smith.send(rest)
    await smith.wait_for("Joined to your last follow-up")
    await world.settle()
    await smith.send("One more thing, typed later.")
    await smith.wait_for(predicate=lambda m: m.content.count("Added to") and
                         m.message_id > receipt.message_id + 4)
    inc = await _incident(world, ref)
    texts = [m.text for m in await _messages(world, inc.id) if m.kind == "followup"]
    assert texts == [f"{first.strip()}\n{rest}", "One more thing, typed later."]
    await world.settle()
    told = "\n".join(m.text for m in patel.messages if "Follow-up on" in (m.text or ""))
    assert "She told me more at bedtime." in told and f"(continued) {rest}" in told
    async with world.services.db.read() as s:
        assert (await audit.verify(s)).ok
