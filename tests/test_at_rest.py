"""Issue 14, findings 5 and 6 and "Files" / "Encryption at rest": data at rest is private,
encrypted, rotatable, and the audit chain vouches for the record itself.

* files the bot writes (SQLite database and its -wal/-shm, kept attachments, exports, their
  folders) are 0600/0700 even under a permissive umask, and ``fosterbot`` sets umask 077;
* with ``FOSTERBOT_DATA_KEYS`` set, descriptions, record answers, thread messages,
  outcomes, drafts, outbox payloads and kept files are ciphertext in the database and on
  disk, and plain text to the people using the bot, after a restart too;
* a value under a key that is not configured is a clear error, never garbage;
* ``fosterbot keys rotate`` re-encrypts in batches and resumes after an interruption;
* editing an incident's description, outcome or acknowledger or a thread message, or
  deleting an incident, makes ``audit verify`` fail naming what changed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import struct
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, text, update

from bot import audit, cli
from bot.record.attachments import read_kept
from bot.review.export import export
from bot.review.periods import between
from storage import crypto, keys, migrate
from storage.db import Database
from storage.models import (
    Attachment,
    AuditEvent,
    Delivery,
    EscalationAction,
    Incident,
    IncidentMessage,
    IncidentRecipient,
)
from tests.test_cli_and_schema import fosterbot

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 4, 3) + b"bruise-photo"
SECRET = "Zebra-crossing-7731 bruise"
K1 = "k1:" + base64.b64encode(b"1" * 32).decode()
K2 = "k2:" + base64.b64encode(b"2" * 32).decode()


@pytest.fixture
def settings_overrides(tmp_path):
    return {"storage": {"keep_files": True, "files_dir": str(tmp_path / "files")}}


@pytest.fixture
def keyring():
    """Install data keys for the test (``use("k1,...")``); the environment's afterwards."""
    def use(entries: str | None) -> crypto.Keyring:
        ring = crypto.Keyring.parse(entries)
        crypto.install(ring)
        return ring

    yield use
    crypto.install(None)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def _report_with_photo(world, carer, caption: str) -> str:
    await carer.send("/report")
    await carer.wait_for("Which child")
    await carer.click("A1")
    await carer.wait_for("Choose one")
    await carer.click("Education / school incident")
    await carer.wait_for("write what happened")
    await carer.send_photo(PNG, caption=caption)
    await carer.wait_for("When did it happen")
    await carer.click("Skip the rest")
    await carer.wait_for("Please check your report")
    await carer.click("Submit")
    receipt = await carer.wait_for("received and recorded")
    return receipt.text.split("Report ")[1].split(" ")[0]


async def _kept(world, ref: str) -> Attachment:
    for _ in range(100):
        await world.settle()
        async with world.services.db.read() as s:
            row = (await s.execute(select(Attachment).join(Incident, Incident.id ==
                                                           Attachment.incident_id)
                                   .where(Incident.reference == ref))).scalars().first()
        if row is not None and row.local_path:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError("the attachment was not kept")


async def _verify(services) -> audit.VerifyResult:
    async with services.db.read() as s:
        return await audit.verify(s, batch=3)


# ------------------------------------------------------------------------ file modes

async def test_database_files_are_private_whatever_the_umask(tmp_path, umask_022):
    url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'bot.db'}"
    await migrate.upgrade(url)
    db = Database(url)
    try:
        async with db.write() as s:
            await audit.record(s, "test_event", at=datetime.now(timezone.utc))
        async with db.read() as s:
            assert (await audit.verify(s)).ok
        folder = tmp_path / "data"
        assert mode(folder) == 0o700
        for name in ("bot.db", "bot.db-wal", "bot.db-shm"):
            assert (folder / name).exists(), name
            assert mode(folder / name) == 0o600, name
    finally:
        await db.dispose()
    # A database file an older version left world-readable is tightened at the next start.
    os.chmod(folder / "bot.db", 0o644)
    Database(url)
    assert mode(folder / "bot.db") == 0o600


