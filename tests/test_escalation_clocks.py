"""The clocks besides acknowledgement: outcome after acknowledgement, notification of
notifiable events; and away / cover on the record."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot.engine.escalation import pending
from bot.record import notification
from storage.models import Person
from tests.escalation_helpers import Desk, desk  # noqa: F401 - the fixture
from tests.world import EXAMPLE_DIRECTORY


async def test_outcome_clock_reminds_the_worker_then_their_manager(desk):
    inc = await desk.report("missing")  # urgent: outcome within 2 working days
    desk.clock.advance(minutes=5)
    await desk.ack(inc, "sw-patel")  # Wed 10:05
    [p] = pending(await desk.fresh(inc))
    assert (p.clock, p.step, p.notify) == ("outcome", "outcome1", "holder")
    assert p.due_at == datetime(2026, 11, 27, 10, 5, tzinfo=timezone.utc)  # Fri 10:05
    desk.clock.set(p.due_at - timedelta(seconds=1))
    assert await desk.run() == 0
    assert await desk.run(seconds=1) == 1
    [first] = await desk.sent(inc, kind="outcome_reminder")
    assert first.person_id == "sw-patel"
    assert "Outcome needed" in first.payload["text"] and "Acknowledged by Priya Patel" in \
        first.payload["text"] and "2 working days" in first.payload["text"]
    # One working day later (over the weekend) the manager is told.
    [p] = pending(await desk.fresh(inc))
    assert p.due_at == datetime(2026, 11, 30, 10, 5, tzinfo=timezone.utc)  # Mon 10:05
    desk.clock.set(p.due_at)
    assert await desk.run() == 1
    second = (await desk.sent(inc, kind="outcome_reminder"))[-1]
    assert second.person_id == "tm-jones" and "please make sure an outcome" in \
        second.payload["text"]
    assert pending(await desk.fresh(inc)) == []
    assert await desk.run(hours=24 * 30) == 0
    assert [e.details["to"] for e in await desk.events(inc, "outcome_reminded")] == \
        [["sw-patel"], ["tm-jones"]]


async def test_outcome_recorded_in_time_stops_the_clock(desk):
    inc = await desk.report("medication")
    await desk.ack(inc, "sw-patel")
    async with desk.services.db.write() as s:  # closing with an outcome is the thread's; its mark:
        from storage.models import Incident

        row = await s.get(Incident, inc.id)
        row.status, row.closed_at, row.closed_by_id = "closed", desk.clock.now(), "sw-patel"
    assert await desk.run(hours=24 * 30) == 0
    assert not await desk.sent(inc, kind="outcome_reminder")
    assert pending(await desk.fresh(inc)) == []


async def test_outcome_after_manager_acknowledged_on_behalf_goes_to_the_holder(services):
    # Issue 13: the outcome is owed by the worker who holds the report, not the manager who
    # acknowledged for them; the manager is the second step.
    d = Desk(services)
    text = EXAMPLE_DIRECTORY.read_text().replace('edt = "edt-rota"', 'edt = "edt-rota"\nservice_manager = "admin-1"')
    await d.load(text)
    inc = await d.report("missing")
    await d.ack(inc, "tm-jones")
    assert (await d.fresh(inc)).acknowledged_on_behalf_of_id == "sw-patel"
    await d.run(hours=24 * 7)
    reminders = await d.sent(inc, kind="outcome_reminder")
    assert [x.person_id for x in reminders] == ["sw-patel", "tm-jones"]
    assert "Priya Patel was reminded" in reminders[1].payload["text"]


async def test_notification_clock(desk):
    inc = await desk.report("allegation")  # urgent and notifiable; deadline 24 h
    assert inc.notification_due_at == desk.clock.now() + timedelta(hours=24)
    assert await desk.run() == 1  # at once, to the team manager
    [first] = await desk.sent(inc, kind="notification")
    assert first.person_id == "tm-jones"
    labels = [[b[0] for b in row] for row in first.payload["buttons"]]
    assert labels == [["Ofsted: online form", "Ofsted: email", "Ofsted: phone"],
                      ["Placing authority: online form", "Placing authority: email",
                       "Placing authority: phone"]]
    assert "Deadline: <b>10:00 Thu 26 Nov 2026</b>" in first.payload["text"]
    assert "OVERDUE" not in first.payload["text"]
    [p] = [p for p in pending(await desk.fresh(inc)) if p.clock == "notification"]
    assert p.step == "notify2" and p.due_at == desk.clock.now() + timedelta(hours=2)
    # Every two hours, weekends and nights included, overdue after 24 hours.
    await desk.ack(inc, "sw-patel")  # acknowledging does not stop the notification clock
    fired = 0
    for _ in range(12):
        fired += await desk.run(hours=2)
    texts = [d.payload["text"] for d in await desk.sent(inc, kind="notification")]
    assert len(texts) == 13
    assert "OVERDUE" not in texts[11] and "OVERDUE" in texts[12]
    # Recording each recipient stops the clock, and each is recorded once.
    desk.clock.advance(minutes=30)
    owed = await _owed(desk, inc)
    assert [o.record.recipient for o in owed] == ["ofsted", "responsible_authority"]
    async with desk.services.db.write() as s:
        jones = await s.get(Person, "tm-jones")
        result = await notification.record_made(s, desk.services, record_id=owed[0].record.id,
                                                method="form", person=jones)
    assert result.status == "recorded" and result.missing == ["responsible_authority"]
    assert (await desk.fresh(inc)).notified_at is None
    async with desk.services.db.write() as s:
        again = await notification.record_made(s, desk.services, record_id=owed[0].record.id,
                                               method="email", person=await s.get(Person, "tm-jones"))
        assert again.status == "already" and again.by_name == "Alex Jones"
        done = await notification.record_made(s, desk.services, record_id=owed[1].record.id,
                                              method="email", person=await s.get(Person, "tm-jones"))
    assert done.status == "recorded" and done.missing == []
    fresh = await desk.fresh(inc)
    assert fresh.notified_by_id == "tm-jones" and fresh.notified_at == desk.clock.now()
    assert [p.clock for p in pending(fresh)] == ["outcome"]
    assert await desk.run(hours=12) == 0
    made = await desk.events(inc, "notification_made")
    assert [(e.details["recipient"], e.details["within_deadline"]) for e in made] == \
        [("ofsted", False), ("responsible_authority", False)]


async def _owed(desk, inc):
    async with desk.services.db.read() as s:
        return await notification.owed(s, inc.id)


async def test_notification_missed_after_downtime_is_one_late_reminder(desk):
    inc = await desk.report("police_called")  # high, notifiable
    await desk.run()
    await desk.run(hours=7)  # slots at +2, +4, +6 h: one late message stands for them
    assert len(await desk.sent(inc, kind="notification")) == 2
    last = (await desk.sent(inc, kind="notification"))[-1]
    assert "5 h 00 min late" in last.payload["text"]
    [e] = [e for e in await desk.events(inc, "notification_reminded") if e.details["step"] == "notify2"]
    assert e.details["covers_missed"] == 2 and e.details["next_due"].startswith("2026-11-25T18:00")


async def test_only_managers_may_record_the_notification(desk):
    inc = await desk.report("allegation")
    async with desk.services.db.write() as s:
        owed = await notification.owed(s, inc.id)
    async with desk.services.db.write() as s:
        result = await notification.record_made(s, desk.services, record_id=owed[0].record.id,
                                                method="form", person=await s.get(Person, "sw-patel"))
    assert result.status == "refused"
    assert (await desk.fresh(inc)).notified_at is None
    [refusal] = await desk.events(inc, "access_refused")
    assert refusal.actor_id == "sw-patel"


async def test_not_notifiable_has_no_notification_clock(desk):
    inc = await desk.report("missing")
    assert inc.notification_next_at is None and inc.notification_due_at is None
    await desk.run(minutes=1)
    assert not await desk.sent(inc, kind="notification")


# ----------------------------------------------------------------------------- away / cover


async def test_away_at_report_time_goes_to_cover(desk):
    await desk.update_person("sw-patel", away_until=desk.clock.now() + timedelta(days=3))
    inc = await desk.report("missing")
    alerts = {d.person_id for d in await desk.sent(inc, kind="alert")}
    assert "sw-khan" in alerts and "sw-patel" not in alerts
    [receipt] = await desk.sent(inc, kind="receipt")
    assert "Omar Khan" in receipt.payload["text"] and "covering" in receipt.payload["text"]
    await desk.run(minutes=15)
    assert [d.person_id for d in await desk.sent(inc, kind="reminder")] == ["sw-khan"]


async def test_away_after_report_reminder_goes_to_cover_who_can_acknowledge(desk):
    inc = await desk.report("missing")
    await desk.update_person("sw-patel", away_until=desk.clock.now() + timedelta(days=3))
    await desk.run(minutes=15)
    [r] = await desk.sent(inc, kind="reminder")
    assert r.person_id == "sw-khan" and "covering for the allocated social worker" in \
        r.payload["text"]
    assert "sw-patel" in [e.details["person"] for e in await desk.events(inc, "recipient_missed")]
    result = await desk.ack(inc, "sw-khan")
    assert result.status == "acknowledged"
    assert (await desk.fresh(inc)).acknowledged_on_behalf_of_id is None


async def test_away_without_reachable_cover_goes_to_duty(desk):
    until = desk.clock.now() + timedelta(days=3)
    inc = await desk.report("medication")
    await desk.update_person("sw-patel", away_until=until)
    await desk.update_person("sw-khan", away_until=until)
    await desk.run(hours=1)
    assert [d.person_id for d in await desk.sent(inc, kind="reminder")] == ["sw-duty"]
    # Back again: the next reminder (the repeat goes to the manager) — and a fresh report
    # goes to Patel herself.
    await desk.update_person("sw-patel", away_until=None)
    newer = await desk.report("medication")
    assert "sw-patel" in {d.person_id for d in await desk.sent(newer, kind="alert")}
