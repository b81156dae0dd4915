"""``fosterbot db backup FILE`` and ``fosterbot db restore FILE``: the whole database, online.

SQLite: the standard library's online backup API (``sqlite3.Connection.backup``)
copies a consistent snapshot while the bot keeps running (WAL: the bot's
writers are not held up), into a standalone file (rollback journal, no ``-wal``
beside it) checked with ``PRAGMA integrity_check``. PostgreSQL: ``pg_dump
--format=custom`` (one consistent snapshot; it must be installed, of the
server's major version or newer, else a clear error says so), restored with
``pg_restore`` — or ``psql`` for a plain SQL dump made by hand.

Decisions:

* **Private.** The backup holds the whole record: it is created 0600 from the
  start (never readable by others, even for a moment), written beside its final
  name and moved into place when complete, so an interrupted backup never
  leaves a half file under the name and never spoils the previous backup of
  that name.
* **Restore refuses a database that holds data** — any row in any table but
  those the migrations fill (``SCHEMA_ONLY_TABLES``) — unless ``force`` (then, on PostgreSQL, ``pg_restore
  --clean`` drops the objects the backup holds first). An empty database, or one
  only ``fosterbot db upgrade`` has touched, is restored into without asking.
  Stop the bot before a restore; start it after: the engine then runs every step
  that fell due in between (late steps say how late they are).
* **No secrets on a command line.** The PostgreSQL password goes to ``pg_dump``
  and ``pg_restore`` in ``PGPASSWORD``, never in their arguments (``ps`` shows
  those to every user).
* A backup of one kind is not restored into the other: a SQLite file into
  PostgreSQL (or a dump into SQLite) is refused with what to do instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from storage import files

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_CUSTOM_MAGIC = b"PGDMP"
# Rows the migrations themselves write: a database holding only these is empty.
SCHEMA_ONLY_TABLES = ("alembic_version", "audit_head")
PG_CLIENT_HINT = ("install the PostgreSQL client programs of the server's major version or "
                  "newer (Debian: apt-get install postgresql-client)")


class BackupError(Exception):
    """A backup or restore could not be done; the message says why and what to do."""


@dataclass(frozen=True)
class Done:
    path: Path
    size: int
    method: str  # "sqlite online backup", "pg_dump (custom format)", "pg_restore", "psql"


# ----------------------------------------------------------------------------- backup
async def backup(url: str, dest: Path | str) -> Done:
    """Write a backup of the database at ``url`` to ``dest`` (mode 0600, replaced whole)."""
    dest = Path(dest)
    if dest.is_dir():
        raise BackupError(f"{dest} is a folder: name the backup file")
    if not dest.parent.is_dir():
        raise BackupError(f"no folder {dest.parent} to write the backup in")
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    try:
        if url.startswith("sqlite"):
            method = "sqlite online backup"
            await asyncio.to_thread(_sqlite_backup, _sqlite_file(url, must_exist=True), partial)
        else:
            method = "pg_dump (custom format)"
            await _pg_dump(url, partial)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    return Done(dest, dest.stat().st_size, method)


def _sqlite_file(url: str, *, must_exist: bool) -> Path:
    path = files.sqlite_path(url)
    if path is None:
        raise BackupError(f"{url}: not a SQLite database file")
    if must_exist and not path.is_file():
        raise BackupError(f"no database at {path}")
    return path


def _read_only(path: Path) -> str:
    """A URI opening ``path`` read-only (percent-encoded: a name may hold ``?`` or ``#``)."""
    return path.absolute().as_uri() + "?mode=ro"


def _private_new(path: Path) -> None:
    """Create ``path`` empty, 0600 (it must not exist: a stale partial file is replaced)."""
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, files.FILE_MODE))


def _sqlite_backup(source: Path, partial: Path) -> None:
    _private_new(partial)
    src = sqlite3.connect(_read_only(source), uri=True)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
            # A standalone file: no -wal beside it, readable as it is.
            dst.execute("PRAGMA journal_mode=DELETE")
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            dst.close()
    finally:
        src.close()
    if check != "ok":
        raise BackupError(f"the backup failed its integrity check: {check}")


def _pg_env(url: str) -> dict[str, str]:
    u = make_url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for key, value in (("PGHOST", u.host), ("PGPORT", u.port), ("PGUSER", u.username),
                       ("PGPASSWORD", u.password), ("PGDATABASE", u.database)):
        if value:
            env[key] = str(value)
    return env


def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed: {PG_CLIENT_HINT}")
    return found


