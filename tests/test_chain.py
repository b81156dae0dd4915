"""Issue 13: nothing falls through. The escalation chain never ends with nobody (cover,
deputy, duty / out-of-hours team, last resort), out of hours is judged at each step,
reopening starts a fresh outcome clock, and outcome reminders go to the report's holder.

End to end: people on the emulated Telegram, the real bot, the injected clock moved and
the engine run."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.escalation_helpers import actions, events, incident, tick
from tests.world import EXAMPLE_DIRECTORY, TG_IDS

MISSING = "Child missing or absent without permission"  # urgent
ALLEGATION = "Allegation or serious complaint about a carer or househol…"  # urgent, notifiable
MEDICATION = "Medication error or refused medication"  # high
CONTACT = "Contact (family time) concern"  # routine

# People this module adds to the example directory.
TG_IDS.setdefault("tm-deputy", 5101)
TG_IDS.setdefault("hos-last", 5102)

EXTRA_PEOPLE = """
[[people]]
id = "tm-deputy"
name = "Dana Deputy"
roles = ["team_manager"]
team = "north"

[[people]]
id = "hos-last"
name = "Head of Service"
roles = ["team_manager"]
"""


def directory(**away: str) -> str:
    """The example directory with a deputy for the team and a last-resort person; each
    ``person_id=ISO time`` is away until then."""
    text = EXAMPLE_DIRECTORY.read_text().replace(
        'edt = "edt-rota"', 'edt = "edt-rota"\ndeputy = "tm-deputy"', 1) + EXTRA_PEOPLE
    for pid, until in away.items():
        pid = pid.replace("_", "-")
        head = f'id = "{pid}"\n'
        assert head in text, pid
        text = text.replace(head, head + f"away_until = {until}\n", 1)
    return text


@pytest.fixture
def settings_overrides():
    return {"escalation": {"last_resort": "hos-last"}}


async def test_manager_away_with_cover_gets_escalation_and_notification(world):
    patel, jones, khan, smith = await world.link_all("sw-patel", "tm-jones", "sw-khan",
                                                     "carer-smith")
    await jones.send("/away 3d sw-khan")
    await jones.wait_for("marked away")
    ref = await world.report(smith, child="A1", category=ALLEGATION, text="A complaint was made.")
    await world.runner.engine.run_due()
    await world.settle()
    # The notification reminder that was owed to the manager goes to their cover.
    note = await khan.wait_for("must be notified without delay")
    assert ref in note.text
    assert not [m for m in jones.messages if ref in m.text]
    khan.mark()
    await tick(world, minutes=30)  # step2: the team manager, away: their cover
    esc = await khan.wait_for("Escalation")
    assert ref in esc.text
    reminded = (await events(world, ref, "notification_reminded"))[0]
    assert reminded.details["to"] == ["sw-khan"]
    assert not await events(world, ref, "escalation_unreachable")
    # Standing in for the manager, the cover may record the notification.
    await khan.click("Ofsted: online form", message_id=note.message_id)
    assert "Still to record: Placing authority" in (await khan.wait_for_answer()).text
    await khan.click("Placing authority: email", message_id=note.message_id)
    assert "reminders stop" in (await khan.wait_for_answer()).text
    assert (await incident(world, ref)).notified_by_id == "sw-khan"


async def test_manager_away_with_nobody_goes_to_deputy(world):
    await world.import_directory(directory())
    patel, jones, deputy, smith = await world.link_all("sw-patel", "tm-jones", "tm-deputy",
                                                       "carer-smith")
    await jones.send("/away 3d")
    await jones.wait_for("marked away")
    ref = await world.report(smith, child="A1", category=ALLEGATION, text="A complaint was made.")
    await world.runner.engine.run_due()
    await world.settle()
    assert ref in (await deputy.wait_for("must be notified without delay")).text
    deputy.mark()
    await tick(world, minutes=30)
    esc = await deputy.wait_for("Escalation")
    assert ref in esc.text and "deputy team manager" in esc.text
    missed = {(e.details["person"], e.details["step"]) for e in
              await events(world, ref, "recipient_missed") if "step" in e.details}
    assert ("tm-jones", "step2") in missed
    # The deputy may acknowledge: on behalf of the worker who holds it.
    await deputy.click("Acknowledge", message_id=esc.message_id)
    await deputy.wait_for_answer("Acknowledged")
    inc = await incident(world, ref)
    assert inc.acknowledged_by_id == "tm-deputy" and inc.acknowledged_on_behalf_of_id == "sw-patel"


async def test_everyone_away_goes_to_the_last_resort(world):
    until = "2026-12-31T09:00:00Z"
    await world.import_directory(directory(sw_patel=until, sw_khan=until, tm_jones=until,
                                           tm_deputy=until, sw_duty=until))
    smith, last = await world.link_all("carer-smith", "hos-last")
    await world.link_all("sw-patel", "sw-khan", "tm-jones", "tm-deputy", "sw-duty")
    ref = await world.report(smith, child="A1", category=MISSING, text="Not back from school.")
    # At report time nobody in the team can take it: the last resort has the alert.
    alert = await last.wait_for(ref)
    assert "last resort" in alert.text
    last.mark()
    await tick(world, minutes=15)  # step1: the holders, all away: down the chain to the last
    reminder = await last.wait_for("Escalation")
    assert ref in reminder.text
    [ev] = await events(world, ref, "escalated_to_last_resort")
    assert ev.details["step"] == "step1" and ev.details["to"] == ["hos-last"]
    assert {"tm-jones", "tm-deputy", "sw-duty"} <= set(ev.details["missed"])
    assert not await events(world, ref, "escalation_unreachable")
    # The manager's /log shows it (away, but still able to read the record).
    jones = world.users["tm-jones"]
    await jones.send(f"/log {ref}")
    log = await jones.wait_for("last resort")
    assert "Nobody in the chain could be reached for step1: sent to the last resort, " \
        "Head of Service" in log.text


async def test_high_report_at_1625_friday_reaches_out_of_hours_team(world):
    patel, edt, smith = await world.link_all("sw-patel", "edt-rota", "carer-smith")
    world.clock.set(datetime(2026, 11, 27, 16, 25, tzinfo=timezone.utc))  # Friday, GMT
    ref = await world.report(smith, child="A1", category=MEDICATION, text="Double dose given.")
    await world.settle()
    assert not [m for m in edt.messages if ref in m.text]  # in working hours: not the EDT
    edt.mark()
    assert await tick(world, hours=1) == 1  # 17:25, the first step: out of hours
    esc = await edt.wait_for(ref)
    assert "Emergency Duty Team" in esc.text and esc.button_labels[0] == "✅ Acknowledge"
    assert ref in (await patel.wait_for("Reminder")).text  # and whoever holds it, per policy
    [step] = await events(world, ref, "escalated")
    assert step.details["out_of_hours"] is True and "edt-rota" in step.details["to"]
    await edt.click("Acknowledge", message_id=esc.message_id)
    await edt.wait_for_answer("Acknowledged")
    assert (await incident(world, ref)).acknowledged_by_id == "edt-rota"


async def test_reopen_starts_a_fresh_outcome_clock(world):
    patel, jones, smith = await world.link_all("sw-patel", "tm-jones", "carer-smith")
    ref = await world.report(smith, child="A1", category=MISSING, text="Not back from school.")
    alert = await patel.wait_for(ref)
    await patel.click("Acknowledge", message_id=alert.message_id)
    await patel.wait_for_answer("Acknowledged")
    await world.settle()
    patel.mark()
    await tick(world, days=2)  # Fri 10:00: two working days, no outcome yet
    assert ref in (await patel.wait_for("Outcome needed")).text
    # The manager records oversight (a missing child needs it before closing), then the
    # worker closes with an outcome, then the manager reopens it.
    await jones.send(f"/oversee {ref}\nDecision: Return home interview\nRationale: Home now")
    await jones.wait_for("Oversight of")
    await patel.click("Close with outcome", message_id=alert.message_id)
    await patel.wait_for("what was the outcome")
    await patel.click("Advice given")
    await patel.wait_for("type a short note")
    await patel.send("Returned home; advice given.")
    await patel.wait_for("Closed " + ref)
    inc = await incident(world, ref)
    await jones.press_data(f"reopen:{inc.id}")
    await jones.wait_for("Why are you reopening")
    await jones.send("Missing again overnight.")
    await jones.wait_for("Reopened " + ref)
    await world.settle()
    # The new clock lives in the database: a restart changes nothing.
    await world.stop_bot()
    await world.start_bot()
    patel.mark()
    seen = len(patel.messages)
    # Two working days after the reopening (Fri 10:00 + 2 working days = Tue 10:00).
    await tick(world, days=3, hours=23)
    assert not [m for m in patel.messages[seen:] if "Outcome needed" in m.text]
    await tick(world, hours=1)
    again = await patel.wait_for("Outcome needed")
    assert ref in again.text
    assert await actions(world, ref) == ["outcome1", "outcome3"]
    # The record: the close stopped every clock, the reopening says what runs, and nothing
    # claims it was acknowledged again.
    names = [(e.event, e.details.get("reason")) for e in await events(world, ref)]
    closed_at = names.index(("closed", None))
    after_close = names[closed_at:]
    assert ("escalation_stopped", "closed") in after_close
    assert ("escalation_stopped", "acknowledged") not in after_close
    [reopened] = await events(world, ref, "reopened")
    assert reopened.details["outcome_step"] == "outcome3"
    await jones.send(f"/log {ref}")
    log = await jones.wait_for("Reopened by Alex Jones")
    assert "Closed: every clock stopped" in log.text
    assert "a new outcome clock runs (outcome3" in log.text


async def test_outcome_reminder_goes_to_holder_after_manager_acknowledged(world):
    patel, jones, smith = await world.link_all("sw-patel", "tm-jones", "carer-smith")
    ref = await world.report(smith, child="A1", category=MISSING, text="Not back from school.")
    await patel.wait_for(ref)
    await tick(world, minutes=30)  # step2: the manager
    esc = await jones.wait_for("Escalation")
    await jones.click("Acknowledge", message_id=esc.message_id)
    await jones.wait_for_answer("Acknowledged")
    await world.settle()
    patel.mark()
    jones.mark()
    await tick(world, days=2)
    first = await patel.wait_for("Outcome needed")
    assert ref in first.text and "Acknowledged by Alex Jones" in first.text
    assert not [m for m in jones.messages if "Outcome needed" in m.text]
    await tick(world, days=4)  # one working day later (over the weekend): the manager
    second = await jones.wait_for("Outcome needed")
    assert "Priya Patel was reminded" in second.text
    assert [e.details["to"] for e in await events(world, ref, "outcome_reminded")] == \
        [["sw-patel"], ["tm-jones"]]


async def test_routine_alert_out_of_hours_is_silent_and_waits_for_working_time(world):
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    world.clock.set(datetime(2026, 11, 25, 19, 0, tzinfo=timezone.utc))  # Wednesday evening
    ref = await world.report(smith, child="A1", category=CONTACT, text="Upset after contact.")
    alert = await patel.wait_for(ref)
    assert alert.silent  # no sound at 19:00 for a routine report
    urgent = await world.report(smith, child="C3", category=MISSING, text="Not back.")
    assert not (await patel.wait_for(urgent)).silent  # urgent ones ring
    # Its clock runs in working time: the reminder, one working day later, falls due in
    # working hours (Friday 09:00), never in the night, and rings.
    inc = await incident(world, ref)
    assert inc.next_due_at == datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
    assert world.services.calendar.is_working_time(inc.next_due_at)
    patel.mark()
    world.clock.set(inc.next_due_at)
    await world.runner.engine.run_due()
    await world.settle()
    reminder = await patel.wait_for(f"Reminder: {ref}")
    assert not reminder.silent


def test_stand_in_chain_order_by_the_hour():
    from bot.rules.routing import PersonInfo, TeamInfo, first_available, stand_in_chain

    now = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
    away = now + timedelta(days=3)

    def p(pid, cover=None, gone=False):
        return PersonInfo(pid, pid, frozenset(), linked=True, cover_id=cover,
                          away_until=away if gone else None)

    team = TeamInfo("t", manager_id="tm", duty_id="duty", edt_id="edt", service_manager_id="sm",
                    deputy_id="dep")
    people = {x.id: x for x in (p("sw", cover="cov", gone=True), p("cov", gone=True),
                                p("tm", cover="tmc", gone=True), p("tmc", gone=True),
                                p("dep", gone=True), p("sm", gone=True), p("duty"), p("edt"),
                                p("last"))}
    day = stand_in_chain("sw", "escalation:person", team=team, people=people,
                         out_of_hours=False, last_resort_id="last")
    assert [pid for pid, _ in day] == ["sw", "cov", "tm", "tmc", "dep", "sm", "duty", "last"]
    night = stand_in_chain("tm", "escalation:team_manager", team=team, people=people,
                           out_of_hours=True, last_resort_id="last")
    assert [pid for pid, _ in night] == ["tm", "tmc", "dep", "sm", "edt", "last"]
    index, missed = first_available(night, people, now)
    assert night[index] == ("edt", "escalation:edt")
    assert [m[0] for m in missed] == ["tm", "tmc", "dep", "sm"]
    people["edt"] = p("edt", gone=True)
    index, _ = first_available(night, people, now)
    assert night[index] == ("last", "escalation:last_resort")


async def test_blocked_worker_with_nobody_else_is_rerouted_to_the_last_resort(world, fake):
    # Only the allocated worker and the last resort are on Telegram; the worker has blocked
    # the bot. The failed alert is rerouted down the whole chain to the last resort.
    await world.import_directory(directory())
    patel, last, smith = await world.link_all("sw-patel", "hos-last", "carer-smith")
    fake.block(patel.id)
    ref = await world.report(smith, child="A1", category=CONTACT, text="Upset after contact.")
    await world.settle()
    alert = await last.wait_for(ref)
    assert "last resort: Priya Patel could not be reached" in alert.text
    assert "✅ Acknowledge" in alert.button_labels
    notice = await smith.wait_for("could not be reached")
    assert "Head of Service (the service's last resort) has it now" in notice.text
    [rerouted] = await events(world, ref, "rerouted")
    assert rerouted.details["to"] == "hos-last" and rerouted.details["reason"] == "last_resort"
