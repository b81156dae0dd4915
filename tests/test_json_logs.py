"""JSON-lines logs (``[logging] format = "json"`` or ``FOSTERBOT_LOG_FORMAT``): the real
``fosterbot run`` writes one object per line, each line about an update names it and the
incident, and neither a carer's words nor the token are ever in the log."""

from __future__ import annotations

import json
import logging
import re

import pytest

from bot import logs
from bot.config import ConfigError, load_config
from bot.runtime import redaction
from tests.botprocess import TOKEN, BotProcess, link, load_directory, write_config
from tests.conftest import WORKING_MORNING
from tests.world import EXAMPLE_DIRECTORY, TG_IDS

WORDS = "She said the neighbour shouted at her"


@pytest.fixture
def backend():
    return "sqlite"  # what is logged does not depend on the database


async def test_fosterbot_run_writes_json_lines_naming_update_and_incident(db_url, fake,
                                                                          tmp_path):
    config = write_config(tmp_path / "config.toml", db_url, fake,
                          extra='[logging]\nformat = "json"\n')
    await load_directory(db_url, EXAMPLE_DIRECTORY.read_text(), WORKING_MORNING)
    users = await link(db_url, fake, {p: TG_IDS[p] for p in ("sw-patel", "carer-smith")},
                       WORKING_MORNING)
    carer, patel = users["carer-smith"], users["sw-patel"]
    bot = BotProcess(config, fake, tmp_path / "bot.log")
    try:
        await bot.start()
        await carer.send("/report")
        await carer.wait_for("Which child", timeout=15)
        await carer.click("A1")
        await carer.wait_for("Choose one")
        await carer.click("Other / general update")
        await carer.wait_for("write what happened")
        await carer.send(WORDS)
        await carer.wait_for("When did it happen")
        await carer.click("Skip the rest")
        await carer.wait_for("Please check your report")
        await carer.click("Submit")
        receipt = await carer.wait_for("received and recorded", timeout=15)
        ref = re.search(r"INC-\d{4}-\d{6}", receipt.text).group(0)
        await patel.wait_for(ref, timeout=15)
        assert await bot.terminate() == 0
    finally:
        await bot.ensure_stopped()

    lines = [line for line in (tmp_path / "bot.log").read_text().splitlines()
             if line and not line.startswith("=====")]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert len(entries) >= 3
    for e in entries:
        assert {"time", "level", "logger", "message"} <= set(e)
        assert e["time"].endswith("Z") and e["level"] in ("DEBUG", "INFO", "WARNING", "ERROR")
    [reported] = [e for e in entries if e["logger"] == "bot.record.incidents"]
    assert reported["incident"] == ref and reported["message"].startswith(ref)
    assert reported["update_id"] in {u["update_id"] for u in fake.updates}
    assert any(e["message"].startswith("fosterbot running") for e in entries)
    # Once started, start-up's objects are kept out of the garbage collector.
    assert any(e["logger"] == "bot.runtime.gc_tuning" and "objects kept out" in e["message"]
               for e in entries)
    text = "\n".join(lines)
    assert WORDS not in text and TOKEN not in text and TOKEN.split(":")[1] not in text


def test_the_formatter_redacts_and_adds_the_context_only_inside_a_scope():
    redaction.install([TOKEN])
    formatter = logs.JsonFormatter()
    logger = logging.getLogger("fosterbot.test")

    def line(msg, *args, exc=None):
        record = logger.makeRecord(logger.name, logging.ERROR, __file__, 1, msg, args,
                                   exc)
        return json.loads(formatter.format(record))

    assert set(line("outside")) == {"time", "level", "logger", "message"}
    with logs.scope(update_id=100007):
        logs.set_incident("INC-2026-000042")
        try:
            raise RuntimeError(f"The token `{TOKEN}` was rejected")
        except RuntimeError as err:
            inside = line("request to %s failed", f"/bot{TOKEN}/getMe",
                          exc=(type(err), err, err.__traceback__))
    assert inside["update_id"] == 100007 and inside["incident"] == "INC-2026-000042"
    assert inside["message"] == "request to /bot[redacted]/getMe failed"
    assert "RuntimeError" in inside["exception"] and TOKEN not in json.dumps(inside)
    assert "incident" not in line("after the scope")


def test_the_environment_chooses_the_format_and_a_bad_one_is_refused(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[logging]\nformat = "text"\n')
    assert load_config(config, env={}).logging.format == "text"
    assert load_config(config, env={"FOSTERBOT_LOG_FORMAT": "JSON"}).logging.format == "json"
    with pytest.raises(ConfigError, match="FOSTERBOT_LOG_FORMAT: 'xml' is not a log format"):
        load_config(config, env={"FOSTERBOT_LOG_FORMAT": "xml"})
    config.write_text('[logging]\nformat = "yaml"\n')
    with pytest.raises(ConfigError, match="logging.format"):
        load_config(config, env={})
