"""Issue 15 item 4 (first clock): a needs assessment within 72 hours of entering care, its
reminders and escalation, /tasks and /done, a handover of the task, and the compliance
report checked against figures worked out by hand.

The clock starts on Wed 25 Nov 2026 at 10:00 (GMT: London time is UTC)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from bot.people.statutory import NEEDS_ASSESSMENT
from bot.record import tasks as task_record
from bot.review import compliance
from storage.models import Person, Task
from tests.escalation_helpers import Desk, events, tick
from tests.world import EXAMPLE_DIRECTORY

UTC = timezone.utc

# D4 came into care today (no placement here: visit clocks are in test_statutory_visits): the assessment is due 72 hours after the start of the day,
# Sat 28 Nov 00:00; the owner is reminded 24 hours before, Fri 27 Nov 00:00.
D4 = """
[[children]]
ref = "D4"
team = "north"
allocated_social_worker = "sw-patel"
entered_care = 2026-11-25
"""
WITH_D4 = EXAMPLE_DIRECTORY.read_text() + D4


async def the_task(world, child="D4", kind=NEEDS_ASSESSMENT) -> Task:
    async with world.services.db.read() as s:
        return (await s.execute(select(Task).where(Task.child_ref == child,
                                                   Task.kind == kind))).scalar_one()


def since(user, n):
    return [m for m in user.messages[n:]]


async def test_needs_assessment_met_within_72_hours(world):
    patel, jones = await world.link_all("sw-patel", "tm-jones")
    await world.import_directory(WITH_D4)
    task = await the_task(world)
    assert task.kind == NEEDS_ASSESSMENT and task.owner_id == "sw-patel"
    assert task.due_at == datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
    [started] = await events(world, None, "task_started")
    assert started.details["child"] == "D4"
    # Importing again starts nothing more.
    await world.import_directory(WITH_D4)
    assert len(await events(world, None, "task_started")) == 1

    await patel.send("/tasks")
    listed = await patel.wait_for("Open statutory tasks")
    assert f"{task.id} · child D4 · needs assessment" in listed.text
    assert "due by 00:00 Sat 28 Nov 2026" in listed.text

    # The reminder falls due on Fri 27 Nov at 00:00; nothing before.
    n = len(patel.messages)
    await tick(world, hours=37, minutes=59)
    assert not [m for m in since(patel, n) if "Statutory task" in m.text]
    await world.stop_bot()  # the clock lives in the database
    await world.start_bot()
    await tick(world, minutes=1)
    reminder = await patel.wait_for("Statutory task due")
    assert "child D4" in reminder.text and f"/done {task.id}" in reminder.text

    # Recorded done with a note on Fri at 09:00 (the Done button in /tasks, then the note):
    # reminders stop, nobody is escalated to.
    await tick(world, hours=9)
    await patel.send("/tasks")
    listed = await patel.wait_for("Open statutory tasks")
    await patel.click(f"✅ Done {task.id} · D4", message_id=listed.message_id)
    await patel.wait_for("Send a short note of what was done")
    await patel.send("Assessment completed with the carer and school.")
    assert "Reminders stop" in (await patel.wait_for("Recorded")).text
    done = await the_task(world)
    assert done.done_by_id == "sw-patel" and done.next_at is None
    assert done.note == "Assessment completed with the carer and school."
    n_p, n_j = len(patel.messages), len(jones.messages)
    await tick(world, days=3)
    assert not [m for m in since(patel, n_p) + since(jones, n_j) if "Statutory task" in m.text]
    assert not await events(world, None, "task_overdue")

    await jones.send("/compliance 2026-11-01 2026-11-30")
    report = await jones.wait_for("Compliance")
    assert ("Needs assessment within 72 hours of entering care: 1 of 1 on time (100.0%); "
            "0 missed" in report.text)


async def test_needs_assessment_missed_escalates_and_counts_as_missed(world):
    patel, jones, khan = await world.link_all("sw-patel", "tm-jones", "sw-khan")
    await world.import_directory(WITH_D4)
    task = await the_task(world)
    await tick(world, hours=38)  # Fri 00:00: the reminder
    await patel.wait_for("Statutory task due")
    n_p, n_j = len(patel.messages), len(jones.messages)
    await tick(world, hours=23, minutes=59)
    assert not [m for m in since(jones, n_j) if "Statutory task" in m.text]
    await tick(world, minutes=1)  # Sat 00:00: missed
    to_owner = await patel.wait_for("Statutory task overdue")
    assert "child D4" in to_owner.text
    to_manager = await jones.wait_for("Statutory task overdue")
    assert "Owner: Priya Patel" in to_manager.text
    [ev] = await events(world, None, "task_overdue")
    assert ev.details["to"] == ["sw-patel", "tm-jones"]
    # A day later the manager is told again; the owner's reminder is not repeated.
    n_p, n_j = len(patel.messages), len(jones.messages)
    await tick(world, hours=24)
    assert len([m for m in since(jones, n_j) if "Statutory task overdue" in m.text]) == 1
    assert not [m for m in since(patel, n_p) if "Statutory task" in m.text]

    # Someone else may not record it; the owner may, late.
    await khan.send(f"/done {task.id} I did it")
    await khan.wait_for("no open task with that number")
    await khan.press_data(f"sd:{task.id}")  # a forged Done button
    await khan.wait_for("no open task with that number")
    await patel.send(f"/done {task.id} Assessment done on Monday.")
    assert "counts as missed" in (await patel.wait_for("Recorded")).text

    await jones.send("/compliance 2026-11-01 2026-11-30")
    report = await jones.wait_for("Compliance")
    assert "0 of 1 on time (0.0%); 1 missed" in report.text
    assert "child D4: due 00:00 Sat 28 Nov 2026, done late 00:00 Sun 29 Nov 2026" in report.text


async def test_handover_moves_open_tasks(world):
    khan, = await world.link_all("sw-khan")
    await world.import_directory(WITH_D4)
    task = await the_task(world)
    await world.import_directory(WITH_D4.replace(
        'ref = "D4"\nteam = "north"\nallocated_social_worker = "sw-patel"',
        'ref = "D4"\nteam = "north"\nallocated_social_worker = "sw-khan"'))
    await world.settle()
    note = await khan.wait_for("Handover: child D4 is now allocated to you")
    assert f"task {task.id} · needs assessment" in note.text
    assert "due by 00:00 Sat 28 Nov 2026" in note.text
    assert (await the_task(world)).owner_id == "sw-khan"
    await tick(world, hours=38)
    assert "child D4" in (await khan.wait_for("Statutory task due")).text


# ----------------------------------------------------------------------------- compliance
# Seeded: north has E1 (done on time), E2 (done late), E3 (not done, past due) and E4 (due
# after "now": pending); south has S1 (done on time) and S2 (entered care in December:
# outside the period). By hand, for 1–30 Nov: north 1 of 3 on time (33.3%), 2 missed
# (E2 late, E3 not done), 1 not yet due; south 1 of 1 (100.0%), 0 missed.

SEED = EXAMPLE_DIRECTORY.read_text() + """
[[teams]]
id = "south"
name = "South Children's Team"
manager = "tm-south"

