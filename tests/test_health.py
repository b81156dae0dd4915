"""/healthz that means it: 503 with ``ok: false`` when escalation steps are late, the engine
has stopped sweeping, or the dispatcher is stuck; flat JSON; served while polling by default."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from sqlalchemy import select

from bot.config import DEFAULT_HEALTH_PORT, Settings
from bot.people.statutory import OVERSIGHT_ACTION
from storage.models import Task
from tests.conftest import make_settings
from tests.escalation_helpers import tick
from tests.world import ROOT, World

NO_EVENTS = {"overdue_notifications_without_report": 0,
             "oldest_notification_overdue_seconds": None}
MISSING = "Child missing or absent without permission"  # urgent: first step after 15 min


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def polled(db_url, clock, fake):
    """The bot polling, its health server on a free port (``w.port``)."""
    port = free_port()
    w = World(db_url=db_url, clock=clock, fake=fake,
              settings=make_settings(db_url, fake, health={"port": port}))
    await w.start()
    w.port = port
    try:
        yield w
    finally:
        await w.stop()


async def healthz(world) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{world.port}/healthz") as resp:
            return resp.status, await resp.json()


async def test_health_is_503_when_the_engine_has_stalled(polled):
    w = polled
    _patel, smith = await w.link_all("sw-patel", "carer-smith")
    await w.report(smith, child="A1", category=MISSING, text="Not back from school.")
    await w.settle()
    status, body = await healthz(w)
    assert status == 200 and body["ok"] is True
    assert body["engine"]["ok"] is True and "engine" not in body["engine"]  # flat

    # The engine stalls (its scheduler gone) for two hours: the first step, due at 10:15,
    # never ran.
    await w.runner.engine.stop()
    w.clock.advance(hours=2)
    status, body = await healthz(w)
    assert status == 503 and body["ok"] is False and body["database"] == "ok"
    assert body["engine"]["ok"] is False and body["engine"]["stale"] is True
    assert body["engine"]["overdue_steps"] == 1
    assert body["engine"]["oldest_late_seconds"] == 105 * 60
    assert body["delivery"]["ok"] is True


async def test_health_is_503_when_the_dispatcher_is_stuck(polled):
    w = polled
    _patel, smith = await w.link_all("sw-patel", "carer-smith")
    await w.report(smith, child="A1", category=MISSING, text="Not back from school.")
    await w.settle()
    await w.runner.dispatcher.stop()  # nothing more goes out
    w.clock.advance(minutes=15)
    await w.runner.engine.run_due()  # the reminder is written to the outbox, not sent
    status, body = await healthz(w)
    assert status == 200 and body["delivery"]["due"] == 1
    w.clock.advance(minutes=6)  # due for longer than the 5-minute late margin
    await w.runner.engine.run_due()
    status, body = await healthz(w)
    assert status == 503 and body["ok"] is False
    assert body["delivery"]["ok"] is False and body["delivery"]["oldest_due_seconds"] == 360.0
    assert body["engine"]["ok"] is True


def test_health_is_served_by_default_on_localhost():
    health = Settings().health
    assert (health.listen, health.port) == ("127.0.0.1", DEFAULT_HEALTH_PORT)
    example = (ROOT / "config.example.toml").read_text()
    assert f"port = {DEFAULT_HEALTH_PORT}" in example


async def test_a_health_port_in_use_does_not_stop_the_bot(db_url, clock, fake, caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        w = World(db_url=db_url, clock=clock, fake=fake,
                  settings=make_settings(db_url, fake, health={"port": port}))
        await w.start()
        try:
            assert w.runner.http is None
            assert any("health check not served" in r.getMessage() for r in caplog.records)
            carer = await w.linked("carer-brown")  # the bot still answers
            await carer.send("/help")
            await carer.wait_for("/report")
        finally:
            await w.stop()


D4 = """
[[children]]
ref = "D4"
team = "north"
allocated_social_worker = "sw-patel"
entered_care = 2026-11-25
"""


async def test_health_counts_overdue_tasks_and_actions_without_failing(polled):
    """Overdue statutory tasks and oversight actions are figures in the JSON; they are work
    people owe, not a fault of the service: the status stays 200."""
    w = polled
    patel, jones = await w.link_all("sw-patel", "tm-jones")
    await w.import_directory((ROOT / "examples" / "directory.toml").read_text() + D4)
    await jones.send("/oversee A1\nDecision: Review the plan.\nRationale: Two reports.\n"
                     "Action: sw-patel, 2026-11-25, Ring the school")
    await jones.wait_for("Oversight of A1 recorded")
    status, body = await healthz(w)
    assert status == 200 and body["tasks"] == {
        "overdue_statutory": 0, "overdue_oversight_actions": 0, "oldest_overdue_seconds": None,
        **NO_EVENTS}

    # Thu 00:00: the action (due by the end of Wed) is overdue; the assessment is not yet.
    await tick(w, hours=14, minutes=1)
    status, body = await healthz(w)
    assert status == 200 and body["ok"] is True
    assert body["tasks"] == {"overdue_statutory": 0, "overdue_oversight_actions": 1,
                             "oldest_overdue_seconds": 60.0, **NO_EVENTS}
    # Sat 01:00: the 72-hour assessment (due Sat 00:00) too, after a restart.
    await w.stop_bot()
    await w.start_bot()
    await tick(w, hours=48, minutes=59)
    status, body = await healthz(w)
    assert status == 200 and body["ok"] is True
    assert body["tasks"] == {"overdue_statutory": 1, "overdue_oversight_actions": 1,
                             "oldest_overdue_seconds": 49 * 3600.0, **NO_EVENTS}
    # Recorded done: no longer counted.
    async with w.services.db.read() as s:
        task_id = (await s.execute(select(Task.id).where(Task.kind == OVERSIGHT_ACTION))
                   ).scalar_one()
    await patel.send(f"/done {task_id} Rang the school.")
    await patel.wait_for("Recorded")
    status, body = await healthz(w)
    assert body["tasks"]["overdue_oversight_actions"] == 0
    assert body["tasks"]["overdue_statutory"] == 1
