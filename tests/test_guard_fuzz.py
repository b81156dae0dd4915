"""Issue 14 (guard): fuzzing the running bot through the emulator (hypothesis).

The real bot runs against the emulator (tests/world.py) while hypothesis plays
a stranger and a carer who has nothing to do with the report (``carer-brown``;
the report is ``carer-smith``'s about A1, alerted to ``sw-patel``): free text
of any Unicode (huge, empty, control characters), commands with random
arguments, forged button data (random, and every real action prefix with ids
near the real ones), and raw updates of random shape.

Afterwards, and after each batch:

* zero crashes: no handler failed (``update … failed`` from the error handler),
  and the bot still answers a linked user;
* zero unauthorised reads or writes: the report, its thread and its alert are
  exactly as they were, no audit event touches it except ``access_refused``,
  and neither fuzzer was ever sent its reference, its text or the reporter's
  name.

Kept under about a minute per backend (``max_examples``; ``deadline=None``
because each input goes through the real bot). The counts of inputs tried are
printed (``-s``) and asserted to be non-trivial.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from storage.models import AuditEvent, Delivery, Incident, IncidentMessage

EXAMPLES = 150
PREFIXES = ["ack", "notified", "log", "logp", "ry", "rn", "rx", "rs", "rc", "ra", "add", "fix",
            "reply", "close", "oc", "reopen", "att", "det", "tx", "tf", "cpe", "cpo"]
COMMANDS = ["/start", "/help", "/report", "/cancel", "/myreports", "/away", "/back", "/open",
            "/overdue", "/log", "/stats", "/export", "/guidance", "/nonsense"]
SECRET = "Upset after contact; said her uncle shouted."

text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=50),  # control characters
    st.text(min_size=3000, max_size=4096),  # huge (a real client sends up to 4 096)
    st.sampled_from(["", " ", "\x00", "\u202e", "<b>", "&amp;", "INC-2026-000001", "A1",
                     "\ud7ff" * 10, "💥" * 100]),
)
forged = st.one_of(
    st.text(min_size=1, max_size=64),
    st.builds(lambda p, i, rest: f"{p}:{i}{rest}", st.sampled_from(PREFIXES),
              st.integers(-2, 6), st.sampled_from(["", ":1", ":x", ":9999999999", ":-1:0"])),
)
command = st.builds(lambda c, a: f"{c} {a}".rstrip(), st.sampled_from(COMMANDS),
                    st.text(max_size=40))
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
raw_update = st.dictionaries(
    st.sampled_from(["message", "callback_query", "edited_message", "my_chat_member",
                     "inline_query", "poll", "x"]),
    st.recursive(json_leaf, lambda c: st.lists(c, max_size=3)
                 | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=10),
    max_size=2,
)
action = st.one_of(
    st.tuples(st.just("text"), text),
    st.tuples(st.just("command"), command),
    st.tuples(st.just("button"), forged),
    st.tuples(st.just("raw"), raw_update),
)


@pytest.fixture
def settings_overrides():
    # A stranger is answered once per window: a short window (the clock moves a
    # second per batch) keeps the stranger's inputs reaching the handlers.
    return {"limits": {"stranger_window": "1s", "commands_per_minute": 1000}}


async def snapshot(world, incident_id: int) -> tuple:
    async with world.services.db.read() as s:
        inc = await s.get(Incident, incident_id)
        msgs = (await s.execute(select(IncidentMessage.id, IncidentMessage.text).where(
            IncidentMessage.incident_id == incident_id))).all()
        deliveries = (await s.execute(select(Delivery.id, Delivery.status).where(
            Delivery.incident_id == incident_id))).all()
        touched = (await s.execute(select(AuditEvent.event).where(
            AuditEvent.incident_id == incident_id))).scalars().all()
    row = (inc.status, inc.description, dict(inc.details or {}), inc.acknowledged_by_id,
           inc.acknowledged_at, inc.closed_at, inc.outcome_code, inc.outcome_text,
           inc.escalation_level, inc.updated_at)
    return row, sorted(msgs), sorted(deliveries), Counter(touched)


async def test_fuzzed_input_from_outsiders_crashes_nothing_and_changes_nothing(world, caplog):
    smith, patel, brown = await world.link_all("carer-smith", "sw-patel", "carer-brown")
    ref = await world.report(smith, child="A1", category="Other / general update", text=SECRET)
    await patel.wait_for(ref)
    await world.settle()
    async with world.services.db.read() as s:
        incident_id = (await s.execute(select(Incident.id).where(
            Incident.reference == ref))).scalar_one()
    before = await snapshot(world, incident_id)
    stranger = world.fake.user(66_001, "Stranger")
    tried: Counter = Counter()

    loop = asyncio.get_running_loop()

    # Hypothesis drives the examples from a worker thread; each example runs on the
    # bot's own event loop (which is free while the test awaits the thread).
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(who=st.sampled_from(["stranger", "brown"]), actions=st.lists(action, min_size=1,
                                                                         max_size=4))
    def fuzz(who, actions):
        asyncio.run_coroutine_threadsafe(play(who, actions), loop).result(timeout=120)

    async def play(who, actions):
        user = stranger if who == "stranger" else brown
        for kind, value in actions:
            tried[kind] += 1
            if kind in ("text", "command"):
                await user.send(value)
            elif kind == "button":
                if user.messages:
                    await user.press_data(value)
                else:
                    await user.send(str(value))
            else:
                world.fake._queue_update(value)
        world.clock.advance(seconds=1)
        await world.fake.wait_idle(timeout=20)

    with caplog.at_level(logging.ERROR):
        await asyncio.to_thread(fuzz)
    await world.settle()
    print(f"\nfuzz: {sum(tried.values())} inputs tried: {dict(tried)}")
    assert sum(tried.values()) >= EXAMPLES and len(tried) == 4
    # Zero crashes: no handler failed; the bot still answers.
    failed = [r.getMessage() for r in caplog.records
              if r.name == "bot.app" and "failed" in r.getMessage()]
    assert failed == [], failed
    smith.mark()
    await smith.send("/help")
    await smith.wait_for("/report")
    # Zero unauthorised writes: the report and everything about it is unchanged,
    # apart from refusals being recorded.
    after = await snapshot(world, incident_id)
    assert after[:3] == before[:3]
    new_events = after[3] - before[3]
    assert set(new_events) <= {"access_refused"}, new_events
    # Zero unauthorised reads: the outsiders were never shown anything of it.
    for user in (stranger, brown):
        for m in user.messages:
            shown = (m.text or "") + " ".join(m.button_labels)
            assert ref not in shown and "uncle" not in shown and "Sam Smith" not in shown, shown