def test_fosterbot_sets_umask_077(umask_022):
    assert cli.entry(["keys", "new", "k9"]) == 0
    assert os.umask(0o022) == 0o077


async def test_kept_files_and_exports_are_private(world, tmp_path, umask_022, backend):
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    ref = await _report_with_photo(world, smith, "Bruise on her arm.")
    await patel.wait_for(ref)
    att = await _kept(world, ref)
    path = Path(att.local_path)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700 and mode(tmp_path / "files") == 0o700
    assert read_kept(path) == PNG

    out = tmp_path / "exports" / "november"
    period = between(None, None, world.clock.now(), world.services.tz)
    result = await export(world.services.db, world.settings, period=period, scope=None,
                          out_dir=out, now=world.clock.now(), actor_id="cli")
    assert mode(tmp_path / "exports") == 0o700 and mode(out) == 0o700
    assert len(result.files) == 3
    for f in result.files:
        assert mode(f) == 0o600, f.name


# ------------------------------------------------------------------ encryption at rest

async def _raw_values(world) -> dict[str, list]:
    """Every encrypted column as stored, read with plain SQL (no decryption)."""
    out = {}
    async with world.services.db.read() as s:
        for table, columns in (("incidents", ("description", "details", "outcome_text")),
                               ("incident_messages", ("text",)), ("drafts", ("data",)),
                               ("deliveries", ("payload",))):
            for c in columns:
                rows = (await s.execute(text(f"SELECT {c} FROM {table} ORDER BY id"))).all()
                values = [r[0] for r in rows if r[0] is not None]
                if c in ("details", "data", "payload"):  # JSON: the document as stored
                    # (SQLite hands back the JSON text, asyncpg the decoded document)
                    values = [json.loads(v) if isinstance(v, str) and v[:1] in '"{[' else v
                              for v in values]
                out[f"{table}.{c}"] = values
    return out


async def test_free_text_is_ciphertext_in_the_database_and_plain_through_the_bot(
        world, keyring, backend):
    keyring(K1)
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    await smith.send("/report")
    await smith.wait_for("Which child")
    await smith.click("A1")
    await smith.wait_for("Choose one")
    await smith.click("Education / school incident")
    await smith.wait_for("write what happened")
    await smith.send(f"{SECRET} in the playground.")
    await smith.wait_for("When did it happen")
    await smith.click("Now")
    await smith.wait_for("Where")
    await smith.send(f"Behind the {SECRET} shed")
    await smith.wait_for("Who was present")
    await smith.click("Skip the rest")
    await smith.wait_for("Please check your report")
    await smith.click("Submit")
    receipt = await smith.wait_for("received and recorded")
    ref = receipt.text.split("Report ")[1].split(" ")[0]
    alert = await patel.wait_for(ref)
    assert SECRET in alert.text

    await smith.click("Add more", message_id=smith.last.message_id)
    await smith.wait_for("Send what you want to add")
    await smith.send(f"Follow-up: {SECRET} again")
    await smith.wait_for("Added to")
    await smith.click("Done")
    await patel.click("Acknowledge", message_id=alert.message_id)
    await smith.wait_for("was acknowledged by")
    await patel.click("Close with outcome", message_id=alert.message_id)
    await patel.wait_for("what was the outcome")
    await patel.click("Advice given")
    await patel.wait_for("type a short note")
    await patel.send(f"Outcome note {SECRET}")
    await patel.wait_for("Closed " + ref)
    await world.settle()

    raw = await _raw_values(world)
    for column, values in raw.items():
        assert values, column
        for v in values:
            assert isinstance(v, str) and v.startswith("enc:v1:k1:"), (column, v)
            assert SECRET not in v
    if backend == "sqlite":
        db_file = Path(world.db_url.split("///", 1)[1])
        for f in (db_file, db_file.with_name(db_file.name + "-wal")):
            if f.exists():
                assert SECRET.encode() not in f.read_bytes(), f.name

    # The person reading it sees plain text, after a restart too.
    await world.stop_bot()
    await world.start_bot()
    patel.mark()
    await patel.click("Full record", message_id=alert.message_id)
    rec = await patel.wait_for("full record")
    for expected in (f"{SECRET} in the playground.", f"Behind the {SECRET} shed",
                     f"Follow-up: {SECRET} again", f"Outcome note {SECRET}"):
        assert expected in rec.text, expected
    assert (await _verify(world.services)).ok


