"""Schema migrations through Alembic, driven from our own code (no alembic.ini needed).

``upgrade(url)`` brings a database to the newest schema; ``current_revision``
and ``head_revision`` let ``fosterbot run`` refuse an out-of-date database.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from storage import files
from storage.models import Base

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def upgrade(url: str, revision: str = "head") -> None:
    """Create or migrate the database at ``url``."""
    cfg = alembic_config(url)
    files.prepare_sqlite(url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            def _do(sync_conn):
                cfg.attributes["sync_connection"] = sync_conn
                command.upgrade(cfg, revision)

            await conn.run_sync(_do)
    finally:
        await engine.dispose()


async def current_revision(url: str) -> str | None:
    files.prepare_sqlite(url)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda c: MigrationContext.configure(c).get_current_revision()
            )
    finally:
        await engine.dispose()


async def check(url: str) -> list:
    """Differences between the models and the migrated schema (empty when in step)."""


    files.prepare_sqlite(url)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()
