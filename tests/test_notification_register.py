"""The Schedule 7 notification register (issue 16), end to end: people tap buttons and
send commands to the real bot over the emulator; the fake clock moves and the engine runs."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import tomllib

import pytest
from sqlalchemy import select, update

from bot import cli
from bot.record import notification
from bot.rules.notifiable import DEFAULT_EVENTS
from storage import migrate
from storage.models import Incident, NotifiableEvent, NotificationRecord, Person
from tests.escalation_helpers import Desk, events, incident, tick
from tests.test_cli_and_schema import _downgrade
from tests.world import EXAMPLE_DIRECTORY, TG_IDS

DEATH = "Death of a child"
POLICE = "Police called to the foster home"
ALLEGATION = "Allegation or serious complaint about a carer or househol…"
DISCLOSURE = "Disclosure of abuse / child protection concern"
OFFENCE = "Child alleged to have committed a serious offence"

TG_IDS.setdefault("rm-reg", 5201)
TG_IDS.setdefault("rm-dep", 5202)

OWNERS = """
[[people]]
id = "rm-reg"
name = "Rhona Registered"
roles = ["team_manager"]

[[people]]
id = "rm-dep"
name = "Dev Deputy"
roles = ["team_manager"]
"""


def directory(**away: str) -> str:
    text = EXAMPLE_DIRECTORY.read_text() + OWNERS
    for pid, until in away.items():
        head = f'id = "{pid.replace("_", "-")}"\n'
        assert head in text, pid
        text = text.replace(head, head + f"away_until = {until}\n", 1)
    return text


@pytest.fixture
def settings_overrides():
    return {"notification": {"registered_manager": "rm-reg", "deputy": "rm-dep",
                             "out_of_hours": "ssw-okoro"}}


async def _start(world, *people, **away):
    await world.import_directory(directory(**away))
    return await world.link_all(*people)


def _still(msg) -> list[str]:
    """The recipients a reminder names as still to record."""
    part = msg.text.split("Still to record:", 1)[1]
    return [line[2:].strip() for line in part.splitlines() if line.startswith("• ")]


async def _reminded(world, who, ref: str, about: str = ""):
    await world.runner.engine.run_due()
    await world.settle()
    msg = await who.wait_for(predicate=lambda m: "must be notified without delay" in m.text
                             and about in m.text)
    assert ref in msg.text
    return msg


async def test_death_one_hour_clock_every_recipient_recorded(world):
    reg, jones, smith = await _start(world, "rm-reg", "tm-jones", "carer-smith")
    ref = await world.report(smith, child="A1", category=DEATH, text="A1 was found not breathing.")
    note = await _reminded(world, reg, ref)
    # The registered manager owns it: five recipients, the Secretary of State among them,
    # and a one-hour deadline.
    assert _still(note) == ["Ofsted", "Responsible (placing) authority",
                            "Secretary of State (DfE)",
                            "Area authority (where the foster home is, if different)",
                            "Integrated care board"]
    assert "Deadline: 11:00 Wed 25 Nov 2026" in note.text
    # The child's team manager is told as well.
    assert ref in (await jones.wait_for("must be notified without delay")).text
    world.clock.advance(minutes=20)
    await reg.click("Ofsted: online form", message_id=note.message_id)
    assert "Still to record: Placing authority, Secretary of State, Area authority, ICB" in \
        (await reg.wait_for_answer()).text
    # A short guided exchange: the reference Ofsted gave.
    await reg.wait_for("Reply with the reference Ofsted gave")
    await reg.send("NOT-2026-118")
    assert "Reference NOT-2026-118 recorded for Ofsted" in (await reg.wait_for("Reference")).text
    await reg.click("Secretary of State: email", message_id=note.message_id)
    await reg.wait_for_answer()
    await reg.click("Skip", message_id=(await reg.wait_for("Reply with the reference")).message_id)
    await reg.wait_for("Cancelled")
    await jones.click("Placing authority: email")  # the team manager may record too
    await jones.wait_for_answer()
    # The next reminder, after the deadline, names only the two still missing.
    reg.mark()
    await tick(world, hours=2)
    late = await reg.wait_for("must be notified without delay")
    assert _still(late) == ["Area authority (where the foster home is, if different)",
                            "Integrated care board"]
    assert "OVERDUE" in late.text
    assert late.button_labels == ["Area authority: online form", "Area authority: email",
                                  "Area authority: phone",
                                  "Area authority: same as placing, not required",
                                  "ICB: online form", "ICB: email", "ICB: phone"]
    await reg.click("Area authority: same as placing, not required", message_id=late.message_id)
    assert "Area authority not required. Still to record: ICB" in \
        (await reg.wait_for_answer()).text
    await reg.click("ICB: email", message_id=late.message_id)
    assert "All recorded; reminders stop" in (await reg.wait_for_answer()).text
    inc = await incident(world, ref)
    assert inc.notified_at is not None and inc.notification_next_at is None
    made = await events(world, ref, "notification_made")
    jones.mark()
    await jones.send(f"/log {ref}")
    log = await jones.wait_for("timeline")
    assert "Ofsted notified by form by Rhona Registered (Death of a child)" in log.text
    assert "Ofsted: notification reference NOT-2026-118 recorded by Rhona Registered" in log.text
    assert "Area authority (where the foster home is, if different): not required (the area " \
           "authority is the placing authority) by Rhona Registered" in log.text
    assert [(e.actor_id, e.details["recipient"], e.details["within_deadline"]) for e in made] == [
        ("rm-reg", "ofsted", True), ("rm-reg", "secretary_of_state", True),
        ("tm-jones", "responsible_authority", True), ("rm-reg", "icb", False)]
    [na] = await events(world, ref, "notification_not_required")
    assert na.details["recipient"] == "area_authority" and "placing" in na.details["reason"]
    reg.mark()
    await tick(world, hours=4)
    assert not [m for m in reg.messages if "must be notified" in m.text
                and m.message_id not in (note.message_id, late.message_id)]


async def test_serious_offence_alleged_goes_to_the_placing_authority_and_the_police(world):
    """Schedule 7 row 5: not Ofsted; the reminder does not say Ofsted must be told."""
    reg, smith = await _start(world, "rm-reg", "carer-smith")
    ref = await world.report(smith, child="A1", category=OFFENCE,
                             text="A1 was arrested on suspicion of robbery.")
    note = await _reminded(world, reg, ref)
    assert "Those below must be notified without delay" in note.text
    assert "Ofsted" not in note.text
    assert _still(note) == ["Responsible (placing) authority", "Police"]
    assert note.button_labels == ["Placing authority: online form", "Placing authority: email",
                                  "Placing authority: phone", "Police: online form",
                                  "Police: email", "Police: phone"]


async def test_police_call_by_phone_then_confirmed_in_writing(world, db_url, tmp_path):
    reg, smith = await _start(world, "rm-reg", "carer-smith")
    ref = await world.report(smith, child="A1", category=POLICE, text="Police came at 9pm.")
    note = await _reminded(world, reg, ref)
    await reg.click("Ofsted: phone", message_id=note.message_id)
    assert "Confirm it in writing" in (await reg.wait_for_answer()).text
    await reg.click("Placing authority: online form", message_id=note.message_id)
    assert "Still to record: Ofsted" in (await reg.wait_for_answer()).text
    assert (await incident(world, ref)).notified_at is None  # a call is not enough
    # A restart in between: the clock and what is owed live in the database.
    await world.stop_bot()
    await world.start_bot()
    reg.mark()
    await tick(world, hours=2)
    again = await reg.wait_for("must be notified without delay")
    assert "written confirmation not yet recorded" in again.text
    assert again.button_labels == ["✍️ Ofsted: confirmed in writing"]
    # The confirmation, with its reference, recorded on the command line.
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[database]\nurl = "{db_url}"\n[notification]\nregistered_manager = '
                   '"rm-reg"\n', encoding="utf-8")
    rc = await asyncio.to_thread(cli.main, ["--config", str(cfg), "notification", "confirm",
                                            ref, "ofsted", "--ref", "OF-77812", "--by", "rm-reg",
                                            "--at", "2026-11-25T13:00"])
    assert rc == 0
    inc = await incident(world, ref)
    assert inc.notified_at is not None
    [c] = await events(world, ref, "notification_confirmed")
    assert c.details["reference"] == "OF-77812" and c.actor_id == "rm-reg"
    # The button pressed again afterwards is told it was already recorded.
    await reg.click("✍️ Ofsted: confirmed in writing", message_id=again.message_id)
    assert "Already recorded by Rhona Registered" in (await reg.wait_for_answer()).text


async def test_child_protection_enquiry_started_then_concluded(world):
    reg, jones, smith = await _start(world, "rm-reg", "tm-jones", "carer-smith")
    ref = await world.report(smith, child="A1", category=ALLEGATION, text="A complaint was made.")
    note = await _reminded(world, reg, ref)
    for label in ("Ofsted: online form", "Placing authority: email"):
        await reg.click(label, message_id=note.message_id)
        await reg.wait_for_answer()
    assert (await incident(world, ref)).notified_at is not None
    await jones.send(f"/s47 {ref} concluded")
    assert "Record the start first" in (await jones.wait_for("start first")).text
    jones.mark()
    reg.mark()  # the reminder may go out as soon as the command commits
    await jones.send(f"/s47 {ref} started")
    await jones.wait_for("Child protection (section 47) enquiry started")
    start = await _reminded(world, reg, ref, "enquiry started")
    assert "Child protection (section 47) enquiry started" in start.text
    # Schedule 7 row 10: Ofsted, the placing authority and the area authority.
    assert _still(start) == ["Ofsted (Child protection (section 47) enquiry started)",
                             ("Responsible (placing) authority (Child protection (section 47) "
                             "enquiry started)"),
                             ("Area authority (where the foster home is, if different) (Child "
                             "protection (section 47) enquiry started)")]
    for label in ("Ofsted: email", "Placing authority: email",
                  "Area authority: same as placing, not required"):
        await reg.click(label, message_id=start.message_id)
        await reg.wait_for_answer()
    assert (await incident(world, ref)).notified_at is not None
    jones.mark()
    await world.settle()  # the edits after the last taps are delivered before we look
    reg.mark()
    await jones.send(f"/s47 {ref} concluded no further action")
    await jones.wait_for("Outcome of a child protection")
    outcome = await _reminded(world, reg, ref, "Outcome of a child protection")
    assert "Outcome of a child protection (section 47) enquiry" in outcome.text
    assert "enquiry started" not in outcome.text
    for label in ("Ofsted: email", "Placing authority: email", "Area authority: email"):
        await reg.click(label, message_id=outcome.message_id)
        await reg.wait_for_answer()
    opened = await events(world, ref, "notification_opened")
    assert [e.details["notifiable_event"] for e in opened] == ["allegation", "s47_start",
                                                               "s47_outcome"]
    complete = await events(world, ref, "notification_complete")
    assert len(complete) == 3
    # Each event kept its own reminder numbering (notify1, notify2 …: no step key reused).
    assert len({e.details["step"] for e in await events(world, ref, "notification_reminded")}) \
        == 3


async def test_dbs_referral_recorded_by_a_manager(world):
    reg, jones, patel, smith = await _start(world, "rm-reg", "tm-jones", "sw-patel", "carer-smith")
    ref = await world.report(smith, child="A1", category=ALLEGATION, text="A complaint was made.")
    await _reminded(world, reg, ref)
    await smith.send(f"/dbsreferral CARER-0007 {ref}")
    await smith.wait_for("Only the notification owner")
    await patel.send(f"/dbsreferral CARER-0007 {ref}")
    await patel.wait_for("Only the notification owner")
    # Marked before the referral is recorded: its reminder may reach the registered manager
    # before the team manager's "Recorded" does.
    reg.mark()
    await jones.send(f"/dbsreferral CARER-0007 {ref}")
    assert "Referral to the Disclosure and Barring Service" in \
        (await jones.wait_for("Recorded")).text
    await _reminded(world, reg, ref, about="Referral to the Disclosure and Barring Service")
    # A referral about a staff member with no report: recorded and in the register; the
    # person is named by a reference, never by name.
    await reg.send("/dbsreferral Jane-Smith")
    await reg.wait_for("never by their name. Nothing was recorded")
    await reg.send("/dbsreferral STAFF-0042")
    await reg.wait_for("Recorded: Referral to the Disclosure")
    reg.mark()
    await reg.send("/notifications")
    shown = await reg.wait_for("Schedule 7 register")
    assert "STAFF-0042 · Ofsted: owed" in shown.text
    [dbs] = [e for e in await events(world, None, "notification_opened")
             if e.details.get("subject") == "STAFF-0042"]
    assert dbs.actor_id == "rm-reg" and dbs.incident_id is None


async def test_not_notifiable_after_review_with_a_reason(world):
    reg, jones, patel, smith = await _start(world, "rm-reg", "tm-jones", "sw-patel", "carer-smith")
    ref = await world.report(smith, child="A1", category=POLICE, text="Police called, no crime.")
    await _reminded(world, reg, ref)
    await patel.send(f"/notnotifiable {ref} not serious")
    await patel.wait_for("Only the notification owner")
    await jones.send(f"/notnotifiable {ref}")
    await jones.wait_for("with the report reference and the reason")
    jones.mark()
    await jones.send(f"/notnotifiable {ref} police attended for a neighbour, not the household")
    await jones.wait_for("is not notifiable, after review")
    await world.settle()
    inc = await incident(world, ref)
    assert inc.notified_at is not None and inc.notification_next_at is None
    [e] = await events(world, ref, "notification_not_notifiable")
    assert e.actor_id == "tm-jones" and "neighbour" in e.details["reason"]
    [first] = [m for m in reg.messages if "must be notified" in m.text]
    assert "not notifiable, after review, by Alex Jones" in first.text  # the reminder, edited
    assert not first.buttons
    count = len(reg.messages)
    await tick(world, hours=6)
    assert not [m for m in reg.messages[count:] if "must be notified" in m.text]
    jones.mark()
    await jones.send(f"/log {ref}")
    log = await jones.wait_for("timeline")
    assert "Not notifiable, after review (Police called to the foster home) by Alex Jones: " \
           "police attended for a neighbour" in log.text
    await reg.send("/notifications")
    shown = await reg.wait_for("Schedule 7 register")
    assert "not notifiable — police attended for a neighbour, not the household (decided by " \
           "Alex Jones)" in shown.text


async def test_registered_manager_away_goes_to_the_deputy(world):
    reg, dep, smith = await _start(world, "rm-reg", "rm-dep", "carer-smith",
                                   rm_reg="2026-11-30T00:00:00Z")
    ref = await world.report(smith, child="A1", category=POLICE, text="Police came.")
    note = await _reminded(world, dep, ref)
    assert not [m for m in reg.messages if ref in m.text]
    [r] = await events(world, ref, "notification_reminded")
    assert r.details["to"] == ["rm-dep"]  # the team manager is not linked here
    [missed] = [e for e in await events(world, ref, "recipient_missed")
                if e.details["person"] == "rm-reg"]
    assert "away" in missed.details["why"] and missed.details["step"] == "notify1"
    await dep.click("Ofsted: email", message_id=note.message_id)
    assert "Still to record: Placing authority" in (await dep.wait_for_answer()).text


async def test_out_of_hours_the_out_of_hours_owner_is_reminded(world):
    reg, ooh, smith = await _start(world, "rm-reg", "ssw-okoro", "carer-smith")
    world.clock.advance(hours=12)  # 22:00 on a weekday
    ref = await world.report(smith, child="A1", category=POLICE, text="Police came at 10pm.")
    note = await _reminded(world, ooh, ref)
    assert not [m for m in reg.messages if ref in m.text and "must be notified" in m.text]
    [r] = await events(world, ref, "notification_reminded")
    assert r.details["to"][0] == "ssw-okoro"
    await ooh.click("Ofsted: phone", message_id=note.message_id)
    assert "Confirm it in writing" in (await ooh.wait_for_answer()).text
    # In working hours the registered manager owns what is still owed.
    reg.mark()
    await tick(world, hours=12)  # 10:00 the next day
    morning = await reg.wait_for("must be notified without delay")
    assert "written confirmation not yet recorded" in morning.text
    assert _still(morning)[1:] == ["Responsible (placing) authority"]


async def test_register_csv_row_by_row(world, db_url, tmp_path):
    reg, smith = await _start(world, "rm-reg", "carer-smith")
    ref = await world.report(smith, child="A1", category=POLICE, text="Police came.")
    note = await _reminded(world, reg, ref)
    world.clock.advance(hours=1)
    await reg.click("Ofsted: phone", message_id=note.message_id)
    await reg.wait_for_answer()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[database]\nurl = "{db_url}"\n', encoding="utf-8")

    async def run(*argv):
        return await asyncio.to_thread(cli.main, ["--config", str(cfg), *argv])

    assert await run("notification", "record", ref, "responsible_authority", "--method", "email",
                     "--ref", "LA-5521", "--at", "2026-11-26T12:00", "--by", "rm-reg") == 0
    assert await run("notification", "record", ref, "ofsted", "--method", "email",
                     "--by", "rm-reg") == 1  # already recorded (by phone)
    out = tmp_path / "register.csv"
    assert await run("notifications", "--from", "2026-11-01", "--to", "2026-11-30",
                     "--out", str(out)) == 0
    text = out.read_text()
    table, totals = text.split("\n\n")
    rows = list(csv.DictReader(io.StringIO(table)))
    pick = ["incident", "event", "recipient", "opened", "deadline", "made", "late_by_hours",
            "method", "reference", "confirmed_in_writing", "made_by", "status"]
    assert [[r[k] for k in pick] for r in rows] == [
        [ref, "police_called", "ofsted", "2026-11-25 10:00", "2026-11-26 10:00",
         "2026-11-25 11:00", "", "phone", "", "", "Rhona Registered", "awaiting confirmation"],
        [ref, "police_called", "responsible_authority", "2026-11-25 10:00", "2026-11-26 10:00",
         "2026-11-26 12:00", "2.00", "email", "LA-5521", "", "Rhona Registered", "made"],
    ]
    assert list(csv.reader(io.StringIO(totals))) == [["month", "notifications", "late"],
                                                     ["2026-11", "2", "1"]]


async def test_migration_turns_existing_rows_into_the_register(services, db_url):
    """Before the register one button stood for 'Ofsted and the responsible authority';
    upgrading keeps what it recorded and opens what is still owed."""
    desk = Desk(services)
    await desk.load()
    done = await desk.report("allegation")
    open_death = await desk.report("death")
    desk.clock.advance(hours=3)
    async with services.db.write() as s:  # as the old button left it
        await s.execute(update(Incident).where(Incident.id == done.id).values(
            notified_at=desk.clock.now(), notified_by_id="tm-jones"))
    await _downgrade(db_url, "0012_statutory_clocks")
    await migrate.upgrade(db_url)
    assert await migrate.check(db_url) == []
    async with services.db.read() as s:
        evs = (await s.execute(select(NotifiableEvent).order_by(
            NotifiableEvent.incident_id))).scalars().all()
        recs = (await s.execute(select(NotificationRecord).order_by(
            NotificationRecord.event_id, NotificationRecord.recipient))).scalars().all()
    assert [(e.incident_id, e.event, e.due_at, e.closed_at) for e in evs] == [
        (done.id, "allegation", done.notification_due_at, desk.clock.now()),
        (open_death.id, "death", open_death.notification_due_at, None)]
    recs = sorted(recs, key=lambda r: ([e.id for e in evs].index(r.event_id), r.recipient))
    assert [(r.event_id, r.recipient, r.made_at, r.made_by_id, r.method) for r in recs] == [
        (evs[0].id, "ofsted", desk.clock.now(), "tm-jones", None),
        (evs[0].id, "responsible_authority", desk.clock.now(), "tm-jones", None),
        (evs[1].id, "area_authority", None, None, None),
        (evs[1].id, "icb", None, None, None),
        (evs[1].id, "ofsted", None, None, None),
        (evs[1].id, "responsible_authority", None, None, None),
        (evs[1].id, "secretary_of_state", None, None, None)]


async def test_migration_gives_open_referrals_without_a_report_their_clock(services, db_url):
    """A referral recorded before its clock existed is reminded about at once after the
    upgrade; one already complete is left alone."""
    desk = Desk(services)
    await desk.load()
    async with services.db.write() as s:
        jones = await s.get(Person, "tm-jones")
        for subject in ("STAFF-0001", "STAFF-0002"):
            assert (await notification.open_by_manager(
                s, services, person=jones, event="dbs_referral", subject=subject)).status \
                == "opened"
        await s.execute(update(NotifiableEvent).where(NotifiableEvent.subject == "STAFF-0002")
                        .values(closed_at=desk.clock.now()))
    await _downgrade(db_url, "0013_notification_register")
    await migrate.upgrade(db_url)
    async with services.db.read() as s:
        evs = (await s.execute(select(NotifiableEvent).order_by(NotifiableEvent.id))).scalars()
        assert [(e.subject, e.reminder_step, e.next_reminder_at) for e in evs] == [
            ("STAFF-0001", 1, desk.clock.now()), ("STAFF-0002", None, None)]


def test_config_example_documents_the_defaults():
    """Every default's recipients are written, with its source, in config.example.toml."""
    text = (EXAMPLE_DIRECTORY.parent.parent / "config.example.toml").read_text()
    block = text.split("[notification]", 1)[1].split("\n[privacy]", 1)[0]
    uncommented = "\n".join(line[2:] for line in block.splitlines()
                            if line.startswith(("# [notification.events.", "# recipients =",
                                                "# deadline =")))
    documented = tomllib.loads(uncommented)["notification"]["events"]
    assert {k: (tuple(v["recipients"]), v.get("deadline", "24h")) for k, v in documented.items()} \
        == {k: (r, d) for k, (r, d, _src) in DEFAULT_EVENTS.items()}
    for key, (_r, _d, source) in DEFAULT_EVENTS.items():
        para = source.split(":")[0]  # "Sch. 7 row N"
        assert para in block, key
    # Each row says what it was checked against, and each source cited is in the legend
    # with its address.
    legend = dict(re.findall(r"^#  \[([A-Z])\] (.+?)(?=^#  \[[A-Z]\]|^# No default)", block,
                             re.MULTILINE | re.DOTALL))
    assert all("http" in text for text in legend.values()), legend
    rows = block.split("# Sch. 7 row ")[1:]
    assert [int(r.split(",", 1)[0]) for r in rows] == list(range(1, 11))
    for row in rows:
        checked = row.split("# Checked against:", 1)
        assert len(checked) == 2, row[:40]
        cited = re.findall(r"\[([A-Z])\]", checked[1].split("# [notification", 1)[0])
        assert cited and set(cited) <= set(legend), (row[:40], cited)


