"""Needs action by every clock: /overdue (and ``fosterbot overdue``) after the engine has acted.

The manager asks at the moments a real week brings: an urgent report whose reminder
has already gone, reports acknowledged on the manager's behalf, a routine report past
its last step, an outcome overdue and a notification to Ofsted overdue. Lateness is
counted from the first moment each clock went late, whatever the engine did since.
"""

from __future__ import annotations

from tests.escalation_helpers import actions, events, incident, tick
from tests.test_cli_and_schema import fosterbot

CONTACT = "Contact (family time) concern"  # routine: 1 then 2 working days, no repeat
MISSING = "Child missing or absent without permission"  # urgent
ALLEGATION = "Allegation or serious complaint about a carer or househol…"  # urgent, notifiable


async def _overdue(manager) -> str:
    manager.mark()
    await manager.send("/overdue")
    first = await manager.wait_for("overdue")
    return "\n\n".join([first.text] + [m.text for m in manager.messages
                                       if m.message_id > first.message_id])


async def test_overdue_by_every_clock_after_the_engine_has_acted(world, tmp_path):
    jones, _patel, _khan, smith, brown = await world.link_all(
        "tm-jones", "sw-patel", "sw-khan", "carer-smith", "carer-brown")
    routine = await world.report(smith, child="A1", category=CONTACT, text="Upset after contact.")
    urgent = await world.report(smith, child="C3", category=MISSING, text="Not back from school.")
    notifiable = await world.report(brown, child=None, category=ALLEGATION,
                                    text="A complaint was made.")
    await world.settle()

    # 10:20 Wednesday: the urgent reminders went at 10:15, the next step is not due until
    # 10:30 — but both urgent reports have been waiting past their first step since 10:15.
    await tick(world, minutes=20)
    assert "step1" in await actions(world, urgent)
    listing = await _overdue(jones)
    assert "Overdue: 2 reports in North Children's Team" in listing
    assert urgent in listing and notifiable in listing and routine not in listing
    assert ("⏳ Not acknowledged: late by 5 min (since 10:15 Wed 25 Nov 2026); "
            "Priya Patel") in listing
    assert "Omar Khan" in listing

    # The manager acknowledges both on behalf of their workers, from the list itself.
    for ref in (urgent, notifiable):
        await jones.click(f"✅ Acknowledge on behalf {ref}")
        await jones.wait_for_answer("Acknowledged")
    await world.settle()
    assert "Nothing is overdue in North Children's Team" in await _overdue(jones)

    # Thursday 10:30: the routine report passed its first step at 10:00; the allegation's
    # notification deadline (24 h) passed at 10:00 Thursday, its reminders already sent.
    await tick(world, days=1, minutes=10)
    listing = await _overdue(jones)
    assert "Overdue: 2 reports" in listing
    assert ("⏳ Not acknowledged: late by 30 min (since 10:00 Thu 26 Nov 2026); "
            "Priya Patel") in listing
    assert ("📋 Ofsted notification not recorded: late by 30 min "
            "(since 10:00 Thu 26 Nov 2026); Alex Jones") in listing

    # Friday 11:00: the routine report has had both its steps and has no more (its next due
    # time is gone), still unacknowledged; the acknowledged urgent reports are past their
    # outcome deadline (2 working days from 10:20 Wednesday) and their first outcome
    # reminders have gone.
    await tick(world, days=1, minutes=30)
    assert await actions(world, routine) == ["step1", "step2"]
    assert (await incident(world, routine)).next_due_at is None
    assert "outcome1" in await actions(world, urgent)
    listing = await _overdue(jones)
    assert "Overdue: 3 reports" in listing
    assert "⏳ Not acknowledged: late by 25 h 00 min (since 10:00 Thu 26 Nov 2026)" in listing
    assert ("📝 No outcome recorded: late by 40 min (since 10:20 Fri 27 Nov 2026); "
            "Priya Patel") in listing
    assert ("📝 No outcome recorded: late by 40 min (since 10:20 Fri 27 Nov 2026); "
            "Omar Khan") in listing
    assert "📋 Ofsted notification not recorded: late by 25 h 00 min" in listing
    # Most overdue first: the routine report and the notification (Thursday 10:00), then
    # the urgent report (Friday 10:20).
    assert listing.index(routine) < listing.index(urgent)
    assert listing.index(notifiable) < listing.index(urgent)

    # The same list on the command line (its clock is the real one: later still).
    r = fosterbot(tmp_path, "overdue", "--team", "north", db_url=world.db_url)
    assert r.returncode == 0, r.stderr
    assert "Overdue: 3 reports in North Children's Team" in r.stdout
    for ref in (routine, urgent, notifiable):
        assert ref in r.stdout
    assert "Not acknowledged: late by" in r.stdout and "No outcome recorded" in r.stdout
    assert "Ofsted notification not recorded" in r.stdout and "<b>" not in r.stdout


