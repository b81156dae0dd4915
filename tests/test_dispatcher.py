"""The dispatcher on its own: priority, per-chat order, pacing, leases, stopping.

A stub bot stands in for Telegram and applies the emulator's own flood-control
model (``RateLimiter``: 30/s overall, 1/s per chat, burst 3) on virtual time,
so pacing is checked exactly and without real sleeps.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import select, update
from telegram.error import RetryAfter

from bot import audit
from bot.delivery.outbox import Dispatcher, enqueue
from bot.emulator.faults import RateLimiter
from storage.models import AuditEvent, Delivery
from tests.waiting import until


class VirtualTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)


class StubBot:
    """Records sends; answers 429 exactly when Telegram's limits would be crossed."""

    def __init__(self, vt: VirtualTime) -> None:
        self.vt = vt
        self.limiter = RateLimiter(clock=vt)
        self.sent: list[tuple[float, int, str]] = []
        self.rejected = 0
        self.fail_chats: dict[int, int] = {}
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()

    async def send_message(self, chat_id, text, parse_mode=None, reply_markup=None):
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)
        if self.fail_chats.get(chat_id):
            self.fail_chats[chat_id] -= 1
            raise RetryAfter(5)
        wait = self.limiter.check(chat_id)
        if wait is not None:
            self.rejected += 1
            raise RetryAfter(wait)
        self.sent.append((self.vt(), chat_id, text))
        return SimpleNamespace(message_id=len(self.sent))


def make(services, bot, vt, **kwargs) -> Dispatcher:
    return Dispatcher(services.db, bot, services.clock, monotonic=vt, sleep=vt.sleep,
                      poll_interval=0.05, **kwargs)


async def owe(services, rows: list[tuple[int, int, str]]) -> None:
    """rows: (chat id, priority, text)."""
    async with services.db.write() as s:
        for i, (chat, priority, text) in enumerate(rows):
            await enqueue(s, key=f"t:{i}:{text}", kind="notice", now=services.clock.now(),
                          text=text, chat_id=chat, priority=priority)


async def statuses(services) -> dict[str, str]:
    async with services.db.read() as s:
        rows = (await s.execute(select(Delivery))).scalars().all()
    return {d.payload["text"]: d.status for d in rows}


async def test_urgent_goes_first_and_each_chat_keeps_its_order(services):
    vt = VirtualTime()
    bot = StubBot(vt)
    rows = [(100 + i, 4, f"routine-{i}") for i in range(30)]
    rows += [(7, 4, f"seven-{i}") for i in range(6)]
    rows.append((999, 0, "URGENT"))
    await owe(services, rows)
    d = make(services, bot, vt)
    await d.drain()
    assert bot.sent[0][2] == "URGENT"
    assert [t for _, chat, t in bot.sent if chat == 7] == [f"seven-{i}" for i in range(6)]
    assert len(bot.sent) == len(rows)
    assert set((await statuses(services)).values()) == {"sent"}


async def test_a_burst_is_paced_inside_telegrams_limits(services):
    vt = VirtualTime()
    bot = StubBot(vt)
    rows = [(1, 3, f"one-{i}") for i in range(10)]  # ten to one chat
    rows += [(200 + i % 60, (i % 3), f"many-{i}") for i in range(240)]
    await owe(services, rows)
    d = make(services, bot, vt)
    await d.drain()
    assert bot.rejected == 0
    assert len(bot.sent) == 250
    one = [at for at, chat, _ in bot.sent if chat == 1]
    assert one[-1] - one[0] >= 10 - 3 - 1  # burst of three, then about one a second
    assert d.rate_limited_count == 0


async def test_a_sent_delivery_is_never_sent_again(services):
    vt = VirtualTime()
    bot = StubBot(vt)
    await owe(services, [(1, 3, "once")])
    d = make(services, bot, vt)
    await d.drain()
    async with services.db.write() as s:  # as after a crash: an old lease, status sent
        await s.execute(update(Delivery).values(locked_until=services.clock.now() - timedelta(hours=1)))
    services.clock.advance(minutes=5)
    await make(services, bot, vt).drain()
    assert [t for _, _, t in bot.sent] == ["once"]