async def test_dbs_referral_without_a_report_is_chased_until_every_recipient_is_recorded(
        world, db_url, tmp_path):
    """A referral a manager records directly has the same clock as a report's event: the
    registered manager is reminded at once and every two hours, each reminder naming who is
    still missing, until each recipient is recorded; the clock survives a restart."""
    reg, jones = await _start(world, "rm-reg", "tm-jones")
    await jones.send("/dbsreferral STAFF-0042")
    assert "Notifiable to Ofsted, Placing authority" in (await jones.wait_for("Recorded")).text
    first = await _reminded(world, reg, "STAFF-0042", "Referral to the Disclosure")
    assert "recorded 10:00 Wed 25 Nov 2026 by Alex Jones" in first.text
    assert "Deadline: 10:00 Thu 26 Nov 2026" in first.text
    assert _still(first) == ["Ofsted", "Responsible (placing) authority"]
    assert "fosterbot notification record STAFF-0042 ofsted" in first.text
    # Nothing is recorded: two hours later the next reminder names both again.
    reg.mark()
    await tick(world, hours=2)
    second = await reg.wait_for("must be notified without delay")
    assert second.message_id != first.message_id and _still(second) == _still(first)
    await reg.click("Ofsted: phone", message_id=second.message_id)
    assert "Confirm it in writing and record that too. Still to record: Ofsted, Placing " \
           "authority" in (await reg.wait_for_answer()).text
    # A restart in between: the clock and what is owed live in the database.
    await world.stop_bot()
    await world.start_bot()
    reg.mark()
    await tick(world, hours=23)  # past the 24-hour deadline
    late = await reg.wait_for("must be notified without delay")
    assert "OVERDUE" in late.text
    assert _still(late) == ["Ofsted: phoned 12:00 Wed 25 Nov 2026, written confirmation not "
                            "yet recorded", "Responsible (placing) authority"]
    assert late.button_labels == ["✍️ Ofsted: confirmed in writing",
                                  "Placing authority: online form", "Placing authority: email",
                                  "Placing authority: phone"]
    # The placing authority's notification, with its reference, on the command line: the
    # referral is named by its subject.
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[database]\nurl = "{db_url}"\n[notification]\nregistered_manager = '
                   '"rm-reg"\n', encoding="utf-8")
    rc = await asyncio.to_thread(cli.main, ["--config", str(cfg), "notification", "record",
                                            "STAFF-0042", "responsible_authority", "--method",
                                            "email", "--ref", "LA-3310", "--by", "rm-reg"])
    assert rc == 0
    await reg.click("✍️ Ofsted: confirmed in writing", message_id=late.message_id)
    assert "All recorded; reminders stop" in (await reg.wait_for_answer()).text
    await world.settle()
    async with world.services.db.read() as s:
        ev = (await s.execute(select(NotifiableEvent).where(
            NotifiableEvent.subject == "STAFF-0042"))).scalar_one()
    assert ev.closed_at is not None and ev.next_reminder_at is None
    made = [e for e in await events(world, None, "notification_made")
            if e.details["notifiable_event"] == "dbs_referral"]
    assert [(e.details["recipient"], e.details["method"], e.details["reference"])
            for e in made] == [("ofsted", "phone", None), ("responsible_authority", "email",
                                                             "LA-3310")]
    # The reminders already sent now say it is done, without buttons; nothing more comes.
    for sent in (first, second, late):
        shown = next(m for m in reg.messages if m.message_id == sent.message_id)
        assert "Every Schedule 7 notification for this event is recorded (last by Rhona " \
               "Registered" in shown.text and not shown.buttons
    count = len(reg.messages)
    await tick(world, hours=6)
    assert not [m for m in reg.messages[count:] if "must be notified" in m.text]
    reminded = [e for e in await events(world, None, "notification_reminded")
                if e.details.get("subject") == "STAFF-0042"]
    assert [(e.details["step"], e.details["to"], e.details["overdue"]) for e in reminded] == [
        ("notify1", ["rm-reg"], False), ("notify2", ["rm-reg"], False),
        ("notify3", ["rm-reg"], True)]


