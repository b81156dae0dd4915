"""A child's chronology: /child in the bot, `fosterbot chronology`, and who may see it."""

from __future__ import annotations

import csv

from sqlalchemy import select

from bot.people import chronicle
from bot.review import chronology
from storage.models import AuditEvent
from tests.escalation_helpers import incident
from tests.review_seed import SOUTH, SOUTH_TG
from tests.test_cli_and_schema import fosterbot
from tests.world import EXAMPLE_DIRECTORY, TG_IDS

ALLEGATION = "Allegation or serious complaint about a carer or househol…"
EARLIER_PLACEMENT = """
[[placements]]
child = "A1"
carers = ["carer-brown"]
from = 2025-09-01
to = 2025-12-31
"""


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("• ")]


async def _history(world):
    """Two placements (one ended), two incidents (one closed, one notified), a change of worker."""
    directory = EXAMPLE_DIRECTORY.read_text() + EARLIER_PLACEMENT
    await world.import_directory(directory)
    patel, jones, smith, khan = await world.link_all("sw-patel", "tm-jones", "carer-smith",
                                                     "sw-khan")
    world.clock.advance(minutes=5)  # Wed 25 Nov 10:05
    first = await world.report(smith, child="A1", category="Contact (family time) concern",
                               text="Upset after contact.")
    alert = await patel.wait_for(first)
    world.clock.advance(minutes=12)
    await patel.click("Acknowledge", message_id=alert.message_id)
    await world.settle()
    world.clock.advance(minutes=13)  # 10:30
    await patel.click("Close with outcome", message_id=alert.message_id)
    await patel.wait_for("what was the outcome")
    await patel.click("Advice given")
    await patel.wait_for("type a short note")
    await patel.send("Talked through a calmer handover.")
    await patel.wait_for("Closed " + first)

    world.clock.advance(hours=24)  # Thu 26 Nov 10:30
    second = await world.report(smith, child="A1", category=ALLEGATION,
                                text="A complaint was made about my partner.")
    await world.runner.engine.run_due()
    await world.settle()
    reminder = await jones.wait_for("must be notified without delay")
    world.clock.advance(minutes=20)  # 10:50
    for label in ("Ofsted: online form", "Placing authority: email"):
        await jones.click(label, message_id=reminder.message_id)
        await jones.wait_for_answer()
    await world.settle()

    world.clock.advance(hours=3, minutes=10)  # 14:00: A1's worker changes
    await world.import_directory(directory.replace(
        'ref = "A1"\nteam = "north"\nallocated_social_worker = "sw-patel"',
        'ref = "A1"\nteam = "north"\nallocated_social_worker = "sw-khan"'))
    return first, second, patel, jones, smith, khan


async def test_chronology_of_a_child_newest_first(world):
    first, second, patel, jones, smith, khan = await _history(world)

    await jones.send("/child A1")
    page = await jones.wait_for("chronology")
    assert page.text.startswith("🧒 A1 — chronology, newest first")
    assert _lines(page.text) == [
        "• 14:00 Thu 26 Nov 2026 — Allocated social worker changed from Priya Patel to Omar Khan",
        f"• 14:00 Thu 26 Nov 2026 — Handover from Priya Patel to Omar Khan: {second}",
        f"• 10:50 Thu 26 Nov 2026 — {second}: Ofsted and the responsible authority notified, "
        "recorded by Alex Jones (within the deadline)",
        # The register, recipient by recipient (issue 15: the register's events).
        f"• 10:50 Thu 26 Nov 2026 — {second}: Ofsted notified (online form), recorded by "
        "Alex Jones (within the deadline)",
        f"• 10:50 Thu 26 Nov 2026 — {second}: Placing authority notified (email), recorded by "
        "Alex Jones (within the deadline)",
        f"• 10:30 Thu 26 Nov 2026 — {second}: Allegation or serious complaint about a carer or "
        "household member — to notify Ofsted and Placing authority by 10:30 Fri 27 Nov 2026",
        f"• 10:30 Thu 26 Nov 2026 — {second} Allegation or serious complaint about a carer or "
        "household member (urgent) · told Priya Patel (handed over (the child was allocated to "
        "another worker)), Alex Jones (team manager (copied)), Omar Khan (allocated social "
        "worker) · not yet acknowledged · open",
        f"• 10:05 Wed 25 Nov 2026 — {first} Contact (family time) concern (routine) · told "
        "Priya Patel (allocated social worker) · "
        "acknowledged by Priya Patel at 10:17 Wed 25 Nov 2026 (12 min after the report) · "
        "outcome: Advice given, closed by Priya Patel at 10:30 Wed 25 Nov 2026",
        "• 10:00 Wed 25 Nov 2026 — Allocated to Priya Patel",
        "• Thu 1 Jan 2026 — Placement started with Sam Smith",
        "• Wed 31 Dec 2025 — Placement with Jo Brown ended",
        "• Mon 1 Sep 2025 — Placement started with Jo Brown",
    ]
    assert page.buttons == [] or not any(page.button_labels)
    # Children appear only by reference; descriptions stay in the incident's record.
    assert "complaint was made" not in page.text

    # Filtered by kind; the newly allocated worker may see it.
    await khan.send("/child A1 incidents")
    only = await khan.wait_for("chronology (incidents)")
    assert [line.split(" — ")[1][:15] for line in _lines(only.text)] == [second, first]

    # Every view is on the record.
    async with world.services.db.read() as s:
        views = (await s.execute(select(AuditEvent).where(
            AuditEvent.event == "chronology_viewed").order_by(AuditEvent.id))).scalars().all()
    assert [(v.actor_id, v.details["why"], v.details["kind"]) for v in views] == [
        ("tm-jones", "manager", None), ("sw-khan", "allocated", "incident")]


