"""Issue 14 (guard), finding 9: the token, SQL parameters and people's words stay out of logs.

The token test runs the real bot (``fosterbot run``) against the emulator with
``telegram.api_base_url`` pointing at a wrong path: python-telegram-bot's 404
handling names the token ("The token `…` was rejected by the server"), and the
command prints the error. Neither the log nor the output may contain it.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from storage.db import Database
from tests.botprocess import TOKEN, BotProcess, write_config


async def test_a_wrong_api_url_does_not_put_the_token_in_the_log(db_url, fake, tmp_path):
    config = write_config(tmp_path / "config.toml", db_url, fake, extra="")
    config.write_text(config.read_text().replace(
        f'api_base_url = "{fake.base_url}"', f'api_base_url = "{fake.base_url}x/typo/bot"'))
    bot = BotProcess(config, fake, tmp_path / "bot.log")
    with pytest.raises(AssertionError, match="did not start"):
        await bot.start(ready_timeout=20)
    assert await bot.wait() == 1
    log = (tmp_path / "bot.log").read_text()
    assert "rejected by the server" in log  # the real 404 path was taken…
    assert TOKEN not in log and TOKEN.split(":")[1] not in log  # …and the token is not there
    assert "[redacted]" in log


async def test_the_running_bot_redacts_the_token_from_every_record(world, caplog):
    """Installed at start: any record, from any logger, with the token in its message,
    arguments or traceback is redacted before a handler sees it."""
    token = world.settings.token
    assert token
    # httpx's own level may be raised by the bot (its INFO lines are noise): open it here.
    with caplog.at_level(logging.INFO), caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("httpx").info("HTTP Request: POST %s/bot%s/getMe", "http://x", token)
        try:
            raise RuntimeError(f"The token `{token}` was rejected by the server.")
        except RuntimeError:
            logging.getLogger("telegram.ext.Application").exception("failed")
        logging.getLogger("anything").warning("shaped like a token: 1234567890:%s", "A" * 35)
    assert token not in caplog.text and "A" * 35 not in caplog.text
    assert caplog.text.count("[redacted]") >= 3


async def test_sql_parameters_are_hidden_from_errors(db_url):
    """A failing statement's parameters (a carer's words) are not in its error or log."""
    words = "the child said her uncle hit her"
    db = Database(db_url)
    try:
        with pytest.raises(DBAPIError) as err:
            async with db.write() as s:
                await s.execute(text("INSERT INTO no_such_table (x) VALUES (:x)"), {"x": words})
    finally:
        await db.dispose()
    assert words not in str(err.value)
    assert "hidden" in str(err.value)
