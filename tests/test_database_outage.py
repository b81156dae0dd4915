"""Issue 14 finding 3: text typed while the database is down is not lost, and the carer is
told the truth once.

A real PostgreSQL server (``tests/pgserver.py``) is stopped while a carer is writing a
report and started again: the update is not confirmed to Telegram nor recorded as
handled, it is taken in once the database is back, and the carer got one honest message
(not three "Nothing you sent was lost").
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.emulator import FakeBotAPI
from storage import migrate
from storage.models import Draft, ProcessedUpdate
from tests import pgserver
from tests.conftest import TOKEN, make_settings
from tests.pgserver import ThrowawayPostgres, create_fresh_database, find_pg_bin
from tests.test_webhook import hook_world  # noqa: F401 - the webhook-mode world fixture
from tests.world import World

needs_binaries = pytest.mark.skipif(find_pg_bin() is None, reason=pgserver.NO_BINARIES_HINT)

TEXT = "She ran off at the park and the police brought her back at 6."


async def until(check, timeout: float = 30.0) -> None:
    """Wait until ``check()`` holds (the bot works in real time here: the server restarts)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


def count(user, text: str) -> int:
    return sum(text in (ev.content or "") for ev in user._events)


@needs_binaries
async def test_text_typed_while_the_database_is_down_is_kept_and_taken_in_later(clock):
    with ThrowawayPostgres() as pg:
        url = await create_fresh_database(pg.url)
        await migrate.upgrade(url)
        async with FakeBotAPI(token=TOKEN, bot_username="fosterbot_test_bot") as fake:
            world = World(db_url=url, clock=clock, fake=fake, settings=make_settings(url, fake))
            await world.start()
            try:
                smith = await world.linked("carer-smith")
                await smith.send("/report")
                await smith.wait_for("Which child")
                await smith.click("A1")
                await smith.wait_for("Choose one")
                await smith.click("Other / general update")
                await smith.wait_for("write what happened")

                await asyncio.to_thread(pg.pause)
                sent = await smith.send(TEXT)
                told = await smith.wait_for("not been saved yet", timeout=30)
                assert not told.buttons
                poller = world.runner.poller
                await until(lambda: poller.retried >= 3)  # tried again, and again: still down
                update_id = fake.updates[-1]["update_id"]
                assert fake.updates[-1]["message"]["message_id"] == sent["message_id"]
                assert update_id in fake.unconfirmed_update_ids()

                await asyncio.to_thread(pg.resume)
                await smith.wait_for("When did it happen", timeout=40)
                await world.settle()
                assert count(smith, "not been saved yet") == 1
                assert count(smith, "Nothing you sent was lost") == 0
                assert count(smith, "something went wrong") == 0
                async with world.services.db.read() as s:
                    draft = (await s.execute(select(Draft))).scalar_one()
                    assert draft.data["description"] == TEXT
                    assert await s.get(ProcessedUpdate, update_id) is not None
                await until(lambda: update_id not in fake.unconfirmed_update_ids())
            finally:
                await world.stop()



@needs_binaries
async def test_text_typed_while_the_database_is_down_survives_a_restart_of_the_bot(clock):
    with ThrowawayPostgres() as pg:
        url = await create_fresh_database(pg.url)
        await migrate.upgrade(url)
        async with FakeBotAPI(token=TOKEN, bot_username="fosterbot_test_bot") as fake:
            world = World(db_url=url, clock=clock, fake=fake, settings=make_settings(url, fake))
            await world.start()
            try:
                smith = await world.linked("carer-smith")
                await smith.send("/report")
                await smith.wait_for("Which child")
                await smith.click("A1")
                await smith.wait_for("Choose one")
                await smith.click("Other / general update")
                await smith.wait_for("write what happened")
                await asyncio.to_thread(pg.pause)
                await smith.send(TEXT)
                await smith.wait_for("not been saved yet", timeout=30)
                update_id = fake.updates[-1]["update_id"]
                await world.stop_bot()  # e.g. the service is restarted during the outage
                assert update_id in fake.unconfirmed_update_ids()
                await asyncio.to_thread(pg.resume)
                await world.start_bot()
                await smith.wait_for("When did it happen", timeout=40)
                async with world.services.db.read() as s:
                    draft = (await s.execute(select(Draft))).scalar_one()
                    assert draft.data["description"] == TEXT
                assert count(smith, "not been saved yet") == 1
            finally:
                await world.stop()


def test_only_an_unreachable_database_counts_as_unavailable():
    from sqlalchemy import exc as sa_exc
    from telegram.error import NetworkError

    from storage.db import is_unavailable

    down = sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "refused"))
    assert is_unavailable(down)
    assert is_unavailable(ConnectionRefusedError(111, "Connect call failed"))
    assert not is_unavailable(sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not is_unavailable(ValueError("a bug"))
    try:  # Telegram's network failing is not the database failing
        try:
            raise ConnectionResetError(104, "reset by peer")
        except ConnectionResetError as inner:
            raise NetworkError("httpx.ReadError") from inner
    except NetworkError as exc:
        assert not is_unavailable(exc)


async def test_webhook_update_that_failed_on_the_database_is_refused_and_comes_again(
        hook_world, fake, monkeypatch):
    from contextlib import asynccontextmanager

    from sqlalchemy.exc import OperationalError

    smith = await hook_world.linked("carer-smith")
    db = hook_world.services.db
    down = {"now": True}

    def refusing(real):
        @asynccontextmanager
        async def opened():  # the database refuses connections while it is "down"
            if down["now"]:
                raise OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "refused"))
            async with real() as s:
                yield s
        return opened

    # every read: the update's check (a one-statement read) and the handlers' sessions
    for door in ("read", "read_statement", "read_connection"):
        monkeypatch.setattr(db, door, refusing(getattr(db, door)))
    failures_before = fake.counters["webhook_failures"]
    await smith.send("She will not come out of her room")
    await smith.wait_for("not been saved yet", timeout=10)
    await until(lambda: fake.counters["webhook_failures"] - failures_before >= 3)  # 503, again
    down["now"] = False
    await smith.wait_for("Report this as an incident?", timeout=10)
    assert count(smith, "not been saved yet") == 1
    assert count(smith, "something went wrong") == 0


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_deadlock_postgresql_broke_counts_as_try_again(db_url):
    """Two transactions locking the same rows in opposite orders: PostgreSQL rolls one back
    (40P01). That update must be handled again, not answered "Sorry" (seen between
    /notnotifiable and the engine writing the event's first reminder)."""
    import asyncio

    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from storage.db import is_unavailable

    engine = create_async_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE dl (id int PRIMARY KEY, n int)"))
            await conn.execute(text("INSERT INTO dl VALUES (1, 0), (2, 0)"))
        both_locked_one = asyncio.Barrier(2)

        async def writer(first: int, second: int) -> None:
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE dl SET n = n + 1 WHERE id = :i"), {"i": first})
                await both_locked_one.wait()
                await conn.execute(text("UPDATE dl SET n = n + 1 WHERE id = :i"), {"i": second})

        results = await asyncio.gather(writer(1, 2), writer(2, 1), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        assert len(failed) == 1, results
        assert "deadlock" in str(failed[0])
        assert is_unavailable(failed[0])
    finally:
        await engine.dispose()