async def test_a_row_leased_by_another_sender_waits_for_the_lease(services):
    vt = VirtualTime()
    bot = StubBot(vt)
    await owe(services, [(1, 3, "leased")])
    async with services.db.write() as s:
        await s.execute(update(Delivery).values(
            locked_until=services.clock.now() + timedelta(seconds=60), attempts=1))
    d = make(services, bot, vt)
    await d.drain()
    assert bot.sent == []
    services.clock.advance(seconds=61)  # the other sender died: its lease ran out
    await d.drain()
    assert [t for _, _, t in bot.sent] == ["leased"]


async def test_429_holds_the_chat_and_the_rest_wait(services):
    vt = VirtualTime()
    bot = StubBot(vt)
    bot.fail_chats[1] = 1
    await owe(services, [(1, 3, "a"), (1, 3, "b"), (2, 3, "other")])
    d = make(services, bot, vt)
    await d.drain()
    assert [t for _, _, t in bot.sent] == ["other"]
    async with services.db.read() as s:
        held = (await s.execute(select(Delivery).where(Delivery.chat_id == 1))).scalars().all()
    assert all(r.status == "pending" and r.locked_until is None for r in held)
    assert all(r.next_attempt_at >= services.clock.now() + timedelta(seconds=5) for r in held)
    assert [r.attempts for r in sorted(held, key=lambda r: r.id)] == [1, 0]
    services.clock.advance(seconds=5)
    await d.drain()
    assert [t for _, chat, t in bot.sent if chat == 1] == ["a", "b"]


