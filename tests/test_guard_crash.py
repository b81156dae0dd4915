"""Issue 14 (guard), finding 7: crash recovery of the outbox.

* After a ``kill -9``, the urgent alerts the dead process had claimed go out
  within seconds of the restart, not when their 60-second lease runs out: the
  restarted sender reclaims its dead predecessor's leases at once.
* A database error right after a successful send does not send the message
  again: the message id is kept and the bookkeeping retried until it is recorded.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.delivery.outbox import PRIORITY, enqueue
from storage.db import Database
from storage.models import Delivery, SenderInstance
from tests.botprocess import BotProcess, link, load_directory, write_config
from tests.conftest import WORKING_MORNING

DIRECTORY = """
[[teams]]
id = "t"
name = "Team"
manager = "tm"
[[people]]
id = "tm"
name = "Manager"
roles = ["team_manager"]
team = "t"
[[people]]
id = "w"
name = "Worker"
roles = ["social_worker"]
team = "t"
"""


async def owe_urgent_alert(db_url: str, chat: int, text: str) -> int:
    db = Database(db_url)
    try:
        async with db.write() as s:
            row = await enqueue(s, key=f"test-alert:{text}", kind="alert", now=WORKING_MORNING,
                                text=text, chat_id=chat, priority=PRIORITY["urgent"])
            return row.id
    finally:
        await db.dispose()


async def delivery(db_url: str, row_id: int) -> Delivery:
    db = Database(db_url)
    try:
        async with db.read() as s:
            return await s.get(Delivery, row_id)
    finally:
        await db.dispose()


async def test_alerts_claimed_before_a_kill_go_out_within_seconds_of_the_restart(
        db_url, fake, tmp_path):
    await load_directory(db_url, DIRECTORY, WORKING_MORNING)
    users = await link(db_url, fake, {"w": 9501, "tm": 9502}, WORKING_MORNING)
    worker = users["w"]
    # The production lease: 60 s. Telegram holds the first send to the worker for
    # long enough that the process is killed while the alert is claimed, unsent.
    config = write_config(tmp_path / "config.toml", db_url, fake,
                          delivery={"lease": "60s", "poll_interval_seconds": 0.2})
    bot = BotProcess(config, fake, tmp_path / "bot.log")
    fake.delay_next("sendMessage", seconds=600, chat_id=9501)
    try:
        await bot.start()
        row_id = await owe_urgent_alert(db_url, 9501, "URGENT: INC-2026-000001 needs you")
        deadline = time.monotonic() + 10
        while fake.counters["sendMessage"] == 0:
            assert time.monotonic() < deadline, bot.log()
            await asyncio.sleep(0.02)
        claimed = await delivery(db_url, row_id)
        assert claimed.status == "pending" and claimed.lease_owner is not None
        bot.kill()
        await bot.wait()
        await bot.start()
        ready = time.monotonic()  # the new process polls Telegram (its start-up can be slow)
        deadline = ready + 60
        while not any("INC-2026-000001" in (m.text or "") for m in worker.messages):
            assert time.monotonic() < deadline, "the alert never came"
            await asyncio.sleep(0.05)
        took = time.monotonic() - ready
        assert took < 3, f"the alert waited {took:.1f}s after the restart (the lease is 60s)"
        for _ in range(100):
            row = await delivery(db_url, row_id)
            if row.status == "sent":
                break
            await asyncio.sleep(0.05)
        assert row.status == "sent" and row.lease_owner is None
        assert row.lease_owner != claimed.lease_owner
        assert "took back 1 deliveries" in bot.log()
        assert await bot.terminate() == 0, bot.log()
        db = Database(db_url)
        try:
            async with db.read() as s:
                left = (await s.execute(select(SenderInstance))).scalars().all()
        finally:
            await db.dispose()
        assert left == []  # the dead one was tidied up, the clean one removed itself
    finally:
        await bot.ensure_stopped()


async def test_a_database_error_after_a_send_does_not_send_it_again(world, monkeypatch):
    smith = await world.linked("carer-smith")
    patel = await world.linked("sw-patel")
    db = world.services.db
    outage: dict[str, float] = {}

    def refusing(real):
        def opened():
            if outage and time.monotonic() < outage["until"]:
                outage["refused"] = outage.get("refused", 0) + 1
                raise OperationalError("UPDATE deliveries …", {}, ConnectionError("server gone"))
            return real()
        return opened

    # Both doors a writer takes: the ORM session and the bare connection (the dispatcher
    # records its sends on the latter).
    for door in ("write", "write_connection"):
        monkeypatch.setattr(db, door, refusing(getattr(db, door)))

    def on_message(chat_id, message):
        # The database goes away for a second just as Telegram accepts the alert.
        if chat_id == patel.id and "INC-" in (message.text or "") and not outage:
            outage["until"] = time.monotonic() + 1.0

    world.fake.on_message(on_message)
    ref = await world.report(smith, child="A1", category="Other / general update",
                             text="He fell in the garden.")
    await patel.wait_for(ref)
    while time.monotonic() < outage["until"] + 0.1:  # the database comes back
        await asyncio.sleep(0.05)
    await world.settle()
    assert outage.get("refused", 0) >= 4  # the old code gave up after four tries
    # Well past the lease: nothing is claimed again, so nothing is sent again.
    for _ in range(3):
        world.clock.advance(minutes=2)
        await world.settle()
    copies = [m for m in patel.messages if ref in (m.text or "")]
    assert len(copies) == 1, patel.transcript()
    async with world.services.db.read() as s:
        rows = (await s.execute(select(Delivery).where(Delivery.chat_id == patel.id,
                                                       Delivery.kind == "alert"))).scalars().all()
    assert [(r.status, r.telegram_message_id) for r in rows] == [("sent", copies[0].message_id)]
    assert rows[0].attempts == 1
    assert timedelta(0) <= world.clock.now() - rows[0].sent_at