async def test_kept_files_are_encrypted(world, keyring, backend):
    keyring(K1)
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    ref = await _report_with_photo(world, smith, "Bruise.")
    await patel.wait_for(ref)
    att = await _kept(world, ref)
    stored = Path(att.local_path).read_bytes()
    assert PNG not in stored and b"bruise-photo" not in stored
    assert crypto.file_key_id(stored) == "k1"
    assert read_kept(att.local_path) == PNG


async def test_a_value_under_an_unknown_key_is_a_clear_error(world, keyring, backend):
    keyring(K2)
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    ref = await world.report(smith, child="A1", category="Other / general update",
                             text=f"{SECRET}.")
    await patel.wait_for(ref)
    await world.settle()
    keyring(K1)  # k2 lost from the configuration
    with pytest.raises(crypto.DataKeyError) as err:
        async with world.services.db.read() as s:
            await s.execute(select(Incident.description))
    assert "key id 'k2'" in str(err.value) and crypto.ENV in str(err.value)
    assert "incidents.description" in str(err.value)
    # Same id, another key: refused, not garbage.
    keyring("k2:" + base64.b64encode(b"x" * 32).decode())
    with pytest.raises(crypto.DataKeyError, match="does not decrypt with key 'k2'"):
        async with world.services.db.read() as s:
            await s.execute(select(Incident.description))


def test_malformed_keys_are_a_configuration_error(tmp_path):
    r = fosterbot(tmp_path, "db", "upgrade", env_extra={crypto.ENV: "k1:not-a-key"})
    assert r.returncode == 2 and "FOSTERBOT_DATA_KEYS" in r.stderr and "k1" in r.stderr
    cfg = tmp_path / "strict.toml"
    cfg.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "cli.db"}"\n'
                   '[storage]\nrequire_encryption = true\n')
    r = fosterbot(tmp_path, "--config", str(cfg), "run",
                  env_extra={"FOSTERBOT_TELEGRAM_TOKEN": "123:abc"})
    assert r.returncode == 2 and "require_encryption" in r.stderr


# ------------------------------------------------------------------------- rotation

async def test_keys_rotate_resumes_after_an_interruption(world, keyring, backend, tmp_path):
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    keyring(None)  # written before encryption was configured: plain
    refs = [await world.report(smith, child="A1", category="Other / general update",
                               text=f"Plain {SECRET} {i}.") for i in range(2)]
    keyring(K1)
    refs += [await world.report(smith, child="A1", category="Other / general update",
                                text=f"Old key {SECRET} {i}.") for i in range(2)]
    refs.append(await _report_with_photo(world, smith, "Photo under k1."))
    att = await _kept(world, refs[-1])
    await world.settle()

    ring = keyring(f"{K2},{K1}")
    seen = []

    def interrupt(what, done, total, rewritten):
        seen.append((what, done, total, rewritten))
        if len(seen) == 2:
            raise KeyboardInterrupt  # the operator's Ctrl-C, between batches

    with pytest.raises(KeyboardInterrupt):
        await keys.rotate(world.services.db, batch=2, progress=interrupt, ring=ring)
    assert seen[0][0] == "incidents" and seen[0][1:3] == (2, 5)
    raw = [r for r in (await _raw_values(world))["incidents.description"]]
    assert [crypto.text_key_id(v) for v in raw] == ["k2", "k2", "k2", "k2", "k1"]

    # Resumed by the real command: the first four are skipped, the rest rewritten.
    env = {crypto.ENV: f"{K2},{K1}"}
    r = fosterbot(tmp_path, "keys", "rotate", "--batch", "2", db_url=world.db_url,
                  env_extra=env)
    assert r.returncode == 0, r.stderr
    assert "incidents: 2/5 rows checked, 0 value(s) re-encrypted" in r.stdout
    assert "incidents: 5/5 rows checked, 2 value(s) re-encrypted" in r.stdout
    assert "1 of 1 kept file(s) re-encrypted" in r.stdout
    raw = await _raw_values(world)
    for column, values in raw.items():
        assert all(crypto.text_key_id(v) == "k2" for v in values), column
    assert crypto.file_key_id(Path(att.local_path).read_bytes()) == "k2"
    r = fosterbot(tmp_path, "keys", "rotate", db_url=world.db_url, env_extra=env)
    assert "done: 0 value(s) re-encrypted" in r.stdout and "0 of 1 kept file" in r.stdout

    # k1 can go: everything still reads, through the bot and the chain.
    keyring(K2)
    assert read_kept(att.local_path) == PNG
    await smith.send("/myreports")
    got = await smith.wait_for(refs[0])
    assert refs[0] in got.text
    r = fosterbot(tmp_path, "log", refs[0], db_url=world.db_url, env_extra={crypto.ENV: K2})
    assert r.returncode == 0 and f"Plain {SECRET} 0." in r.stdout
    r = fosterbot(tmp_path, "log", refs[0], db_url=world.db_url, env_extra={crypto.ENV: K1})
    assert r.returncode == 1 and "key id 'k2'" in r.stderr
    assert (await _verify(world.services)).ok


