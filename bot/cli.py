"""The ``fosterbot`` command line (the operator's contract in DESIGN.md).

Every command takes ``--config PATH`` (default ``./config.toml`` or
``$FOSTERBOT_CONFIG``). Exit codes: 0 success, 1 the command failed (the
message says why), 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from bot.config import TOKEN_ENV, ConfigError, Settings, load_config

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
    level = "DEBUG" if verbose else (settings.log_level if settings else "INFO")
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _services(settings: Settings):
    from bot.app import make_services

    return make_services(settings)


async def _with_db(settings: Settings, fn):
    from storage.db import Database

    db = Database(settings.database.url)
    try:
        return await fn(db)
    finally:
        await db.dispose()


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from storage import migrate

    asyncio.run(migrate.upgrade(settings.database.url))
    print(f"database at {migrate.head_revision()}: {_safe_url(settings.database.url)}")
    return 0


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}@{host}"
    return url


def cmd_directory_import(settings: Settings, args: argparse.Namespace) -> int:
    from bot.clock import SystemClock
    from bot.directory import DirectoryError, apply_directory, parse_directory

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        directory = parse_directory(text, source=str(path))
    except DirectoryError as exc:
        print(f"{path} was not imported; nothing was changed. {len(exc.errors)} problem(s):",
              file=sys.stderr)
        for e in exc.errors:
            print(f"  {e}", file=sys.stderr)
        return 1

    async def run(db):
        await _require_schema(settings)
        async with db.write() as s:
            return await apply_directory(s, directory, now=SystemClock().now(), actor="cli",
                                         source=str(path))

    summary = asyncio.run(_with_db(settings, run))
    print(summary)
    for change in summary.changes:
        print(f"  {change}")
    return 0


def cmd_directory_export(settings: Settings, args: argparse.Namespace) -> int:
    from bot.directory import export_directory

    async def run(db):
        await _require_schema(settings)
        async with db.read() as s:
            return await export_directory(s)

    text = asyncio.run(_with_db(settings, run))
    if args.output and args.output != "-":
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"directory written to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_invite(settings: Settings, args: argparse.Namespace) -> int:
    from bot import invites
    from bot.clock import SystemClock

    async def run(db):
        await _require_schema(settings)
        now = SystemClock().now()
        async with db.write() as s:
            if args.revoke:
                return None, await invites.revoke_invites(s, args.person_id, now=now, actor="cli")
            return await invites.create_invite(
                s, args.person_id, now=now, ttl=settings.service.invite_ttl.amount, actor="cli"
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
    print(f"expires: {invite.expires_at:%Y-%m-%d %H:%M} UTC; single use. "
          f"Revoke with: fosterbot invite --revoke {args.person_id}")
    if not username:
        print("(set telegram.bot_username in the configuration to print the full link)")
    return 0


def cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    from bot import audit

    async def run(db):
        await _require_schema(settings)
        async with db.read() as s:
            return await audit.verify(s)

    result = asyncio.run(_with_db(settings, run))
    print(result.message)
    return 0 if result.ok else 1


async def _require_schema(settings: Settings) -> None:
    from bot.app import check_schema

    await check_schema(settings.database.url)


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import quiet_ptb_warnings, run_forever

    if not settings.token:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    from bot.webhook import config_problems

    problems = config_problems(settings)
    if problems:
        print("configuration error: webhook mode cannot start:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    quiet_ptb_warnings()
    asyncio.run(run_forever(_services(settings)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fosterbot", description=__doc__.splitlines()[0])
    p.add_argument("--config", help="configuration file (default ./config.toml or $FOSTERBOT_CONFIG)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", help="run the bot").set_defaults(fn=cmd_run)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_cmd", required=True)
    db.add_parser("upgrade", help="create or migrate the database").set_defaults(fn=cmd_db_upgrade)

    d = sub.add_parser("directory", help="teams, people, children, placements")
    dsub = d.add_subparsers(dest="dir_cmd", required=True)
    imp = dsub.add_parser("import", help="load the directory from a TOML file")
    imp.add_argument("file")
    imp.set_defaults(fn=cmd_directory_import)
    exp = dsub.add_parser("export", help="write the directory as TOML")
    exp.add_argument("-o", "--output", default="-", help="file to write (default: stdout)")
    exp.set_defaults(fn=cmd_directory_export)

    inv = sub.add_parser("invite", help="print a single-use invite code and link for a person")
    inv.add_argument("person_id")
    inv.add_argument("--revoke", action="store_true", help="revoke the person's unused invites")
    inv.set_defaults(fn=cmd_invite)

    au = sub.add_parser("audit", help="the audit log").add_subparsers(dest="audit_cmd", required=True)
    au.add_parser("verify", help="check the audit hash chain").set_defaults(fn=cmd_audit_verify)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_config(args.config)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    _setup_logging(settings, args.verbose)
    try:
        return args.fn(settings, args) or 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one readable line for the operator
        from bot.app import SchemaOutOfDate

        if isinstance(exc, SchemaOutOfDate):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        log.exception("command failed")
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
