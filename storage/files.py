"""Files the service writes are readable by its own account only.

The records are about children: the SQLite database (and its ``-wal`` and
``-shm`` files), kept attachments and exports are created ``0600`` in folders
created ``0700``, with explicit modes, so they stay private even when the
process was started with a permissive umask (``fosterbot`` also sets umask
``077`` at start, for anything else a library may create).

SQLite gives its ``-wal``, ``-shm`` and journal files the permissions of the
database file, so creating the database file ``0600`` before SQLite opens it
is what makes all three private. A database file or files folder that already
exists (made by an older version) is tightened the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

from sqlalchemy import make_url

FILE_MODE = 0o600
DIR_MODE = 0o700
PROCESS_UMASK = 0o077
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path | str, *, tighten: bool = False) -> Path:
    """Create ``path`` (and missing parents) with mode 0700; ``tighten`` also chmods it if it
    already existed (for folders the service owns, such as ``storage.files_dir``)."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            pass
        os.chmod(folder, DIR_MODE)
    if tighten and not missing:
        os.chmod(path, DIR_MODE)
    return path


def _opener(path: str, flags: int) -> int:
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # a file that existed keeps its old mode otherwise
    return fd


def open_private(path: Path | str, mode: str = "w", **kwargs: Any) -> IO[Any]:
    """``open`` for writing a file that only this account may read (created 0600)."""
    return open(path, mode, opener=_opener, **kwargs)  # noqa: SIM115 - the caller closes it


def write_private(path: Path | str, data: bytes | str, *, encoding: str = "utf-8") -> None:
    if isinstance(data, str):
        with open_private(path, "w", encoding=encoding) as f:
            f.write(data)
    else:
        with open_private(path, "wb") as f:
            f.write(data)


def sqlite_path(url: str) -> Path | None:
    """The file a ``sqlite`` URL names (None for other databases and ``:memory:``)."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def prepare_sqlite(url: str) -> None:
    """Create the SQLite database file 0600 (its folder 0700 if missing) before SQLite does,
    and tighten an existing one and its side files."""
    path = sqlite_path(url)
    if path is None:
        return
    private_dir(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    for suffix in SQLITE_SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.chmod(side, FILE_MODE)


CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"  # set by systemd for LoadCredential=


def credential(name: str, env: Any = None) -> str:
    """A secret systemd passed with ``LoadCredential=NAME:…`` (``$CREDENTIALS_DIRECTORY/NAME``),
    stripped; "" when there is none. Such a file is readable by this service only and never
    in the process environment (deploy/fosterbot.service)."""
    folder = (os.environ if env is None else env).get(CREDENTIALS_ENV)
    if not folder:
        return ""
    try:
        return (Path(folder) / name).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return ""


def set_process_umask() -> int:
    """umask 077 for the whole process; returns the previous one."""
    return os.umask(PROCESS_UMASK)

