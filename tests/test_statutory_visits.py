"""Issue 15 item 4: placement visits (CPPCR (England) Regulations 2010, reg. 28) across the
clock change of Sun 25 Oct 2026 and the Christmas bank holidays, and the child protection
checklist of a baby removed at birth.

The clock starts on Tue 20 Oct 2026 at 09:00 UTC (10:00 in London, summer time)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from bot.clock import FakeClock
from bot.people.statutory import CHECKLIST, VISIT
from bot.review import compliance
from storage.models import Task
from tests.escalation_helpers import events, tick
from tests.world import EXAMPLE_DIRECTORY

UTC = timezone.utc
START = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)

V5 = EXAMPLE_DIRECTORY.read_text() + """
[[children]]
ref = "V5"
team = "north"
allocated_social_worker = "sw-patel"

[[placements]]
child = "V5"
carers = ["carer-brown"]
from = 2026-10-20
"""

B6 = EXAMPLE_DIRECTORY.read_text() + """
[[children]]
ref = "B6"
team = "north"
allocated_social_worker = "sw-patel"
entered_care = 2026-10-20
removed_at_birth = true
"""


@pytest.fixture
def clock():
    return FakeClock(START)


async def open_visits(world, child="V5") -> list[Task]:
    async with world.services.db.read() as s:
        return list((await s.execute(select(Task).where(
            Task.child_ref == child, Task.kind == VISIT).order_by(Task.id))).scalars())


def since(user, n, what="placement visit"):
    """Statutory-task messages about ``what`` since message ``n`` (V5 also has the needs
    assessment of a child entering care: its first placement's start)."""
    return [m for m in user.messages[n:] if "Statutory task" in m.text and what in m.text]


async def wait_visit(user, word: str):
    return await user.wait_for(predicate=lambda m: word in m.text and "placement visit" in m.text)


async def test_first_visit_deadline_is_local_midnight_across_the_clock_change(world):
    patel, jones = await world.link_all("sw-patel", "tm-jones")
    await world.import_directory(V5)
    [task] = await open_visits(world)
    # Within a week of Tue 20 Oct: by the end of Tue 27 Oct in London. The clocks went back
    # on Sun 25 Oct, so that is 00:00 UTC on Wed 28 Oct, not 23:00 UTC.
    assert task.due_at == datetime(2026, 10, 28, 0, 0, tzinfo=UTC)
    await patel.send("/tasks")
    assert "due by 00:00 Wed 28 Oct 2026" in (await patel.wait_for("placement visit")).text
    # Reminded a week ahead; then not done: overdue at London midnight, not an hour early.
    await tick(world, hours=15)  # Wed 21 Oct 00:00 UTC
    assert "child V5" in (await wait_visit(patel, "Statutory task due")).text
    n_p, n_j = len(patel.messages), len(jones.messages)
    world.clock.set(datetime(2026, 10, 27, 23, 0, tzinfo=UTC))  # 23:00 GMT on Tue 27 Oct
    await world.runner.engine.run_due()
    await world.settle()
    world.clock.set(datetime(2026, 10, 27, 23, 59, tzinfo=UTC))
    await world.runner.engine.run_due()
    await world.settle()
    assert not since(patel, n_p) and not since(jones, n_j)
    await tick(world, minutes=1)  # 00:00 Wed 28 Oct
    assert "child V5" in (await wait_visit(patel, "Statutory task overdue")).text
    assert "Owner: Priya Patel" in (await wait_visit(jones, "Statutory task overdue")).text


async def test_visits_recorded_and_the_next_due_across_bank_holidays(world):
    patel, khan, jones = await world.link_all("sw-patel", "sw-khan", "tm-jones")
    await world.import_directory(V5)
    # Visited on Tue 27 Oct (after the clock change), recorded that evening: on time.
    await tick(world, days=7, hours=9)  # Tue 27 Oct 18:00 UTC
    await khan.send("/visit V5 2026-10-27 alone Saw V5 at home.")
    await khan.wait_for("allocated social worker")
    await patel.send("/visit V5 2026-10-29 alone Saw V5 at home.")
    await patel.wait_for("in the future")
    await patel.send("/visit V5 2026-10-27 alone Saw V5 at home; settled, eating well.")
    ok = await patel.wait_for("Visit to child V5 on 2026-10-27 recorded")
    assert "seen alone: yes" in ok.text and "late" not in ok.text
    # The next is at most six weeks later: by the end of Tue 8 Dec.
    assert "Next visit due by 00:00 Wed 9 Dec 2026" in ok.text
    first, second = await open_visits(world)
    assert first.details["seen_alone"] is True and first.details["visit_date"] == "2026-10-27"
    assert first.note == "Saw V5 at home; settled, eating well."
    assert second.done_at is None
    n_p, n_j = len(patel.messages), len(jones.messages)
    await tick(world, hours=7)  # 01:00 Wed 28 Oct: the first visit's deadline passed quietly
    assert not since(patel, n_p) and not since(jones, n_j)

    # Visited on Fri 20 Nov (seen with the carer): six weeks on is Fri 1 Jan 2027, a bank
    # holiday, after Christmas Day and the Boxing Day holiday (Mon 28 Dec). The law counts
    # calendar days: the deadline stays the end of 1 Jan, and the reminder comes a week
    # ahead (Sat 26 Dec 00:00) so the visit can be made before the holidays.
    world.clock.set(datetime(2026, 11, 20, 15, 0, tzinfo=UTC))
    await patel.send("/visit V5 today not-alone Visited with the carer present.")
    ok = await patel.wait_for("Visit to child V5 on 2026-11-20 recorded")
    assert "seen alone: no" in ok.text
    assert "Next visit due by 00:00 Sat 2 Jan 2027" in ok.text
    *_, third = await open_visits(world)
    assert third.due_at == datetime(2027, 1, 2, 0, 0, tzinfo=UTC)
    assert third.next_at == datetime(2026, 12, 26, 0, 0, tzinfo=UTC)
    n_p = len(patel.messages)
    world.clock.set(datetime(2026, 12, 25, 23, 59, tzinfo=UTC))
    await world.runner.engine.run_due()
    await world.settle()
    assert not since(patel, n_p)
    await tick(world, minutes=1)
    due = await wait_visit(patel, "Statutory task due")
    assert "Due by 00:00 Sat 2 Jan 2027" in due.text and "/visit V5 DATE" in due.text
    world.clock.set(datetime(2027, 1, 1, 23, 59, tzinfo=UTC))
    await world.runner.engine.run_due()
    await world.settle()
    assert not [m for m in since(jones, n_j) if "overdue" in m.text]
    await tick(world, minutes=1)  # 00:00 Sat 2 Jan: missed
    assert "child V5" in (await wait_visit(jones, "Statutory task overdue")).text

    # Compliance for October to December: three visits due, two on time, one missed.
    async with world.services.db.read() as s:
        c = await compliance.compute(s, None, datetime(2026, 10, 1, tzinfo=UTC),
                                     datetime(2027, 1, 3, tzinfo=UTC), world.clock.now())
    [north] = c.teams
    v = north.visits
    assert (v.due, v.on_time, len(v.misses), v.pending) == (3, 2, 1, 0)
    assert [v.misses[0].child, v.misses[0].done_at] == ["V5", None]
    assert len(await events(world, None, "visit_recorded")) == 2


async def test_baby_removed_at_birth_checklist_until_complete(world):
    patel, jones = await world.link_all("sw-patel", "tm-jones")
    await world.import_directory(B6)
    async with world.services.db.read() as s:
        steps = {t.kind: t for t in (await s.execute(
            select(Task).where(Task.child_ref == "B6", Task.kind.in_(CHECKLIST)))).scalars()}
    # Due from the start of Tue 20 Oct in London (23:00 UTC on the 19th, summer time).
    assert steps["cp_strategy_discussion"].due_at == datetime(2026, 10, 20, 23, 0, tzinfo=UTC)
    assert steps["cp_health_visitor"].due_at == datetime(2026, 10, 21, 23, 0, tzinfo=UTC)
    assert steps["cp_conference"].due_at == datetime(2026, 11, 10, 0, 0, tzinfo=UTC)  # GMT
    # Shown to the worker and to the manager until complete.
    for user in (patel, jones):
        await user.send("/tasks")
        listed = await user.wait_for("Open statutory tasks")
        assert listed.text.count("child B6") == 4  # the assessment and three steps
    await patel.send(f"/done {steps['cp_strategy_discussion'].id} Strategy discussion held "
                     "with police and health.")
    await patel.wait_for("Recorded")
    await jones.send(f"/done {steps['cp_health_visitor'].id} Health visitor informed by phone.")
    await jones.wait_for("Recorded")
    await tick(world, days=25)  # the conference date is missed: overdue to worker and manager
    late = await jones.wait_for(predicate=lambda m: "Statutory task overdue" in m.text
                                and "conference" in m.text)
    assert "child B6" in late.text and "Owner: Priya Patel" in late.text
    await patel.send(f"/done {steps['cp_conference'].id} Conference set for 20 Nov.")
    await patel.wait_for("counts as missed")
    await jones.send("/tasks")
    listed = await jones.wait_for("statutory tasks")
    assert "removed at birth" not in listed.text
    async with world.services.db.read() as s:
        c = await compliance.compute(s, None, datetime(2026, 10, 1, tzinfo=UTC),
                                     datetime(2026, 12, 1, tzinfo=UTC), world.clock.now())
    cl = c.teams[0].checklist
    assert (cl.due, cl.on_time, len(cl.misses)) == (3, 2, 1)
    assert "child protection conference" in compliance.render_plain(c, world.services.tz)


async def test_tasks_no_longer_owed_stop_when_the_placement_ends_or_the_child_leaves(world):
    patel, jones = await world.link_all("sw-patel", "tm-jones")
    await world.import_directory(V5 + B6.removeprefix(EXAMPLE_DIRECTORY.read_text()))
    [visit] = await open_visits(world)
    # V5's placement ends on Thu 22 Oct, before its first visit fell due (end of 27 Oct);
    # B6 leaves care (missing from the file: deactivated).
    await tick(world, days=2)  # Thu 22 Oct 09:00
    await world.import_directory(V5.replace("from = 2026-10-20\n",
                                            "from = 2026-10-20\nto = 2026-10-21\n"))
    async with world.services.db.read() as s:
        closed = {(t.child_ref, t.kind): t.closed_reason for t in (await s.execute(
            select(Task).where(Task.closed_reason.is_not(None)))).scalars()}
    assert closed[("V5", VISIT)] == "placement_ended"
    assert {closed[("B6", k)] for k in CHECKLIST} == {"child_left_care"}
    assert ("V5", "needs_assessment") not in closed  # still owed: V5 came into care
    assert {e.details["task"] for e in await events(world, None, "task_closed")} >= {visit.id}
    n_p, n_j = len(patel.messages), len(jones.messages)
    await tick(world, days=10)
    assert not since(patel, n_p) and not since(jones, n_j)  # no visit reminders
    assert not [m for m in patel.messages[n_p:] + jones.messages[n_j:] if "B6" in m.text]
    await patel.send("/tasks")
    listed = await patel.wait_for("statutory tasks")
    assert "placement visit" not in listed.text and "B6" not in listed.text
    async with world.services.db.read() as s:
        c = await compliance.compute(s, None, datetime(2026, 10, 1, tzinfo=UTC),
                                     datetime(2026, 11, 30, tzinfo=UTC), world.clock.now())
    assert "visits" not in c.teams[0].measures and "checklist" not in c.teams[0].measures