async def test_the_csv_is_complete_and_filters_by_period(world, tmp_path):
    first, second, *_ = await _history(world)
    services = world.services
    async with services.db.read() as s:
        whole = await chronology.entries_for(s, services.settings, "A1", tz=services.tz,
                                             today=services.today())
        nov = await chronology.entries_for(s, services.settings, "A1", tz=services.tz,
                                           today=services.today(),
                                           start=services.today(), end=services.today())
    path = tmp_path / "a1.csv"
    assert chronology.write_csv(whole, path, services.tz) == 12
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert [r["event"] for r in rows] == [
        "allocation_changed", "handover", "notification_made", "notification_recipient",
        "notification_recipient", "notification_opened", "incident_reported",
        "incident_reported", "allocation_changed", "placement_started", "placement_ended",
        "placement_started"]
    assert rows[0]["at"] == "2026-11-26T14:00:00+00:00" and rows[-1]["date"] == "2025-09-01"
    assert rows[-1]["at"] == ""  # a placement has a date, not a time
    assert [r["incident"] for r in rows[2:8]] == [second] * 5 + [first]
    assert rows[5]["event"] == "notification_opened"
    assert rows[3]["kind"] == "notification" and rows[3]["at"] == "2026-11-26T10:50:00+00:00"
    assert rows[4]["entry"] == (f"{second}: Placing authority notified (email), recorded by "
                                "Alex Jones (within the deadline)")
    # Today (Thu 26 Nov) only: the change of worker and its handover, the notifications and
    # the second report.
    assert [e.event for e in nov.entries] == [
        "allocation_changed", "handover", "notification_made", "notification_recipient",
        "notification_recipient", "notification_opened", "incident_reported"]


async def test_who_may_not_see_a_child(world):
    await world.import_directory(EXAMPLE_DIRECTORY.read_text() + SOUTH)
    TG_IDS.update(SOUTH_TG)
    smith, brown, south, okoro, patel, admin = await world.link_all(
        "carer-smith", "carer-brown", "sw-south", "ssw-okoro", "sw-patel", "admin-1")

    # A carer asking about a child not placed with them.
    await smith.send("/child B2")
    refused = await smith.wait_for("cannot show you")
    assert "B2" not in refused.text or "chronology" in refused.text
    # A carer is not shown even a child placed with them (other carers' reports are in it).
    await brown.send("/child B2")
    await brown.wait_for("cannot show you")
    # A worker from another team.
    await south.send("/child A1")
    await south.wait_for("cannot show you")
    # No such child: the same answer, so references cannot be probed.
    await patel.send("/child Z9")
    await patel.wait_for("cannot show you")
    async with world.services.db.read() as s:
        refusals = (await s.execute(select(AuditEvent).where(
            AuditEvent.event == "access_refused").order_by(AuditEvent.id))).scalars().all()
    assert [(r.actor_id, r.details["child"]) for r in refusals] == [
        ("carer-smith", "B2"), ("carer-brown", "B2"), ("sw-south", "A1"), ("sw-patel", "Z9")]

    # The supervising social worker of A1's carer, the allocated worker, her named cover
    # (Omar Khan) and an admin may.
    khan = await world.linked("sw-khan")
    for user in (okoro, patel, khan, admin):
        await user.send("/child A1")
        await user.wait_for("A1 — chronology")
    # B2 is Khan's own child; Patel is not his cover: refused.
    await patel.send("/child B2")
    await patel.wait_for("cannot show you")


