"""How much database work one report costs: an upper bound on statements and transactions.

Counted by SQLAlchemy engine events (``before_cursor_execute``, ``begin``) while a linked
carer walks one routine report through the guided conversation (the bench's flow,
bench/report_throughput.py) and while its Submit is handled and the alert and receipt it
owes are sent. A count, never a time: a change that adds statements to the per-update path
shows here (issue 18, "an honest floor"). Raise a bound only knowingly.
"""

from __future__ import annotations

import os
from collections import Counter
from contextlib import contextmanager

from sqlalchemy import event, func, select

from storage.models import AuditEvent, Delivery, Incident

# The dispatcher's look for due rows and its claim of them, and the shared send budget's
# takes (PostgreSQL), run as often as the dispatcher happens to wake and batch, not a fixed
# number of times per report: left out of the counts.
NOT_PER_REPORT = ("SELECT deliveries.id, deliveries.chat_id FROM deliveries WHERE",
                  "UPDATE deliveries SET attempts=(deliveries.attempts + ",
                  "INSERT INTO send_buckets")
# What one report costs (the same on both backends once the dispatcher's own polling is left
# out), as (statements, transactions that ran any). Before issue 18's cut: the Submit 36 in
# 5, the whole report 65 in 17. The whole report's 60 include two reads of whether the chat
# still owes a handed-over reply (read from the outbox since issue 14's restart fix, not kept
# in memory), each a short read of its own: 58 in 17 without them. The Submit's three audit
# events are appended in one go since its reference and the audit head are locked last
# (``incidents.finish_report``, ``audit.record_all``): 4 statements fewer, one more for the
# incident's provisional reference replaced by its number: 32 → 29 and 60 → 57 on SQLite;
# PostgreSQL also writes the alert and the receipt in one INSERT (one fewer). Then each
# update's check that it is new and the look-up of its sender became one statement (one fewer
# per update): the Submit 28 in 5, the whole report 52 in 19 on SQLite. Then the Submit's
# alert and receipt in one Core INSERT on SQLite too, and the report's reference and the
# chain's snapshot of it in one UPDATE (``incidents._numbered``): 26 in 5 and 50 in 19, the
# same on both backends. /report reads the carer's children before it writes the draft, so a
# new draft is inserted at its first step instead of inserted and then updated: the whole
# report 49 in 19. The two reads of whether the chat owes handed-over replies are now part of
# each update's first read (bot/delivery/handoff.py): 47 in 17 (43 in 17 on PostgreSQL).
SUBMIT = (26, 5)
WHOLE_REPORT = (47, 17)


@contextmanager
def counting(engine):
    """Count statements, and transactions that ran at least one, on ``engine`` (and which
    statements, for a failure message)."""
    seen = {"statements": 0, "transactions": 0, "texts": Counter(), "left_out": 0}
    fresh: dict[int, bool] = {}

    def statement(conn, _cursor, text, *_args) -> None:
        flat = " ".join(text.split())
        if flat.startswith(NOT_PER_REPORT):
            seen["left_out"] += 1
            return
        seen["statements"] += 1
        seen["texts"][flat[:100]] += 1
        if fresh.pop(id(conn), False):
            seen["transactions"] += 1

    def begin(conn) -> None:
        fresh[id(conn)] = True

    event.listen(engine.sync_engine, "before_cursor_execute", statement)
    event.listen(engine.sync_engine, "begin", begin)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", statement)
        event.remove(engine.sync_engine, "begin", begin)


def shown(seen) -> str:
    return "\n".join(f"{n:3d} {t}" for t, n in seen["texts"].most_common())


async def test_one_report_stays_within_its_statement_budget(world):
    khan, brown = await world.link_all("sw-khan", "carer-brown")
    await world.settle()
    engine = world.services.db.engine
    steps = {}
    with counting(engine) as whole:
        with counting(engine) as seen:
            await brown.send("/report")
            await brown.wait_for("Choose one")
            await world.settle()
        steps["/report"] = seen
        with counting(engine) as seen:
            await brown.click("Other / general update")
            await brown.wait_for("write what happened")
            await world.settle()
        steps["category"] = seen
        with counting(engine) as seen:
            await brown.send("All fine, just letting you know.")
            await brown.wait_for("When did it happen")
            await world.settle()
        steps["description"] = seen
        with counting(engine) as seen:
            await brown.click("Skip the rest")
            await brown.wait_for("Please check your report")
            await world.settle()
        steps["skip the rest"] = seen
        with counting(engine) as submit:
            await brown.click("Submit")
            await brown.wait_for("received and recorded")
            await khan.wait_for("Routine")
            await world.settle()
        steps["submit"] = submit
    if os.environ.get("FOSTERBOT_SHOW_STATEMENTS"):
        print(f"\n== whole report: {whole['statements']} statements, "
              f"{whole['transactions']} transactions")
        for name, seen in steps.items():
            print(f"\n== {name}: {seen['statements']} statements, "
                  f"{seen['transactions']} transactions ({seen['left_out']} left out)"
                  f"\n{shown(seen)}")
    async with world.services.db.read() as s:
        if os.environ.get("FOSTERBOT_SHOW_STATEMENTS"):
            print("audit events:", (await s.execute(select(AuditEvent.event)
                                                    .order_by(AuditEvent.id))).scalars().all())
        assert (await s.execute(select(func.count()).select_from(Incident))).scalar_one() == 1
        assert (await s.execute(select(func.count()).select_from(Delivery)
                                .where(Delivery.status == "sent"))).scalar_one() == 2
    statements, transactions = SUBMIT
    assert submit["statements"] <= statements, shown(submit)
    assert submit["transactions"] <= transactions, shown(submit)
    statements, transactions = WHOLE_REPORT
    assert whole["statements"] <= statements, shown(whole)
    assert whole["transactions"] <= transactions, shown(whole)
