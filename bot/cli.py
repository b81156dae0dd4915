"""The ``fosterbot`` command line (README, "Operating fosterbot"; docs/ARCHITECTURE.md).

Every command takes ``--config PATH`` (default ``./config.toml`` or
``$FOSTERBOT_CONFIG``). Exit codes: 0 success, 1 the command failed (the
message says why), 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot import audit, logs
from bot.app import (
    SchemaOutOfDate,
    check_schema,
    make_services,
    quiet_ptb_warnings,
    run_forever,
)
from bot.clock import SystemClock
from bot.config import TOKEN_ENV, ConfigError, Settings, load_config
from bot.demo import DemoOptions, run_demo
from bot.people import invites
from bot.people.directory import (
    DirectoryError,
    active_people,
    apply_directory,
    export_directory,
    parse_directory,
)
from bot.record import notification
from bot.review import chronology, compliance, lists, needs, register, render, stats, timeline
from bot.review.chart import render_png
from bot.review.chronology_texts import kind_from_word, plain
from bot.review.export import export
from bot.review.periods import PeriodError, between
from bot.rules import notifiable
from bot.runtime import redaction
from bot.runtime.webhook import config_problems
from bot.web.server import serve_alone
from storage import backup, crypto, files, keys, migrate, queries
from storage.db import Database
from storage.models import Person

log = logging.getLogger("fosterbot")

NO_TOKEN = f"""\
No Telegram bot token is set.

To get one:
  1. In Telegram, open a chat with @BotFather and send /newbot.
  2. Choose a name and a username ending in "bot"; BotFather replies with a token
     such as 123456789:AAE...
  3. Run:  export {TOKEN_ENV}='<that token>'   and start fosterbot again.

