"""Issue 15 item 3: when a child's allocated worker changes, their open work moves with it.

End to end: people on the emulated Telegram, the real bot, a directory import that
changes A1's allocated worker from Priya Patel to Omar Khan; then the clock is moved and
the engine runs. The clock starts on Wed 25 Nov 2026 at 10:00."""

from __future__ import annotations

import pytest

from bot.people.directory import DirectoryError
from tests.escalation_helpers import events, incident, tick
from tests.world import EXAMPLE_DIRECTORY

MISSING = "Child missing or absent without permission"  # urgent: reminder after 15m
MEDICATION = "Medication error or refused medication"  # high: outcome in 3 working days

A1_TO_KHAN = EXAMPLE_DIRECTORY.read_text().replace(
    'ref = "A1"\nteam = "north"\nallocated_social_worker = "sw-patel"',
    'ref = "A1"\nteam = "north"\nallocated_social_worker = "sw-khan"', 1)


def line_of(text: str, needle: str, after: str) -> int:
    """1-based line of the first ``needle`` after the line holding ``after``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if after in line)
    return next(i for i in range(start, len(lines)) if needle in lines[i]) + 1


async def test_handover_moves_open_reports_and_their_clocks(world):
    assert A1_TO_KHAN != EXAMPLE_DIRECTORY.read_text()
    patel, khan, jones, smith = await world.link_all("sw-patel", "sw-khan", "tm-jones",
                                                     "carer-smith")
    waiting = await world.report(smith, child="A1", category=MISSING, text="Not back from school.")
    taken = await world.report(smith, child="A1", category=MEDICATION, text="Missed a dose.")
    old_alert = await patel.wait_for(waiting)
    alert = await patel.wait_for(taken)
    await patel.click("Acknowledge", message_id=alert.message_id)
    await patel.wait_for_answer("Acknowledged")
    await world.settle()
    for u in (patel, khan, jones):
        u.mark()

    summary = await world.import_directory(A1_TO_KHAN)
    await world.settle()
    assert any(c.startswith("handover: A1 from sw-patel to sw-khan, 2 open") for c in summary.changes)

    # The new worker: one message listing each open report with what is pending.
    note = await khan.wait_for("Handover: child A1 is now allocated to you")
    assert "from Priya Patel" in note.text
    lines = note.text.splitlines()
    [w] = [line for line in lines if waiting in line]
    assert "not yet acknowledged; next reminder 10:15 Wed 25 Nov 2026" in w
    [t] = [line for line in lines if taken in line]
    assert "acknowledged; outcome due by 10:00 Mon 30 Nov 2026" in t
    assert len([m for m in khan.messages if "Handover" in m.text]) == 1
    # The old worker and the manager are told.
    told = await patel.wait_for("Child A1 is now allocated to Omar Khan")
    assert "2 open items handed over" in told.text
    mgr = await jones.wait_for("Handover: child A1 moved from Priya Patel to Omar Khan")
    assert waiting in mgr.text and taken in mgr.text
    # The record.
    [ev] = await events(world, None, "handover")
    assert ev.details["child"] == "A1"
    assert (ev.details["from"], ev.details["to"]) == ("sw-patel", "sw-khan")
    assert [i["reference"] for i in ev.details["items"]] == [waiting, taken]

    # /open: the reports are the new worker's, for them and for the manager.
    await khan.send("/open")
    mine = await khan.wait_for(waiting)
    assert taken in mine.text
    await patel.send("/open")
    theirs = await patel.wait_for()
    assert waiting not in theirs.text and taken not in theirs.text
    await jones.send("/open")
    grouped = await jones.wait_for("Omar Khan")
    assert "Priya Patel" not in grouped.text and taken in grouped.text

    # The acknowledgement clock now reaches the new worker, not the old one.
    seen = len(patel.messages)
    await tick(world, minutes=15)
    reminder = await khan.wait_for("Reminder")
    assert waiting in reminder.text
    assert not [m for m in patel.messages[seen:] if waiting in m.text]
    # The old worker's alert no longer lets them act; the new worker acknowledges.
    await patel.click("Acknowledge", message_id=old_alert.message_id)
    await patel.wait_for_answer()
    assert (await incident(world, waiting)).status == "open"
    inc = await incident(world, waiting)
    await khan.press_data(f"ack:{inc.id}")
    await khan.wait_for_answer("Acknowledged")
    assert (await incident(world, waiting)).acknowledged_by_id == "sw-khan"

    # After a restart the outcome clock of the report Priya acknowledged reaches Omar.
    await world.stop_bot()
    await world.start_bot()
    khan_seen, seen = len(khan.messages), len(patel.messages)
    await tick(world, days=5)  # past Mon 30 Nov 10:00
    await khan.wait_for("Outcome needed")
    assert [m for m in khan.messages[khan_seen:] if "Outcome needed" in m.text and taken in m.text]
    assert not [m for m in patel.messages[seen:] if "Outcome needed" in m.text]


async def test_import_leaving_open_reports_with_nobody_is_refused_with_the_line(world):
    smith, = await world.link_all("carer-smith")
    ref = await world.report(smith, child="A1", category=MISSING, text="Not back from school.")
    base = EXAMPLE_DIRECTORY.read_text()

    # No worker named for A1 while it has an open report.
    unallocated = base.replace('ref = "A1"\nteam = "north"\nallocated_social_worker = "sw-patel"\n',
                               'ref = "A1"\nteam = "north"\n', 1)
    assert unallocated != base
    with pytest.raises(DirectoryError) as exc:
        await world.import_directory(unallocated)
    [err] = exc.value.errors
    header = line_of(unallocated, 'ref = "A1"', "[[children]]") - 1  # no key: the entry's line
    assert unallocated.splitlines()[header - 1] == "[[children]]"
    assert err.startswith(f"directory:{header}: children (A1): no allocated_social_worker")
    assert "A1" in err and "1 open item(s)" in err

    # The worker named is made inactive: refused, naming the allocated_social_worker line.
    inactive = base.replace('id = "sw-patel"\n', 'id = "sw-patel"\nactive = false\n', 1)
    with pytest.raises(DirectoryError) as exc:
        await world.import_directory(inactive)
    [err] = exc.value.errors
    want = line_of(inactive, 'allocated_social_worker = "sw-patel"', 'ref = "A1"')
    assert err.startswith(f"directory:{want}: children (A1): 'sw-patel' is not active")

    # Nothing was written: the child, the worker and the report are as they were.
    assert not await events(world, None, "handover")
    assert len(await events(world, None, "directory_changed")) == 1  # the first load only
    inc = await incident(world, ref)
    assert inc.status == "open"

    # Deactivating the worker is allowed once A1 goes to someone else (C3, also theirs, has
    # no open reports).
    moved = inactive.replace('ref = "A1"\nteam = "north"\nallocated_social_worker = "sw-patel"',
                               'ref = "A1"\nteam = "north"\nallocated_social_worker = "sw-khan"', 1)
    summary = await world.import_directory(moved)
    assert summary.deactivated == 0 and summary.updated >= 2
    [ev] = await events(world, None, "handover")
    assert (ev.details["child"], ev.details["to"]) == ("A1", "sw-khan")