async def test_stop_finishes_the_send_in_flight_and_puts_the_rest_back(services):
    vt = VirtualTime()
    bot = StubBot(vt)
    bot.gate = asyncio.Event()
    await owe(services, [(1, 3, "first"), (1, 3, "second"), (1, 3, "third")])
    d = make(services, bot, vt)
    await d.start()
    d.wake()
    await asyncio.wait_for(bot.started.wait(), 5)
    stopping = asyncio.create_task(d.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waits for the send on the wire
    bot.gate.set()
    await asyncio.wait_for(stopping, 5)
    assert [t for _, _, t in bot.sent] == ["first"]
    async with services.db.read() as s:
        rows = {r.payload["text"]: r for r in (await s.execute(select(Delivery))).scalars()}
    assert rows["first"].status == "sent"
    for name in ("second", "third"):
        assert rows[name].status == "pending"
        assert rows[name].locked_until is None and rows[name].attempts == 0


class RefusingBot(StubBot):
    async def send_message(self, chat_id, text, parse_mode=None, reply_markup=None):
        from telegram.error import Forbidden

        raise Forbidden("Forbidden: bot was blocked by the user")


async def test_a_broken_failure_hook_does_not_undo_the_failure_record(services):
    from storage.models import AuditEvent

    async def broken(session, delivery, outcome, now):
        await session.execute(update(Delivery).where(Delivery.id == delivery.id)
                              .values(priority=99))
        await audit.record(session, "rerouted", at=now, delivery=delivery.id)
        raise RuntimeError("hook bug")

    vt = VirtualTime()
    await owe(services, [(1, 3, "doomed")])
    d = make(services, RefusingBot(vt), vt, on_failure=broken)
    await d.drain()
    async with services.db.read() as s:
        row = (await s.execute(select(Delivery))).scalar_one()
        events = [e.event for e in (await s.execute(select(AuditEvent))).scalars()]
    assert row.status == "failed" and row.priority == 3  # the hook's change was rolled back
    assert "blocked" in row.last_error
    assert events == ["delivery_failed", "failure_handling_error"]
    async with services.db.read() as s:
        assert (await audit.verify(s)).ok


async def test_sends_that_finish_together_are_recorded_in_one_transaction(services):
    """Group commit: the audit chain's head, which every writer locks until its commit, is
    locked once for the sends that finished while the last record's transaction ran, not once
    a send; each send still has its own ``delivered`` event and its row marked sent."""
    vt = VirtualTime()
    bot = StubBot(vt)
    bot.gate = asyncio.Event()  # the sends wait on the wire until the test lets them answer
    await owe(services, [(300 + i, 3, f"chat-{i}") for i in range(12)])
    d = make(services, bot, vt, global_burst=12)
    writes = 0
    write, write_connection = services.db.write, services.db.write_connection

    def counted(door):
        def opened():
            nonlocal writes
            writes += 1
            return door()
        return opened

    # Every write transaction, through either door (the sends are recorded on a connection).
    services.db.write, services.db.write_connection = counted(write), counted(write_connection)
    try:
        draining = asyncio.ensure_future(d.drain())
        await bot.started.wait()
        for _ in range(50):  # every chat's worker reaches the wire
            await asyncio.sleep(0)
        writes = 0
        bot.gate.set()
        await draining
    finally:
        services.db.write, services.db.write_connection = write, write_connection
    assert len(bot.sent) == 12 and set((await statuses(services)).values()) == {"sent"}
    async with services.db.read() as s:
        delivered = (await s.execute(select(AuditEvent).where(
            AuditEvent.event == "delivered"))).scalars().all()
    assert sorted(e.details["delivery"] for e in delivered) == list(range(1, 13))
    assert writes < 12, writes  # one transaction a send before


async def test_a_finished_send_claims_again_only_when_due_rows_were_left_behind(services):
    """Running (not draining): three rows for three chats are claimed at once, and their
    sends call for no further claim (it would find nothing: every due row was in hand).
    Six rows for one chat are more than its share of the backlog (three): each send then
    claims again, until all six are sent, in order."""
    from sqlalchemy import event

    claims: list[str] = []

    @event.listens_for(services.db.engine.sync_engine, "before_cursor_execute")
    def _seen(_conn, _cursor, statement, _params, _context, _many) -> None:
        if statement.lstrip().startswith("SELECT deliveries.id, deliveries.chat_id"):
            claims.append(statement)

    vt = VirtualTime()
    bot = StubBot(vt)
    await owe(services, [(1, 3, "one"), (2, 3, "two"), (3, 3, "three")])
    d = Dispatcher(services.db, bot, services.clock, monotonic=vt, sleep=vt.sleep,
                   poll_interval=3600)  # no poll: only wakes call for a claim
    await d.start()
    try:
        await until(lambda: len(bot.sent) == 3 and d.in_memory == 0)
        assert len(claims) == 1

        await owe(services, [(7, 3, f"seven-{i}") for i in range(6)])
        d.wake()  # as the commit that owes them does
        await until(lambda: len(bot.sent) == 9 and d.in_memory == 0)
        assert [t for _, chat, t in bot.sent if chat == 7] == [f"seven-{i}" for i in range(6)]
        assert set((await statuses(services)).values()) == {"sent"}
    finally:
        await d.stop()


async def test_a_message_owed_by_a_failure_goes_out_without_waiting_for_the_poll(services):
    """Running, with no poll: the send fails for good (blocked), the failure's hook owes a
    message to someone else in the same transaction (as rerouting does), and it is sent at
    once: a send that did not go always calls for a claim."""
    async def reroute(session, delivery, outcome, now):
        await enqueue(session, key=f"rerouted:{delivery.id}", kind="notice", now=now,
                      text="rerouted", chat_id=2)

    class BlockedForOne(StubBot):
        async def send_message(self, chat_id, text, parse_mode=None, reply_markup=None):
            from telegram.error import Forbidden

            if chat_id == 1:
                raise Forbidden("Forbidden: bot was blocked by the user")
            return await super().send_message(chat_id, text, parse_mode, reply_markup)

    vt = VirtualTime()
    bot = BlockedForOne(vt)
    await owe(services, [(1, 3, "doomed")])
    d = Dispatcher(services.db, bot, services.clock, monotonic=vt, sleep=vt.sleep,
                   poll_interval=3600, on_failure=reroute)
    await d.start()
    try:
        await until(lambda: [t for _, _, t in bot.sent] == ["rerouted"])
        assert await statuses(services) == {"doomed": "failed", "rerouted": "sent"}
    finally:
        await d.stop()
