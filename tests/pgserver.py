"""A throwaway PostgreSQL server for the tests and CI, and where to find one.

Module-level imports are the standard library only, so that the command line
works with the system ``python3`` before any virtualenv exists; asyncpg is
imported inside the async helpers.

Command line::

    python3 tests/pgserver.py run -- COMMAND [ARG...]
        start a throwaway server, run COMMAND with FOSTERBOT_TEST_PG_URL set to
        it, stop the server, exit with COMMAND's exit code
    python3 tests/pgserver.py bin        print the PostgreSQL bin directory (exit 1 if none)
    python3 tests/pgserver.py resolve    print the URL the tests would use, and why

In code::

    with ThrowawayPostgres() as pg:      # initdb + pg_ctl start on a free port
        pg.url                           # postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres

    url, reason = resolve_test_pg_url()  # FOSTERBOT_TEST_PG_URL, else 127.0.0.1:5432, else None
    with postgres_for_tests() as (url, reason): ...   # the above, else a throwaway, else None
    db_url = await create_fresh_database(admin_url)
    await drop_database(admin_url, db_url)
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ENV_URL = "FOSTERBOT_TEST_PG_URL"
ENV_BIN = "FOSTERBOT_PG_BIN"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5432
TEST_DB_PREFIX = "fosterbot_test_"

_SEARCH_GLOBS = (
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # RHEL, Fedora (PGDG)
    "/opt/homebrew/opt/postgresql@*/bin",  # macOS Homebrew (Apple silicon)
    "/usr/local/opt/postgresql@*/bin",  # macOS Homebrew (Intel)
)

NO_BINARIES_HINT = (
    "no PostgreSQL server binaries (initdb, pg_ctl) were found in /usr/lib/postgresql/*/bin "
    f"or on PATH; install PostgreSQL (Debian/Ubuntu: apt-get install postgresql), set {ENV_BIN} "
    f"to its bin directory, or set {ENV_URL} to a server to use"
)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL could be started (binaries missing, or the server failed)."""


