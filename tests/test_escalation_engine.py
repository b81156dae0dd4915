"""The escalation engine on the record: ladders per urgency, working time, out of hours,
acknowledgement stopping everything, frozen plans, unreachable targets, and the health check.

What people would be sent is read from the outbox (the dispatcher is not running here);
the engine is run by hand after moving the fake clock.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.app import make_services
from bot.config import ConfigError, parse_settings
from bot.engine.escalation import EscalationEngine
from tests.conftest import make_settings
from tests.escalation_helpers import Desk, desk  # noqa: F401 - the fixture

LONDON = ZoneInfo("Europe/London")


def london(*args) -> datetime:
    return datetime(*args, tzinfo=LONDON).astimezone(timezone.utc)


async def test_urgent_ladder_on_the_record(desk):
    inc = await desk.report("missing")
    t0 = desk.clock.now()
    for minutes, step, kind, to in [(15, "step1", "reminder", "sw-patel"),
                                    (30, "step2", "escalation", "tm-jones"),
                                    (60, "step3", "escalation", "edt-rota"),
                                    (75, "repeat1", "escalation", "edt-rota"),
                                    (90, "repeat2", "escalation", "edt-rota")]:
        desk.clock.set(t0 + timedelta(minutes=minutes) - timedelta(seconds=1))
        assert await desk.run() == 0
        assert await desk.run(seconds=1) == 1
        assert (await desk.steps(inc))[-1][0] == step
        [msg] = [d for d in await desk.sent(inc, kind=kind, to=to) if step in d.idempotency_key]
        assert msg.payload["buttons"][0] == [["✅ Acknowledge", f"ack:{inc.id}"]]
        assert f"{minutes // 60} h {minutes % 60:02d} min" in msg.payload["text"] or \
            f"{minutes} min" in msg.payload["text"]
    # The duty worker and the supervising social worker were copied: they are not chased.
    assert not await desk.sent(inc, kind=("reminder", "escalation"), to="sw-duty")
    assert not await desk.sent(inc, kind=("reminder", "escalation"), to="ssw-okoro")
    fresh = await desk.fresh(inc)
    assert fresh.escalation_level == 3 and fresh.next_step == "repeat3"


async def test_high_ladder(desk):
    inc = await desk.report("medication")
    t0 = desk.clock.now()
    # Wed 10:00: steps at 11:00 and 14:00 in working hours; 18:00 and 22:00 are out of
    # hours, so the Emergency Duty Team is told too (issue 13: judged at each step).
    expected = [(1, "step1", {"sw-patel"}), (4, "step2", {"tm-jones"}),
                (8, "repeat1", {"tm-jones", "edt-rota"}), (12, "repeat2", {"tm-jones", "edt-rota"})]
    for hours, step, to in expected:
        desk.clock.set(t0 + timedelta(hours=hours, seconds=-1))
        assert await desk.run() == 0
        assert await desk.run(seconds=1) == 1
        assert {d.person_id for d in await desk.sent(inc, kind=("reminder", "escalation"))
                if d.idempotency_key.startswith(f"esc:{inc.id}:{step}:")} == to
    assert [s for s, *_ in await desk.steps(inc)] == [s for _, s, _ in expected]


async def test_routine_ladder_has_no_repeat(desk):
    inc = await desk.report("contact")  # Wed 25 Nov 10:00
    assert await desk.run(hours=23, minutes=59) == 0
    assert await desk.run(minutes=1) == 1  # Thu 10:00: one working day
    assert await desk.run(hours=24) == 1  # Fri 10:00: two working days, the team manager
    assert [(d.kind, d.person_id) for d in await desk.sent(inc, kind=("reminder", "escalation"))] \
        == [("reminder", "sw-patel"), ("escalation", "tm-jones")]
    assert (await desk.fresh(inc)).next_step is None
    assert await desk.run(hours=24 * 14) == 0


@pytest.mark.parametrize(
    "reported, step1, step2",
    [
        # Over a weekend.
        (london(2026, 11, 27, 14, 0), london(2026, 11, 30, 14, 0), london(2026, 12, 1, 14, 0)),
        # Over Christmas Day (Fri) and the Boxing Day substitute bank holiday (Mon 28).
        (london(2026, 12, 24, 11, 0), london(2026, 12, 29, 11, 0), london(2026, 12, 30, 11, 0)),
        # Clocks go forward on Sun 29 March 2026: still 10:00 on the wall.
        (london(2026, 3, 27, 10, 0), london(2026, 3, 30, 10, 0), london(2026, 3, 31, 10, 0)),
        # Clocks go back on Sun 25 October 2026.
        (london(2026, 10, 23, 10, 0), london(2026, 10, 26, 10, 0), london(2026, 10, 27, 10, 0)),
        # Reported out of hours on a Saturday: routine waits for working time.
        (london(2026, 11, 28, 10, 0), london(2026, 12, 1, 9, 0), london(2026, 12, 2, 9, 0)),
    ],
    ids=["weekend", "bank-holiday", "dst-march", "dst-october", "saturday"],
)
async def test_routine_working_time(desk, reported, step1, step2):
    desk.clock.set(reported)
    inc = await desk.report("contact")
    for due, step in ((step1, "step1"), (step2, "step2")):
        desk.clock.set(due - timedelta(seconds=1))
        assert await desk.run() == 0, step
        desk.clock.set(due)
        assert await desk.run() == 1, step
    assert [(k, d) for k, d, _ in await desk.steps(inc)] == [("step1", step1), ("step2", step2)]


@pytest.mark.parametrize("category, edt", [("missing", True), ("medication", True),
                                           ("contact", False)])
@pytest.mark.parametrize("when", [london(2026, 11, 28, 10, 0), london(2026, 11, 25, 18, 30)],
                         ids=["saturday", "evening"])
async def test_out_of_hours_urgent_and_high_go_to_edt_at_once(desk, category, edt, when):
    desk.clock.set(when)
    inc = await desk.report(category)
    alerts = await desk.sent(inc, kind="alert")
    assert ("edt-rota" in [d.person_id for d in alerts]) is edt
    assert "sw-patel" in [d.person_id for d in alerts]  # the allocated worker is told anyway
    if edt:
        [d] = [d for d in alerts if d.person_id == "edt-rota"]
        assert "Emergency Duty Team (out of hours)" in d.payload["text"]


async def test_in_hours_urgent_does_not_go_to_edt(desk):
    inc = await desk.report("missing")
    assert "edt-rota" not in [d.person_id for d in await desk.sent(inc, kind="alert")]


async def test_acknowledgement_stops_everything_at_once(desk):
    inc = await desk.report("missing")
    await desk.run(minutes=15)
    await desk.run(minutes=15)  # the escalation to the manager is written, not yet sent
    [esc] = await desk.sent(inc, kind="escalation")
    desk.clock.advance(minutes=1)
    result = await desk.ack(inc, "sw-patel")
    assert result.status == "acknowledged"
    [esc] = await desk.sent(inc, kind="escalation")
    assert esc.status == "cancelled"  # nobody is chased about a report just taken
    assert await desk.run(hours=6) == 0
    assert [s for s, *_ in await desk.steps(inc)] == ["step1", "step2"]
    [stop] = await desk.events(inc, "escalation_stopped")
    assert stop.details["stopped_step"] == "step3" and stop.details["reason"] == "acknowledged"
    fresh = await desk.fresh(inc)
    assert fresh.next_step == "outcome1"
    assert fresh.acknowledged_on_behalf_of_id is None  # Patel held it herself


async def test_plan_frozen_when_reported(desk, db_url):
    inc = await desk.report("missing")
    changed = make_settings(db_url, escalation={
        "urgent": {"steps": [{"after": "5m", "notify": "team_manager"}], "repeat": "5m"}})
    other = make_services(changed, clock=desk.clock)
    try:
        assert changed.policy_version("urgent") != inc.policy_version
        engine = EscalationEngine(other)
        desk.clock.advance(minutes=6)
        assert await engine.run_due() == 0
        desk.clock.advance(minutes=9)
        assert await engine.run_due() == 1
        [(key, due, _)] = await desk.steps(inc)
        assert key == "step1" and [d.person_id for d in await desk.sent(inc, kind="reminder")] \
            == ["sw-patel"]
        # A new report takes the new policy.
        newer = await Desk(other).report("missing")
        assert newer.policy_version == changed.policy_version("urgent")
        assert newer.plan["steps"][0]["notify"] == "team_manager"
    finally:
        await other.db.dispose()


async def test_invalid_policy_refused_naming_the_key(db_url):
    with pytest.raises(ConfigError, match=r"escalation\.urgent\.steps\[1\]\.after"):
        parse_settings({"escalation": {"urgent": {"steps": [
            {"after": "15m", "notify": "recipients"}, {"after": "half an hour", "notify": "duty"},
        ]}}})
    with pytest.raises(ConfigError, match=r"escalation\.high\.steps"):
        parse_settings({"escalation": {"high": {"steps": []}}})


async def test_unreachable_target(services):
    d = Desk(services)
    await d.load(linked=[p for p in ("tm-jones", "sw-patel", "carer-smith")])
    inc = await d.report("missing")  # duty, EDT and the supervising worker never linked
    await d.run(minutes=60)
    assert [s for s, *_ in await d.steps(inc)] == ["step1", "step2", "step3"]
    missed = await d.events(inc, "recipient_missed")
    assert ("edt-rota", "step3") in [(e.details["person"], e.details.get("step")) for e in missed]
    step3 = [e for e in await d.events(inc, "escalated") if e.details["step"] == "step3"]
    assert step3[0].details["to"] == ["tm-jones"]
    assert [x.person_id for x in await d.sent(inc, kind="escalation")] == ["tm-jones", "tm-jones"]


async def test_nobody_to_remind_goes_to_the_manager(services):
    d = Desk(services)
    await d.load(linked=["tm-jones", "sw-patel", "carer-smith"])
    inc = await d.report("missing")
    await d.update_person("sw-patel", unreachable_since=d.clock.now())  # blocked the bot
    await d.run(minutes=15)
    [e] = await d.events(inc, "escalated")
    assert e.details["target"] == "recipients" and e.details["to"] == ["tm-jones"]
    assert {m.details["person"] for m in await d.events(inc, "recipient_missed")} >= \
        {"sw-patel", "sw-duty"}


class _IdleJobQueue:
    """A job queue that takes jobs and never runs them: an engine whose first pass has not
    come yet (or never comes)."""

    def run_repeating(self, *args, **kwargs):
        pass

    def run_once(self, *args, **kwargs):
        pass

    def get_jobs_by_name(self, name):
        return []


async def test_health_just_after_start_is_not_a_stall_but_no_pass_in_three_sweeps_is(desk):
    """An instance that has just taken the lead has run no pass yet: healthy (PostgreSQL's
    /healthz answered 503 in that moment). Three sweep intervals later with still no pass
    completed, the engine is stale."""
    engine = EscalationEngine(desk.services)
    assert (await engine.health())["stale"] is True  # never started: nothing vouches for it
    await engine.start(_IdleJobQueue())
    health = await engine.health()
    assert health["ok"] is True and health["stale"] is False and health["last_sweep_at"] is None
    desk.clock.advance(seconds=3 * desk.services.settings.engine.sweep_interval_seconds + 1)
    health = await engine.health()
    assert health["ok"] is False and health["stale"] is True


async def test_watchdog_and_health(desk, caplog):
    inc = await desk.report("missing")
    health = await desk.engine.health()
    assert health["overdue_steps"] == 0 and health["last_sweep_at"] is None
    desk.clock.advance(minutes=25)  # step1 due 10 min ago: more than the 5 min late margin
    with caplog.at_level(logging.ERROR, logger="bot.engine.escalation"):
        health = await desk.engine.health()
    assert health["overdue_steps"] == 1
    assert health["oldest_late_seconds"] == 600
    assert health["ok"] is False
    assert any("overdue" in r.message for r in caplog.records if r.levelno == logging.ERROR)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="bot.engine.escalation"):
        assert await desk.run() == 1
    assert any("ran late" in r.message for r in caplog.records)
    health = await desk.engine.health()
    assert health == {"overdue_steps": 0, "oldest_late_seconds": 0.0,
                      "last_sweep_at": desk.clock.now().isoformat(), "stale": False, "ok": True}
    [reminder] = await desk.sent(inc, kind="reminder")
    assert "(this reminder is 10 min late: the service was unavailable)" in reminder.payload["text"]