The token is a secret: keep it in the environment, never in config.toml.
To try fosterbot without Telegram, run:  fosterbot demo
"""


def _setup_logging(settings: Settings | None, verbose: bool = False) -> None:
    """Log to stderr at ``log_level``, as text or JSON lines (``[logging] format``)."""
    level = "DEBUG" if verbose else (settings.log_level if settings else "INFO")
    handler = logging.StreamHandler()
    handler.setFormatter(logs.formatter(settings.logging.format if settings else "text"))
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler])
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


async def _with_db(settings: Settings, fn):

    db = Database(settings.database.url)
    try:
        return await fn(db)
    finally:
        await db.dispose()


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:

    asyncio.run(migrate.upgrade(settings.database.url))
    print(f"database at {migrate.head_revision()}: {_safe_url(settings.database.url)}")
    return 0


def cmd_db_backup(settings: Settings, args: argparse.Namespace) -> int:
    """A consistent copy of the whole database while the bot runs (storage/backup.py)."""
    try:
        done = asyncio.run(backup.backup(settings.database.url, args.file))
    except backup.BackupError as exc:
        print(f"error: no backup was made: {redaction.redact(str(exc))}", file=sys.stderr)
        return 1
    print(f"backup of {_safe_url(settings.database.url)} written to {done.path} "
          f"({done.size} bytes, {done.method}, mode 0600)")
    return 0


def cmd_db_restore(settings: Settings, args: argparse.Namespace) -> int:
    """Put a backup back (the bot stopped); refused over data unless --force."""
    url = settings.database.url
    try:
        done = asyncio.run(backup.restore(url, args.file, force=args.force))
    except backup.BackupError as exc:
        print(f"error: {redaction.redact(str(exc))}", file=sys.stderr)
        return 1
    print(f"restored {done.path} into {_safe_url(url)} ({done.method})")
    current, head = asyncio.run(migrate.current_revision(url)), migrate.head_revision()
    if current != head:
        print(f"the restored schema is at {current}, this version needs {head}: "
              "run `fosterbot db upgrade` before `fosterbot run`")
    print("check it with `fosterbot audit verify`, then start the bot: it runs every "
          "escalation step that fell due meanwhile")
    return 0


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}@{host}"
    return url


def cmd_directory_import(settings: Settings, args: argparse.Namespace) -> int:

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        directory = parse_directory(text, source=str(path),
                                    child_ref_pattern=settings.privacy.child_ref_pattern)
    except DirectoryError as exc:
        print(f"{path} was not imported; nothing was changed. {len(exc.errors)} problem(s):",
              file=sys.stderr)
        for e in exc.errors:
            print(f"  {e}", file=sys.stderr)
        return 1
    problems = settings.target_problems(active_people(directory))
    if problems:
        print(f"{path} was not imported; nothing was changed. The escalation policy in the "
              "configuration names people this directory does not have:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1

    async def run(db):
        await _require_schema(settings)
        async with db.write() as s:
            if args.if_empty:


                count = (await s.execute(select(func.count()).select_from(Person))).scalar_one()
                if count:
                    return count
            return await apply_directory(s, directory, now=SystemClock().now(), actor="cli",
                                         source=str(path), statutory_settings=settings.statutory)

    try:
        summary = asyncio.run(_with_db(settings, run))
    except DirectoryError as exc:  # refused on import (e.g. open reports left with nobody)
        print(f"{path} was not imported; nothing was changed. {len(exc.errors)} problem(s):",
              file=sys.stderr)
        for e in exc.errors:
            print(f"  {e}", file=sys.stderr)
        return 1
    if isinstance(summary, int):
        print(f"the directory already holds {summary} people: {path} not imported (--if-empty)")
        return 0
    print(summary)
    for change in summary.changes:
        print(f"  {change}")
    return 0


def cmd_directory_export(settings: Settings, args: argparse.Namespace) -> int:

    async def run(db):
        await _require_schema(settings)
        async with db.read() as s:
            return await export_directory(s)

    text = asyncio.run(_with_db(settings, run))
    if args.output and args.output != "-":
        files.write_private(args.output, text)
        print(f"directory written to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_invite(settings: Settings, args: argparse.Namespace) -> int:

    async def run(db):
        await _require_schema(settings)
        now = SystemClock().now()
        async with db.write() as s:
            if args.revoke:
                return None, await invites.revoke_invites(s, args.person_id, now=now, actor="cli")
            return await invites.create_invite(
                s, args.person_id, now=now, ttl=settings.service.invite_ttl.amount, actor="cli",
                replace=args.replace,
            ), None

    try:
        created, revoked = asyncio.run(_with_db(settings, run))
    except LookupError as exc:
        print(str(exc).strip("'\""), file=sys.stderr)
        return 1
    if args.revoke:
        print(f"revoked {revoked} unused invite(s) for {args.person_id}")
        return 0
    code, invite = created
    username = settings.telegram.bot_username or os.environ.get("FOSTERBOT_BOT_USERNAME", "")
    print(f"invite code for {args.person_id}: {code}")
    print(f"link: {invites.deep_link(username, code)}")
    if args.replace:
        print("replacement code: it moves the person off their current Telegram account "
              "without that account's confirmation")
    print(f"expires: {invite.expires_at:%Y-%m-%d %H:%M} UTC; single use. "
          f"Revoke with: fosterbot invite --revoke {args.person_id}")
    if not username:
        print("(set telegram.bot_username in the configuration to print the full link)")
    return 0


def cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    """Walk the chain; with --head FILE also check an export's chain head is still there."""

    expected = None
    if args.head:
        try:
            data = json.loads(Path(args.head).read_text(encoding="utf-8"))
            expected = data.get("chain_head", data)
            expected = (int(expected["last_event_id"]), str(expected["last_hash"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"cannot read the chain head from {args.head}: {exc}", file=sys.stderr)
            return 2

    def progress(n: int) -> None:
        if args.progress and n % 100_000 < 5000:
            print(f"  {n} events checked…", file=sys.stderr)

    async def run(db):
        await _require_schema(settings)
        async with db.read() as s:
            result = await audit.verify(s, progress=progress)
            found = None
            if expected is not None and result.ok:
                found = await audit.hash_of(s, expected[0])
            return result, found

    result, found = asyncio.run(_with_db(settings, run))
    print(result.message)
    if not result.ok:
        return 1
    if expected is not None:
        if found != expected[1]:
            print(f"the export's chain head (event {expected[0]}, hash {expected[1]}) is NOT in "
                  f"the log: " + ("that event is missing" if found is None
                                  else f"event {expected[0]} now has hash {found}"))
            return 1
        print(f"the export's chain head (event {expected[0]}) is still in the log, unchanged")
    return 0


def _period_from_args(settings: Settings, args: argparse.Namespace):


    try:
        first = date.fromisoformat(args.from_) if args.from_ else None
        last = date.fromisoformat(args.to) if args.to else None
        return between(first, last, SystemClock().now(), ZoneInfo(settings.service.timezone))
    except (ValueError, PeriodError) as exc:
        raise UsageError(f"bad period: {exc} (dates are written 2026-11-01)") from None


class UsageError(Exception):
    """Bad arguments; the message says why (exit code 2)."""


def _scope(args: argparse.Namespace):
    return frozenset(args.team) if args.team else None


def cmd_log(settings: Settings, args: argparse.Namespace) -> int:

    services = make_services(settings)

    async def run():
        await _require_schema(settings)
        try:
            async with services.db.read() as s:
                incident = await queries.incident_by_reference(s, args.reference.strip().upper())
                if incident is None:
                    return None
                return timeline.plain(await timeline.build(s, services, incident), services.tz)
        finally:
            await services.db.dispose()

    text = asyncio.run(run())
    if text is None:
        print(f"no incident {args.reference}", file=sys.stderr)
        return 1
    print(text)
    return 0


def cmd_overdue(settings: Settings, args: argparse.Namespace) -> int:
    """Every report late on any clock, most overdue first, then the overdue notifications
    without a report (the list /overdue shows)."""
    services = make_services(settings)

    async def run():
        await _require_schema(settings)
        try:
            async with services.db.read() as s:
                scope = _scope(args)
                result = await needs.needs_action(
                    s, scope, services.clock.now(), limit=args.limit,
                    owner_id=settings.notification.registered_manager)
                return result, await lists.team_label(s, scope)
        finally:
            await services.db.dispose()

    result, label = asyncio.run(run())
    print(render.needs_plain(services, result, label))
    return 0


def cmd_chronology(settings: Settings, args: argparse.Namespace) -> int:
    """A child's chronology: printed, or complete as CSV with --out."""
    try:
        first = date.fromisoformat(args.from_) if args.from_ else None
        last = date.fromisoformat(args.to) if args.to else None
    except ValueError as exc:
        raise UsageError(f"bad date: {exc} (dates are written 2026-11-01)") from None
    kinds = [kind_from_word(k) for k in args.kind or []]
    if None in kinds:
        raise UsageError(f"--kind: use {', '.join(chronology.KINDS)}")
    services = make_services(settings)

    async def run():
        await _require_schema(settings)
        try:
            async with services.db.read() as s:
                return await chronology.entries_for(
                    s, settings, args.ref, tz=services.tz, today=services.today(),
                    start=first, end=last, kinds=kinds or None, now=services.clock.now())
        finally:
            await services.db.dispose()

    chron = asyncio.run(run())
    if chron is None:
        print(f"no child {args.ref}", file=sys.stderr)
        return 1
    if args.out:
        rows = chronology.write_csv(chron, Path(args.out), services.tz)
        print(f"{rows} entries written to {args.out}")
        return 0
    print(plain(chron.child_ref, chron.entries, services.tz))
    return 0


def cmd_stats(settings: Settings, args: argparse.Namespace) -> int:

    period = _period_from_args(settings, args)
    services = make_services(settings)

    async def run():
        await _require_schema(settings)
        try:
            async with services.db.read() as s:
                return await stats.compute(s, services, _scope(args), period)
        finally:
            await services.db.dispose()

    st = asyncio.run(run())
    print(render.stats_plain(services, st))
    if args.chart:

        Path(args.chart).write_bytes(render_png(st))
        print(f"\nchart written to {args.chart}")
    return 0


def cmd_compliance(settings: Settings, args: argparse.Namespace) -> int:

    period = _period_from_args(settings, args)

    async def run(db):
        await _require_schema(settings)
        async with db.read() as s:
            return await compliance.compute(s, _scope(args), period.start, period.end,
                                            SystemClock().now(), period.label)

    result = asyncio.run(_with_db(settings, run))
    print(compliance.render_plain(result, ZoneInfo(settings.service.timezone)))
    return 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:

    period = _period_from_args(settings, args)
    last_print = {"incidents": 0, "audit events": 0}

    def progress(stage: str, rows: int) -> None:
        if rows - last_print[stage] >= args.progress_every:
            last_print[stage] = rows
            print(f"  {stage}: {rows} rows written…", flush=True)

    async def run(db):
        await _require_schema(settings)
        return await export(db, settings, period=period, scope=_scope(args),
                            out_dir=Path(args.out), now=SystemClock().now(), actor_id="cli",
                            progress=progress)

    print(f"exporting {period.label} to {args.out}", flush=True)
    result = asyncio.run(_with_db(settings, run))
    print(f"{result.incidents} incident(s), {result.events} audit event(s)")
    for f in result.files:
        print(f"  {f}")
    print(f"audit chain head: event {result.head['last_event_id']}, hash {result.head['last_hash']}")
    return 0


def cmd_notifications(settings: Settings, args: argparse.Namespace) -> int:
    """The Schedule 7 register for a period: printed, or written as CSV with --out."""
    period = _period_from_args(settings, args)
    services = make_services(settings)
    tz = ZoneInfo(settings.service.timezone)

    async def run():
        await _require_schema(settings)
        try:
            async with services.db.read() as s:
                return await register.rows(s, services, start=period.start, end=period.end,
                                           teams=_scope(args))
        finally:
            await services.db.dispose()

    rows = asyncio.run(run())
    if args.out:
        Path(args.out).write_text(register.to_csv(rows, tz), encoding="utf-8")
        print(f"{len(rows)} row(s) for {period.label} written to {args.out}")
    else:
        print(f"Schedule 7 notification register, {period.label}")
        print(register.plain(rows, tz))
    return 0


def _when_arg(settings: Settings, text: str | None):
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"bad time {text!r} (write 2026-11-01T14:30)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(settings.service.timezone))
    return value.astimezone(timezone.utc)


NOTIFICATION_ANSWERS = {
    "recorded": "recorded", "confirmed": "recorded", "closed": "recorded: not notifiable",
    "opened": "opened", "already": "already recorded", "refused": "refused: that person may "
    "not record notifications", "not_found": "no such report or recipient",
    "no_confirmation_needed": "not made by phone: nothing to confirm", "bad_method":
    f"method must be one of {', '.join(notifiable.METHODS)}", "no_reason": "a reason is needed",
    "no_start": "record the enquiry's start first",
    "bad_subject": "name the person by a reference with a digit (e.g. STAFF-0042), not a name",
}


def cmd_notification(settings: Settings, args: argparse.Namespace) -> int:
    """Record one notification (or its confirmation, a decision, a new event) as a person."""
    services = make_services(settings)

    async def run():
        await _require_schema(settings)
        try:
            async with services.db.write() as s:
                person = await s.get(Person, args.by)
                if person is None:
                    raise UsageError(f"no person {args.by!r} in the directory")
                if args.note_cmd in ("record", "confirm", "not-required"):
                    rec = await notification.record_by_ref(s, args.reference, args.recipient,
                                                           args.event)
                    if rec is None:
                        return notification.Result("not_found")
                    if args.note_cmd == "not-required":
                        return await notification.record_not_required(
                            s, services, record_id=rec.id, person=person, reason=args.reason)
                    if args.note_cmd == "record":
                        return await notification.record_made(
                            s, services, record_id=rec.id, method=args.method, person=person,
                            reference=args.ref, made_at=_when_arg(settings, args.at))
                    return await notification.record_confirmed(
                        s, services, record_id=rec.id, person=person, reference=args.ref,
                        confirmed_at=_when_arg(settings, args.at))
                if args.note_cmd == "not-notifiable":
                    ev = await notification.event_by_ref(s, args.reference, args.event)
                    if ev is None:
                        return notification.Result("not_found")
                    return await notification.not_notifiable(
                        s, services, event_id=ev.id, person=person, reason=args.reason)
                if args.note_cmd == "s47":
                    event = notifiable.S47_START if args.stage == "started" \
                        else notifiable.S47_OUTCOME
                    return await notification.open_by_manager(
                        s, services, person=person, event=event, incident_ref=args.reference)
                return await notification.open_by_manager(
                    s, services, person=person, event=notifiable.DBS_REFERRAL,
                    subject=args.subject, incident_ref=args.incident)
        finally:
            await services.db.dispose()

    result = asyncio.run(run())
    print(NOTIFICATION_ANSWERS.get(result.status, result.status)
          + (f"; still to record: {', '.join(result.missing)}" if result.missing else ""))
    return 0 if result.status in ("recorded", "confirmed", "closed", "opened") else 1


async def _require_schema(settings: Settings) -> None:

    await check_schema(settings.database.url)


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:

    if not settings.token:
        print(NO_TOKEN, file=sys.stderr)
        return 2

    problems = config_problems(settings)
    if problems:
        print("configuration error: webhook mode cannot start:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    ring = crypto.keyring()
    if not ring.enabled:
        if settings.storage.require_encryption:
            print(f"configuration error: storage.require_encryption is set but {crypto.ENV} "
                  "is empty: set it to ID:BASE64KEY (make one with: fosterbot keys new ID)",
                  file=sys.stderr)
            return 2
        log.warning("%s is not set: descriptions, messages, outcomes, drafts and kept files "
                    "are stored UNENCRYPTED. Set it (fosterbot keys new ID) for any real use.",
                    crypto.ENV)
    else:
        log.info("data encrypted at rest with key %r", ring.current)
    quiet_ptb_warnings()
    asyncio.run(run_forever(make_services(settings)))
    return 0


def cmd_web(settings: Settings, args: argparse.Namespace) -> int:
    """The web console alone (no bot), against the configured database; until SIGINT/SIGTERM.

    Sign-in links are issued by the bot (``/web``); they work here because both read the
    same database. The Mini App sign-in needs ``FOSTERBOT_TELEGRAM_TOKEN`` (to check
    Telegram's signature): without it only links work."""
    listen = args.listen or settings.web.listen
    port = settings.web.port if args.port is None else args.port
    if not settings.web.public_base_url:
        log.warning("web.public_base_url is not set: the bot cannot send sign-in links")
    if not settings.token:
        log.warning("%s is not set: the Telegram Mini App sign-in is refused; /web links "
                    "still work", TOKEN_ENV)

    async def run() -> None:
        await _require_schema(settings)
        services = make_services(settings)
        runner = await serve_alone(services, listen=listen, port=port)
        print(f"web console on http://{listen}:{runner.addresses[0][1]}/web/ "
              "(Ctrl+C to stop)", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
            await services.db.dispose()

    asyncio.run(run())
    return 0


def cmd_keys_new(settings: Settings | None, args: argparse.Namespace) -> int:
    """Print a fresh ``ID:BASE64KEY`` entry for FOSTERBOT_DATA_KEYS."""
    try:
        entry = crypto.new_key_entry(args.key_id)
    except crypto.DataKeyError as exc:
        raise UsageError(str(exc)) from None
    print(entry)
    print(f"# put it FIRST in {crypto.ENV} (keep older keys after it until "
          "`fosterbot keys rotate` has finished), and keep a copy somewhere safe: "
          "without it the data cannot be read", file=sys.stderr)
    return 0


def cmd_keys_rotate(settings: Settings, args: argparse.Namespace) -> int:
    """Re-encrypt every value and kept file under the first key; resumable."""
    ring = crypto.keyring()
    if not ring.enabled:
        print(f"error: {crypto.ENV} is not set: nothing to encrypt with", file=sys.stderr)
        return 1
    if args.batch < 1:
        raise UsageError("--batch must be at least 1")

    def progress(what: str, done: int, total: int, rewritten: int) -> None:
        print(f"  {what}: {done}/{total} rows checked, {rewritten} value(s) re-encrypted",
              flush=True)

    async def run(db):
        await _require_schema(settings)
        return await keys.rotate(db, batch=args.batch, progress=progress, ring=ring)

    print(f"re-encrypting with key {ring.current!r} (safe to interrupt: run again to resume)",
          flush=True)
    result = asyncio.run(_with_db(settings, run))
    print(f"done: {result.rewritten} value(s) re-encrypted of {result.checked} checked; "
          f"{result.files_rewritten} of {result.files_checked} kept file(s) re-encrypted")
    for p in result.files_missing:
        print(f"  missing kept file (not re-encrypted): {p}")
    return 0


def cmd_demo(settings: Settings | None, args: argparse.Namespace) -> int:

    if args.speed <= 0:
        print("--speed must be more than 0 (use --fast for no pauses)", file=sys.stderr)
        return 2
    if not args.verbose:
        logging.getLogger().setLevel(logging.WARNING)
    quiet_ptb_warnings()
    options = DemoOptions(keep=Path(args.keep) if args.keep else None,
                          pause=0.0 if args.fast else 1.0 / args.speed, quiet=args.quiet)
    return asyncio.run(run_demo(options))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fosterbot", description=__doc__.splitlines()[0])
    p.add_argument("--config", help="configuration file (default ./config.toml or $FOSTERBOT_CONFIG)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", help="run the bot").set_defaults(fn=cmd_run)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_cmd", required=True)
    db.add_parser("upgrade", help="create or migrate the database").set_defaults(fn=cmd_db_upgrade)
    bk = db.add_parser("backup", help="write a consistent backup of the whole database to "
                                      "FILE while the bot runs (mode 0600)")
    bk.add_argument("file", metavar="FILE")
    bk.set_defaults(fn=cmd_db_backup)
    rs = db.add_parser("restore", help="restore a backup into the database (stop the bot "
                                       "first); refused if the database holds data")
    rs.add_argument("file", metavar="FILE")
    rs.add_argument("--force", action="store_true",
                    help="replace whatever the database holds with the backup")
    rs.set_defaults(fn=cmd_db_restore)

    d = sub.add_parser("directory", help="teams, people, children, placements")
    dsub = d.add_subparsers(dest="dir_cmd", required=True)
    imp = dsub.add_parser("import", help="load the directory from a TOML file")
    imp.add_argument("file")
    imp.add_argument("--if-empty", action="store_true",
                     help="import only if the directory has no people yet (first start)")
    imp.set_defaults(fn=cmd_directory_import)
    exp = dsub.add_parser("export", help="write the directory as TOML")
    exp.add_argument("-o", "--output", default="-", help="file to write (default: stdout)")
    exp.set_defaults(fn=cmd_directory_export)

    inv = sub.add_parser("invite", help="print a single-use invite code and link for a person")
    inv.add_argument("person_id")
    inv.add_argument("--revoke", action="store_true", help="revoke the person's unused invites")
    inv.add_argument("--replace", action="store_true",
                     help="a code that replaces the person's linked account without its "
                          "confirmation (the account is lost); the old account and the "
                          "manager are told")
    inv.set_defaults(fn=cmd_invite)

    au = sub.add_parser("audit", help="the audit log").add_subparsers(dest="audit_cmd", required=True)
    ver = au.add_parser("verify", help="check the audit hash chain")
    ver.add_argument("--head", metavar="FILE",
                     help="also check that an export's chain head (audit-chain-head_*.json) "
                          "is still in the log unchanged")
    ver.add_argument("--progress", action="store_true", help="print progress on long logs")
    ver.set_defaults(fn=cmd_audit_verify)

    ky = sub.add_parser("keys", help="data keys for encryption at rest ($FOSTERBOT_DATA_KEYS)")
    ksub = ky.add_subparsers(dest="keys_cmd", required=True)
    kn = ksub.add_parser("new", help="print a fresh ID:BASE64KEY entry")
    kn.add_argument("key_id", help="a short name for the key, e.g. 2026a")
    kn.set_defaults(fn=cmd_keys_new, needs_config=False)
    kr = ksub.add_parser("rotate", help="re-encrypt every stored value and kept file with the "
                                        "first key (resumable)")
    kr.add_argument("--batch", type=int, default=keys.BATCH, metavar="N",
                    help=f"rows per transaction (default {keys.BATCH})")
    kr.set_defaults(fn=cmd_keys_rotate)

    # The managers' review, for administrators on the server: no Telegram access
    # rules apply here (whoever can run this can read the database anyway).
    lg = sub.add_parser("log", help="the full timeline of one incident")
    lg.add_argument("reference", help="INC-YYYY-NNNNNN")
    lg.set_defaults(fn=cmd_log)

    od = sub.add_parser("overdue", help="every report late on any clock, most overdue first; "
                                        "then overdue notifications without a report (DBS "
                                        "referrals)")
    od.add_argument("--team", action="append", metavar="TEAM_ID",
                    help="only this team (repeatable; default: all teams); referrals: those "
                         "recorded by someone in it")
    od.add_argument("--limit", type=int, default=200, metavar="N",
                    help="show at most N reports (default 200)")
    od.set_defaults(fn=cmd_overdue)

    def period_args(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--from", dest="from_", metavar="DATE",
                            help="first day, e.g. 2026-11-01 (default: 30 days before --to)")
        parser.add_argument("--to", metavar="DATE", help="last day, included (default: today)")
        parser.add_argument("--team", action="append", metavar="TEAM_ID",
                            help="only this team (repeatable; default: all teams)")

    ch = sub.add_parser("chronology", help="a child's chronology, newest first")
    ch.add_argument("ref", help="the child's reference")
    ch.add_argument("--from", dest="from_", metavar="DATE", help="first day, e.g. 2026-11-01")
    ch.add_argument("--to", metavar="DATE", help="last day, included")
    ch.add_argument("--kind", action="append", metavar="KIND",
                    help="only this kind (repeatable): " + ", ".join(chronology.KINDS))
    ch.add_argument("--out", metavar="FILE.csv", help="write the whole chronology as CSV")
    ch.set_defaults(fn=cmd_chronology)

    st = sub.add_parser("stats", help="statistics for a period")
    period_args(st)
    st.add_argument("--chart", metavar="FILE.png", help="also write the weekly chart")
    st.set_defaults(fn=cmd_stats)

    co = sub.add_parser("compliance", help="statutory tasks on time and missed, per team")
    period_args(co)
    co.set_defaults(fn=cmd_compliance)

    ex = sub.add_parser("export", help="CSV of incidents and audit events, with the chain head")
    period_args(ex)
    ex.add_argument("--out", required=True, metavar="DIR", help="directory to write the files to")
    ex.add_argument("--progress-every", type=int, default=10_000, metavar="N",
                    help="print progress every N rows (default 10000)")
    ex.set_defaults(fn=cmd_export)

    nr = sub.add_parser("notifications", help="the Schedule 7 notification register")
    period_args(nr)
    nr.add_argument("--out", metavar="FILE.csv", help="write the register as CSV")
    nr.set_defaults(fn=cmd_notifications)

    no = sub.add_parser("notification", help="record a Schedule 7 notification as a person")
    nsub = no.add_subparsers(dest="note_cmd", required=True)
    rec = nsub.add_parser("record", help="a recipient was notified")
    rec.add_argument("reference", help="the report, e.g. INC-2026-000123")
    rec.add_argument("recipient", choices=list(notifiable.RECIPIENTS))
    rec.add_argument("--method", required=True, choices=list(notifiable.METHODS))
    rec.add_argument("--ref", help="the reference number the recipient gave")
    conf = nsub.add_parser("confirm", help="a phone notification was confirmed in writing")
    conf.add_argument("reference")
    conf.add_argument("recipient", choices=list(notifiable.RECIPIENTS))
    conf.add_argument("--ref", help="the reference of the written confirmation")
    for one in (rec, conf):
        one.add_argument("--at", help="when (local time, e.g. 2026-11-01T14:30; default now)")
    nreq = nsub.add_parser("not-required", help="one recipient does not apply, with a reason")
    nreq.add_argument("reference")
    nreq.add_argument("recipient", choices=list(notifiable.RECIPIENTS))
    nreq.add_argument("--reason", required=True)
    nn = nsub.add_parser("not-notifiable", help="not notifiable, after review, with a reason")
    nn.add_argument("reference")
    nn.add_argument("--reason", required=True)
    s47 = nsub.add_parser("s47", help="a section 47 enquiry started or concluded")
    s47.add_argument("reference")
    s47.add_argument("stage", choices=["started", "concluded"])
    dbs = nsub.add_parser("dbs-referral", help="a referral to the DBS was made")
    dbs.add_argument("subject", help="a reference for the person referred (not their name)")
    dbs.add_argument("--incident", help="the report it concerns, if any")
    for one in (rec, conf, nreq, nn):
        one.add_argument("--event", help="which event on the report (default: the open one), "
                       "e.g. s47_outcome")
    for one in (rec, conf, nreq, nn, s47, dbs):
        one.add_argument("--by", required=True, metavar="PERSON_ID", help="who made it")
    no.set_defaults(fn=cmd_notification)

    wb = sub.add_parser("web", help="serve the web console alone, against the same database")
    wb.add_argument("--listen", help="address to listen on (default: [web] listen)")
    wb.add_argument("--port", type=int, help="port (default: [web] port; 0 = any free port)")
    wb.set_defaults(fn=cmd_web)

    demo = sub.add_parser("demo", help="the whole bot on a scripted day against a built-in "
                                       "Telegram emulator (no token, no network)")
    demo.add_argument("--keep", metavar="DIR",
                      help="keep the demo's SQLite database and transcript in DIR")
    pace = demo.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=1.0,
                      help="play faster (2 = twice as fast) or slower (0.5)")
    pace.add_argument("--fast", action="store_true", help="no pauses at all")
    demo.add_argument("--quiet", action="store_true",
                      help="only scene titles, timelines and the audit check, not the chats")
    # The demo brings its own settings: a broken or absent config.toml does not matter.
    demo.set_defaults(fn=cmd_demo, needs_config=False)
    return p


def entry(argv: list[str] | None = None) -> int:
    """The ``fosterbot`` program: umask 077 for the whole process, then :func:`main`.

    Whatever a library creates (temporary files, a database's side files) is then
    private too; the files fosterbot itself writes have explicit modes anyway
    (``storage.files``).
    """
    files.set_process_umask()
    return main(argv)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = None
    if getattr(args, "needs_config", True):
        try:
            settings = load_config(args.config)
        except ConfigError as exc:
            print(f"configuration error: {exc}", file=sys.stderr)
            return 2
    _setup_logging(settings, args.verbose)
    if settings is not None:
        redaction.install([settings.token, settings.webhook_secret])
    try:
        crypto.keyring()  # a malformed FOSTERBOT_DATA_KEYS is a configuration error
    except crypto.DataKeyError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        return args.fn(settings, args) or 0
    except UsageError as exc:
        print(f"error: {redaction.redact(str(exc))}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one readable line for the operator

        if isinstance(exc, ConfigError):
            print(f"configuration error: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, (SchemaOutOfDate, crypto.DataKeyError)):
            print(f"error: {redaction.redact(str(exc))}", file=sys.stderr)
            return 1
        log.exception("command failed")
        print(f"error: {redaction.redact(str(exc))}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(entry())
