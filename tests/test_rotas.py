"""Issue 13: on-call rotas for duty and the out-of-hours team.

The pure rule (who is on call at a moment, across a weekend and the clock change of
25 October 2026), the directory's validation of rotas, and end to end: escalation
steps reaching whoever is on call when they run, /oncall and /swap."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.people import oncall
from bot.people.directory import (
    DirectoryError,
    apply_directory,
    export_directory,
    parse_directory,
)
from bot.rules.rotas import Override, RotaDef, on_call, upcoming
from storage.models import Team
from tests.escalation_helpers import events, tick
from tests.world import EXAMPLE_DIRECTORY, TG_IDS

LONDON = ZoneInfo("Europe/London")
UTC = timezone.utc
MISSING = "Child missing or absent without permission"  # urgent
MEDICATION = "Medication error or refused medication"  # high

# A weekly out-of-hours rota handing over on Fridays at 17:00 London time.
WEEKLY = RotaDef("edt-oncall", ("edt-a", "edt-b", "edt-c"), "week", time(17, 0), 4,
                 date(2026, 10, 9))


def who(rota: RotaDef, *args: int) -> str | None:
    shift = on_call(rota, datetime(*args, tzinfo=UTC), LONDON)
    return shift.person_id if shift is not None else None


def test_weekly_handover_friday_1700_covers_the_weekend_to_monday():
    # Fri 27 Nov 2026 (GMT = UTC). Shifts from Fridays: 9 Oct a, 16 b, 23 c, 30 a, 6 Nov b,
    # 13 c, 20 a, 27 b.
    assert who(WEEKLY, 2026, 11, 27, 16, 59) == "edt-a"
    assert who(WEEKLY, 2026, 11, 27, 17, 0) == "edt-b"
    for day, hour in ((28, 3), (29, 23), (30, 8)):  # Saturday, Sunday, Monday morning
        assert who(WEEKLY, 2026, 11, day, hour, 0) == "edt-b"
    shift = on_call(WEEKLY, datetime(2026, 11, 30, 8, 0, tzinfo=UTC), LONDON)
    assert shift.ends_at == datetime(2026, 12, 4, 17, 0, tzinfo=LONDON)


def test_handover_stays_at_1700_local_across_the_clock_change():
    # Fri 23 Oct 17:00 BST (16:00 UTC) to Fri 30 Oct 17:00 GMT (17:00 UTC): 169 hours.
    assert who(WEEKLY, 2026, 10, 23, 15, 59) == "edt-b"
    assert who(WEEKLY, 2026, 10, 23, 16, 0) == "edt-c"
    assert who(WEEKLY, 2026, 10, 25, 1, 30) == "edt-c"  # the repeated hour
    assert who(WEEKLY, 2026, 10, 30, 16, 30) == "edt-c"  # a UTC week would have handed over
    assert who(WEEKLY, 2026, 10, 30, 17, 0) == "edt-a"
    shift = on_call(WEEKLY, datetime(2026, 10, 26, 12, 0, tzinfo=UTC), LONDON)
    assert (shift.ends_at - shift.starts_at).total_seconds() == 169 * 3600
    daily = RotaDef("duty", ("d1", "d2"), "day", time(9, 0), None, date(2026, 10, 24))
    assert who(daily, 2026, 10, 24, 7, 59) is None  # before the rota starts: nobody
    assert who(daily, 2026, 10, 24, 8, 0) == "d1"  # 09:00 BST = 08:00 UTC
    assert who(daily, 2026, 10, 25, 8, 30) == "d1"  # Sunday is GMT: 08:30 is before 09:00
    assert who(daily, 2026, 10, 25, 9, 0) == "d2"


def test_override_takes_the_shift_and_next_is_shown():
    o = Override("edt-c", datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
                 datetime(2026, 11, 29, 9, 0, tzinfo=UTC))
    rota = RotaDef(**{**WEEKLY.__dict__, "overrides": (o,)})
    assert who(rota, 2026, 11, 28, 8, 59) == "edt-b"
    assert who(rota, 2026, 11, 28, 9, 0) == "edt-c"
    assert who(rota, 2026, 11, 29, 9, 0) == "edt-b"
    now, nxt, after = upcoming(rota, datetime(2026, 11, 28, 8, 0, tzinfo=UTC), LONDON, 3)
    assert (now.person_id, now.ends_at) == ("edt-b", o.starts_at)
    assert (nxt.person_id, nxt.override) == ("edt-c", True)
    assert (after.person_id, after.starts_at) == ("edt-b", o.ends_at)


ROTA_FILE = EXAMPLE_DIRECTORY.read_text().replace(
    'edt = "edt-rota"', 'edt = "edt-oncall"') + """
