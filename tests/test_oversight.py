"""Management oversight, recorded: /oversee, the button, closing held until it is recorded."""

from __future__ import annotations

import csv
from datetime import date

import pytest
from sqlalchemy import select

from bot.review.export import export
from bot.review.periods import between
from bot.rules.oversight import OversightError, needs_oversight, parse
from storage.models import AuditEvent
from tests.escalation_helpers import incident

MISSING = "Child missing or absent without permission"


async def _events(world, *names):
    async with world.services.db.read() as s:
        return (await s.execute(select(AuditEvent).where(AuditEvent.event.in_(names))
                                .order_by(AuditEvent.id))).scalars().all()


async def test_closing_waits_for_oversight_then_goes_ahead(world):
    patel, jones, smith = await world.link_all("sw-patel", "tm-jones", "carer-smith")
    ref = await world.report(smith, child="A1", category=MISSING,
                             text="A1 did not come home from school.")
    alert = await patel.wait_for(ref)
    await patel.click("Acknowledge", message_id=alert.message_id)
    await world.settle()

    # Urgent: closing is held, the worker is told why, the manager is asked (once).
    await patel.click("Close with outcome", message_id=alert.message_id)
    held = await patel.wait_for("cannot be closed yet")
    assert ref in held.text and "Alex Jones" in held.text
    await world.settle()
    ask = await jones.wait_for("needs your management oversight")
    assert ref in ask.text and ask.button_labels == ["📝 Record oversight"]
    await patel.click("Close with outcome", message_id=alert.message_id)
    await patel.wait_for("cannot be closed yet")
    await world.settle()
    assert sum("needs your management oversight" in m.text for m in jones.messages) == 1
    assert (await incident(world, ref)).status == "acknowledged"

    # The button gives the manager the form; a worker may not record oversight.
    await jones.click("Record oversight", message_id=ask.message_id)
    form = await jones.wait_for("Management oversight of")
    assert f"/oversee {ref}" in form.text
    await patel.send(f"/oversee {ref}\nDecision: Close it\nRationale: Home now")
    await patel.wait_for("Only a manager")
    [refusal] = await _events(world, "access_refused")
    assert refusal.actor_id == "sw-patel" and refusal.details["action"] == "oversee"

    # An unreadable entry records nothing and shows the form again.
    await jones.send(f"/oversee {ref}\nDecision: Return home interview by Friday")
    await jones.wait_for("rationale is missing")
    await jones.send(f"/oversee {ref}\nDecision: Return interview\nRationale: Back safe\n"
                     "Action: nobody-here, 2026-11-27, Visit")
    await jones.wait_for("no active person with the id")
    assert await _events(world, "oversight_recorded") == []

    world.clock.advance(minutes=40)
    await jones.send(f"/oversee {ref}\n"
                     "Decision: Return home interview by Friday; <no> strategy meeting.\n"
                     "Rationale: A1 came home by 22:00, unharmed,\n"
                     "and says where she was.\n"
                     "Action: sw-patel, 2026-11-27, Return home interview with A1 alone")
    done = await jones.wait_for("Oversight of")
    assert f"Oversight of {ref} recorded, with 1 action. The report can now be closed." \
        in done.text
    await world.settle()
    told = await patel.wait_for("recorded management oversight")
    assert "Return home interview by Friday; <no> strategy meeting." in told.text  # escaped
    action = await patel.wait_for("An action for you")
    assert "Return home interview with A1 alone — due Fri 27 Nov 2026" in action.text
    [entry] = await _events(world, "oversight_recorded")
    assert entry.actor_id == "tm-jones" and entry.details["rationale"] == \
        "A1 came home by 22:00, unharmed, and says where she was."
    assert entry.details["actions"] == [{"owner": "sw-patel", "due": "2026-11-27",
                                         "what": "Return home interview with A1 alone"}]

    # Now the worker closes it.
    await patel.click("Close with outcome", message_id=alert.message_id)
    await patel.wait_for("what was the outcome")
    await patel.click("No further action")
    await patel.wait_for("type a short note")
    await patel.send("Home safe; interview booked.")
    await patel.wait_for("Closed " + ref)
    assert (await incident(world, ref)).status == "closed"

    # The log, the chronology: the entry is there.
    await jones.send(f"/log {ref}")
    log = await jones.wait_for("timeline")
    assert "Management oversight recorded by Alex Jones" in log.text
    assert "Rationale: A1 came home by 22:00" in log.text
    assert "Action for Priya Patel by 2026-11-27" in log.text
    assert "Closing by Priya Patel held" in log.text
    await jones.send("/child A1 oversight")
    chron = await jones.wait_for("chronology (oversight)")
    assert (f"{ref}: management oversight by Alex Jones: Return home interview by Friday; "
            "<no> strategy meeting. (1 action)") in chron.text

    # /stats: the share of reports with oversight and the time to it.
    await jones.send("/stats")
    st = await jones.wait_for("Management oversight")
    assert "Recorded on 1 of 1 reports (100 %)" in st.text
    assert "Time from report to oversight: 40 min / 40 min (n=1)" in st.text


