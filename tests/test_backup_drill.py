"""The backup drill, on SQLite and PostgreSQL: a report is made and alerted through the
emulator; ``fosterbot db backup`` while the bot runs; the database is destroyed;
``fosterbot db restore``; ``fosterbot audit verify`` says intact; the bot starts again, sends
nothing twice, and the escalation step that was pending fires on the injected clock."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import stat

import asyncpg
import pytest
from sqlalchemy import make_url

from bot import cli
from storage import backup, files
from tests import pgserver
from tests.escalation_helpers import actions, tick

MISSING = "Child missing or absent without permission"  # urgent: first step after 15 min


async def fosterbot(capsys, *argv: str) -> tuple[int, str]:
    """Run the ``fosterbot`` command (in a thread: it runs its own event loop)."""
    capsys.readouterr()
    code = await asyncio.to_thread(cli.main, list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


async def destroy(world, request) -> None:
    """The machine is lost: the database is gone (PostgreSQL: an empty one is made again)."""
    await world.stop_bot()
    await world.services.db.dispose()
    path = files.sqlite_path(world.db_url)
    if path is not None:
        for p in [path, *(path.with_name(path.name + s) for s in files.SQLITE_SIDE_FILES)]:
            p.unlink(missing_ok=True)
        return
    admin, _ = request.getfixturevalue("pg_admin")
    name = make_url(world.db_url).database
    conn = await asyncpg.connect(pgserver.asyncpg_dsn(admin))
    try:
        await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def test_backup_destroy_restore_and_the_bot_carries_on(world, tmp_path, capsys, request):
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{world.db_url}"\n')
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    ref = await world.report(smith, child="A1", category=MISSING, text="Not back from school.")
    await patel.wait_for(ref)
    await world.settle()
    patel.mark()

    saved = tmp_path / "backups" / "fosterbot.backup"
    saved.parent.mkdir()
    code, out = await fosterbot(capsys, "--config", str(config), "db", "backup", str(saved))
    assert code == 0, out
    assert "written to" in out and stat.S_IMODE(os.stat(saved).st_mode) == 0o600
    assert [p.name for p in saved.parent.iterdir()] == ["fosterbot.backup"]  # no partial left

    await destroy(world, request)
    code, out = await fosterbot(capsys, "--config", str(config), "audit", "verify")
    assert code != 0  # nothing there any more

    code, out = await fosterbot(capsys, "--config", str(config), "db", "restore", str(saved))
    assert code == 0, out
    code, out = await fosterbot(capsys, "--config", str(config), "db", "restore", str(saved))
    assert code == 1 and "the database is not empty" in out and "--force" in out
    code, out = await fosterbot(capsys, "--config", str(config), "db", "restore", "--force",
                                str(saved))
    assert code == 0, out
    code, out = await fosterbot(capsys, "--config", str(config), "audit", "verify")
    assert code == 0 and "intact" in out, out

    before = len(patel.messages), len(smith.messages)
    await world.start_bot()
    await world.settle()
    assert (len(patel.messages), len(smith.messages)) == before  # nothing sent twice
    assert await tick(world, minutes=15) == 1  # 10:15: the pending step fires
    reminder = await patel.wait_for("Reminder")
    assert ref in reminder.text
    assert await actions(world, ref) == ["step1"]


async def test_a_missing_pg_dump_and_a_wrong_kind_of_backup_are_clear_errors(
        tmp_path, monkeypatch):
    monkeypatch.setattr(backup.shutil, "which", lambda name: None)
    with pytest.raises(backup.BackupError, match="pg_dump is not installed: install the "
                                                 "PostgreSQL client"):
        await backup.backup("postgresql+asyncpg://fosterbot@127.0.0.1/none", tmp_path / "b")
    assert list(tmp_path.iterdir()) == []
    dump = tmp_path / "dump"
    dump.write_bytes(b"PGDMP\x01\x0e\x00" + b"\x00" * 32)
    with pytest.raises(backup.BackupError, match="not a SQLite backup"):
        await backup.restore(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", dump)
    assert not (tmp_path / "x.db").exists()


async def test_a_freshly_migrated_database_counts_as_empty(sqlite_template, tmp_path):
    """`fosterbot db upgrade` then `db restore` needs no --force; one row of data does."""
    source, target = tmp_path / "old #1.db", tmp_path / "new.db"  # a name a URI must quote
    shutil.copy(sqlite_template, source)
    with sqlite3.connect(source) as conn:
        conn.execute("INSERT INTO teams (id, name) VALUES ('north', 'North')")
    conn.close()
    saved = tmp_path / "saved.backup"
    await backup.backup(f"sqlite+aiosqlite:///{source}", saved)
    shutil.copy(sqlite_template, target)
    url = f"sqlite+aiosqlite:///{target}"
    await backup.restore(url, saved)
    with pytest.raises(backup.BackupError, match=r"not empty \(rows in teams\)"):
        await backup.restore(url, saved)
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT name FROM teams").fetchall() == [("North",)]
    conn.close()
