"""Issue 15: the actions of a manager's oversight entry are clocks in the engine.

Before the action is due, nothing; when due and not done, a reminder to its owner (with a
Done button); a day later the manager who recorded the oversight (through away and cover
and the stand-in chain); recorded done (button or /done) the clock stops. Shown in /tasks,
in /overdue while overdue, in the chronology, and audited; the clock is a row, so a restart
loses nothing.

The clock starts on Wed 25 Nov 2026 at 10:00 (GMT: London time is UTC)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from bot.people.statutory import OVERSIGHT_ACTION
from storage.models import Person, Task
from tests.escalation_helpers import events, tick
from tests.world import EXAMPLE_DIRECTORY

UTC = timezone.utc
MISSING = "Child missing or absent without permission"
ENTRY = ("Decision: Return home interview; no strategy meeting.\n"
         "Rationale: A1 came home unharmed.\n"
         "Action: sw-patel, 2026-11-27, Return home interview with A1 alone")


def said(user, n: int, text: str) -> list:
    return [m for m in user.messages[n:] if text in m.text]


async def the_action(world) -> Task:
    async with world.services.db.read() as s:
        return (await s.execute(select(Task).where(Task.kind == OVERSIGHT_ACTION))).scalar_one()


async def oversee(world, jones, smith) -> str:
    """A report, acknowledged by Priya (its clocks are not what is tested here), then Alex's
    oversight entry with one action for Priya."""
    ref = await world.report(smith, child="A1", category=MISSING,
                             text="A1 did not come home from school.")
    patel = world.users["sw-patel"]
    alert = await patel.wait_for(ref)
    await patel.click("Acknowledge", message_id=alert.message_id)
    await world.settle()
    await jones.send(f"/oversee {ref}\n{ENTRY}")
    await jones.wait_for("Oversight of")
    await world.settle()
    return ref


async def test_an_action_is_reminded_escalated_and_stopped_when_done(world):
    patel, jones, smith = await world.link_all("sw-patel", "tm-jones", "carer-smith")
    ref = await oversee(world, jones, smith)
    task = await the_action(world)
    # Due by the end of Fri 27 Nov (local time): Sat 28 Nov 00:00.
    assert task.owner_id == "sw-patel" and task.child_ref == "A1"
    assert task.due_at == datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
    assert task.details["manager"] == "tm-jones" and task.details["incident"] == ref
    [started] = await events(world, None, "task_started")
    assert started.details["kind"] == OVERSIGHT_ACTION and started.details["owner"] == "sw-patel"

    # The owner sees it in /tasks with its due time.
    await patel.send("/tasks")
    listed = await patel.wait_for("Open statutory tasks")
    assert (f"{task.id} · child A1 · oversight action on {ref}: Return home interview with A1 "
            "alone — due by 00:00 Sat 28 Nov 2026") in listed.text

    # Before it is due: nothing (Fri 23:59).
    n_p, n_j = len(patel.messages), len(jones.messages)
    await tick(world, hours=61, minutes=59)
    assert not said(patel, n_p, "Oversight action") and not said(jones, n_j, "Oversight action")
    await jones.send("/overdue")
    assert "Oversight actions overdue" not in (await jones.wait_for("overdue")).text

    # The clock is a row: it survives a restart. At Sat 00:00 the owner is reminded.
    await world.stop_bot()
    await world.start_bot()
    await tick(world, minutes=1)
    [reminder] = said(patel, n_p, "Oversight action due")
    assert f"— {ref}\nReturn home interview with A1 alone" in reminder.text
    assert reminder.button_labels == ["✅ Done"]
    assert not said(jones, n_j, "Oversight action")
    [due] = await events(world, None, "oversight_action_due")
    assert due.details["to"] == ["sw-patel"] and due.incident_id is not None

    # Overdue: in the manager's needs-action list and in the chronology.
    world.clock.advance(minutes=5)
    await jones.send("/overdue")
    overdue = await jones.wait_for("Oversight actions overdue: 1")
    assert (f"task {task.id} · {ref}: Return home interview with A1 alone — due by 00:00 Sat "
            "28 Nov 2026, late by 5 min; owner Priya Patel, set by Alex Jones") in overdue.text
    await jones.send("/child A1 oversight")
    chron = await jones.wait_for("chronology (oversight)")
    assert (f"• 00:00 Sat 28 Nov 2026 — {ref}: oversight action overdue, not recorded done "
            "(owner Priya Patel): Return home interview with A1 alone") in chron.text

    # 24 hours later, still not done: the manager who recorded the oversight is told.
    await tick(world, hours=23, minutes=54)
    assert not said(jones, n_j, "Oversight action not done")
    await tick(world, minutes=1)
    [escalated] = said(jones, n_j, "Oversight action not done")
    assert "Owner: Priya Patel; due by 00:00 Sat 28 Nov 2026" in escalated.text
    assert len(said(patel, n_p, "Oversight action")) == 1  # the owner is not told twice
    [esc] = await events(world, None, "oversight_action_escalated")
    assert esc.details["to"] == ["tm-jones"] and esc.details["step"] == 1

    # Done from the reminder's button, with a note: the clock stops, the manager is told.
    await tick(world, hours=2)
    await patel.click("✅ Done", message_id=reminder.message_id)
    await patel.wait_for("Send a short note of what was done")
    await patel.send("Interview held; A1 says she was at a friend's.")
    done = await patel.wait_for("Recorded")
    assert "counts as missed" in done.text and "Reminders stop" in done.text
    await world.settle()
    told = await jones.wait_for("Priya Patel recorded done")
    assert f"Priya Patel recorded done: oversight action on {ref}" in told.text
    task = await the_action(world)
    assert task.next_at is None and task.done_by_id == "sw-patel"
    [done_ev] = await events(world, None, "task_done")
    assert done_ev.details["kind"] == OVERSIGHT_ACTION and done_ev.details["on_time"] is False

    n_p, n_j = len(patel.messages), len(jones.messages)
    await tick(world, days=3)
    assert not said(patel, n_p, "Oversight action") and not said(jones, n_j, "Oversight action")
    jones.mark()
    await jones.send("/overdue")
    assert "Oversight actions overdue" not in (await jones.wait_for("overdue")).text
    await jones.send("/child A1 oversight")
    chron = await jones.wait_for("chronology (oversight)")
    assert (f"{ref}: oversight action done by Priya Patel (after its due date): Return home "
            "interview with A1 alone") in chron.text
    # The incident's log carries the action's clock from start to done.
    await jones.send(f"/log {ref}")
    log = await jones.wait_for("timeline")
    for line in (f"Oversight action (task {task.id}) for Priya Patel, due 2026-11-28 00:00 UTC",
                 f"Oversight action due, not done: reminder (task {task.id}) to Priya Patel",
                 f"Oversight action still not done: escalated (task {task.id}) to Alex Jones",
                 f"Oversight action (task {task.id}) recorded done by Priya Patel (after it "
                 "was due)"):
        assert line in log.text


async def test_away_owner_and_manager_reach_their_stand_ins_and_done_by_command(world):
    _patel, jones, smith, khan, edt = await world.link_all(
        "sw-patel", "tm-jones", "carer-smith", "sw-khan", "edt-rota")
    ref = await oversee(world, jones, smith)
    task = await the_action(world)
    async with world.services.db.write() as s:
        for pid in ("sw-patel", "tm-jones"):
            (await s.get(Person, pid)).away_until = world.clock.now() + timedelta(days=10)
    n_k, n_e = len(khan.messages), len(edt.messages)
    await tick(world, hours=62)  # Sat 00:00: Priya is away, her cover Omar is reminded
    assert said(khan, n_k, "Oversight action due")
    await tick(world, hours=24)  # Sun 00:00: Alex is away, out of hours: the EDT
    [esc] = said(edt, n_e, "Oversight action not done")
    assert ref in esc.text
    [ev] = await events(world, None, "oversight_action_escalated")
    assert ev.details["to"] == ["edt-rota"] and ev.details["missed"]

    # Someone else may not record it; a manager of the team may, by command.
    await smith.send(f"/done {task.id} done")
    await smith.wait_for("no open task with that number")
    await jones.send(f"/done {task.id} Interview held by the duty worker.")
    await jones.wait_for("✅ Recorded: oversight action on")
    assert (await the_action(world)).done_by_id == "tm-jones"


async def test_a_handover_moves_the_old_workers_actions_only(world):
    """A1 moves from Priya to Omar: Priya's action goes with the child; Alex's own stays his
    and does not hold the import."""
    khan, jones = await world.link_all("sw-khan", "tm-jones")
    await jones.send("/oversee A1\nDecision: Review the plan.\nRationale: Two reports.\n"
                     "Action: sw-patel, 2026-11-30, Visit A1 alone\n"
                     "Action: tm-jones, 2026-12-01, Review the safety plan")
    await jones.wait_for("Oversight of A1 recorded, with 2 actions")
    text = EXAMPLE_DIRECTORY.read_text()
    await world.import_directory(text.replace(
        'ref = "A1"\nteam = "north"\nallocated_social_worker = "sw-patel"',
        'ref = "A1"\nteam = "north"\nallocated_social_worker = "sw-khan"'))
    await world.settle()
    note = await khan.wait_for("Handover: child A1 is now allocated to you")
    assert "oversight action on A1: Visit A1 alone" in note.text
    assert "Review the safety plan" not in note.text
    async with world.services.db.read() as s:
        tasks = (await s.execute(select(Task).where(Task.kind == OVERSIGHT_ACTION))).scalars()
        owners = {t.details["what"]: t.owner_id for t in tasks}
    assert owners == {"Visit A1 alone": "sw-khan", "Review the safety plan": "tm-jones"}
