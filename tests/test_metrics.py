"""GET /metrics: scraped over HTTP after a report went through the emulator, the bot's counts
match the emulator's own (requests by method, updates by kind), the record's (deliveries sent,
steps fired, their lateness) and the outbox as it stands (backlog, oldest pending)."""

from __future__ import annotations

import socket
from collections import Counter

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from bot.metrics import Metrics
from storage.models import AuditEvent, Delivery, EscalationAction
from tests.conftest import make_settings
from tests.escalation_helpers import tick
from tests.world import World

MISSING = "Child missing or absent without permission"  # urgent: steps at 15, 30, 60 min


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def polled(db_url, clock, fake):
    """The bot polling, its health and metrics server on a free port (``w.port``)."""
    port = free_port()
    w = World(db_url=db_url, clock=clock, fake=fake,
              settings=make_settings(db_url, fake, health={"port": port}))
    await w.start()
    w.port = port
    try:
        yield w
    finally:
        await w.stop()


async def scrape(world) -> dict[tuple[str, frozenset], float]:
    """Every sample of /metrics as {(name, labels): value}."""
    async with aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{world.port}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        body = await resp.text()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def total(samples, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, got), v in samples.items() if n == name and want <= got)


async def count(world, query) -> int:
    async with world.services.db.read() as s:
        return (await s.execute(query)).scalar_one()


async def test_scrape_after_a_report_matches_the_emulator_and_the_record(polled):
    w = polled
    patel, smith = await w.link_all("sw-patel", "carer-smith")
    ref = await w.report(smith, child="A1", category=MISSING, text="Not back from school.")
    await patel.wait_for(ref)
    await tick(w, minutes=15)   # 10:15: step1 on time
    await tick(w, minutes=20)   # 10:35: step2, due at 10:30, five minutes late
    alert = await patel.wait_for(ref)
    await patel.click("Acknowledge", message_id=alert.message_id)
    await patel.wait_for_answer("Acknowledged")
    await w.settle()

    m = await scrape(w)
    # Every Bot API request the bot made, by method, is one the emulator received.
    for method in ("sendMessage", "editMessageText", "answerCallbackQuery"):
        assert w.fake.counters[method] > 0
        assert total(m, "fosterbot_telegram_requests_total", method=method) \
            == w.fake.counters[method], method
    assert total(m, "fosterbot_telegram_requests_total", result="rate_limited") \
        == w.fake.counters["429"] == 0
    # Every update the emulator queued was handled once, counted by its kind.
    kinds = Counter("callback_query" if "callback_query" in u else "message"
                    for u in w.fake.updates)
    for kind, n in kinds.items():
        assert total(m, "fosterbot_updates_handled_total", kind=kind, result="ok") == n
    assert total(m, "fosterbot_updates_handled_total") == len(w.fake.updates)
    assert total(m, "fosterbot_handler_seconds_count") == len(w.fake.updates)
    # Deliveries: the metric counts what the outbox recorded as sent.
    sent = await count(w, select(func.count()).select_from(Delivery)
                       .where(Delivery.status == "sent"))
    assert sent >= 5 and total(m, "fosterbot_deliveries_total", result="sent") == sent
    assert total(m, "fosterbot_deliveries_total", result="failed") == 0
    # Two escalation steps ran, one on time and one 300 s late.
    steps = await count(w, select(func.count()).select_from(EscalationAction))
    assert steps == 2 == total(m, "fosterbot_escalation_steps_fired_total", clock="main")
    assert total(m, "fosterbot_escalation_step_lateness_seconds_count", clock="main") == 2
    assert total(m, "fosterbot_escalation_step_lateness_seconds_sum", clock="main") == 300
    assert total(m, "fosterbot_escalation_step_lateness_seconds_bucket", clock="main",
                 le="60.0") == 1
    # Read from the database at scrape time.
    assert total(m, "fosterbot_outbox_backlog") == 0
    assert total(m, "fosterbot_outbox_oldest_pending_seconds") == 0
    assert total(m, "fosterbot_watchdog_ok") == 1 and total(m, "fosterbot_database_up") == 1
    assert total(m, "fosterbot_leader", role="dispatcher") == 1
    assert total(m, "fosterbot_leader", role="engine") == 1


async def test_backlog_and_watchdog_are_read_at_scrape_time(polled):
    w = polled
    _patel, smith = await w.link_all("sw-patel", "carer-smith")
    await w.report(smith, child="A1", category=MISSING, text="Not back from school.")
    await w.settle()
    await w.runner.dispatcher.stop()  # nothing more goes out
    w.clock.advance(minutes=15)
    await w.runner.engine.run_due()   # step1's reminder is owed, not sent
    w.clock.advance(seconds=60)       # within three sweep intervals: the engine is not stale
    m = await scrape(w)
    assert total(m, "fosterbot_outbox_backlog") == total(m, "fosterbot_outbox_due") == 1
    assert total(m, "fosterbot_outbox_oldest_pending_seconds") == 60
    assert total(m, "fosterbot_watchdog_ok") == 1

    await w.runner.engine.stop()      # the engine stalls: step2 (10:30) never runs
    w.clock.advance(hours=1)
    m = await scrape(w)
    assert total(m, "fosterbot_watchdog_ok") == 0
    assert total(m, "fosterbot_escalation_overdue_steps") == 1  # step2, due at 10:30
    assert total(m, "fosterbot_escalation_oldest_overdue_seconds") == 46 * 60


async def test_failed_rerouted_and_rate_limited_deliveries_are_counted(polled):
    """Priya has blocked the bot: her alert fails and goes to her cover, Omar, whose first
    send is answered 429. The counters agree with the record and the emulator's errors."""
    w = polled
    _patel, khan, smith = await w.link_all("sw-patel", "sw-khan", "carer-smith")
    w.fake.block(5002)
    w.fake.fail_next("sendMessage", retry_after=1, chat_id=5003)
    ref = await w.report(smith, child="A1", category="Other / general update", text="Update")
    await w.settle()
    w.clock.advance(seconds=2)  # the 429's wait is over (on the injected clock)
    w.runner.dispatcher.wake()
    await khan.wait_for(ref, timeout=10)
    await w.settle()

    m = await scrape(w)
    failed = await count(w, select(func.count()).select_from(Delivery)
                         .where(Delivery.status == "failed"))
    rerouted = await count(w, select(func.count()).select_from(AuditEvent)
                           .where(AuditEvent.event == "rerouted"))
    assert failed >= 1 and total(m, "fosterbot_deliveries_total", result="failed") == failed
    assert rerouted >= 1 and total(m, "fosterbot_deliveries_total", result="rerouted") \
        == rerouted
    assert total(m, "fosterbot_deliveries_total", result="rate_limited") == 1
    assert total(m, "fosterbot_telegram_requests_total", result="rate_limited") \
        == w.fake.counters["injected_failures"] == 1
    assert total(m, "fosterbot_telegram_requests_total", method="sendMessage", result="error") \
        == w.fake.counters["errors"] >= 1  # Telegram's 403s for the blocked chat
    assert total(m, "fosterbot_telegram_requests_total", method="sendMessage") \
        == w.fake.counters["sendMessage"]


async def test_database_errors_are_counted_and_registries_are_separate(services):
    other = Metrics()
    with pytest.raises(DBAPIError):
        async with services.db.read() as s:
            await s.execute(text("select * from no_such_table"))
    assert services.metrics.value("fosterbot_database_errors_total", kind="other") == 1
    assert services.metrics.value("fosterbot_database_errors_total", kind="unavailable") == 0
    assert other.value("fosterbot_database_errors_total", kind="other") == 0