def _log(msg: str) -> None:
    print(f"pgserver: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- binaries


def _version_key(path: Path) -> tuple[int, ...]:
    numbers = re.findall(r"\d+", str(path))
    return tuple(int(n) for n in numbers) if numbers else (0,)


def _has_server(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in ("initdb", "pg_ctl"))


def find_pg_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None.

    ``$FOSTERBOT_PG_BIN`` first; then /usr/lib/postgresql/*/bin (and the RHEL
    and Homebrew equivalents), highest version first; then PATH.
    """
    override = os.environ.get(ENV_BIN, "").strip()
    if override and _has_server(Path(override)):
        return Path(override)
    import glob

    for pattern in _SEARCH_GLOBS:
        candidates = sorted((Path(p) for p in glob.glob(pattern)), key=_version_key, reverse=True)
        for candidate in candidates:
            if _has_server(candidate):
                return candidate
    initdb = shutil.which("initdb")
    if initdb:
        for directory in (Path(initdb).parent, Path(initdb).resolve().parent):
            if _has_server(directory):
                return directory
    return None


# --------------------------------------------------------------------------- probing


def _free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("server closed the connection")
        data += chunk
    return data


def probe_postgres(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    user: str = "postgres",
    database: str = "postgres",
    timeout: float = 3.0,
) -> tuple[bool, str]:
    """Whether a PostgreSQL server at host:port lets ``user`` into ``database``
    without a password, and why not. Speaks just enough of the wire protocol
    (a startup message) that no driver is needed."""
    where = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        return False, f"nothing accepts connections at {where} ({exc.strerror or exc})"
    with sock:
        try:
            sock.settimeout(timeout)
            params = b"".join(
                k.encode() + b"\0" + v.encode() + b"\0" for k, v in (("user", user), ("database", database))
            )
            body = struct.pack("!i", 196608) + params + b"\0"  # protocol 3.0
            sock.sendall(struct.pack("!i", len(body) + 4) + body)
            while True:
                kind = _recv_exact(sock, 1)
                (length,) = struct.unpack("!i", _recv_exact(sock, 4))
                payload = _recv_exact(sock, length - 4) if length > 4 else b""
                if kind == b"N":  # a notice: skip it
                    continue
                break
        except (OSError, ConnectionError, struct.error) as exc:
            return False, f"the server at {where} did not answer as PostgreSQL ({exc})"
        if kind == b"R":
            (code,) = struct.unpack("!i", payload[:4])
            if code == 0:
                with contextlib.suppress(OSError):
                    sock.sendall(b"X" + struct.pack("!i", 4))  # terminate politely
                return True, f"PostgreSQL at {where} lets user {user} into database {database} without a password"
            return False, f"PostgreSQL at {where} asks user {user} for a password (authentication method {code})"
        if kind == b"E":
            fields = dict(
                (part[:1].decode(), part[1:].decode(errors="replace")) for part in payload.split(b"\0") if part
            )
            return False, f"PostgreSQL at {where} refused user {user}: {fields.get('M', 'unknown error')}"
        return False, f"the server at {where} did not answer as PostgreSQL (message {kind!r})"


def resolve_test_pg_url() -> tuple[str | None, str]:
    """The PostgreSQL URL the tests should use, and a reason for people.

    ``$FOSTERBOT_TEST_PG_URL`` when set; else the ``postgres`` database at
    127.0.0.1:5432 if it lets user postgres in without a password; else
    ``(None, why)``.
    """
    env = os.environ.get(ENV_URL, "").strip()
    if env:
        return env, f"{ENV_URL} is set"
    ok, why = probe_postgres(DEFAULT_HOST, DEFAULT_PORT)
    if ok:
        return f"postgresql+asyncpg://postgres@{DEFAULT_HOST}:{DEFAULT_PORT}/postgres", why
    return None, f"{ENV_URL} is not set and {why}"


# --------------------------------------------------------------------------- the server


class ThrowawayPostgres:
    """A private PostgreSQL cluster in a temporary directory.

    ``with ThrowawayPostgres() as pg: ... pg.url`` — trust authentication,
    listening on 127.0.0.1 at a free port with its socket in the temporary
    directory; durability is switched off for speed. When running as root,
    the server runs as the ``postgres`` OS user (created with ``useradd`` if
    it does not exist), as PostgreSQL refuses to run as root. On exit the
    server is stopped (``pg_ctl stop -m fast``) and the directory removed.
    """

    def __init__(self, bin_dir: Path | str | None = None, port: int | None = None) -> None:
        self.bin_dir = Path(bin_dir) if bin_dir else None
        self.requested_port = port
        self.port: int | None = None
        self.base_dir: Path | None = None
        self.data_dir: Path | None = None
        self._run_as: tuple[int, int] | None = None
        self._running = False

    # -- public ----------------------------------------------------------
    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` database."""
        self._require_running()
        return f"postgresql+asyncpg://postgres@{DEFAULT_HOST}:{self.port}/postgres"

    @property
    def dsn(self) -> str:
        """libpq / asyncpg DSN of the ``postgres`` database."""
        self._require_running()
        return f"postgresql://postgres@{DEFAULT_HOST}:{self.port}/postgres"

    def __enter__(self) -> ThrowawayPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._running:
            return
        bin_dir = self.bin_dir or find_pg_bin()
        if bin_dir is None:
            raise PostgresUnavailable(NO_BINARIES_HINT)
        self.bin_dir = bin_dir
        self._run_as = _server_user()
        self.base_dir = Path(tempfile.mkdtemp(prefix="fosterbot-pg-", dir=_temp_root(self._run_as)))
        self.data_dir = self.base_dir / "data"
        atexit.register(self.stop)
        try:
            if self._run_as:
                os.chown(self.base_dir, *self._run_as)
            self._run(
                [
                    str(bin_dir / "initdb"),
                    "-D", str(self.data_dir),
                    "-U", "postgres",
                    "-A", "trust",
                    "-E", "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                "initdb",
                timeout=120,
            )
            attempts = 1 if self.requested_port else 3
            for attempt in range(attempts):
                self.port = self.requested_port or _free_port()
                if self._pg_ctl_start():
                    break
                if attempt == attempts - 1:
                    raise PostgresUnavailable(
                        f"PostgreSQL did not start; server log:\n{self._log_tail()}"
                    )
            self._running = True
            self._wait_until_accepting(timeout=30)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (if running) and remove its directory. Idempotent."""
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        if self.data_dir is not None and (self.data_dir / "postmaster.pid").exists():
            try:
                self._run(
                    [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop"],
                    "pg_ctl stop",
                    timeout=60,
                )
            except Exception:
                self._kill_postmaster()
        self._running = False
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None
            self.data_dir = None

    def pause(self) -> None:
        """Stop the server (``-m fast``: connections are cut, committed data kept — this
        server runs with ``synchronous_commit=off``, so a crash could lose the last commits),
        keeping its data: ``resume`` starts it again on the same port."""
        self._require_running()
        self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast",
                   "-w", "-t", "30", "stop"], "pg_ctl stop", timeout=60)
        self._running = False

    def resume(self) -> None:
        """Start a paused server again (same data, same port)."""
        if self._running:
            return
        if not self._pg_ctl_start():
            raise PostgresUnavailable(f"PostgreSQL did not start again:\n{self._log_tail()}")
        self._running = True
        self._wait_until_accepting(timeout=30)

    # -- internals -------------------------------------------------------
    def _require_running(self) -> None:
        if not self._running:
            raise RuntimeError("the throwaway PostgreSQL server is not running")

    def _run(self, cmd: list[str], what: str, timeout: float) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        env = dict(os.environ, LC_ALL="C", LANG="C")
        env.pop("PGDATA", None)
        if self._run_as:
            uid, gid = self._run_as
            kwargs.update(user=uid, group=gid, extra_groups=[])
            env["HOME"] = str(self.base_dir)
        kwargs.update(_own_group())  # a Ctrl-C or CI timeout must not kill pg_ctl half-way
        proc = subprocess.run(
            cmd,
            cwd=self.base_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            **kwargs,  # type: ignore[arg-type]
        )
        if proc.returncode != 0:
            raise PostgresUnavailable(
                f"{what} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}".rstrip()
            )
        return proc

    def _pg_ctl_start(self) -> bool:
        assert self.bin_dir and self.data_dir and self.base_dir
        options = (
            f"-h {DEFAULT_HOST} -p {self.port} -k {self.base_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        try:
            self._run(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D", str(self.data_dir),
                    "-l", str(self.base_dir / "server.log"),
                    "-o", options,
                    "-w", "-t", "60",
                    "start",
                ],
                "pg_ctl start",
                timeout=90,
            )
            return True
        except (PostgresUnavailable, subprocess.TimeoutExpired):
            self._kill_postmaster()
            return False

    def _wait_until_accepting(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        why = "not tried"
        while time.monotonic() < deadline:
            ok, why = probe_postgres(DEFAULT_HOST, self.port or 0, timeout=2)
            if ok:
                return
            time.sleep(0.1)
        raise PostgresUnavailable(f"PostgreSQL started but {why}; server log:\n{self._log_tail()}")

    def _log_tail(self, lines: int = 30) -> str:
        if self.base_dir is None:
            return "(no log)"
        try:
            text = (self.base_dir / "server.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _kill_postmaster(self) -> None:
        if self.data_dir is None:
            return
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGQUIT)  # immediate shutdown
            for _ in range(50):
                os.kill(pid, 0)
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)


def _server_user() -> tuple[int, int] | None:
    """(uid, gid) of the ``postgres`` OS user when running as root, else None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        import grp

        _log("creating the 'postgres' OS user (PostgreSQL refuses to run as root)")
        try:
            grp.getgrnam("postgres")
            group = ["--gid", "postgres"]  # the group exists already: join it
        except KeyError:
            group = ["--user-group"]
        subprocess.run(
            ["useradd", "--system", *group, "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"],
            check=True,
            stdin=subprocess.DEVNULL,
        )
        entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def _temp_root(run_as: tuple[int, int] | None) -> str | None:
    """Where to make the temporary directory: somewhere the server user can
    reach, with a short path (Unix socket paths are limited to ~100 bytes)."""
    default = tempfile.gettempdir()
    if (run_as or len(default) > 60) and os.path.isdir("/tmp"):
        return "/tmp"
    return None


@contextlib.contextmanager
def postgres_for_tests() -> Iterator[tuple[str | None, str]]:
    """``(admin_url, reason)`` for a test session: :func:`resolve_test_pg_url`,
    else a :class:`ThrowawayPostgres` (stopped when the block ends), else
    ``(None, why)`` so the PostgreSQL tests can be skipped saying plainly why."""
    url, reason = resolve_test_pg_url()
    if url is not None:
        yield url, reason
        return
    if find_pg_bin() is None:
        yield None, f"{reason}, and {NO_BINARIES_HINT}"
        return
    server = ThrowawayPostgres()
    try:
        server.start()
    except PostgresUnavailable as exc:
        yield None, f"{reason}, and a throwaway PostgreSQL could not be started: {exc}"
        return
    try:
        yield server.url, f"{reason}; started a throwaway PostgreSQL from {server.bin_dir} on port {server.port}"
    finally:
        server.stop()


# --------------------------------------------------------------------------- databases


def asyncpg_dsn(url: str) -> str:
    """``postgresql+asyncpg://…`` (SQLAlchemy) → ``postgresql://…`` (asyncpg)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    return urlunsplit(("postgresql", *parts[1:]))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def create_fresh_database(admin_url: str) -> str:
    """Create an empty, uniquely named database (``fosterbot_test_<pid>_<hex>``,
    UTF8, C collation) on the server of ``admin_url`` and return its URL, in
    the same form (same driver, same credentials)."""
    import asyncpg

    name = f"{TEST_DB_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(asyncpg_dsn(admin_url), timeout=15)
    try:
        await conn.execute(
            f"CREATE DATABASE {_quote_ident(name)} TEMPLATE template0 ENCODING 'UTF8' "
            "LC_COLLATE 'C' LC_CTYPE 'C'"
        )
    finally:
        await conn.close()
    return with_database(admin_url, name)


async def drop_database(admin_url: str, url: str) -> None:
    """Drop the database of ``url`` (made by :func:`create_fresh_database`),
    disconnecting anyone still in it. Refuses any name not starting with
    ``fosterbot_test_`` so a wrong URL cannot drop a real database."""
    import asyncpg

    name = database_name(url)
    if not name.startswith(TEST_DB_PREFIX):
        raise ValueError(f"refusing to drop {name!r}: only databases named {TEST_DB_PREFIX}* are dropped")
    conn = await asyncpg.connect(asyncpg_dsn(admin_url), timeout=15)
    try:
        if conn.get_server_version().major >= 13:
            await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
        else:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
            await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)}")
    finally:
        await conn.close()


# --------------------------------------------------------------------------- command line


class _Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _own_group() -> dict[str, object]:
    """Popen arguments giving the child a process group of its own."""
    return {"process_group": 0} if sys.version_info >= (3, 11) else {"preexec_fn": os.setpgrp}


def _run_command(command: list[str]) -> int:
    """Start a server, run ``command`` against it, stop the server.

    SIGINT, SIGTERM and SIGHUP received while the command runs are passed on
    to the command's process group (it has one of its own, so a CI timeout
    reaches all of it); received while the server starts, they abort the
    start; while it stops, they are ignored so that the server is always
    stopped and its directory removed.
    """
    state: dict[str, object] = {"phase": "starting", "child": None, "pending": None}

    def on_signal(signum: int, _frame: object) -> None:
        phase, child = state["phase"], state["child"]
        if phase == "starting":
            state["phase"] = "stopping"
            raise _Interrupted(signum)
        if phase == "running":
            if child is None:
                state["pending"] = signum
            else:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.pid, signum)  # type: ignore[attr-defined]
        # "stopping": ignore

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        with ThrowawayPostgres() as server:
            _log(
                f"started a throwaway PostgreSQL from {server.bin_dir} at {DEFAULT_HOST}:{server.port} "
                f"(data in {server.data_dir})"
            )
            env = dict(os.environ, **{ENV_URL: server.url})
            _log(f"running with {ENV_URL}={server.url}: {' '.join(command)}")
            state["phase"] = "running"
            try:
                child = subprocess.Popen(command, env=env, **_own_group())  # type: ignore[call-overload]
            except FileNotFoundError:
                _log(f"command not found: {command[0]}")
                code = 127
            except PermissionError:
                _log(f"command not executable: {command[0]}")
                code = 126
            else:
                state["child"] = child
                if state["pending"] is not None:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(child.pid, state["pending"])  # type: ignore[arg-type]
                code = child.wait()
            state["phase"] = "stopping"
            _log("stopping the throwaway PostgreSQL")
    except _Interrupted as exc:
        _log(f"interrupted by signal {exc.signum} while starting PostgreSQL; cleaned up")
        return 128 + exc.signum
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if code < 0:  # killed by a signal, as a shell would report it
        code = 128 - code
    return code


USAGE = """usage:
  python3 tests/pgserver.py run -- COMMAND [ARG...]   run COMMAND against a throwaway PostgreSQL
                                                      (FOSTERBOT_TEST_PG_URL set); exit with its code
  python3 tests/pgserver.py bin                       print the PostgreSQL bin directory
  python3 tests/pgserver.py resolve                   print the URL the tests would use, and why"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if args else 2
    verb, rest = args[0], args[1:]
    if verb == "run":
        if rest and rest[0] == "--":
            rest = rest[1:]
        if not rest:
            print(USAGE, file=sys.stderr)
            return 2
        try:
            return _run_command(rest)
        except PostgresUnavailable as exc:
            _log(str(exc))
            return 1
    if verb == "bin":
        found = find_pg_bin()
        if found is None:
            _log(NO_BINARIES_HINT)
            return 1
        print(found)
        return 0
    if verb == "resolve":
        url, reason = resolve_test_pg_url()
        print(url or "")
        _log(reason)
        return 0 if url else 1
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