async def test_dbs_referral_without_a_report_registered_manager_away_goes_to_the_deputy(world):
    reg, dep, jones = await _start(world, "rm-reg", "rm-dep", "tm-jones",
                                   rm_reg="2026-11-30T00:00:00Z")
    await jones.send("/dbsreferral CARER-0007")
    await jones.wait_for("Recorded")
    note = await _reminded(world, dep, "CARER-0007", "Referral to the Disclosure")
    assert not [m for m in reg.messages if "CARER-0007" in m.text]
    [missed] = [e for e in await events(world, None, "recipient_missed")
                if e.details.get("subject") == "CARER-0007"]
    assert missed.details["person"] == "rm-reg" and "away" in missed.details["why"]
    await dep.click("Ofsted: email", message_id=note.message_id)
    assert "Still to record: Placing authority" in (await dep.wait_for_answer()).text
    # Found not notifiable after review, by its reference: the clock stops, the reminder
    # says so.
    await jones.send("/notnotifiable CARER-0007 referral withdrawn: the DBS said no referral "
                     "was needed")
    await jones.wait_for("is not notifiable, after review")
    await world.settle()
    assert "Recorded as not notifiable, after review, by Alex Jones: referral withdrawn" in \
        next(m for m in dep.messages if m.message_id == note.message_id).text
    count = len(dep.messages)
    await tick(world, hours=4)
    assert not [m for m in dep.messages[count:] if "must be notified" in m.text]


