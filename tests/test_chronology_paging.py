"""A child's chronology cut into pages in the database: turning /child's pages shows every
entry exactly once, newest first, whatever page boundary falls between entries of different
sources or between entries at the same moment; and the start of a placement's local day is
the same moment in SQL as in Python on both sides of a clock change.

The clock starts on Wed 25 Nov 2026 at 10:00 (GMT)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot import audit
from bot.people import chronicle
from bot.review import chronology
from bot.review import chronology_texts as texts
from bot.texts import when
from storage.local_day import local_midnight
from storage.models import Placement, Task
from tests.escalation_helpers import incident
from tests.test_chronology import _history, _lines

TIE = 16  # handovers at one moment: more than a page, so a page boundary falls among them


async def _every_source_interleaved(world, first: str, second: str) -> None:
    """Allocation changes between the reports and notifications, oversight on the child and
    on a report, oversight actions done, overdue and due, and a run of handovers at one
    moment; all of Wed 25 and Thu 26 Nov."""
    wed = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    workers = ["sw-patel", "sw-khan", "tm-jones"]
    report = await incident(world, first)
    async with world.services.db.write() as s:
        for i in range(30):  # every 50 minutes from Wed 10:02 to Thu 10:12
            await chronicle.record(s, "allocation_changed", child_ref="A1",
                                   at=wed + timedelta(minutes=2 + 50 * i), actor_id="test",
                                   **{"from": workers[i % 3], "to": workers[(i + 1) % 3]})
        for i in range(TIE):  # Thu 12:00, all at once
            await chronicle.record(s, "handover", child_ref="A1",
                                   at=wed + timedelta(days=1, hours=2), actor_id="test",
                                   **{"from": "sw-patel", "to": "sw-khan",
                                      "items": [{"reference": f"TIE-{i:02d}"}]})
        await chronicle.record(s, chronology.OVERSIGHT_EVENT, child_ref="A1",
                               at=wed + timedelta(hours=3), actor_id="tm-jones",
                               decision="Keep the contact plan", rationale="Settled",
                               actions=[])
        await audit.record(s, chronology.OVERSIGHT_EVENT, at=wed + timedelta(minutes=40),
                           actor_id="tm-jones", incident_id=report.id,
                           decision="Advice was right", rationale="Calmer", actions=[])
        for key, due, done in (("a-done", timedelta(hours=5), timedelta(hours=4)),
                               ("a-overdue", timedelta(hours=20), None),
                               ("a-due", timedelta(days=2), None)):
            s.add(Task(child_ref="A1", team_id="north", kind="oversight_action", key=key,
                       due_at=wed + due, owner_id="sw-patel", created_at=wed,
                       done_at=wed + done if done else None,
                       done_by_id="sw-patel" if done else None,
                       details={"incident": first, "what": f"Action {key}"}))


def _stamp(e: chronology.Entry, tz) -> str:
    return texts.day(e.at.astimezone(tz).date()) if e.dated else when(e.at, tz)


async def _turn_every_page(world, who, command: str):
    """The lines of every page (and part) in order, the titles seen and the last message."""
    await who.send(command)
    shown = await who.wait_for("chronology")
    lines, titles = _lines(shown.text), [shown.text.splitlines()[0]]
    while "Next ▶" in shown.button_labels:
        await who.click("Next ▶", message_id=shown.message_id)
        before = titles[-1]
        shown = await who.wait_for(predicate=lambda m, before=before: "chronology" in m.text
                                   and m.text.splitlines()[0] != before)
        lines += _lines(shown.text)
        titles.append(shown.text.splitlines()[0])
    return lines, titles, shown


async def test_turning_the_pages_shows_every_entry_once_in_order(world):
    first, second, _patel, jones, _smith, khan = await _history(world)
    await _every_source_interleaved(world, first, second)
    services = world.services
    async with services.db.read() as s:
        whole = await chronology.entries_for(s, services.settings, "A1", tz=services.tz,
                                             today=services.today(), now=services.clock.now())
    assert {e.kind for e in whole.entries} == set(chronology.KINDS)
    assert {e.event for e in whole.entries} >= {
        "placement_started", "placement_ended", "allocation_changed", "handover",
        "incident_reported", "notification_made", "notification_opened",
        "notification_recipient", "oversight_recorded", "oversight_action_done",
        "oversight_action_overdue", "oversight_action_due"}
    n = len(whole.entries)
    pages = -(-n // texts.PAGE_ENTRIES)
    assert pages >= 4

    lines, titles, last = await _turn_every_page(world, jones, "/child A1")
    # Page by page (a page whose lines need more than one message comes in parts).
    turned = [t.split(" (part")[0] for t in titles]
    assert [t for i, t in enumerate(turned) if i == 0 or t != turned[i - 1]] == [
        f"🧒 A1 — chronology, newest first, page {p} of {pages}" for p in range(1, pages + 1)]
    # Every entry exactly once, newest first: the whole chronology in its order.
    expected = [f"• {_stamp(e, services.tz)} — {e.text}" for e in whole.entries]
    assert lines == expected and len(set(lines)) == n
    # Across the page boundary inside the run of handovers at one moment: in the order they
    # were recorded.
    ties = [line.split(": ")[-1] for line in lines if "TIE-" in line]
    assert ties == [f"TIE-{i:02d}" for i in range(TIE)]
    stamps = [e.at for e in whole.entries]
    assert stamps == sorted(stamps, reverse=True)

    # Back from the last page: the page before it, from its first entry.
    if "(part" not in titles[-1]:
        await jones.click("◀ Previous", message_id=last.message_id)
        back = await jones.wait_for(f"page {pages - 1} of {pages}")
        assert _lines(back.text)[0] == expected[(pages - 2) * texts.PAGE_ENTRIES]

    # A filter pages too: the notifications, recipient by recipient, are all there.
    only, _, _ = await _turn_every_page(world, khan, "/child A1 notifications")
    assert only == [line for line, e in zip(expected, whole.entries, strict=True)
                    if e.kind == "notification"]


async def test_a_page_past_the_end_is_the_last(world):
    await _history(world)
    jones = await world.linked("tm-jones")
    await jones.send("/child A1")
    first = await jones.wait_for("chronology")
    await jones.press_data("chp:A1:9", message_id=first.message_id)  # a stale page turn
    await jones.wait_for_answer()
    shown = jones.last
    assert shown.text.splitlines()[0] == "🧒 A1 — chronology, newest first"  # one page
    assert _lines(shown.text)[-1] == "• Mon 1 Sep 2025 — Placement started with Jo Brown"


async def test_local_midnight_in_sql_is_the_pythons_on_both_sides_of_a_clock_change(world):
    """Placements are dated by the start of their local day; the database sorts and cuts
    by it, so its start of day must be Python's (GMT and BST, and the change days)."""
    tz = ZoneInfo("Europe/London")
    days = [date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30), date(2026, 7, 1),
            date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 26), date(2025, 12, 31)]
    async with world.services.db.write() as s:
        for i, d in enumerate(days):
            s.add(Placement(child_ref="A1", carer_id="carer-smith",
                            start_date=d, end_date=None, long_term=False, id=9000 + i))
    async with world.services.db.read() as s:
        got = dict((await s.execute(
            select(Placement.start_date, local_midnight(Placement.start_date, tz.key))
            .where(Placement.id >= 9000))).all())
    for d in days:
        assert got[d] == chronology._day_start(d, tz), d


async def test_a_page_too_long_for_one_message_comes_in_parts(world):
    """Fifteen long oversight decisions do not fit in one message: the page comes in parts,
    turned with the same buttons, and nothing is cut or shown twice."""
    jones = await world.linked("tm-jones")
    async with world.services.db.write() as s:
        for i in range(20):
            world.clock.advance(minutes=1)
            await chronicle.record(s, chronology.OVERSIGHT_EVENT, child_ref="A1",
                                   at=world.clock.now(), actor_id="tm-jones",
                                   decision=f"Decision {i:02d}: " + "keep the plan. " * 25,
                                   rationale="Settled", actions=[])
    lines, titles, _ = await _turn_every_page(world, jones, "/child A1 oversight")
    assert titles[:2] == [
        "🧒 A1 — chronology (oversight), newest first, page 1 of 2 (part 1 of 2)",
        "🧒 A1 — chronology (oversight), newest first, page 1 of 2 (part 2 of 2)"]
    assert titles[-1] == "🧒 A1 — chronology (oversight), newest first, page 2 of 2"
    decisions = [line.split("Decision ")[1][:2] for line in lines]
    assert decisions == [f"{i:02d}" for i in reversed(range(20))]
