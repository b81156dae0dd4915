"""SIGTERM: stop taking updates, finish the send on the wire, put the rest back, close cleanly."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.delivery.outbox import enqueue
from storage.db import Database
from storage.models import Delivery
from tests.botprocess import BotProcess, link, load_directory, write_config
from tests.conftest import WORKING_MORNING

DIRECTORY = """
[[teams]]
id = "t"
name = "Team"
[[people]]
id = "w1"
name = "Worker One"
roles = ["social_worker"]
team = "t"
[[people]]
id = "w2"
name = "Worker Two"
roles = ["social_worker"]
team = "t"
"""


async def test_sigterm_finishes_the_send_in_flight_and_releases_the_rest(db_url, fake, tmp_path):
    await load_directory(db_url, DIRECTORY, WORKING_MORNING)
    users = await link(db_url, fake, {"w1": 9101, "w2": 9102}, WORKING_MORNING)
    db = Database(db_url)
    try:
        async with db.write() as s:
            for i in range(12):
                await enqueue(s, key=f"n:{i}", kind="notice", now=WORKING_MORNING,
                              chat_id=9101 + i % 2, priority=4, text=f"notice {i}")
        # One a second per chat after a burst of three: the bot is still busy when told to stop.
        config = write_config(tmp_path / "config.toml", db_url, fake)
        bot = BotProcess(config, fake, tmp_path / "bot.log")
        in_flight = asyncio.Event()
        fake.delay_next("sendMessage", 1.5, chat_id=9101)
        original = fake.faults.take

        def watch(method, params, kinds):  # notice when the delayed send reaches the fake
            rule = original(method, params, kinds)
            if rule is not None and rule.kind == "delay":
                in_flight.set()
            return rule

        fake.faults.take = watch
        try:
            await bot.start()
            await asyncio.wait_for(in_flight.wait(), 15)
            code = await bot.terminate(timeout=20)
        finally:
            await bot.ensure_stopped()
        assert code == 0, bot.log()
        log = bot.log()
        assert "finishing in-flight work" in log and "stopped" in log

        async with db.read() as s:
            rows = (await s.execute(select(Delivery).order_by(Delivery.id))).scalars().all()
        delivered = [m.text for u in users.values() for m in u.messages]
        sent = [r for r in rows if r.status == "sent"]
        # The send that was on the wire when SIGTERM came was finished and recorded.
        assert "notice 0" in delivered
        assert sorted(r.payload["text"] for r in sent) == sorted(delivered)
        assert all(r.telegram_message_id is not None for r in sent)
        # Everything else was put back: no lease left behind, no attempt counted.
        rest = [r for r in rows if r.status != "sent"]
        assert rest, "the bot finished everything before it was stopped; the test proves nothing"
        assert all(r.status == "pending" and r.locked_until is None and r.attempts == 0
                   for r in rest)

        # Restarted, it sends the rest, each once.
        bot2 = BotProcess(config, fake, tmp_path / "bot2.log")
        try:
            await bot2.start()
            for _ in range(300):
                if sum(len(u.messages) for u in users.values()) >= 12:
                    break
                await asyncio.sleep(0.05)
            assert await bot2.terminate() == 0
        finally:
            await bot2.ensure_stopped()
        texts = sorted(m.text for u in users.values() for m in u.messages)
        assert texts == sorted(f"notice {i}" for i in range(12))
    finally:
        await db.dispose()


async def test_sigterm_while_starting_still_stops_gracefully(db_url, fake, tmp_path):
    """A supervisor may stop the bot before it has finished starting: that is a clean
    stop (exit 0, "stopped" logged), not death by the signal's default action."""
    await load_directory(db_url, DIRECTORY, WORKING_MORNING)
    config = write_config(tmp_path / "config.toml", db_url, fake)
    bot = BotProcess(config, fake, tmp_path / "bot.log")
    fake.delay_next("deleteWebhook", 1.0)  # the bot is still starting when SIGTERM comes
    try:
        await bot.start()  # returns once deleteWebhook reached the fake
        assert "running as" not in bot.log()
        code = await bot.terminate(timeout=20)
    finally:
        await bot.ensure_stopped()
    log = bot.log()
    assert code == 0, log
    assert "running as" in log and "finishing in-flight work" in log and "stopped" in log
