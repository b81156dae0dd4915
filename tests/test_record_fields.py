"""The record: the report records what practice expects; urgent reports are never held up."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from storage.models import AuditEvent, Incident, IncidentMessage


async def _incident(world, ref: str) -> Incident:
    async with world.services.db.read() as s:
        return (await s.execute(select(Incident).where(Incident.reference == ref))).scalar_one()


async def _start(carer, category: str) -> None:
    await carer.send("/report")
    await carer.wait_for("Which child")
    await carer.click("A1")
    await carer.wait_for("Choose one")
    await carer.click(category)
    await carer.wait_for("write what happened")


async def test_every_record_field_and_the_when_parser(world):
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    await _start(smith, "Education / school incident")
    await smith.send("Pushed another child in the playground.")
    await smith.wait_for("When did it happen")
    assert {"Now", "Earlier today", "Skip", "⏭ Skip the rest"} <= set(smith.last.button_labels)

    await smith.send("tomorrow 3pm")
    refused = await smith.wait_for("could not read")
    assert "for example" in refused.text and "When did it happen" in refused.text
    await smith.send("today 11:00")  # it is 10:00
    await smith.wait_for("is in the future")
    await smith.send("yesterday 3.15pm")
    await smith.wait_for("Where did it happen")
    await smith.send("At school, in the playground")
    await smith.wait_for("Who was present")
    await smith.click("Skip")
    await smith.wait_for("Did the child say anything")
    await smith.send('"He called me names first"')
    await smith.wait_for("What have you done already")
    await smith.send("Spoke to the class teacher")
    await smith.wait_for("child's views")
    await smith.send("Wants to say sorry")
    await smith.wait_for("own opinion")
    await smith.send("I think he is being picked on")
    review = await smith.wait_for("Please check your report")
    assert "When it happened: 15:15 Tue 24 Nov 2026" in review.text
    assert "Where: At school, in the playground" in review.text
    assert "Who was present" not in review.text

    # Edit one part from the review and come straight back.
    await smith.click("Edit")
    await smith.wait_for("Which part")
    await smith.click("Where")
    await smith.wait_for("Where did it happen")
    await smith.send("At school, by the gate")
    review = await smith.wait_for("Please check your report")
    assert "Where: At school, by the gate" in review.text
    assert "Action already taken: Spoke to the class teacher" in review.text

    await smith.click("Submit")
    receipt = await smith.wait_for("received and recorded")
    assert {"➕ Add more", "✏️ Correct something"} <= set(receipt.button_labels)
    ref = receipt.text.split("Report ")[1].split(" ")[0]
    alert = await patel.wait_for(ref)
    assert "When it happened: 15:15 Tue 24 Nov 2026" in alert.text
    assert "Where: At school, by the gate" in alert.text
    assert "The child's own words: \"He called me names first\"" in alert.text
    assert "The child's views: Wants to say sorry" in alert.text
    assert "Carer's opinion (kept apart from the facts): I think he is being picked on" in alert.text

    inc = await _incident(world, ref)
    assert inc.occurred_at == datetime(2026, 11, 24, 15, 15, tzinfo=timezone.utc)
    assert inc.description == "Pushed another child in the playground."
    assert inc.details["where"] == "At school, by the gate"
    assert inc.details["child_words"] == '"He called me names first"'
    assert inc.details["action_taken"] == "Spoke to the class teacher"
    assert inc.details["child_views"] == "Wants to say sorry"
    assert inc.details["opinion"] == "I think he is being picked on"  # apart from the facts
    assert inc.details["when_text"] == "yesterday 3.15pm"
    assert inc.details["skipped"] == ["present"]
    assert "present" not in inc.details


async def test_now_and_earlier_today_buttons_and_skip_the_rest(world):
    smith = await world.linked("carer-smith")
    await _start(smith, "Other / general update")
    await smith.send("Dentist appointment went fine.")
    await smith.wait_for("When did it happen")
    await smith.click("Earlier today")
    await smith.wait_for("What time today")
    await smith.send("9:15")
    await smith.wait_for("Where did it happen")
    await smith.click("Skip the rest")
    review = await smith.wait_for("Please check your report")
    assert "When it happened: 09:15 Wed 25 Nov 2026" in review.text
    await smith.click("Submit")
    receipt = await smith.wait_for("received and recorded")
    ref = receipt.text.split("Report ")[1].split(" ")[0]
    inc = await _incident(world, ref)
    assert inc.occurred_at == datetime(2026, 11, 25, 9, 15, tzinfo=timezone.utc)
    assert inc.details["skipped"] == ["where", "present", "words", "action", "views", "opinion"]


async def test_urgent_report_goes_at_once_and_asks_the_rest_afterwards(world):
    patel, duty, smith = await world.link_all("sw-patel", "sw-duty", "carer-smith")
    await _start(smith, "Self-harm or suicidal thoughts")
    await smith.send("Found cuts on A1's arm, cleaned and dressed.")
    receipt = await smith.wait_for("received and recorded")
    ref = receipt.text.split("Report ")[1].split(" ")[0]
    alert = await patel.wait_for(ref)  # the alert went before any further question was answered
    assert "Found cuts on A1" in alert.text
    inc = await _incident(world, ref)
    assert inc.occurred_at is None and inc.details == {}

    question = await smith.wait_for("a few more questions")
    assert "When did it happen" in question.text
    assert smith.messages.index(question) > smith.messages.index(receipt)
    await smith.click("Now", message_id=question.message_id)
    await smith.wait_for("Where did it happen")
    await smith.send("In the bathroom")
    await smith.wait_for("Who was present")
    await smith.click("Skip")
    await smith.wait_for("Did the child say anything")
    await smith.send('"I did not want to feel it any more"')
    await smith.wait_for("What have you done already")
    await smith.click("Stop here")
    await smith.wait_for("record of")
    await world.settle()

    followup = await patel.wait_for("Where: In the bathroom")
    assert ref in followup.text and "Follow-up on" in followup.text
    await patel.wait_for("The child's own words")
    inc = await _incident(world, ref)
    assert inc.occurred_at == datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
    assert inc.details["where"] == "In the bathroom"
    assert inc.details["child_words"] == '"I did not want to feel it any more"'
    assert set(inc.details["added_later"]) == {"when_text", "where", "child_words"}
    async with world.services.db.read() as s:
        msgs = (await s.execute(select(IncidentMessage).where(
            IncidentMessage.incident_id == inc.id).order_by(IncidentMessage.id))).scalars().all()
        events = [e.event for e in (await s.execute(select(AuditEvent))).scalars()]
    assert [m.kind for m in msgs] == ["followup"] * 3
    assert msgs[1].text == "Where: In the bathroom"
    assert events.count("followup_added") == 3

    # Typing after the questions ended is offered as a new report, not lost.
    await smith.send("She is asleep now")
    await smith.wait_for("Report this as an incident?")


def test_a_full_alert_always_fits_one_telegram_message():
    """Longest description, every field at its longest, long names: still under 4096 characters."""
    from bot.app import make_services
    from bot.emulator.markup import parse_html
    from bot.record import alerts
    from bot.record.incidents import MAX_DESCRIPTION
    from bot.record.reporting import MAX_FIELD
    from storage.models import Person
    from tests.conftest import make_settings

    services = make_services(make_settings("sqlite+aiosqlite:///unused.db"))
    at = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
    details = {k: "<x>" * (MAX_FIELD // 3) for k in
               ("where", "present", "child_words", "action_taken", "child_views", "opinion")}
    inc = Incident(reference="INC-2026-000001", child_ref="A1", category="allegation",
                   urgency="urgent", reported_at=at, occurred_at=at, notifiable=True,
                   description="&" * MAX_DESCRIPTION, details=details, status="acknowledged")
    carer = Person(id="c", name="N" * 200)
    text = alerts.alert_text(services, inc, carer, "R" * 60, attachments=12)
    text = alerts.with_status(text, "✅ Acknowledged by <b>" + "W" * 200 + "</b> at 10:00 "
                                    "(on behalf of the team)")
    plain, _ = parse_html(text)
    assert len(plain) <= 4096
    assert "[shortened]" in plain and "Carer's opinion" in plain
