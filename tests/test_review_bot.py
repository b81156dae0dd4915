"""The managers' review end to end through the fake Bot API: what people see."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import select

from storage import queries
from storage.models import AuditEvent, IncidentMessage
from tests import review_seed
from tests.world import TG_IDS


@pytest.fixture
async def teams(world, monkeypatch):
    """Both teams in the directory (the example's North plus South)."""
    for pid, tg in review_seed.SOUTH_TG.items():
        monkeypatch.setitem(TG_IDS, pid, tg)
    await world.import_directory(review_seed.DIRECTORY)
    return world


async def _incident(world, ref):
    async with world.services.db.read() as s:
        return await queries.incident_by_reference(s, ref)


async def _refusals(world):
    async with world.services.db.read() as s:
        rows = (await s.execute(select(AuditEvent).where(AuditEvent.event == "access_refused")
                                .order_by(AuditEvent.id))).scalars().all()
    return [(e.actor_id, e.details.get("action")) for e in rows]


async def test_overdue_then_acknowledge_on_behalf_and_read_the_timeline(teams, clock):
    world = teams
    jones, patel, smith = await world.link_all("tm-jones", "sw-patel", "carer-smith")
    ref = await world.report(smith, child="A1", category="Contact", text="Upset after contact.")
    await world.settle()
    clock.advance(hours=27)  # routine: first step due one working day later (Thu 10:00)
    await jones.send("/overdue")
    listing = await jones.wait_for("Overdue: 1 report")
    assert ref in listing.text and "has it: Priya Patel" in listing.text
    assert ("Not acknowledged: late by 3 h 00 min (since 10:00 Thu 26 Nov 2026); Priya Patel"
            in listing.text)

    await jones.click(f"✅ Acknowledge on behalf {ref}")
    answer = await jones.wait_for_answer("Acknowledged")
    assert ref in answer.text
    inc = await _incident(world, ref)
    assert (inc.status, inc.acknowledged_by_id, inc.acknowledged_on_behalf_of_id) == (
        "acknowledged", "tm-jones", "sw-patel")
    await world.settle()
    assert "Acknowledged by Alex Jones at 13:00 on behalf of Priya Patel" in patel.messages[-1].text
    assert "was acknowledged by Alex Jones" in (await smith.wait_for("acknowledged by")).text

    jones.mark()
    await jones.click(f"📜 Timeline {ref}")
    tl = await jones.wait_for(f"{ref} — timeline")
    assert "Acknowledged by Alex Jones on behalf of Priya Patel after 27 h 00 min" in tl.text
    assert "Alert delivered to Priya Patel" in tl.text
    assert "Receipt delivered to Sam Smith" in tl.text
    assert tl.text.index("Reported by Sam Smith") < tl.text.index("Acknowledged by Alex Jones")
    assert "Next step: an outcome to be recorded" in tl.text

    jones.mark()
    await jones.send("/overdue")
    assert "Nothing is overdue in North Children's Team" in (await jones.wait_for("overdue")).text


async def test_log_pages_stats_chart_and_export(teams, clock, fake):
    world = teams
    jones, smith = await world.link_all("tm-jones", "carer-smith")
    ref = await world.report(smith, child="A1", category="Contact", text="Came back quiet.")
    await world.settle()
    inc = await _incident(world, ref)
    async with world.services.db.write() as s:
        for i in range(6):
            s.add(IncidentMessage(incident_id=inc.id, author_id="carer-smith", kind="followup",
                                  text=f"Follow-up {i}: " + "more detail. " * 200,
                                  created_at=clock.now()))
    await jones.send(f"/log {ref.lower()}")
    first = await jones.wait_for("page 1 of")
    total = int(first.text.split("page 1 of ")[1].split()[0])
    assert total >= 2 and all(len(m.text) <= 4096 for m in jones.messages)
    assert first.button_labels == ["Next page ▶", "📝 Record oversight"]
    await jones.click("Next page ▶")
    second = await jones.wait_for(f"page 2 of {total}")
    assert second.message_id == first.message_id  # turned in place
    assert "◀ Previous page" in second.button_labels

    jones.mark()
    await jones.send("/stats 7d")
    text = await jones.wait_for("Statistics: the last 7 days")
    assert "Reports: 1" in text.text and "Still waiting for acknowledgement: 1" in text.text
    photo = await jones.wait_for(predicate=lambda m: m.photo is not None)
    assert "Time to acknowledge per week" in photo.caption
    data = fake.files[photo.photo[-1]["file_id"]]["data"]
    assert data.startswith(b"\x89PNG")

    jones.mark()
    await jones.send("/stats next-tuesday")
    assert "I do not understand 'next-tuesday'" in (await jones.wait_for("Periods:")).text

    jones.mark()
    await jones.send("/export 2026-11-01 2026-11-30")
    await jones.wait_for("Preparing export for North Children's Team, 1 Nov 2026 – 30 Nov 2026")
    done = await jones.wait_for("Export ready")
    assert "1 report(s)" in done.text
    docs = {m.document["file_name"]: m for m in jones.messages if m.document}
    inc_doc = docs["incidents_2026-11-01_2026-11-30.csv"]
    rows = list(csv.DictReader(io.StringIO(
        fake.files[inc_doc.document["file_id"]]["data"].decode())))
    assert [(r["reference"], r["status"], r["description"]) for r in rows] == [
        (ref, "open", "Came back quiet.")]
    aud = docs["audit_2026-11-01_2026-11-30.csv"]
    events = list(csv.DictReader(io.StringIO(fake.files[aud.document["file_id"]]["data"].decode())))
    assert {e["event"] for e in events} >= {"reported", "routed", "delivered"}
    about_report = [e for e in events if e["incident_reference"]]
    assert about_report and all(e["incident_reference"] == ref for e in about_report)
    # The rest are about the team's children: their allocations, recorded by the import.
    assert {e["event"] for e in events if not e["incident_reference"]} == {"allocation_changed"}
    head_doc = docs["audit-chain-head_2026-11-01_2026-11-30.json"]
    head = json.loads(fake.files[head_doc.document["file_id"]]["data"])["chain_head"]
    assert f"event {head['last_event_id']}, hash {head['last_hash']}" in head_doc.caption
    async with world.services.db.read() as s:
        made = (await s.execute(select(AuditEvent).where(AuditEvent.event == "export_made"))
                ).scalar_one()
    assert made.actor_id == "tm-jones" and made.details["chain_head"] == head


async def test_nobody_sees_another_teams_records_and_each_refusal_is_logged(teams):
    world = teams
    south, patel, smith, jones = await world.link_all("tm-south", "sw-patel", "carer-smith",
                                                      "tm-jones")
    ref = await world.report(smith, child="A1", category="Contact", text="A north report.")
    await world.settle()
    inc = await _incident(world, ref)

    await south.send(f"/log {ref}")
    assert "I cannot show you that report" in (await south.wait_for("cannot show")).text
    south.mark()
    await south.send("/log INC-2026-999999")  # does not exist: the same answer
    assert "I cannot show you that report" in (await south.wait_for("cannot show")).text
    await south.press_data(f"log:{inc.id}")
    assert "cannot show you that report" in (await south.wait_for_answer("cannot")).text
    await south.press_data(f"logp:{inc.id}:2")
    await south.wait_for_answer("cannot")
    await south.press_data(f"ack:{inc.id}")
    await south.wait_for_answer("not a recipient")
    south.mark()
    await south.send("/overdue")
    assert "Nothing is overdue in South Children's Team" in (await south.wait_for("overdue")).text
    south.mark()
    await south.send("/open")
    assert ref not in (await south.wait_for("No open reports in South")).text

    await patel.send("/overdue")
    assert "This is for team managers" in (await patel.wait_for("team managers")).text
    patel.mark()
    await patel.send("/export")
    await patel.wait_for("team managers")
    patel.mark()
    await patel.send("/open")
    own = await patel.wait_for("Your open reports: 1")
    assert ref in own.text

    await smith.send("/open")
    assert "/myreports shows your own reports" in (await smith.wait_for("myreports")).text
    await jones.send("/log")
    await jones.wait_for("Send /log followed by a report reference")
    await jones.press_data("logp:abc:1")
    await jones.wait_for_answer("not valid")
    await world.settle()

    assert (await _incident(world, ref)).status == "open"
    refusals = await _refusals(world)
    assert refusals == [
        ("tm-south", "log"), ("tm-south", "log"), ("tm-south", "log button"),
        ("tm-south", "log button"), ("tm-south", "acknowledge"), ("sw-patel", "overdue"),
        ("sw-patel", "export"), ("carer-smith", "open"), ("tm-jones", "log button"),
    ]


async def test_an_export_too_large_for_telegram_is_not_sent(teams, monkeypatch):
    from handlers import review

    world = teams
    jones, smith = await world.link_all("tm-jones", "carer-smith")
    await world.report(smith, child="A1", category="Contact", text="Something.")
    await world.settle()
    monkeypatch.setattr(review, "MAX_UPLOAD", 100)
    await jones.send("/export")
    told = await jones.wait_for("larger than Telegram lets a bot send")
    assert "fosterbot export" in told.text
    await world.settle()
    assert not [m for m in jones.messages if m.document]