# --------------------------------------------------- the audit chain covers the record

@pytest.fixture
async def closed_report(world):
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    ref = await world.report(smith, child="A1", category="Other / general update",
                             text="Fell off the trampoline.")
    alert = await patel.wait_for(ref)
    await smith.click("Add more", message_id=smith.last.message_id)
    await smith.wait_for("Send what you want to add")
    await smith.send("She is fine now.")
    await smith.wait_for("Added to")
    await smith.click("Done")
    await patel.click("Acknowledge", message_id=alert.message_id)
    await smith.wait_for("was acknowledged by")
    world.clock.advance(minutes=20)
    await patel.click("Close with outcome", message_id=alert.message_id)
    await patel.wait_for("what was the outcome")
    await patel.click("Advice given")
    await patel.wait_for("type a short note")
    await patel.send("Advice on supervision given.")
    await patel.wait_for("Closed " + ref)
    await world.settle()
    assert (await _verify(world.services)).ok
    async with world.services.db.read() as s:
        inc = (await s.execute(select(Incident).where(Incident.reference == ref))).scalar_one()
    return world, inc


@pytest.mark.parametrize("column,value", [
    ("description", "Nothing happened."),
    ("outcome_text", "No further action."),
    ("acknowledged_by_id", "sw-khan"),
])
async def test_editing_the_record_fails_verify_naming_the_field(closed_report, column, value,
                                                                backend):
    world, inc = closed_report
    async with world.services.db.write() as s:
        await s.execute(update(Incident).where(Incident.id == inc.id).values({column: value}))
    result = await _verify(world.services)
    assert not result.ok
    assert f"incident {inc.reference} (id {inc.id}) was changed after event" in result.message
    assert result.message.rstrip().endswith(column), result.message


async def test_editing_a_thread_message_fails_verify(closed_report, backend, tmp_path):
    world, inc = closed_report
    async with world.services.db.read() as s:
        msg = (await s.execute(select(IncidentMessage).where(
            IncidentMessage.incident_id == inc.id, IncidentMessage.kind == "followup"))
               ).scalar_one()
    async with world.services.db.write() as s:
        await s.execute(update(IncidentMessage).where(IncidentMessage.id == msg.id)
                        .values(text="She was never hurt."))
    r = fosterbot(tmp_path, "audit", "verify", db_url=world.db_url)
    assert r.returncode == 1
    assert (f"thread message {msg.id} (incident id {inc.id}) was changed after event"
            in r.stdout)


