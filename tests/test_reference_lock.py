"""A report's reference: gapless per year, unique, and locked only at the end of its Submit.

Every report's transaction locks the year's counter row (``incident_counters``) when it
takes its number, and the audit chain's head when it appends its events, until it
commits; every other report waits meanwhile (issue 18: under a burst eighteen sessions
queued on the counter). So the Submit takes both as its last writes
(``bot/record/incidents.py`` ``finish_report``), and the number stays gapless because it
rolls back with the report.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, select

from bot import audit
from bot.record import incidents
from storage.models import Incident, Person


def _flat(text: str) -> str:
    return " ".join(text.split())


async def test_the_reference_and_the_audit_head_are_locked_only_by_the_last_statements(world):
    """What the Submit transaction runs after taking the number: the incident's number and
    content digest, the messages owed and the audit events — not the routing's reads, the
    recipients or the draft (they come before)."""
    khan, brown = await world.link_all("sw-khan", "carer-brown")
    await world.settle()
    await brown.send("/report")
    await brown.wait_for("Choose one")
    await brown.click("Other / general update")
    await brown.wait_for("write what happened")
    await brown.send("All fine, just letting you know.")
    await brown.wait_for("When did it happen")
    await brown.click("Skip the rest")
    await brown.wait_for("Please check your report")
    await world.settle()

    engine = world.services.db.engine.sync_engine
    running: dict[int, list[str]] = {}
    committed: list[list[str]] = []

    def statement(conn, _cursor, text, *_args) -> None:
        running.setdefault(id(conn), []).append(_flat(text))

    def commit(conn) -> None:
        committed.append(running.pop(id(conn), []))

    def rollback(conn) -> None:
        running.pop(id(conn), None)

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    event.listen(engine, "rollback", rollback)
    try:
        await brown.click("Submit")
        await brown.wait_for("received and recorded")
        await khan.wait_for("Routine")
        await world.settle()
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
        event.remove(engine, "rollback", rollback)

    submits = [t for t in committed
               if any(s.startswith("INSERT INTO incident_counters") for s in t)]
    assert len(submits) == 1
    submit = submits[0]
    numbered = next(i for i, s in enumerate(submit)
                    if s.startswith("INSERT INTO incident_counters"))
    after_number = submit[numbered + 1:]
    # The number, the messages owed (one INSERT, or one per row where the driver cannot
    # return several ids), the content digest, then the audit head: nothing else.
    # On PostgreSQL the events' INSERT and the head's advance are one statement
    # (``audit._insert_and_advance``: WITH appended AS (INSERT …) UPDATE audit_head …).
    kinds = [s.split(" (")[0].split(" SET")[0].split(" WHERE")[0] for s in after_number]
    assert set(kinds) <= {"UPDATE incidents", "INSERT INTO deliveries",
                          "SELECT audit_head.last_event_id, audit_head.last_hash, audit_head.count "
                          "FROM audit_head", "INSERT INTO audit_events", "UPDATE audit_head",
                          "WITH appended AS"}, after_number
    assert len(after_number) <= 7, after_number
    head = next(i for i, s in enumerate(submit) if s.startswith("SELECT audit_head."))
    appended = [s.split(" (")[0].split(" SET")[0] for s in submit[head + 1:]]
    if world.services.db.is_postgres:
        assert appended == ["WITH appended AS"], submit[head:]
        assert "UPDATE audit_head" in submit[-1] and "INSERT INTO audit_events" in submit[-1]
    else:
        assert appended == ["INSERT INTO audit_events", "UPDATE audit_head"], submit[head:]
    # What the carer and the worker see carries the number taken last.
    async with world.services.db.read() as s:
        ref = (await s.execute(select(Incident.reference))).scalar_one()
        chain = await audit.verify(s)
    assert ref.endswith("-000001")
    assert any(ref in (m.text or "") for m in brown.messages if "received and recorded" in m.text)
    assert any(ref in (m.text or "") for m in khan.messages)
    assert chain.ok, chain.message


async def _submit(services, description: str) -> str:
    async with services.db.write() as s:
        carer = await s.get(Person, "carer-brown")
        sub = await incidents.submit_report(s, services, carer=carer, child_ref="B2",
                                            category_key="other", description=description)
        return sub.incident.reference


async def test_a_submit_rolled_back_after_its_number_leaves_no_gap(world):
    services = world.services
    first = await _submit(services, "first")
    with pytest.raises(RuntimeError):
        async with services.db.write() as s:
            carer = await s.get(Person, "carer-brown")
            sub = await incidents.submit_report(s, services, carer=carer, child_ref="B2",
                                                category_key="other", description="lost")
            assert sub.incident.reference.endswith("-000002")
            raise RuntimeError("the handler failed after the report was numbered")
    second = await _submit(services, "second")
    await world.settle()
    assert (first[-6:], second[-6:]) == ("000001", "000002")
    async with services.db.read() as s:
        rows = (await s.execute(select(Incident.reference, Incident.description)
                                .order_by(Incident.id))).all()
        chain = await audit.verify(s)
    assert [tuple(r) for r in rows] == [(first, "first"), (second, "second")]
    assert chain.ok, chain.message


async def test_reports_submitted_at_once_get_consecutive_references(world):
    """On PostgreSQL these transactions really overlap: each files its report, then waits
    for the counter row only at the end."""
    refs = await asyncio.gather(*(_submit(world.services, f"report {n}") for n in range(8)))
    await world.settle()  # the receipts' failures recorded, so the chain is read at rest
    assert sorted(r[-6:] for r in refs) == [f"{n:06d}" for n in range(1, 9)]
    async with world.services.db.read() as s:
        stored = (await s.execute(select(Incident.reference))).scalars().all()
        chain = await audit.verify(s)
    assert sorted(stored) == sorted(refs)
    assert not any(r.startswith(incidents.UNNUMBERED) for r in stored)
    assert chain.ok, chain.message


async def test_an_urgent_report_s_questions_name_it_by_its_number(world):
    """The questions after an urgent report are rendered once the report has its number:
    the carer never sees the provisional reference."""
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    ref = await world.report(smith, child="A1", category="Child missing or absent without permission",
                             text="Gone since 9 this morning")
    await smith.wait_for("a few more questions")
    await world.settle()
    texts = [m.text or "" for m in smith.messages]
    assert sum(ref in t and "received and recorded" in t for t in texts) == 1
    assert sum(ref in t and "a few more questions" in t for t in texts) == 1
    assert not any(incidents.UNNUMBERED in t for t in texts + [m.text or "" for m in patel.messages])
