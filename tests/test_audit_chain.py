"""Tamper evidence: ``audit verify`` passes on an untouched log and names the right
event after a row is edited, deleted or inserted directly in the database; the
CLI exits non-zero then; appends from concurrent writers stay one chain."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import delete, insert, select, update

from bot import audit, cli
from storage.models import AuditEvent, AuditHead

N = 10


async def _record_many(services, n=N, start=0):
    for i in range(start, start + n):
        async with services.db.write() as s:
            await audit.record(s, "test_event", at=services.clock.now() + timedelta(seconds=i),
                               actor_id=f"p{i}", incident_id=i % 3 or None, n=i, text="é & <x>")


async def _verify(services):
    async with services.db.read() as s:
        return await audit.verify(s, batch=4)  # small batches: breaks found across batch edges


async def _row(services, event_id):
    async with services.db.read() as s:
        return (await s.execute(select(AuditEvent).where(AuditEvent.id == event_id))).scalar_one()


def _forge(row_id, prev_hash, at, event="forged"):
    """A row a forger would insert: correctly hashed and linked to ``prev_hash``."""
    row = AuditEvent(id=row_id, at=at, event=event, actor_id="mallory", telegram_user_id=None,
                     incident_id=None, details={"x": 1}, prev_hash=prev_hash, hash="")
    row.hash = audit.event_hash(row)
    return {c: getattr(row, c) for c in ("id", "at", "event", "actor_id", "telegram_user_id",
                                         "incident_id", "details", "prev_hash", "hash")}


@pytest.fixture
async def chain(services):
    await _record_many(services)
    return services


async def test_untouched_log_is_intact(chain):
    result = await _verify(chain)
    assert result.ok and result.count == N and result.message == f"intact, {N} events"
    async with chain.db.read() as s:
        head = (await s.execute(select(AuditHead))).scalar_one()
    assert (head.last_event_id, head.count, head.last_hash) == (N, N, result.last_hash)


async def test_edited_row_is_named(chain):
    async with chain.db.write() as s:
        await s.execute(update(AuditEvent).where(AuditEvent.id == 5).values(details={"n": 999}))
    result = await _verify(chain)
    assert not result.ok and result.first_bad_id == 5
    assert "event 5 (test_event) was altered" in result.message


async def test_edited_row_with_recomputed_hash_is_named(chain):
    row = await _row(chain, 5)
    row.actor_id = "someone-else"
    new_hash = audit.event_hash(row)
    async with chain.db.write() as s:
        await s.execute(update(AuditEvent).where(AuditEvent.id == 5)
                        .values(actor_id="someone-else", hash=new_hash))
    result = await _verify(chain)
    assert not result.ok and result.first_bad_id == 5
    assert "event 5 (test_event) was altered: event 6 recorded a different hash" in result.message


async def test_edited_time_is_named(chain):
    row = await _row(chain, 7)
    async with chain.db.write() as s:
        await s.execute(update(AuditEvent).where(AuditEvent.id == 7)
                        .values(at=row.at - timedelta(hours=1)))
    result = await _verify(chain)
    assert result.first_bad_id == 7


async def test_deleted_row_is_named(chain):
    async with chain.db.write() as s:
        await s.execute(delete(AuditEvent).where(AuditEvent.id == 4))
    result = await _verify(chain)
    assert not result.ok and result.first_bad_id == 4
    assert "event(s) 4 deleted (the next event found is 5)" in result.message


async def test_deleted_rows_renumbered_are_found_where_they_were(chain):
    async with chain.db.write() as s:
        await s.execute(delete(AuditEvent).where(AuditEvent.id == 4))
        for i in range(5, N + 1):
            await s.execute(update(AuditEvent).where(AuditEvent.id == i).values(id=i - 1))
    result = await _verify(chain)
    assert not result.ok and result.first_bad_id == 4


async def test_deleted_last_row_is_named(chain):
    async with chain.db.write() as s:
        await s.execute(delete(AuditEvent).where(AuditEvent.id == N))
    result = await _verify(chain)
    assert not result.ok and result.first_bad_id == N
    assert "the latest were deleted" in result.message


async def test_row_inserted_after_the_last_is_named(chain):
    last = await _row(chain, N)
    async with chain.db.write() as s:
        await s.execute(insert(AuditEvent).values(**_forge(N + 1, last.hash, last.at)))
    result = await _verify(chain)
    assert not result.ok and result.first_bad_id == N + 1
    assert f"event {N + 1} was inserted after the last event the chain head records" in result.message


async def test_row_inserted_before_the_first_is_named(chain):
    first = await _row(chain, 1)
    async with chain.db.write() as s:
        await s.execute(insert(AuditEvent).values(**_forge(0, audit.GENESIS, first.at)))
    result = await _verify(chain)
    assert not result.ok and result.first_bad_id == 0
    assert "event 0 (forged) was inserted" in result.message


async def test_row_inserted_in_the_middle_is_named(chain):
    """A forger renumbers the later rows to make room and links the new row correctly."""
    async with chain.db.write() as s:
        for i in range(N, 5, -1):
            await s.execute(update(AuditEvent).where(AuditEvent.id == i).values(id=i + 1))
        fifth = (await s.execute(select(AuditEvent).where(AuditEvent.id == 5))).scalar_one()
        await s.execute(insert(AuditEvent).values(**_forge(6, fifth.hash, fifth.at)))
    result = await _verify(chain)
    assert not result.ok and result.first_bad_id == 6
    assert "event 6 (forged) was inserted" in result.message


async def test_head_altered_is_found(chain):
    async with chain.db.write() as s:
        await s.execute(update(AuditHead).values(last_hash="f" * 64))
    result = await _verify(chain)
    assert not result.ok and result.first_bad_id == N


async def test_concurrent_writers_make_one_chain(services):
    """Writers racing from an empty log (no head row yet) all commit; the chain is linear."""
    async def writer(w):
        for i in range(8):
            async with services.db.write() as s:
                await audit.record(s, "race", at=services.clock.now(), writer=w, i=i)
                await asyncio.sleep(0)

    await asyncio.gather(*(writer(w) for w in range(4)))
    result = await _verify(services)
    assert result.ok and result.count == 32


async def test_appends_on_a_bare_connection_join_the_same_chain(services):
    """``record_on`` (Core on a bare connection: the dispatcher's record of its sends) and
    ``record`` (a session), racing from an empty log, make one chain; each returns the
    events exactly as stored."""
    written = []

    async def on_session(i):
        async with services.db.write() as s:
            written.append(await audit.record(s, "session", at=services.clock.now(), i=i,
                                              incident_id=i))
            await asyncio.sleep(0)

    async def on_connection(i):
        async with services.db.write_connection() as conn:
            written.extend(await audit.record_on(conn, [
                audit.event("bare", at=services.clock.now(), incident_id=i, i=i, k=k)
                for k in range(2)]))
            await asyncio.sleep(0)

    await asyncio.gather(*(f(i) for i in range(4) for f in (on_session, on_connection)))
    result = await _verify(services)
    assert result.ok and result.count == 12, result.message
    assert sorted(w.id for w in written) == list(range(1, 13))
    for w in written:
        row = await _row(services, w.id)
        assert (row.event, row.incident_id, row.details, row.prev_hash, row.hash) == (
            w.event, w.incident_id, w.details, w.prev_hash, w.hash)


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite writers never interleave
async def test_append_after_a_stale_read_of_the_head(services):
    """A transaction that read the head before another writer appended still appends
    after that writer's event (the lock hands back fresh values, not the ORM's copy)."""
    await _record_many(services, 2)
    async with services.db.write() as mine:
        stale = (await mine.execute(select(AuditHead))).scalar_one()
        assert stale.count == 2
        async with services.db.write() as other:
            await audit.record(other, "other", at=services.clock.now())
        await audit.record(mine, "mine", at=services.clock.now())
    result = await _verify(services)
    assert result.ok and result.count == 4
    assert (await _row(services, 4)).event == "mine"


# ------------------------------------------------------------------ the command line


def _config(tmp_path, db_url):
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "{db_url}"\n', encoding="utf-8")
    return str(path)


async def _cli(*argv):
    return await asyncio.to_thread(cli.main, list(argv))


async def test_cli_verify_exits_non_zero_when_tampered(chain, db_url, tmp_path, capsys):
    cfg = _config(tmp_path, db_url)
    assert await _cli("--config", cfg, "audit", "verify") == 0
    assert f"intact, {N} events" in capsys.readouterr().out
    async with chain.db.write() as s:
        await s.execute(update(AuditEvent).where(AuditEvent.id == 3).values(event="edited"))
    assert await _cli("--config", cfg, "audit", "verify") == 1
    assert "broken at event 3: event 3 (edited) was altered" in capsys.readouterr().out


async def test_cli_verify_checks_an_exports_chain_head(chain, db_url, tmp_path, capsys):
    cfg = _config(tmp_path, db_url)
    out = tmp_path / "export"
    assert await _cli("--config", cfg, "export", "--from", "2026-11-01", "--to", "2026-11-30",
                      "--out", str(out)) == 0
    printed = capsys.readouterr().out
    head_file = next(out.glob("audit-chain-head_*.json"))
    head = json.loads(head_file.read_text())["chain_head"]
    assert f"audit chain head: event {head['last_event_id']}, hash {head['last_hash']}" in printed
    assert await _cli("--config", cfg, "audit", "verify", "--head", str(head_file)) == 0
    assert "is still in the log, unchanged" in capsys.readouterr().out

    # Someone rewrites the whole log from event 5 on, consistently (hashes, links and
    # head recomputed): the chain alone looks intact, the export's head exposes it.
    async with chain.db.write() as s:
        rows = (await s.execute(select(AuditEvent).where(AuditEvent.id >= 5)
                                .order_by(AuditEvent.id))).scalars().all()
        prev = (await s.execute(select(AuditEvent.hash).where(AuditEvent.id == 4))).scalar_one()
        for row in rows:
            row.details = {**row.details, "rewritten": True}
            row.prev_hash = prev
            row.hash = hashlib.sha256(b"placeholder" + str(row.id).encode()).hexdigest()
            await s.flush()
            row.hash = audit.event_hash(row)
            prev = row.hash
        head_row = (await s.execute(select(AuditHead))).scalar_one()
        head_row.last_hash = prev
    assert await _cli("--config", cfg, "audit", "verify") == 0
    capsys.readouterr()
    assert await _cli("--config", cfg, "audit", "verify", "--head", str(head_file)) == 1
    assert "is NOT in the log" in capsys.readouterr().out
