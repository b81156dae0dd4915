"""The carer's guided report, as a carer sees it."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import AuditEvent, Delivery, Draft, Incident


async def count(world, model):
    async with world.services.db.read() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def test_child_choice_lists_only_children_placed_with_carer(world):
    smith = await world.linked("carer-smith")
    await smith.send("/report")
    msg = await smith.wait_for("Which child")
    labels = [label for row in msg.buttons for label, _ in row]
    assert labels == ["A1", "C3", "✖️ Cancel"]  # B2 is placed with Jo Brown, not Sam


async def test_single_child_is_chosen_without_asking(world):
    brown = await world.linked("carer-brown")
    await brown.send("/report")
    msg = await brown.wait_for("Choose one")
    assert "Report about B2" in msg.text
    labels = [label for row in msg.buttons for label, _ in row]
    assert labels[0] == "Death of a child" and "Other / general update" in labels
    assert len(labels) == 18  # the 17 default categories and Cancel


async def test_urgent_category_shows_999_and_out_of_hours_number_first(world):
    brown = await world.linked("carer-brown")
    await brown.send("/report")
    await brown.wait_for("Choose one")
    await brown.click("Child missing or absent without permission")
    msg = await brown.wait_for("write what happened")
    lines = msg.text.splitlines()
    assert lines[0] == "⚠️ If a child is in immediate danger, call 999 first."
    assert "0116 000 9999" in msg.text.split("Child missing")[0]
    assert "missing-from-care protocol" in msg.text


async def test_routine_category_has_guidance_but_no_emergency_banner(world):
    brown = await world.linked("carer-brown")
    await brown.send("/report")
    await brown.wait_for("Choose one")
    await brown.click("Education / school incident")
    msg = await brown.wait_for("write what happened")
    assert "999" not in msg.text and "what the school told you" in msg.text


async def test_review_edit_then_submit_gives_receipt_after_commit(world):
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    await smith.send("/report")
    await smith.wait_for("Which child")
    await smith.click("C3")
    await smith.wait_for("Choose one")
    await smith.click("Medication error or refused medication")
    await smith.wait_for("write what happened")
    await smith.send("Refused evening meds")
    await smith.wait_for("When did it happen")
    await smith.click("Skip the rest")
    review = await smith.wait_for("Please check your report")
    assert "Child: C3" in review.text and "Refused evening meds" in review.text
    assert review.button_labels == ["✅ Submit", "✏️ Edit", "✖️ Cancel"]
    assert await count(world, Incident) == 0  # nothing is reported before Submit
    await smith.click("Edit")
    await smith.wait_for("Which part do you want to change?")
    await smith.click("What happened")
    again = await smith.wait_for("What you wrote before")
    assert "Refused evening meds" in again.text
    await smith.send("Refused evening medication at 19:00; calm after.")
    await smith.wait_for("Please check your report")
    await smith.click("Submit")
    receipt = await smith.wait_for("received and recorded")
    assert "INC-2026-000001" in receipt.text and "Priya Patel — allocated social worker" in receipt.text
    await world.settle()
    async with world.services.db.read() as s:
        inc = (await s.execute(select(Incident))).scalar_one()
        receipt_row = (await s.execute(select(Delivery).where(Delivery.kind == "receipt"))).scalar_one()
    assert inc.description == "Refused evening medication at 19:00; calm after."
    assert inc.urgency == "high" and inc.child_ref == "C3" and inc.reporter_id == "carer-smith"
    assert receipt_row.status == "sent" and receipt_row.telegram_message_id == receipt.message_id
    alert = await patel.wait_for("INC-2026-000001")
    assert "🟠 High" in alert.text


async def test_cancel_discards_and_nothing_is_reported(world):
    smith = await world.linked("carer-smith")
    await smith.send("/report")
    await smith.wait_for("Which child")
    await smith.click("A1")
    await smith.wait_for("Choose one")
    await smith.click("Other / general update")
    await smith.wait_for("write what happened")
    await smith.send("Just an update")
    await smith.wait_for("When did it happen")
    await smith.click("Skip the rest")
    await smith.wait_for("Please check")
    await smith.click("Cancel")
    await smith.wait_for("discarded")
    assert await count(world, Incident) == 0
    # The old Submit button is now stale: pressing it changes nothing.
    await smith.press_data(smith.messages[-1].buttons[0][0][1] if smith.messages[-1].buttons else "rs:1")
    await smith.wait_for_answer("finished or no longer yours")
    assert await count(world, Incident) == 0


async def test_cancel_command_keeps_the_draft_and_report_resumes(world):
    smith = await world.linked("carer-smith")
    await smith.send("/report")
    await smith.wait_for("Which child")
    await smith.click("A1")
    await smith.wait_for("Choose one")
    await smith.send("/cancel")
    await smith.wait_for("Your report in progress is kept")
    await smith.send("/report")
    msg = await smith.wait_for("carrying on where you left off")
    assert "Report about A1" in msg.text


async def test_report_with_no_child_placed_says_whom_to_phone_and_records_the_attempt(world):
    from datetime import timedelta

    from sqlalchemy import update

    from bot import audit
    from storage.models import Placement

    brown = await world.linked("carer-brown")
    yesterday = world.clock.now().date() - timedelta(days=1)
    async with world.services.db.write() as s:
        await s.execute(update(Placement).where(Placement.carer_id == "carer-brown")
                        .values(end_date=yesterday))
    await brown.send("/report")
    msg = await brown.wait_for("cannot find a child currently placed with you")
    assert not msg.buttons
    async with world.services.db.read() as s:
        draft = (await s.execute(select(Draft))).scalar_one()
        started = (await s.execute(select(AuditEvent)
                                   .where(AuditEvent.event == "draft_started"))).scalar_one()
        verified = await audit.verify(s)
    assert draft.carer_id == "carer-brown" and draft.discarded_at is not None
    assert started.actor_id == "carer-brown" and started.details == {"draft": draft.id}
    assert verified.ok
    # Nothing is left open: the next /report asks again rather than resuming.
    await brown.send("/report")
    await brown.wait_for("cannot find a child currently placed with you")


async def test_free_text_is_offered_as_a_report_and_kept(world):
    smith = await world.linked("carer-smith")
    await smith.send("A1 came home with a bruise on her arm")
    await smith.wait_for("Report this as an incident?")
    await smith.click("Yes, report it")
    await smith.wait_for("Which child")
    await smith.click("A1")
    await smith.wait_for("Choose one")
    await smith.click("Other / general update")
    msg = await smith.wait_for("What you wrote before")
    assert "bruise on her arm" in msg.text
    await smith.click("Keep what I wrote")
    await smith.wait_for("When did it happen")
    await smith.click("Skip the rest")
    review = await smith.wait_for("Please check your report")
    assert "A1 came home with a bruise on her arm" in review.text


async def test_forged_child_button_is_refused(world):
    smith = await world.linked("carer-smith")
    await smith.send("/report")
    msg = await smith.wait_for("Which child")
    draft_id = msg.buttons[0][0][1].split(":")[1]
    await smith.press_data(f"rc:{draft_id}:B2")  # B2 is not placed with Sam
    await smith.wait_for_answer("no longer yours")
    await smith.press_data("rc:99999:A1")  # someone else's / no such draft
    await smith.wait_for_answer("no longer yours")
    await smith.press_data("rc:" + "9" * 70)  # over 64 bytes / malformed
    await smith.wait_for_answer("no longer yours")
    async with world.services.db.read() as s:
        draft = (await s.execute(select(Draft))).scalar_one()
        refusals = (await s.execute(select(func.count()).select_from(AuditEvent)
                                    .where(AuditEvent.event == "access_refused"))).scalar_one()
    assert draft.step == "child" and "child" not in (draft.data or {})
    assert refusals == 3


async def test_worker_cannot_report(world):
    patel = await world.linked("sw-patel")
    await patel.send("/report")
    await patel.wait_for("Only foster carers can send reports")


async def test_markup_in_description_is_escaped_everywhere(world):
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    nasty = "<script>alert(1)</script> & <b>bold</b> <a href='x'>link</a>"
    await world.report(smith, child="A1", category="Other / general update", text=nasty)
    alert = await patel.wait_for("INC-")
    assert nasty in alert.text  # shown literally, not interpreted
    assert "&lt;script&gt;" in alert.html


async def test_longest_description_is_kept_whole_and_the_review_fits(world):
    smith = await world.linked("carer-smith")
    await smith.send("/report")
    await smith.wait_for("Which child")
    await smith.click("A1")
    await smith.wait_for("Choose one")
    await smith.click("Other / general update")
    await smith.wait_for("write what happened")
    await smith.send("x" * 4096)  # as long as Telegram allows one message to be
    question = await smith.wait_for("When did it happen")
    await smith.click("Skip the rest", message_id=question.message_id)
    review = await smith.wait_for("Please check your report")
    assert len(review.text) <= 4096
    async with world.services.db.read() as s:
        draft = (await s.execute(select(Draft))).scalar_one()
    assert len(draft.data["description"]) == 4096
