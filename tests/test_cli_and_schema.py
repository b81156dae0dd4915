"""The operator's command line and the schema: migrations, refusals, messages."""

from __future__ import annotations

import os
import subprocess
import sys

import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from storage import migrate
from tests.world import EXAMPLE_DIRECTORY, ROOT


def fosterbot(tmp_path, *args, env_extra=None, db_url=None):
    cfg = tmp_path / "config.toml"
    if not cfg.exists():
        url = db_url or f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
        cfg.write_text(f'[database]\nurl = "{url}"\n[telegram]\nbot_username = "fosterbot_test_bot"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOSTERBOT_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), *args],
                          capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)


async def test_migrations_match_the_models(db_url):
    assert await migrate.current_revision(db_url) == migrate.head_revision()
    assert await migrate.check(db_url) == []


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def _downgrade(url: str, revision: str) -> None:
    cfg = migrate.alembic_config(url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            def _do(sync_conn):
                cfg.attributes["sync_connection"] = sync_conn
                command.downgrade(cfg, revision)

            await conn.run_sync(_do)
    finally:
        await engine.dispose()


async def test_unused_tables_are_dropped_and_come_back_on_downgrade(db_url):
    unused = {"conversation_states", "service_info"}  # never read: drafts hold conversations
    assert not unused & await _tables(db_url)
    await _downgrade(db_url, "4_audit_head_row")
    assert unused <= await _tables(db_url)
    await migrate.upgrade(db_url)
    assert not unused & await _tables(db_url)
    assert await migrate.check(db_url) == []


def test_operator_workflow(tmp_path):
    r = fosterbot(tmp_path, "directory", "import", str(EXAMPLE_DIRECTORY))
    assert r.returncode == 1 and "fosterbot db upgrade" in r.stderr  # schema first

    r = fosterbot(tmp_path, "db", "upgrade")
    assert r.returncode == 0, r.stderr
    r = fosterbot(tmp_path, "directory", "import", str(EXAMPLE_DIRECTORY))
    assert r.returncode == 0 and "17 created" in r.stdout
    r = fosterbot(tmp_path, "directory", "import", str(EXAMPLE_DIRECTORY))
    assert "directory unchanged" in r.stdout

    r = fosterbot(tmp_path, "invite", "sw-patel")
    assert r.returncode == 0, r.stderr
    code = r.stdout.split("invite code for sw-patel: ")[1].split()[0]
    assert f"https://t.me/fosterbot_test_bot?start={code}" in r.stdout
    assert "single use" in r.stdout
    r = fosterbot(tmp_path, "invite", "--revoke", "sw-patel")
    assert "revoked 1 unused invite(s)" in r.stdout
    r = fosterbot(tmp_path, "invite", "nobody")
    assert r.returncode == 1 and "no person with id 'nobody'" in r.stderr

    r = fosterbot(tmp_path, "audit", "verify")
    assert r.returncode == 0 and r.stdout.startswith("intact,")

    out = tmp_path / "exported.toml"
    r = fosterbot(tmp_path, "directory", "export", "-o", str(out))
    assert r.returncode == 0 and "sw-patel" in out.read_text()


def test_invalid_directory_file_changes_nothing(tmp_path):
    assert fosterbot(tmp_path, "db", "upgrade").returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE_DIRECTORY.read_text().replace('team = "north"\nallocated_social_worker = "sw-patel"',
                                                         'team = "nowhere"\nallocated_social_worker = "sw-patel"', 1))
    r = fosterbot(tmp_path, "directory", "import", str(bad))
    assert r.returncode == 1
    assert "nothing was changed" in r.stderr and "children[1] (A1).team: no team 'nowhere'" in r.stderr
    r = fosterbot(tmp_path, "directory", "export")
    assert "sw-patel" not in r.stdout


def test_run_without_token_explains_botfather(tmp_path):
    r = fosterbot(tmp_path, "run")
    assert r.returncode == 2
    assert "@BotFather" in r.stderr and "FOSTERBOT_TELEGRAM_TOKEN" in r.stderr


def test_run_refuses_out_of_date_schema(tmp_path):
    r = fosterbot(tmp_path, "run", env_extra={"FOSTERBOT_TELEGRAM_TOKEN": "1:x"})
    assert r.returncode == 1
    assert "run `fosterbot db upgrade` first" in r.stderr


def test_bad_config_names_the_key(tmp_path):
    (tmp_path / "config.toml").write_text('[escalation.high]\nrepeat = "soon"\nsteps = [{after="1h", notify="duty"}]\n')
    r = fosterbot(tmp_path, "db", "upgrade")
    assert r.returncode == 2 and "escalation.high.repeat" in r.stderr


def test_run_refuses_a_last_resort_that_names_nobody(tmp_path):
    (tmp_path / "config.toml").write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "cli.db"}"\n'
        '[escalation]\nlast_resort = "head-of-nowhere"\n')
    assert fosterbot(tmp_path, "db", "upgrade").returncode == 0
    assert fosterbot(tmp_path, "directory", "import", str(EXAMPLE_DIRECTORY)).returncode == 0
    r = fosterbot(tmp_path, "run", env_extra={"FOSTERBOT_TELEGRAM_TOKEN": "1:x"})
    assert r.returncode == 2
    assert "escalation.last_resort: no active person or rota 'head-of-nowhere'" in r.stderr


def test_run_refuses_a_notification_owner_that_names_nobody(tmp_path):
    (tmp_path / "config.toml").write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "cli.db"}"\n'
        '[escalation]\nlast_resort = "tm-jones"\n'
        '[notification]\nregistered_manager = "tm-jones"\ndeputy = "rm-typo"\n')
    assert fosterbot(tmp_path, "db", "upgrade").returncode == 0
    assert fosterbot(tmp_path, "directory", "import", str(EXAMPLE_DIRECTORY)).returncode == 0
    r = fosterbot(tmp_path, "run", env_extra={"FOSTERBOT_TELEGRAM_TOKEN": "1:x"})
    assert r.returncode == 2
    assert "notification.deputy: no active person or rota 'rm-typo'" in r.stderr


def test_directory_import_refuses_child_names_with_their_line(tmp_path):
    """Finding 11: a name given as a child's reference is refused, with its line."""
    assert fosterbot(tmp_path, "db", "upgrade").returncode == 0
    text = EXAMPLE_DIRECTORY.read_text()
    text += ('\n[[children]]\nref = "OliviaSmith"\nteam = "north"\n'
             '\n[[children]]\nref = "Mohammed-Ali"\nteam = "north"\n')
    lines = text.splitlines()
    olivia = lines.index('ref = "OliviaSmith"') + 1
    mohammed = lines.index('ref = "Mohammed-Ali"') + 1
    bad = tmp_path / "names.toml"
    bad.write_text(text)
    r = fosterbot(tmp_path, "directory", "import", str(bad))
    assert r.returncode == 1 and "nothing was changed" in r.stderr
    assert f"names.toml:{olivia}: " in r.stderr and "(OliviaSmith).ref: looks like a name" in r.stderr
    assert f"names.toml:{mohammed}: " in r.stderr and "(Mohammed-Ali).ref" in r.stderr
    r = fosterbot(tmp_path, "directory", "export")
    assert "sw-patel" not in r.stdout
    # The pattern is the operator's to set: one that allows these names lets them in.
    cfg = tmp_path / "config.toml"
    cfg.write_text(cfg.read_text() + '[privacy]\nchild_ref_pattern = "^[A-Za-z-]+$|[0-9]"\n')
    r = fosterbot(tmp_path, "directory", "import", str(bad))
    assert r.returncode == 0, r.stderr
