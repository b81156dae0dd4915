"""Issue 15: /visit without arguments guides the worker through buttons (child, day, seen
alone, note, confirm) and records through the same domain function as /visit with
arguments; the form is a row, so it survives a restart; old and forged buttons are refused.

The clock starts on Wed 25 Nov 2026 at 10:00 (GMT)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from bot.people.statutory import VISIT
from bot.record.visit_guide import parse_day
from storage.models import Draft, Task
from tests.escalation_helpers import events, tick
from tests.world import EXAMPLE_DIRECTORY

UTC = timezone.utc
# V5's placement started on Fri 20 Nov: its first visit is due by the end of Fri 27 Nov.
V5 = EXAMPLE_DIRECTORY.read_text() + """
[[children]]
ref = "V5"
team = "north"
allocated_social_worker = "sw-patel"

[[placements]]
child = "V5"
carers = ["carer-brown"]
from = 2026-11-20
"""


async def visits(world, child="V5") -> list[Task]:
    async with world.services.db.read() as s:
        return list((await s.execute(select(Task).where(
            Task.child_ref == child, Task.kind == VISIT).order_by(Task.id))).scalars())


async def test_a_visit_recorded_through_the_guide(world):
    patel, khan, smith = await world.link_all("sw-patel", "sw-khan", "carer-smith")
    await world.import_directory(V5)
    [first] = await visits(world)
    assert first.due_at == datetime(2026, 11, 28, 0, 0, tzinfo=UTC)

    # Each worker is offered only the children allocated to them, by reference.
    await khan.send("/visit")
    assert (await khan.wait_for("Which child")).button_labels == ["B2"]
    await smith.send("/visit")
    await smith.wait_for("no children in placement allocated to you")
    await patel.send("/visit")
    ask = await patel.wait_for("Which child did you visit?")
    assert ask.button_labels == ["A1", "C3", "V5 · due 00:00 Sat 28 Nov 2026"]

    # Someone else's form, or a forged child, is refused.
    draft_id = int(ask.buttons[0][0][1].split(":")[1])
    await khan.press_data(f"vc:{draft_id}:A1")
    await khan.wait_for("no longer open")
    await patel.press_data(f"vc:{draft_id}:B2")
    await patel.wait_for("you are not allocated to that child")

    await patel.click("V5", message_id=ask.message_id)
    day = await patel.wait_for("On which day was the visit?")
    assert day.button_labels == ["Today", "Yesterday", "Type a date"]
    await patel.click("Type a date", message_id=day.message_id)
    await patel.wait_for("Type the day of the visit")
    await patel.send("next tuesday")
    await patel.wait_for("could not read that as a day")
    await patel.send("30/11/2026")
    again = await patel.wait_for("that day is in the future. Choose another day.")
    await patel.click("Type a date", message_id=again.message_id)
    await patel.send("2026-11-19")
    again = await patel.wait_for("was not in a placement on Thu 19 Nov 2026")
    await patel.click("Yesterday", message_id=again.message_id)
    alone = await patel.wait_for("Child V5, Tue 24 Nov 2026. Was the child seen alone?")

    # The form is a row: the answers so far survive a restart.
    await world.stop_bot()
    await world.start_bot()
    await patel.click("Yes", message_id=alone.message_id)
    await patel.wait_for("Type a short note of the visit")
    await patel.send("Saw V5 at home; settled, <b>eating</b> well.")
    confirm = await patel.wait_for("Record this visit?")
    assert ("Child V5 · Tue 24 Nov 2026 · seen alone: yes\n"
            "Note: Saw V5 at home; settled, <b>eating</b> well.") in confirm.text  # escaped
    assert confirm.button_labels == ["✅ Record visit", "✖ Cancel"]
    await patel.click("✅ Record visit", message_id=confirm.message_id)
    ok = await patel.wait_for("Visit to child V5 on 2026-11-24 recorded (seen alone: yes)")
    # Reg. 28: the next at most six weeks later, by the end of Tue 5 Jan 2027.
    assert "Next visit due by 00:00 Wed 6 Jan 2027" in ok.text
    done, following = await visits(world)
    assert done.done_by_id == "sw-patel" and done.next_at is None
    assert done.details["seen_alone"] is True and done.details["visit_date"] == "2026-11-24"
    assert done.note == "Saw V5 at home; settled, <b>eating</b> well."
    assert following.due_at == datetime(2027, 1, 6, 0, 0, tzinfo=UTC)
    [recorded] = await events(world, None, "visit_recorded")
    assert recorded.actor_id == "sw-patel" and recorded.details["on_time"] is True

    # The old button is not a second visit.
    await patel.click("✅ Record visit", message_id=confirm.message_id)
    await patel.wait_for("no longer open")
    assert len(await visits(world)) == 2

    # The engine: the recorded visit is never chased; the next is reminded a week ahead.
    n = len(patel.messages)
    await tick(world, days=3)  # past the first visit's deadline
    assert not [m for m in patel.messages[n:]
                if "Statutory task overdue" in m.text and "placement visit" in m.text]
    assert not [e for e in await events(world, None, "task_overdue")
                if e.details["kind"] == VISIT]
    world.clock.set(datetime(2026, 12, 30, 0, 0, tzinfo=UTC))
    await tick(world, minutes=1)
    # (The first visit's reminder, a week before 28 Nov, went out on import: not this one.)
    reminder = await patel.wait_for(predicate=lambda m: "Statutory task due" in m.text
                                    and "Due by 00:00 Wed 6 Jan 2027" in m.text)
    assert "child V5" in reminder.text


async def test_cancel_and_no_to_the_confirmation_record_nothing(world):
    patel, = await world.link_all("sw-patel")
    await patel.send("/visit")
    ask = await patel.wait_for("Which child did you visit?")
    await patel.click("A1", message_id=ask.message_id)
    day = await patel.wait_for("On which day")
    await patel.send("/cancel")
    await patel.wait_for("")
    await patel.click("Today", message_id=day.message_id)
    await patel.wait_for("no longer open")

    await patel.send("/visit")
    ask = await patel.wait_for("Which child did you visit?")
    await patel.click("C3", message_id=ask.message_id)
    await patel.click("Today", message_id=(await patel.wait_for("On which day")).message_id)
    await patel.click("No", message_id=(await patel.wait_for("seen alone?")).message_id)
    await patel.wait_for("Type a short note")
    await patel.send("Carer present throughout.")
    confirm = await patel.wait_for("Record this visit?")
    assert "seen alone: no" in confirm.text
    await patel.click("✖ Cancel", message_id=confirm.message_id)
    await patel.wait_for("Cancelled: no visit recorded.")
    assert not await events(world, None, "visit_recorded")
    async with world.services.db.read() as s:
        drafts = (await s.execute(select(Draft))).scalars().all()
    assert all(d.discarded_at is not None for d in drafts)


def test_reading_the_typed_day():
    assert parse_day("2026-11-30").isoformat() == "2026-11-30"
    assert parse_day(" 1/12/2026 ").isoformat() == "2026-12-01"
    assert parse_day("01.12.2026").isoformat() == "2026-12-01"
    assert parse_day("31/02/2026") is None and parse_day("1/12") is None
    assert parse_day("next tuesday") is None
