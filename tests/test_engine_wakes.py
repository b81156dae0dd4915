"""How a commit tells the escalation engine about a new due time (no database needed).

A new report's clocks only need the engine's timer brought forward; a full pass
(two read transactions) is run only when the time is already due or a pass is
running (it may have read the next due time before the commit).
"""

from __future__ import annotations

from datetime import timedelta

from bot.engine.escalation import EscalationEngine


class _Job:
    def __init__(self, queue: "StubJobQueue", name: str, delay: float) -> None:
        self.queue, self.name, self.delay = queue, name, delay

    def schedule_removal(self) -> None:
        self.queue.jobs.remove(self)


class StubJobQueue:
    """Records what the engine schedules (PTB's JobQueue interface, the parts it uses)."""

    def __init__(self) -> None:
        self.jobs: list[_Job] = []

    def run_once(self, callback, when, name=None, job_kwargs=None) -> _Job:
        job = _Job(self, name, when)
        self.jobs.append(job)
        return job

    def get_jobs_by_name(self, name: str) -> list[_Job]:
        return [j for j in self.jobs if j.name == name]


def engine_with_stub(services) -> tuple[EscalationEngine, StubJobQueue]:
    engine = EscalationEngine(services)
    jq = StubJobQueue()
    engine._job_queue = jq  # as start() would, without the periodic sweep
    return engine, jq


async def test_a_future_due_time_only_brings_the_timer_forward(services):
    engine, jq = engine_with_stub(services)
    now = services.clock.now()
    engine.due_at([now + timedelta(minutes=15), None])
    assert [(j.name, j.delay) for j in jq.jobs] == [(EscalationEngine.TIMER_JOB, 900.0)]
    engine.due_at([now + timedelta(hours=2)])  # later than the timer: nothing to do
    assert [(j.name, j.delay) for j in jq.jobs] == [(EscalationEngine.TIMER_JOB, 900.0)]
    engine.due_at([now + timedelta(minutes=5)])  # earlier: the timer moves
    assert [(j.name, j.delay) for j in jq.jobs] == [(EscalationEngine.TIMER_JOB, 300.0)]


async def test_no_due_time_schedules_nothing(services):
    engine, jq = engine_with_stub(services)
    engine.due_at([None, None])
    assert jq.jobs == []


async def test_a_time_already_due_runs_a_pass(services):
    engine, jq = engine_with_stub(services)
    engine.due_at([services.clock.now()])
    assert [j.name for j in jq.jobs] == [EscalationEngine.WAKE_JOB]


async def test_during_a_pass_it_queues_another_pass(services):
    engine, jq = engine_with_stub(services)
    async with engine._lock:  # a pass is running
        engine.due_at([services.clock.now() + timedelta(minutes=15)])
    assert [j.name for j in jq.jobs] == [EscalationEngine.WAKE_JOB]