async def test_enquiry_outcome_from_the_close_menu_opens_the_second_notification(world):
    """The section 47 enquiry's outcome, tapped in the report's Close menu (closing itself
    waits for oversight), opens the outcome's notification through the same domain function
    as /s47: its own clock and reminder to the registered manager."""
    reg, jones, patel, smith = await _start(world, "rm-reg", "tm-jones", "sw-patel",
                                            "carer-smith")
    ref = await world.report(smith, child="A1", category=ALLEGATION, text="A complaint was made.")
    note = await _reminded(world, reg, ref)
    for label in ("Ofsted: online form", "Placing authority: email"):
        await reg.click(label, message_id=note.message_id)
        await reg.wait_for_answer()
    alert = await jones.wait_for(ref)
    # Before the enquiry started the Close menu offers no enquiry outcome.
    jones.mark()
    await jones.click("☑️ Close with outcome", message_id=alert.message_id)
    # (Waited for by its text: other messages about the report may reach her meanwhile.)
    menu = await jones.wait_for("cannot be closed yet")
    assert ref in menu.text and menu.button_labels == []
    await jones.send(f"/s47 {ref} started")
    await jones.wait_for("Child protection (section 47) enquiry started")
    start = await _reminded(world, reg, ref, "enquiry started")
    for label in ("Ofsted: email", "Placing authority: email", "Area authority: email"):
        await reg.click(label, message_id=start.message_id)
        await reg.wait_for_answer()
    # The allocated worker may close, but not record notifications: no enquiry button for
    # her, and a forged press is refused and audited.
    patel_alert = await patel.wait_for(ref)
    patel.mark()
    await patel.click("☑️ Close with outcome", message_id=patel_alert.message_id)
    patel_menu = await patel.wait_for("cannot be closed yet")
    assert ref in patel_menu.text and patel_menu.button_labels == []
    inc = await incident(world, ref)
    await patel.press_data(f"cpo:{inc.id}:ns", message_id=patel_alert.message_id)
    await patel.wait_for("Only the notification owner")
    # The team manager's Close menu offers it (above everything else while closing waits).
    jones.mark()
    reg.mark()
    await jones.click("☑️ Close with outcome", message_id=alert.message_id)
    held = await jones.wait_for("cannot be closed yet")
    assert ref in held.text and held.button_labels == ["🛡 Section 47 enquiry concluded"]
    await jones.click("🛡 Section 47 enquiry concluded", message_id=held.message_id)
    choices = await jones.wait_for("what was its outcome?")
    assert choices.button_labels == [
        "Concerns not substantiated",
        "Concerns substantiated, child not at continuing risk of significant harm",
        "Concerns substantiated: initial child protection conference"]
    await jones.click("Concerns not substantiated", message_id=choices.message_id)
    done = await jones.wait_for("Recorded: Outcome of a child protection")
    assert "concerns not substantiated. Notifiable to Ofsted, Placing authority, Area " \
           "authority; reminders follow" in done.text
    outcome = await _reminded(world, reg, ref, "Outcome of a child protection")
    assert "enquiry started" not in outcome.text
    assert len(_still(outcome)) == 3
    # A second tap (an old menu) records nothing more.
    await jones.click("Concerns substantiated: initial child protection conference",
                      message_id=choices.message_id)
    await jones.wait_for("That is already recorded")
    [opened] = [e for e in await events(world, ref, "notification_opened")
                if e.details["notifiable_event"] == "s47_outcome"]
    assert opened.actor_id == "tm-jones"
    [note_event] = [e for e in await events(world, ref, "notification_note")
                    if e.details["notifiable_event"] == "s47_outcome"]
    assert note_event.details["note"] == "Concerns not substantiated"
    refused = [e for e in await events(world, ref, "access_refused")
               if e.actor_id == "sw-patel"]
    assert refused and refused[-1].details["action"] == "open s47_outcome"
    # The clock runs until the outcome's recipients are recorded.
    assert (await incident(world, ref)).notified_at is None
    for label in ("Ofsted: email", "Placing authority: email", "Area authority: email"):
        await reg.click(label, message_id=outcome.message_id)
        await reg.wait_for_answer()
    assert (await incident(world, ref)).notified_at is not None