[[people]]
id = "tm-south"
name = "Sam South"
roles = ["team_manager"]
team = "south"

[[people]]
id = "sw-south"
name = "Sol South"
roles = ["social_worker"]
team = "south"
""" + "".join(f"""
[[children]]
ref = "{ref}"
team = "{team}"
allocated_social_worker = "{sw}"
entered_care = {day}
""" for ref, team, sw, day in [
    ("E1", "north", "sw-patel", "2026-11-20"), ("E2", "north", "sw-patel", "2026-11-21"),
    ("E3", "north", "sw-khan", "2026-11-22"), ("E4", "north", "sw-khan", "2026-11-25"),
    ("S1", "south", "sw-south", "2026-11-20"), ("S2", "south", "sw-south", "2026-12-01")])


async def test_compliance_figures_on_a_seeded_data_set(services):
    desk = Desk(services)
    services.clock.set(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    await desk.load(SEED)

    async def done(child: str, pid: str, at: datetime) -> None:
        services.clock.set(at)
        async with services.db.write() as s:
            task = (await s.execute(select(Task).where(Task.child_ref == child))).scalar_one()
            r = await task_record.record_done(s, services, await s.get(Person, pid), task.id,
                                              "done")
            assert r.ok, r.text

    await done("E1", "sw-patel", datetime(2026, 11, 22, 12, 0, tzinfo=UTC))  # due 23 Nov 00:00
    await done("S1", "sw-south", datetime(2026, 11, 22, 23, 59, tzinfo=UTC))  # due 23 Nov 00:00
    await done("E2", "sw-patel", datetime(2026, 11, 24, 0, 1, tzinfo=UTC))  # due 24 Nov 00:00
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # E3 due 25 Nov: missed; E4 due 28 Nov
    async with services.db.read() as s:
        c = await compliance.compute(s, None, datetime(2026, 11, 1, tzinfo=UTC),
                                     datetime(2026, 12, 1, tzinfo=UTC), now, "Nov 2026")
    north, south = c.teams
    n, s_ = north.assessment, south.assessment
    assert (north.team_id, n.due, n.on_time, n.pending) == ("north", 3, 1, 1)
    assert n.percent == 33.3
    assert [(m.child, m.done_at is not None) for m in n.misses] == [("E2", True), ("E3", False)]
    assert (south.team_id, s_.due, s_.on_time, s_.pending, s_.misses) == ("south", 1, 1, 0, [])
    assert s_.percent == 100.0
    text = compliance.render_plain(c, services.tz)
    assert "1 of 3 on time (33.3%); 2 missed; 1 not yet due" in text
    assert "missed: child E3: due 00:00 Wed 25 Nov 2026, not done (owner sw-khan)" in text
    # A manager's scope: south only.
    async with services.db.read() as s:
        only = await compliance.compute(s, frozenset({"south"}), datetime(2026, 11, 1, tzinfo=UTC),
                                        datetime(2026, 12, 1, tzinfo=UTC), now)
    assert [t.team_id for t in only.teams] == ["south"]


def test_compliance_and_a_refused_import_from_the_command_line(tmp_path):
    """The operator's view, on the real clock: a child who came into care five days ago
    with no assessment recorded is a miss; taking away their worker is refused by line."""
    from datetime import date, timedelta

    from tests.test_cli_and_schema import fosterbot

    entered = date.today() - timedelta(days=5)
    text = EXAMPLE_DIRECTORY.read_text() + D4.replace("2026-11-25", entered.isoformat())
    path = tmp_path / "directory.toml"
    path.write_text(text)
    assert fosterbot(tmp_path, "db", "upgrade").returncode == 0
    r = fosterbot(tmp_path, "directory", "import", str(path))
    assert r.returncode == 0, r.stderr
    assert "statutory tasks started: 1" in r.stdout
    r = fosterbot(tmp_path, "compliance", "--from", (entered - timedelta(days=1)).isoformat(),
                  "--to", date.today().isoformat())
    assert r.returncode == 0, r.stderr
    assert ("Needs assessment within 72 hours of entering care: 0 of 1 on time (0.0%); "
            "1 missed; 0 not yet due") in r.stdout
    assert "missed: child D4: due" in r.stdout and "not done (owner sw-patel)" in r.stdout

    unallocated = text.replace('ref = "D4"\nteam = "north"\nallocated_social_worker = "sw-patel"\n',
                               'ref = "D4"\nteam = "north"\n')
    path.write_text(unallocated)
    r = fosterbot(tmp_path, "directory", "import", str(path))
    assert r.returncode == 1
    line = unallocated.splitlines().index('ref = "D4"')  # the [[children]] line above it
    assert f"{path}:{line}: children (D4): no allocated_social_worker is named" in r.stderr
    assert "nothing was changed" in r.stderr
