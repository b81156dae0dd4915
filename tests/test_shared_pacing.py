"""The pacing's side of the shared send budget (several instances on PostgreSQL): each send
books its slot once and waits for it; the database is not asked for a chat before the slots
this process booked there leave the chat a token (``bot/delivery/pacing.py``
``Pacing.shared_turn`` and ``chat_delay``). On virtual time; the database's side is in
``tests/test_cluster.py``."""

from __future__ import annotations

from typing import Any

from bot.delivery.pacing import Pacing


class VirtualTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class ScriptedBudget:
    """Answers ``reserve`` from a script (default: booked now) and notes when it was asked."""

    chat_rate = 1.0
    chat_burst = 2.0  # Telegram's 3, less one for the network's delay

    def __init__(self, time: VirtualTime, answers: list[tuple[float, bool]] | None = None):
        self.time = time
        self.answers = list(answers or [])
        self.asked: list[tuple[float, Any]] = []

    async def reserve(self, chat: Any) -> tuple[float, bool]:
        self.asked.append((self.time(), chat))
        return self.answers.pop(0) if self.answers else (0.0, True)


def pacing_on(time: VirtualTime, budget: ScriptedBudget) -> Pacing:
    pacing = Pacing(global_per_second=100, global_burst=100, per_chat_per_second=1,
                    per_chat_burst=3, clock=time, sleep=time.sleep)
    pacing.share(budget)
    return pacing


async def send(pacing: Pacing, chat: int, *, edit: bool = False) -> float:
    """One send as the handlers and the outbox make it; the moment it goes."""
    async with pacing.chat_lock(chat):
        await pacing.turn(chat, (1, 0), edit=edit)
        sent = pacing.clock()
        pacing.pacer(edit).charge(chat)
    return sent


async def test_a_slot_booked_ahead_is_waited_for_and_not_asked_for_again():
    time = VirtualTime()
    budget = ScriptedBudget(time, [(0.4, True)])
    pacing = pacing_on(time, budget)
    assert await send(pacing, 7) == 100.4
    assert budget.asked == [(100.0, 7)]


async def test_a_chat_busy_elsewhere_is_asked_for_again_when_it_has_a_token():
    time = VirtualTime()
    budget = ScriptedBudget(time, [(0.7, False), (0.0, True)])
    pacing = pacing_on(time, budget)
    assert await send(pacing, 7) == 100.7
    assert budget.asked == [(100.0, 7), (100.7, 7)]


async def test_the_shared_chat_bucket_is_not_asked_before_it_has_a_token():
    """Sends and edits to one chat draw on one shared bucket of two: the first two go at once,
    the third waits for a token here instead of asking the database and being told to wait."""
    time = VirtualTime()
    budget = ScriptedBudget(time)
    pacing = pacing_on(time, budget)
    sent = [await send(pacing, 7), await send(pacing, 7, edit=True), await send(pacing, 7)]
    assert sent[:2] == [100.0, 100.0]
    assert 100.99 < sent[2] < 101.01
    assert [at for at, _ in budget.asked] == sent  # asked once a send, when it had a token
    assert await send(pacing, 8) == sent[2]  # another chat has its own bucket
