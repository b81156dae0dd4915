"""The managers' review checked against a seeded record with known timings.

Expected figures are computed here from the seed table (``tests/review_seed.py``)
with the ``statistics`` module and a nearest-rank percentile written out
independently, never by calling the code under test.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import math
import re
import statistics
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, or_, select

from bot import audit
from bot.record import incidents
from bot.review import export, lists, needs, periods, render, stats, timeline
from bot.review.paging import tg_len
from bot.texts import waited, when
from storage import queries
from storage.models import (
    AuditEvent,
    AuditHead,
    Child,
    ChildEvent,
    Incident,
    IncidentMessage,
    Person,
)
from tests import review_seed
from tests.review_seed import NOW, REPORTS, utc

NORTH = frozenset({"north"})
SOUTH = frozenset({"south"})


@pytest.fixture
async def seeded(services, clock):
    return await review_seed.seed(services, clock)


def p90(values):
    s = sorted(values)
    return s[math.ceil(0.9 * len(s)) - 1]


def summary(minutes):
    return f"{waited(timedelta(minutes=statistics.median(minutes)))} / " \
           f"{waited(timedelta(minutes=p90(minutes)))} (n={len(minutes)})"


# ------------------------------------------------------------------ access


async def test_review_access_follows_the_teams_a_person_manages(services, seeded):
    async with services.db.read() as s:
        people = await queries.people_by_id(s, {"tm-jones", "tm-south", "sw-patel", "carer-smith"})
        r1 = await s.get(Incident, seeded.ids["r1"])
        s1 = await s.get(Incident, seeded.ids["s1"])
        acc = services.access
        assert await acc.managed_team_ids(s, people["tm-jones"]) == NORTH
        assert await acc.managed_team_ids(s, people["tm-south"]) == SOUTH
        assert await acc.managed_team_ids(s, people["sw-patel"]) == frozenset()
        assert await acc.managed_team_ids(s, people["carer-smith"]) == frozenset()
        assert await acc.may_review_incident(s, people["tm-jones"], r1)
        assert not await acc.may_review_incident(s, people["tm-jones"], s1)
        assert not await acc.may_review_incident(s, people["tm-south"], r1)
        people["tm-jones"].active = False
        assert await acc.managed_team_ids(s, people["tm-jones"]) == frozenset()


async def test_manager_acknowledging_is_recorded_on_behalf_of_the_holder(services, seeded):
    async with services.db.read() as s:
        r5 = await s.get(Incident, seeded.ids["r5"])
        r4 = await s.get(Incident, seeded.ids["r4"])
        ev = (await s.execute(select(AuditEvent).where(
            AuditEvent.incident_id == r5.id, AuditEvent.event == "acknowledged"))).scalar_one()
    assert (r5.acknowledged_by_id, r5.acknowledged_on_behalf_of_id) == ("tm-jones", "sw-khan")
    assert ev.details["on_behalf_of"] == "sw-khan"
    assert (r4.acknowledged_by_id, r4.acknowledged_on_behalf_of_id) == ("sw-patel", None)


async def test_a_manager_of_another_team_cannot_acknowledge(services, seeded):
    async with services.db.write() as s:
        tm_south = await s.get(Person, "tm-south")
        res = await incidents.acknowledge(s, services, incident_id=seeded.ids["r8"], person=tm_south)
    assert res.status == "refused"
    async with services.db.read() as s:
        assert (await s.get(Incident, seeded.ids["r8"])).status == "open"
        refused = (await s.execute(select(AuditEvent).where(
            AuditEvent.event == "access_refused", AuditEvent.actor_id == "tm-south"))).scalars().all()
    assert [e.incident_id for e in refused] == [seeded.ids["r8"]]


# ------------------------------------------------------------------ overdue and open


async def test_overdue_lists_every_clock_most_overdue_first(services, seeded):
    async with services.db.read() as s:
        north = await needs.needs_action(s, NORTH, NOW)
        south = await needs.needs_action(s, SOUTH, NOW)
        everyone = await needs.needs_action(s, None, NOW, limit=3)
    # Deadlines worked out by hand from the seed (working days Mon-Fri, 09:00-17:00/16:30):
    # outcome due on acknowledgement + outcome_within (urgent 2, high 3, routine 10 working
    # days); r5 was acknowledged at 19:00, out of hours, so its days count from 09:00 next day.
    r = seeded.refs
    expected = [
        ("r2", [("outcome", utc(2026, 11, 5, 12, 30))]),
        ("r4", [("outcome", utc(2026, 11, 11, 10, 40))]),
        ("r5", [("outcome", utc(2026, 11, 16, 9, 0))]),
        ("r1", [("outcome", utc(2026, 11, 16, 10, 20))]),
        ("r3", [("outcome", utc(2026, 11, 17, 9, 35))]),
        ("r6", [("undelivered", utc(2026, 11, 18, 10, 0)), ("outcome", utc(2026, 11, 23, 10, 10))]),
        # r8: unacknowledged since its first step (steps have run since: it still counts from
        # 10:15), and its notification deadline (24 h) passed.
        ("r8", [("acknowledgement", utc(2026, 11, 23, 10, 15)),
                ("notification", utc(2026, 11, 24, 10, 0))]),
    ]  # r7 (routine, outcome due 3 Dec) and r9 (first step due 16:00 today) are not late
    assert [(i.incident.reference, [(late.clock, late.since) for late in i.late])
            for i in north.items] == [(r[k], lates) for k, lates in expected]
    assert north.total == 7
    by_ref = {i.incident.reference: i for i in north.items}
    r6, r8 = by_ref[r["r6"]], by_ref[r["r8"]]
    assert [(f.to_name, f.kind) for f in r6.failed] == [("Priya Patel", "alert")]
    assert r8.holder.name == "Priya Patel"
    assert [late.who.name for late in r8.late] == ["Priya Patel", "Alex Jones"]
    assert by_ref[r["r5"]].holder.name == "Omar Khan"  # acknowledged on his behalf
    assert [(i.incident.reference, [late.clock for late in i.late]) for i in south.items] == [
        (r["s1"], ["acknowledgement"])]
    assert south.items[0].holder.name == "Kim Lee"
    assert everyone.total == 8 and [i.incident.reference for i in everyone.items] == [
        r["r2"], r["r4"], r["r5"]]

    msgs = render.overdue_messages(services, north, "North Children's Team")
    text = "\n\n".join(t for t, _ in msgs)
    buttons = [b for _, bs in msgs for row in bs for b in row]
    assert text.index(r["r6"]) < text.index(r["r8"])
    assert (f"⏳ Not acknowledged: late by <b>{waited(NOW - utc(2026, 11, 23, 10, 15))}</b> "
            "(since 10:15 Mon 23 Nov 2026); <b>Priya Patel</b>") in text
    assert "📋 Ofsted notification not recorded: late by <b>26 h 00 min</b>" in text
    assert "could not be delivered: Forbidden: bot was blocked by the user" in text
    assert (f"📜 Timeline {r['r8']}", f"log:{seeded.ids['r8']}") in buttons
    assert (f"✅ Acknowledge on behalf {r['r8']}", f"ack:{seeded.ids['r8']}") in buttons
    assert not any(d == f"ack:{seeded.ids['r6']}" for _, d in buttons)  # already acknowledged


async def test_a_full_page_of_needs_action_is_read_in_four_statements(services, seeded):
    """The page carries its count (no count statement) and the candidates to hold each
    report, the failed messages are read only when the page has some, and the people of the
    reports, actions and referrals in one statement: the page, the actions, the referrals,
    the people (before issue 13's last cut, 7: page, count, holders, failures, people,
    actions, referrals). A count of statements, never a time (``bench/round_trips.py``)."""
    sent: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        sent.append(" ".join(statement.split())[:60])

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        async with services.db.read() as s:
            result = await needs.needs_action(s, None, NOW, limit=3)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    r = seeded.refs
    assert result.total == 8 and [i.incident.reference for i in result.items] == [
        r["r2"], r["r4"], r["r5"]]
    assert len(sent) == 4, sent



async def test_open_reports_grouped_by_the_worker_who_has_them(services, seeded):
    async with services.db.read() as s:
        groups = await lists.open_by_worker(s, NORTH)
        patel = await s.get(Person, "sw-patel")
        own = await lists.open_for_person(s, patel)
    got = {g.worker.name: [i.reference for i in g.incidents] for g in groups}
    r = seeded.refs
    assert got == {
        # r5 was acknowledged by the manager on Omar Khan's behalf: still Omar's.
        "Omar Khan": [r["r2"], r["r5"], r["r7"], r["r9"]],
        "Priya Patel": [r["r1"], r["r3"], r["r4"], r["r6"], r["r8"]],
    }
    assert [i.reference for i in own] == [r["r1"], r["r3"], r["r4"], r["r6"], r["r8"]]
    text = render.open_groups_messages(services, groups, "North Children's Team", NOW)[0]
    assert text.index("<b>Omar Khan</b> (4)") < text.index("<b>Priya Patel</b> (5)")
    assert f"{r['r8']} — C3, Allegation" in text and "⏳ waiting" in text


# ------------------------------------------------------------------ timeline


async def test_timeline_merges_events_messages_and_deliveries_in_order(services, seeded):
    async with services.db.read() as s:
        r5 = await s.get(Incident, seeded.ids["r5"])
        tl = await timeline.build(s, services, r5)
    texts = [e.text for e in tl.entries]
    order = [
        "Reported by Jo Brown — Police called to the foster home, high",
        "Sent to Omar Khan (allocated social worker), Alex Jones (team manager (copied)), "
        "Grace Okoro (supervising social worker)",
        "Follow-up from Jo Brown",
        "Acknowledged by Alex Jones on behalf of Omar Khan after 5 h 00 min",
    ]
    positions = [texts.index(t) for t in order]
    assert positions == sorted(positions)
    assert tl.entries[texts.index("Follow-up from Jo Brown")].body == \
        "The police have now left; B2 is calmer."
    assert "Alert to Omar Khan: not delivered yet (attempts: 0)" in texts
    assert [e.at for e in tl.entries] == sorted(e.at for e in tl.entries)
    header = dict(tl.header)
    assert header["Status"].startswith("acknowledged — acknowledged by Alex Jones on behalf of "
                                       "Omar Khan at 19:00 Tue 10 Nov 2026")
    assert header["Notifiable"] == "yes — notification recorded at 20:00 Wed 11 Nov 2026"
    assert tl.pending[0].startswith(f"Next step: an outcome to be recorded, due "
                                    f"{when(r5.next_due_at, services.tz)}")

    async with services.db.read() as s:
        r8 = await s.get(Incident, seeded.ids["r8"])
        tl8 = await timeline.build(s, services, r8)
    assert tl8.pending[0] == (
        "Next step: step1 (reminder to whoever has it), due 10:15 Mon 23 Nov 2026 — overdue by "
        + waited(NOW - utc(2026, 11, 23, 10, 15)))
    assert tl8.pending[-1] == (
        "Notification to Ofsted and the responsible authority: not yet recorded, due "
        "10:00 Tue 24 Nov 2026 — overdue by " + waited(NOW - utc(2026, 11, 24, 10, 0)))
    plain = timeline.plain(tl8, services.tz)
    assert "Sent to Priya Patel (allocated social worker)" in plain
    assert "Chris Reid (LADO (copied))" in plain  # allegations copy the LADO


def _visible(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page))


async def test_long_timelines_are_paged_and_nothing_is_cut(services, seeded, clock):
    long_description = ("It started at tea & <b>then</b> " * 120)[:2990]
    async with services.db.write() as s:
        carer = await s.get(Person, "carer-smith")
        sub = await incidents.submit_report(s, services, carer=carer, child_ref="A1",
                                            category_key="contact", description=long_description)
        notes = []
        for i in range(12):
            text = f"[note {i}] " + "".join(chr(0x1F600 + (k % 50)) if k % 7 == 0 else "x<&>"[k % 4]
                                            for k in range(2400))
            notes.append(text)
            s.add(IncidentMessage(incident_id=sub.incident.id, author_id="carer-smith",
                                  kind="followup", text=text,
                                  created_at=NOW + timedelta(minutes=i + 1)))
    async with services.db.read() as s:
        inc = await s.get(Incident, sub.incident.id)
        tl = await timeline.build(s, services, inc)
    pages = timeline.pages(tl, services.tz)
    assert len(pages) > 5
    for i, page in enumerate(pages, 1):
        assert tg_len(page) <= 4096
        assert f"timeline, page {i} of {len(pages)}" in page
    bodies = [_visible(p.split("\n\n", 1)[1]).replace("(continued)", "") for p in pages]
    joined = re.sub(r"\s+", "", "".join(bodies))
    for text in [long_description, *notes]:
        assert re.sub(r"\s+", "", text) in joined
    assert "Next step:" in _visible(pages[-1])
    oversee = [("📝 Record oversight", f"ov:{inc.id}")]
    assert render.timeline_buttons(inc.id, 1, len(pages)) == [
        [("Next page ▶", f"logp:{inc.id}:2")], oversee]
    assert render.timeline_buttons(inc.id, len(pages), len(pages)) == [
        [("◀ Previous page", f"logp:{inc.id}:{len(pages) - 1}")], oversee]


# ------------------------------------------------------------------ statistics


def _expected():
    return [r for r in REPORTS if not r[0].startswith("s")]


async def test_stats_match_the_record(services, seeded):
    period = periods.parse_period(["2026-11"], NOW, services.tz)
    async with services.db.read() as s:
        st = await stats.compute(s, services, NORTH, period)
        names = {p.id: p.name for p in (await s.execute(select(Person))).scalars()}
    settings = services.settings
    north = _expected()
    acked = [r for r in north if r[5] is not None]
    assert st.total == len(north) == 9
    by_cat = {}
    for r in north:
        label = settings.category(r[3]).label
        by_cat[label] = by_cat.get(label, 0) + 1
    assert dict(st.by_category) == by_cat
    assert dict(st.by_urgency) == {"urgent": 2, "high": 3, "routine": 4}
    all_minutes = [r[5] for r in acked]
    assert st.ack_all.median == timedelta(minutes=statistics.median(all_minutes))
    assert st.ack_all.p90 == timedelta(minutes=p90(all_minutes))
    assert st.ack_all.p90 == timedelta(minutes=300)  # 7 values: the 7th (nearest rank)
    per_worker = {}
    per_cat = {}
    for r in acked:
        per_worker.setdefault(names[r[6]], []).append(r[5])
        per_cat.setdefault(settings.category(r[3]).label, []).append(r[5])
    assert {w: (s.n, s.median, s.p90) for w, s in st.ack_by_worker} == {
        w: (len(v), timedelta(minutes=statistics.median(v)), timedelta(minutes=p90(v)))
        for w, v in per_worker.items()}
    assert {c: (s.n, s.median, s.p90) for c, s in st.ack_by_category} == {
        c: (len(v), timedelta(minutes=statistics.median(v)), timedelta(minutes=p90(v)))
        for c, v in per_cat.items()}
    assert st.waiting == 2
    # r5 ran step1 (a reminder) and step2 (team manager); r8 ran step1, step2, step3 (EDT)
    # and a repeat of step3.
    assert (st.reminders, st.escalations, st.escalated_reports) == (2, 4, 2)
    # First steps: high 1 h (r2 took 90 min, r5 300 min), urgent 15 min (r4 took 40 min,
    # r8 still open); routine ones were all acknowledged within their working day.
    assert st.breaches == [seeded.refs[k] for k in ("r2", "r4", "r5", "r8")]
    notif = {n.reference: (n.on_time, n.notified_at) for n in st.notifiable}
    assert notif == {
        seeded.refs["r4"]: (True, utc(2026, 11, 9, 13, 0)),
        seeded.refs["r5"]: (False, utc(2026, 11, 11, 20, 0)),
        seeded.refs["r8"]: (False, None),
    }
    weeks = {w.start.isoformat(): (w.reports, w.ack.n) for w in st.weeks}
    assert weeks == {"2026-10-26": (0, 0), "2026-11-02": (3, 3), "2026-11-09": (2, 2),
                     "2026-11-16": (2, 2), "2026-11-23": (2, 0), "2026-11-30": (0, 0)}

    text = "\n".join(render.stats_messages(services, st))
    assert "Statistics: November 2026" in text and "Reports: 9" in text
    assert f"All reports: {summary(all_minutes)}" in text
    for worker, minutes in per_worker.items():
        assert f"{worker}: {summary(minutes)}" in text
    assert "Escalations: 4 (on 2 reports)" in text
    assert "Notified within 24 hours: 1 of 3" in text
    from bot.review.chart import render_png

    png = render_png(st)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


async def test_stats_scope_and_period(services, seeded):
    async with services.db.read() as s:
        south = await stats.compute(s, services, SOUTH,
                                    periods.parse_period([], NOW, services.tz))
        week = await stats.compute(s, services, NORTH,
                                   periods.parse_period(["7d"], NOW, services.tz))
        everyone = await stats.compute(s, services, None,
                                       periods.parse_period(["2026-11"], NOW, services.tz))
    assert south.total == 1 and south.ack_all.n == 0 and south.waiting == 1
    assert week.total == 3  # r7 (19 Nov), r8 (23 Nov), r9 (24 Nov); r6 (18 Nov 10:00) is 7 days and 2 hours old
    assert everyone.total == 10


@pytest.mark.parametrize("args, first, last", [
    (["2026-11"], "2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00"),
    (["2026-07"], "2026-06-30T23:00:00+00:00", "2026-07-31T23:00:00+00:00"),  # BST
    (["2026-10-20", "2026-10-25"], "2026-10-19T23:00:00+00:00", "2026-10-26T00:00:00+00:00"),
    (["2026"], "2026-01-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00"),
    (["7d"], "2026-11-18T12:00:00+00:00", "2026-11-25T12:00:00.000001+00:00"),
    ([], "2026-10-26T12:00:00+00:00", "2026-11-25T12:00:00.000001+00:00"),
    (["2w"], "2026-11-11T12:00:00+00:00", "2026-11-25T12:00:00.000001+00:00"),
])
def test_periods(args, first, last):
    from zoneinfo import ZoneInfo

    p = periods.parse_period(args, NOW, ZoneInfo("Europe/London"))
    assert (p.start.isoformat(), p.end.isoformat()) == (first, last)


@pytest.mark.parametrize("args", [["yesterday"], ["2026-13"], ["0d"], ["2026-11-30", "2026-11-01"],
                                  ["a", "b", "c"], ["2026-02-30"]])
def test_bad_periods_say_what_is_accepted(args):
    from zoneinfo import ZoneInfo

    with pytest.raises(periods.PeriodError):
        periods.parse_period(args, NOW, ZoneInfo("Europe/London"))


# ------------------------------------------------------------------ export


def _read_csv(path):
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


async def test_export_csv_parses_back_to_the_record(services, seeded, tmp_path):
    async with services.db.write() as s:  # a carer's text that a spreadsheet would run
        inc = await s.get(Incident, seeded.ids["r3"])
        inc.description = '=HYPERLINK("http://x","click")'
    period = periods.parse_period(["2026-11"], NOW, services.tz)
    async with services.db.read() as s:
        head_before = (await s.execute(select(AuditHead))).scalar_one()
        head_before = (head_before.last_event_id, head_before.last_hash, head_before.count)
    small = await export.export(services.db, services.settings, period=period, scope=NORTH,
                                out_dir=tmp_path / "small", now=NOW, actor_id="tm-jones", batch=3)
    result = await export.export(services.db, services.settings, period=period, scope=NORTH,
                                 out_dir=tmp_path / "big", now=NOW, actor_id="tm-jones")
    inc_path, aud_path, head_path = result.files
    assert inc_path.name == "incidents_2026-11-01_2026-11-30.csv"
    # Batches of 3 and of 2000 write the same incidents (the audit file of the second
    # export also holds the first export's own event).
    assert inc_path.read_bytes() == small.files[0].read_bytes()

    rows = _read_csv(inc_path)
    async with services.db.read() as s:
        db = {i.reference: i for i in (await s.execute(
            select(Incident).where(Incident.team_id == "north"))).scalars()}
    assert [r["reference"] for r in rows] == sorted(db)
    assert seeded.refs["s1"] not in {r["reference"] for r in rows}
    for r in rows:
        i = db[r["reference"]]
        assert r["status"] == i.status and r["category"] == i.category and r["child"] == i.child_ref
        assert r["reported_at"] == i.reported_at.isoformat()
        assert r["acknowledged_at"] == (i.acknowledged_at.isoformat() if i.acknowledged_at else "")
        assert r["acknowledged_by_id"] == (i.acknowledged_by_id or "")
        assert r["on_behalf_of_id"] == (i.acknowledged_on_behalf_of_id or "")
        if i.acknowledged_at:
            assert float(r["minutes_to_acknowledge"]) == pytest.approx(
                (i.acknowledged_at - i.reported_at).total_seconds() / 60)
        expected = i.description if not i.description.startswith("=") else "'" + i.description
        assert r["description"] == expected
    r5 = next(r for r in rows if r["reference"] == seeded.refs["r5"])
    assert (r5["notifiable"], r5["notified_on_time"]) == ("true", "false")

    events = _read_csv(aud_path)
    async with services.db.read() as s:
        north_ids = set((await s.execute(select(Incident.id).where(Incident.team_id == "north"))).scalars())
        # ... and the events about north's children (allocations recorded by the import).
        child_event_ids = set((await s.execute(
            select(ChildEvent.audit_event_id).join(Child, Child.ref == ChildEvent.child_ref)
            .where(Child.team_id == "north"))).scalars())
        assert child_event_ids
        db_events = (await s.execute(select(AuditEvent).where(
            or_(AuditEvent.incident_id.in_(north_ids), AuditEvent.id.in_(child_event_ids)),
            AuditEvent.id <= head_before[0] + 1)
            .order_by(AuditEvent.id))).scalars().all()
    assert [int(e["id"]) for e in events] == [e.id for e in db_events if e.event != "export_made"]
    by_id = {e.id: e for e in db_events}
    for e in events:
        row = by_id[int(e["id"])]
        assert (e["event"], e["hash"], e["prev_hash"]) == (row.event, row.hash, row.prev_hash)
        # Each row's hash can be recomputed from the file alone.
        recomputed = hashlib.sha256(audit.canonical(
            id=int(e["id"]), at=datetime.strptime(e["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc),
            event=e["event"], actor_id=e["actor_id"] or None,
            telegram_user_id=int(e["telegram_user_id"]) if e["telegram_user_id"] else None,
            incident_id=int(e["incident_id"]) if e["incident_id"] else None,
            details=json.loads(e["details"]), prev_hash=e["prev_hash"])).hexdigest()
        assert recomputed == e["hash"]

    async with services.db.read() as s:
        made = (await s.execute(select(AuditEvent).where(AuditEvent.event == "export_made")
                                .order_by(AuditEvent.id))).scalars().all()
        assert (await audit.verify(s)).ok
    manifest = json.loads(head_path.read_text())
    # The second export's head is the first export's own audit event.
    assert manifest["chain_head"] == {"last_event_id": made[0].id, "last_hash": made[0].hash,
                                      "count": head_before[2] + 1}
    assert json.loads(small.files[2].read_text())["chain_head"] == {
        "last_event_id": head_before[0], "last_hash": head_before[1], "count": head_before[2]}
    for f in (inc_path, aud_path):
        assert manifest["files"][f.name] == {
            "rows": len(_read_csv(f)), "sha256": hashlib.sha256(f.read_bytes()).hexdigest()}
    assert [m.actor_id for m in made] == ["tm-jones", "tm-jones"]
    assert made[-1].details["incidents"] == 9 and made[-1].details["scope"] == ["north"]



# ------------------------------------------------------------------ the command line


async def test_cli_log_stats_and_export(services, seeded, db_url, tmp_path, capsys):
    import asyncio

    from bot import cli

    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[database]\nurl = "{db_url}"\n', encoding="utf-8")

    async def run(*argv):
        return await asyncio.to_thread(cli.main, ["--config", str(cfg), *argv])

    assert await run("log", seeded.refs["r5"].lower()) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{seeded.refs['r5']} — timeline")
    assert "Acknowledged by Alex Jones on behalf of Omar Khan after 5 h 00 min" in out
    assert "    The police have now left; B2 is calmer." in out
    assert await run("log", "INC-2026-999999") == 1

    chart = tmp_path / "chart.png"
    assert await run("stats", "--from", "2026-11-01", "--to", "2026-11-30", "--team", "north",
                     "--chart", str(chart)) == 0
    out = capsys.readouterr().out
    assert "Statistics: 1 Nov 2026 – 30 Nov 2026" in out and "Reports: 9" in out
    assert "North Children's Team" in out
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert await run("stats", "--from", "2026-11-01", "--to", "2026-11-30") == 0
    assert "Reports: 10" in capsys.readouterr().out  # all teams
    assert await run("stats", "--from", "November") == 2
    assert "bad period" in capsys.readouterr().err

    out_dir = tmp_path / "exp"
    assert await run("export", "--from", "2026-11-01", "--to", "2026-11-30", "--out",
                     str(out_dir), "--progress-every", "5") == 0
    out = capsys.readouterr().out
    assert "10 incident(s)" in out and "incidents: 10 rows written…" in out
    events = _read_csv(out_dir / "audit_2026-11-01_2026-11-30.csv")
    async with services.db.read() as s:
        in_period = (await s.execute(select(AuditEvent.id).where(
            AuditEvent.at >= utc(2026, 11, 1), AuditEvent.at < utc(2026, 12, 1),
            AuditEvent.event != "export_made").order_by(AuditEvent.id))).scalars().all()
    # The administrator's export holds every event of the period, also those about no
    # incident (the directory import on 1 Nov), as one unbroken stretch of the chain.
    assert [int(e["id"]) for e in events] == in_period
    assert all(events[i]["hash"] == events[i + 1]["prev_hash"] for i in range(len(events) - 1))