[[people]]
id = "edt-a"
name = "Asha EDT"
roles = ["edt"]

[[people]]
id = "edt-b"
name = "Ben EDT"
roles = ["edt"]

[[rotas]]
id = "edt-oncall"
name = "Emergency Duty Team on call"
members = ["edt-a", "edt-b", "edt-rota"]
shift = "week"
handover = "17:00"
handover_day = "friday"
start = 2026-10-09
"""


def test_directory_refuses_empty_rota_and_overlapping_overrides_with_lines():
    bad = ROTA_FILE.replace('members = ["edt-a", "edt-b", "edt-rota"]', "members = []") + """
[[rotas]]
id = "duty-rota"
name = "Duty"
members = ["sw-duty", "sw-khan"]
shift = "week"
handover = "9am"
start = 2026-10-09

[[rota_overrides]]
rota = "duty-rota"
person = "sw-khan"
from = 2026-12-01T09:00:00Z
to = 2026-12-02T09:00:00Z

[[rota_overrides]]
rota = "duty-rota"
person = "sw-duty"
from = 2026-12-01T17:00:00Z
to = 2026-12-03T09:00:00Z
"""
    with pytest.raises(DirectoryError) as err:
        parse_directory(bad, source="dir.toml")
    lines = bad.splitlines()
    text = "\n".join(err.value.errors)
    members_line = lines.index("members = []") + 1
    assert f"dir.toml:{members_line}: rotas[1] (edt-oncall).members: a rota needs at least " \
           "one member" in text
    assert "rotas[2] (duty-rota).handover: expected a time of day as HH:MM" in text
    heads = [i + 1 for i, line in enumerate(lines) if line == "[[rota_overrides]]"]
    assert (f"dir.toml:{heads[1]}: rota_overrides[2] (duty-rota): overlaps rota_overrides[1] "
            f"at dir.toml:{heads[0]}") in text
    # A team may name a rota for duty / edt; a misspelt one is refused.
    with pytest.raises(DirectoryError) as err:
        parse_directory(ROTA_FILE.replace('edt = "edt-oncall"', 'edt = "edt-oncal"'))
    assert "no person or rota with id 'edt-oncal'" in str(err.value)
    assert parse_directory(ROTA_FILE).rotas[0].members == ["edt-a", "edt-b", "edt-rota"]


async def test_rotas_deputy_and_overrides_round_trip_through_export(services):
    text = ROTA_FILE.replace('edt = "edt-oncall"', 'edt = "edt-oncall"\ndeputy = "sw-khan"') + """