async def _run(argv: list[str], env: dict[str, str], *, stdout: int | None = None) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=stdout if stdout is not None else asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        message = err.decode(errors="replace").strip() or f"exit code {proc.returncode}"
        raise BackupError(f"{Path(argv[0]).name} failed: {message}")


async def _pg_dump(url: str, partial: Path) -> None:
    program = _program("pg_dump")
    _private_new(partial)
    fd = os.open(partial, os.O_WRONLY)
    try:
        await _run([program, "--format=custom", "--no-owner", "--no-privileges"],
                   _pg_env(url), stdout=fd)
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- restore
async def restore(url: str, source: Path | str, *, force: bool = False) -> Done:
    """Restore the backup ``source`` into the database at ``url`` (refused if it holds
    data, unless ``force``)."""
    source = Path(source)
    head = await asyncio.to_thread(_head, source)
    if url.startswith("sqlite"):
        if head != SQLITE_MAGIC:
            raise BackupError(f"{source} is not a SQLite backup (a PostgreSQL dump is restored "
                              "into PostgreSQL: set database.url to it)")
        target = _sqlite_file(url, must_exist=False)
        await asyncio.to_thread(_sqlite_restore, source, target, url, force)
        return Done(source, source.stat().st_size, "sqlite online backup")
    if head == SQLITE_MAGIC:
        raise BackupError(f"{source} is a SQLite backup: it cannot be restored into PostgreSQL")
    holding = await _pg_tables_with_rows(url)
    if holding and not force:
        raise _not_empty(holding)
    env = _pg_env(url)
    if head.startswith(PG_CUSTOM_MAGIC):
        argv = [_program("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
                "--single-transaction", f"--dbname={env.get('PGDATABASE', '')}"]
        if force:
            argv += ["--clean", "--if-exists"]
        await _run([*argv, str(source)], env)
        return Done(source, source.stat().st_size, "pg_restore")
    if holding:
        raise BackupError(f"{source} is a plain SQL dump, which cannot replace what a database "
                          "holds: restore it into an empty database")
    await _run([_program("psql"), "--quiet", "--no-psqlrc", "--set=ON_ERROR_STOP=1",
                "--single-transaction", f"--file={source}"], env)
    return Done(source, source.stat().st_size, "psql")


def _head(source: Path) -> bytes:
    try:
        with open(source, "rb") as f:
            return f.read(16)
    except OSError as exc:
        raise BackupError(f"cannot read {source}: {exc.strerror}") from None


def _not_empty(tables: list[str]) -> BackupError:
    shown = ", ".join(tables[:5]) + (" …" if len(tables) > 5 else "")
    return BackupError(f"the database is not empty (rows in {shown}): nothing was changed. "
                       "Restore into an empty database, or give --force to replace everything "
                       "it holds with the backup")


def _sqlite_tables_with_rows(conn: sqlite3.Connection) -> list[str]:
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name")]
    return [n for n in names if n not in SCHEMA_ONLY_TABLES
            and conn.execute(f'SELECT 1 FROM "{n}" LIMIT 1').fetchone() is not None]


def _sqlite_restore(source: Path, target: Path, url: str, force: bool) -> None:
    src = sqlite3.connect(_read_only(source), uri=True)
    try:
        check = src.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"{source} is damaged: {check}")
        if target.exists():
            with sqlite3.connect(target) as probe:
                holding = _sqlite_tables_with_rows(probe)
            probe.close()
            if holding and not force:
                raise _not_empty(holding)
        else:
            # Side files left from a database that is gone would be replayed into this one.
            for suffix in files.SQLITE_SIDE_FILES:
                target.with_name(target.name + suffix).unlink(missing_ok=True)
        files.prepare_sqlite(url)  # 0600 (and its folder 0700) before SQLite creates it
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # through SQLite: its -wal and -shm stay consistent
            dst.execute("PRAGMA journal_mode=WAL")
        finally:
            dst.close()
    finally:
        src.close()


async def _pg_tables_with_rows(url: str) -> list[str]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            names = (await conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "ORDER BY tablename"))).scalars().all()
            out = []
            for name in names:
                if name in SCHEMA_ONLY_TABLES:
                    continue
                row = (await conn.execute(text(f'SELECT 1 FROM "{name}" LIMIT 1'))).first()
                if row is not None:
                    out.append(name)
            return out
    except BackupError:
        raise
    except Exception as exc:  # noqa: BLE001 - one readable line for the operator
        raise BackupError(f"cannot read the target database ({type(exc).__name__}: {exc}); "
                          "it must exist (an empty one: createdb NAME)") from None
    finally:
        await engine.dispose()