async def test_supervising_worker_sees_only_their_carers_placements(world):
    await world.import_directory(EXAMPLE_DIRECTORY.read_text().replace(
        'name = "Jo Brown"\nroles = ["carer"]\nsupervising_social_worker = "ssw-okoro"',
        'name = "Jo Brown"\nroles = ["carer"]') + EARLIER_PLACEMENT)
    okoro = await world.linked("ssw-okoro")
    await okoro.send("/child A1 placements")
    page = await okoro.wait_for("chronology (placements)")
    # Jo Brown's placement (another supervising worker's carer) is outside Okoro's view.
    assert _lines(page.text) == ["• Thu 1 Jan 2026 — Placement started with Sam Smith"]


async def test_a_long_chronology_pages_with_next_and_previous(world):
    jones = await world.linked("tm-jones")
    people = ["sw-patel", "sw-khan"]
    async with world.services.db.write() as s:
        for i in range(80):
            world.clock.advance(minutes=1)
            await chronicle.record(s, "allocation_changed", child_ref="A1",
                                   at=world.clock.now(), actor_id="test",
                                   **{"from": people[i % 2], "to": people[(i + 1) % 2]})
    await jones.send("/child A1 allocations")
    page1 = await jones.wait_for("page 1 of")
    total = int(page1.text.split("page 1 of ")[1].split("\n")[0])
    assert total >= 2 and page1.button_labels == ["Next ▶"]
    seen = _lines(page1.text)
    for n in range(2, total + 1):
        await jones.click("Next ▶", message_id=page1.message_id)
        shown = await jones.wait_for(f"page {n} of {total}")
        assert shown.message_id == page1.message_id  # the same message, turned
        seen += _lines(shown.text)
    assert "◀ Previous" in shown.button_labels and "Next ▶" not in shown.button_labels
    assert len(seen) == 81 and len(set(seen)) == 81  # 80 changes and the first allocation
    times = [line.split(" — ")[0] for line in seen]
    assert times[0] == "• 11:20 Wed 25 Nov 2026" and times[-1] == "• 10:00 Wed 25 Nov 2026"
    await jones.click("◀ Previous", message_id=page1.message_id)
    await jones.wait_for(f"page {total - 1} of {total}")

    # A forged page turn for a child the presser may not see is refused and logged.
    smith = await world.linked("carer-smith")
    await smith.press_data("chp:A1:2")
    assert "cannot show you" in (await smith.wait_for_answer()).text


async def test_incident_record_still_reachable_after_restart(world):
    """The chronology is read from the database: a restart changes nothing."""
    first, second, patel, jones, smith, khan = await _history(world)
    await jones.send("/child A1")
    before = _lines((await jones.wait_for("chronology")).text)
    await world.stop_bot()
    await world.start_bot()
    jones.mark()
    await jones.send("/child A1")
    assert _lines((await jones.wait_for("chronology")).text) == before
    assert (await incident(world, second)).notified_by_id == "tm-jones"


def test_fosterbot_chronology_command(tmp_path):
    assert fosterbot(tmp_path, "db", "upgrade").returncode == 0
    directory = tmp_path / "dir.toml"
    directory.write_text(EXAMPLE_DIRECTORY.read_text() + EARLIER_PLACEMENT)
    assert fosterbot(tmp_path, "directory", "import", str(directory)).returncode == 0

    r = fosterbot(tmp_path, "chronology", "A1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Chronology of A1, newest first"
    assert lines[1].endswith("Allocated to Priya Patel")
    assert lines[-3:] == ["Thu 1 Jan 2026  Placement started with Sam Smith",
                          "Wed 31 Dec 2025  Placement with Jo Brown ended",
                          "Mon 1 Sep 2025  Placement started with Jo Brown"]
    r = fosterbot(tmp_path, "chronology", "A1", "--kind", "placements", "--to", "2025-12-31",
                  "--out", str(tmp_path / "a1.csv"))
    assert r.returncode == 0 and "2 entries written" in r.stdout
    rows = list(csv.DictReader((tmp_path / "a1.csv").open(encoding="utf-8")))
    assert [(r["date"], r["event"]) for r in rows] == [("2025-12-31", "placement_ended"),
                                                      ("2025-09-01", "placement_started")]
    r = fosterbot(tmp_path, "chronology", "Z9")
    assert r.returncode == 1 and "no child Z9" in r.stderr
    r = fosterbot(tmp_path, "chronology", "A1", "--kind", "gossip")
    assert r.returncode == 2 and "--kind" in r.stderr
