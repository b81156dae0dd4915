"""Fresh PostgreSQL databases for the tests, cloned from the migrated template one test ahead.

``CREATE DATABASE … TEMPLATE`` takes a few hundred milliseconds (more on a loaded
machine), and so does dropping it; done in the test's own setup and teardown, that was
time every PostgreSQL test waited. Here a background thread makes the next test's clone
while the current test runs and drops a finished test's database afterwards, so a test
waits only when the clone is not ready yet. Each test still gets a database of its own,
cloned from the same template.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import Future, ThreadPoolExecutor

import asyncpg

from tests import pgserver


class Clones:
    def __init__(self, admin: str, template: str) -> None:
        self.admin = admin
        self.template = template
        # One thread: creates and drops run one at a time, in the order asked.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="pg-clones")
        self._next: Future[str] = self._thread.submit(self._create)

    def _execute(self, sql: str) -> None:
        async def run() -> None:
            conn = await asyncpg.connect(pgserver.asyncpg_dsn(self.admin))
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(run())

    def _create(self) -> str:
        name = f"fosterbot_t_{uuid.uuid4().hex[:12]}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def _drop(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def take(self) -> str:
        """A fresh database's URL (waits for the clone if it is not ready); the next clone
        starts at once."""
        name = self._next.result()
        self._next = self._thread.submit(self._create)
        return pgserver.with_database(self.admin, name)

    def drop(self, url: str) -> None:
        """Drop a test's database in the background."""
        self._thread.submit(self._drop, url.rpartition("/")[2])

    def close(self) -> None:
        """Drop the spare clone and wait for every drop asked for."""
        if self._next.exception() is None:  # a clone that failed has nothing to drop
            self._drop(self._next.result())
        self._thread.shutdown(wait=True)