async def test_deleting_an_incident_fails_verify(closed_report, backend, tmp_path):
    world, inc = closed_report
    async with world.services.db.write() as s:
        for model in (Attachment, IncidentMessage, Delivery, IncidentRecipient,
                      EscalationAction):
            await s.execute(delete(model).where(model.incident_id == inc.id))
        await s.execute(delete(Incident).where(Incident.id == inc.id))
    r = fosterbot(tmp_path, "audit", "verify", db_url=world.db_url)
    assert r.returncode == 1
    assert f"incident {inc.reference} (id {inc.id}) was deleted" in r.stdout
    assert "thread message" in r.stdout and "was deleted" in r.stdout


async def test_a_change_after_the_event_in_the_same_transaction_is_still_vouched_for(
        world, backend):
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    ref = await world.report(smith, child="A1", category="Other / general update",
                             text="Muddy knees.")
    await patel.wait_for(ref)
    await world.settle()  # every send recorded: no `delivered` event lands during verify
    async with world.services.db.write() as s:
        inc = (await s.execute(select(Incident).where(Incident.reference == ref))).scalar_one()
        event = await audit.record(s, "test_event", at=world.clock.now(), incident_id=inc.id)
        inc.details = {**inc.details, "where": "Garden"}  # after the event: sealed at commit
    assert (await _verify(world.services)).ok
    async with world.services.db.read() as s:
        after = await s.get(AuditEvent, event.id + 1)
    assert after.event == "record_updated" and after.incident_id == inc.id
    assert after.details["record"]["incident"]["fields"]["details"] != (
        event.details.get("record", {}).get("incident", {}).get("fields", {}).get("details"))


async def test_an_incident_inserted_behind_the_bots_back_fails_verify(closed_report, backend):
    world, inc = closed_report
    copy = {c.key: getattr(inc, c.key) for c in Incident.__table__.columns
            if c.key != "id" and c.computed is None}  # the database computes late_from
    async with world.services.db.write() as s:
        await s.execute(insert(Incident).values(**{**copy, "reference": "INC-2026-999999"}))
    result = await _verify(world.services)
    assert not result.ok
    assert "incident INC-2026-999999" in result.message
    assert "has no audit event: it was inserted outside the application" in result.message


async def test_the_chain_vouches_for_what_is_committed_not_a_stale_copy(world, backend):
    """A field changed behind the loaded object (a Core UPDATE here, or another process on
    PostgreSQL) is read again before the snapshot, so a true record never fails verify."""
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    ref = await world.report(smith, child="A1", category="Other / general update",
                             text="Grazed knee.")
    await patel.wait_for(ref)
    await world.settle()
    async with world.services.db.write() as s:
        inc = (await s.execute(select(Incident).where(Incident.reference == ref))).scalar_one()
        await s.execute(update(Incident).where(Incident.id == inc.id)
                        .values(status="acknowledged", acknowledged_by_id="sw-patel",
                                acknowledged_at=world.clock.now())
                        .execution_options(synchronize_session=False))
        inc.details = {**inc.details, "where": "Park"}
        await audit.record(s, "test_event", at=world.clock.now(), incident_id=inc.id)
    result = await _verify(world.services)
    assert result.ok, result.message


async def test_a_deletion_the_application_records_still_verifies(closed_report, backend):
    """Retention may delete a record: with its ``record_purged`` event the chain still
    verifies; the same deletion without it does not (above)."""
    world, inc = closed_report
    async with world.services.db.write() as s:
        ids = list((await s.execute(select(IncidentMessage.id).where(
            IncidentMessage.incident_id == inc.id))).scalars())
        for model in (Attachment, IncidentMessage, Delivery, IncidentRecipient,
                      EscalationAction):
            await s.execute(delete(model).where(model.incident_id == inc.id))
        await s.execute(delete(Incident).where(Incident.id == inc.id))
        await audit.record(s, "record_purged", at=world.clock.now(), incident_id=inc.id,
                           **audit.purged(inc.id, ids))
    result = await _verify(world.services)
    assert result.ok, result.message