async def test_an_undelivered_alert_needs_action(world, fake):
    jones, patel, _khan, smith = await world.link_all("tm-jones", "sw-patel", "sw-khan",
                                                     "carer-smith")
    fake.block(patel.id)
    ref = await world.report(smith, child="A1", category=CONTACT, text="Came back quiet.")
    await world.settle()
    await tick(world, minutes=20)
    listing = await _overdue(jones)
    assert ref in listing
    assert "⚠️ A message could not be delivered (since 10:00 Wed 25 Nov 2026, 20 min ago)" \
        in listing
    assert "alert to Priya Patel could not be delivered: Forbidden: bot was blocked" in listing


async def test_a_step_that_reached_nobody_needs_action(world):
    """The manager has not linked Telegram yet: the notification reminder reaches nobody.
    When they do, /overdue shows it from the moment it reached nobody."""
    _patel, smith = await world.link_all("sw-patel", "carer-smith")
    ref = await world.report(smith, child="A1", category="Police called to the foster home",
                             text="Police called after an argument.")
    # The first reminder is due at once (10:00): let the engine run it before time moves.
    await world.runner.engine.run_due()
    await world.settle()
    await tick(world, minutes=1)
    unreachable = await events(world, ref, "escalation_unreachable")
    assert [e.details["step"] for e in unreachable][:1] == ["notify1"]
    world.clock.advance(minutes=29)
    jones = await world.linked("tm-jones")
    listing = await _overdue(jones)
    assert ref in listing
    assert "⚠️ A message could not be delivered (since 10:00 Wed 25 Nov 2026, 30 min ago)" \
        in listing


def _entry(listing: str, ref: str) -> str:
    """The part of an /overdue listing about one report."""
    return next(part for part in listing.split("\n\n") if ref in part.split("\n")[0])


async def test_after_a_reroute_the_holder_shown_is_who_has_it_now(world, fake, tmp_path):
    """Issue 13 gap: Priya has blocked the bot, so her alert was rerouted to Omar, her cover.
    /overdue and `fosterbot overdue` must name Omar as holding it, not Priya; a failed copy
    (the duty desk's) reroutes to the manager without taking the report from its holder."""
    jones, patel, _khan, duty, smith, brown = await world.link_all(
        "tm-jones", "sw-patel", "sw-khan", "sw-duty", "carer-smith", "carer-brown")
    fake.block(patel.id)
    fake.block(duty.id)
    rerouted = await world.report(smith, child="A1", category=CONTACT, text="Came back quiet.")
    copied = await world.report(brown, child=None, category=MISSING, text="Not home by 9.")
    await world.settle()
    assert [e.details["to"] for e in await events(world, rerouted, "rerouted")] == ["sw-khan"]
    assert [e.details["to"] for e in await events(world, copied, "rerouted")] == ["tm-jones"]
    await tick(world, minutes=20)

    listing = await _overdue(jones)
    first = _entry(listing, rerouted)
    assert "has it: Omar Khan" in first and "Priya Patel" not in first.split("⚠️")[0]
    assert "A message could not be delivered" in first and first.rstrip().endswith(
        "bot was blocked by the user")
    assert "; Omar Khan" in first  # who must act on the late clock
    second = _entry(listing, copied)
    assert "has it: Omar Khan" in second and "has it: Alex Jones" not in second

    r = fosterbot(tmp_path, "overdue", "--team", "north", db_url=world.db_url)
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if rerouted in x)
    assert line.endswith("has it: Omar Khan"), line