async def test_oversight_on_a_child_and_routine_reports_close_without_it(world, tmp_path):
    patel, jones, smith = await world.link_all("sw-patel", "tm-jones", "carer-smith")
    await jones.send("/oversee A1\nDecision: Review the placement plan monthly.\n"
                     "Rationale: Two reports in a month.")
    await jones.wait_for("Oversight of A1 recorded.")
    await jones.send("/child A1")
    chron = await jones.wait_for("chronology")
    assert ("management oversight by Alex Jones: Review the placement plan monthly."
            in chron.text)
    # The team's audit export carries it (it is about the team's child, not a report).
    services = world.services
    period = between(services.today(), services.today(), services.clock.now(), services.tz)
    result = await export(services.db, services.settings, period=period,
                          scope=frozenset({"north"}), out_dir=tmp_path, now=services.clock.now())
    rows = list(csv.DictReader(result.files[1].open(encoding="utf-8")))
    oversight_rows = [r for r in rows if r["event"] == "oversight_recorded"]
    assert len(oversight_rows) == 1 and '"child":"A1"' in oversight_rows[0]["details"]
    assert "Review the placement plan monthly." in oversight_rows[0]["details"]

    # Another team's child, or no such subject: refused and logged.
    await jones.send("/oversee Z9\nDecision: x\nRationale: y")
    await jones.wait_for("no report or child")

    ref = await world.report(smith, child="A1", category="Contact (family time) concern",
                             text="Upset after contact.")
    alert = await patel.wait_for(ref)
    await patel.click("Close with outcome", message_id=alert.message_id)
    await patel.wait_for("what was the outcome")


def test_reading_an_entry():
    today = date(2026, 11, 25)
    e = parse("decision: A\n  more of A\nRATIONALE: B\nAction: sw-1, 2026-11-25, C, and D", today)
    assert (e.decision, e.rationale) == ("A more of A", "B")
    assert [(a.owner, a.due, a.what) for a in e.actions] == [("sw-1", today, "C, and D")]
    for bad, why in [("Rationale: B", "decision is missing"),
                     ("Decision: A\nRationale: B\nAction: sw-1, 2026-11-24, C", "in the past"),
                     ("Decision: A\nRationale: B\nAction: sw-1 tomorrow", "owner-id"),
                     ("Hello\nDecision: A", "could not tell"),
                     ("Decision: A\nDecision: B\nRationale: C", "given twice")]:
        with pytest.raises(OversightError, match=why):
            parse(bad, today)
    assert needs_oversight(urgency="urgent", notifiable=False, setting=None)
    assert needs_oversight(urgency="routine", notifiable=True, setting=None)
    assert not needs_oversight(urgency="routine", notifiable=False, setting=None)
    assert not needs_oversight(urgency="urgent", notifiable=True, setting=False)