[[rota_overrides]]
rota = "edt-oncall"
person = "edt-b"
from = 2026-12-24T17:00:00Z
to = 2026-12-27T17:00:00Z
"""
    async with services.db.write() as s:
        await apply_directory(s, parse_directory(text), now=services.clock.now(), actor="test")
    async with services.db.read() as s:
        exported = await export_directory(s)
        team = await oncall.team_at(s, await s.get(Team, "north"),
                                    datetime(2026, 12, 25, 12, 0, tzinfo=UTC), LONDON)
    assert team.deputy_id == "sw-khan" and team.edt_id == "edt-b"  # the override, resolved
    again = parse_directory(exported)
    assert [(r.id, r.members, r.shift, r.handover, r.handover_day, r.start) for r in again.rotas] \
        == [("edt-oncall", ["edt-a", "edt-b", "edt-rota"], "week", "17:00", "friday",
             date(2026, 10, 9))]
    assert [(o.rota, o.person) for o in again.rota_overrides] == [("edt-oncall", "edt-b")]
    async with services.db.write() as s:
        summary = await apply_directory(s, again, now=services.clock.now(), actor="test")
    assert not summary.changed


TG_IDS.setdefault("edt-a", 5201)
TG_IDS.setdefault("edt-b", 5202)


async def test_steps_reach_whoever_is_on_call_when_they_run(world):
    await world.import_directory(ROTA_FILE)
    a, b, c, patel, smith = await world.link_all("edt-a", "edt-b", "edt-rota", "sw-patel",
                                                 "carer-smith")
    # Friday 27 Nov 16:25: in working hours; Asha is on call until the 17:00 handover.
    world.clock.set(datetime(2026, 11, 27, 16, 25, tzinfo=UTC))
    ref = await world.report(smith, child="A1", category=MEDICATION, text="Double dose given.")
    await tick(world, hours=1)  # 17:25, out of hours, after the handover: Ben
    assert ref in (await b.wait_for("Escalation")).text
    assert not [m for m in a.messages + c.messages if ref in m.text]
    # Sunday: an urgent report goes to the EDT on call at once — still Ben over the weekend.
    world.clock.set(datetime(2026, 11, 29, 11, 0, tzinfo=UTC))
    second = await world.report(smith, child="C3", category=MISSING, text="Not home.")
    assert second in (await b.wait_for(second)).text
    assert not [m for m in a.messages if second in m.text]
    routed = (await events(world, second, "routed"))[0].details["recipients"]
    assert {"person": "edt-b", "reason": "edt"} in routed
    # Monday morning, still Ben's week (the next handover is Friday 17:00).
    world.clock.set(datetime(2026, 11, 30, 7, 0, tzinfo=UTC))
    third = await world.report(smith, child="A1", category=MISSING, text="Gone again.")
    assert third in (await b.wait_for(third)).text


async def test_on_call_across_the_clock_change(world):
    await world.import_directory(ROTA_FILE)
    a, c, patel, smith = await world.link_all("edt-a", "edt-rota", "sw-patel", "carer-smith")
    # Fri 30 Oct 2026 16:40 GMT: out of hours. edt-rota has been on since Fri 23 Oct 17:00 BST;
    # the handover is at 17:00 GMT, not at 16:00 as seven days of UTC would make it.
    world.clock.set(datetime(2026, 10, 30, 16, 40, tzinfo=UTC))
    ref = await world.report(smith, child="A1", category=MISSING, text="Not back.")
    assert ref in (await c.wait_for(ref)).text
    assert not [m for m in a.messages if ref in m.text]
    await tick(world, minutes=60)  # 17:40: step3 (EDT) after the handover: Asha
    assert ref in (await a.wait_for("Escalation")).text


async def test_oncall_shows_now_and_next_and_swap_changes_it(world):
    await world.import_directory(ROTA_FILE)
    a, b, patel = await world.link_all("edt-a", "edt-b", "sw-patel")
    world.clock.set(datetime(2026, 11, 30, 10, 0, tzinfo=UTC))  # Monday: Ben's week
    await patel.send("/oncall")
    shown = await patel.wait_for("On call")
    assert "North Children's Team" in shown.text
    assert "Duty (office hours): Duty Desk (North)" in shown.text
    assert "Out of hours (EDT): Ben EDT until 17:00 Fri 4 Dec 2026" in shown.text
    assert "next: Emergency Duty Team from 17:00 Fri 4 Dec 2026 until 17:00 Fri 11 Dec 2026" \
        in shown.text

    # Ben swaps this week for Asha's week of 11 December; 5 December is not Asha's.
    await b.send("/swap edt-a 2026-12-02 2026-12-05")
    await b.wait_for("That is not your or their shift")
    await b.send("/swap edt-a 2026-12-02 2026-12-12")
    done = await b.wait_for("Swapped")
    assert "Asha EDT is on call from 17:00 Fri 27 Nov 2026 until 17:00 Fri 4 Dec 2026" in done.text
    assert "You are on call from 17:00 Fri 11 Dec 2026 until 17:00 Fri 18 Dec 2026" in done.text
    told = await a.wait_for("swapped on-call shifts with you")
    assert "You are on call from 17:00 Fri 27 Nov 2026" in told.text
    await patel.send("/oncall")
    shown = await patel.wait_for("On call")
    assert "Out of hours (EDT): Asha EDT (swapped) until 17:00 Fri 4 Dec 2026" in shown.text
    [ev] = await events(world, None, "rota_swapped")
    assert ev.actor_id == "edt-b" and ev.details["with_person"] == "edt-a"
    # An out-of-hours report now goes to Asha.
    smith = await world.linked("carer-smith")
    world.clock.set(datetime(2026, 11, 30, 19, 0, tzinfo=UTC))
    ref = await world.report(smith, child="A1", category=MISSING, text="Not back.")
    assert ref in (await a.wait_for(ref)).text
    # Someone not on the rota cannot swap.
    await patel.send("/swap edt-b 2026-12-02")
    await patel.wait_for("not on a rota together")
