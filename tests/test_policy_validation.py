"""Invalid escalation policies never start: each error names the key.

Steps must come later and later (a working-time step compared at its shortest),
``repeat`` at least a minute, and every target a known word or a person in the
directory — checked when the bot starts and when a directory is imported.
"""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_config
from tests.conftest import TOKEN, make_settings
from tests.test_cli_and_schema import fosterbot
from tests.world import EXAMPLE_DIRECTORY, World


def write(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def steps(*pairs: tuple[str, str], repeat: str | None = None, urgency: str = "urgent") -> str:
    body = ", ".join(f'{{ after = "{a}", notify = "{n}" }}' for a, n in pairs)
    text = f"[escalation.{urgency}]\nsteps = [{body}]\n"
    return text + (f'repeat = "{repeat}"\n' if repeat else "")


@pytest.mark.parametrize("text, key, words", [
    (steps(("30m", "team_manager"), ("15m", "recipients")),
     "escalation.urgent.steps[1].after", "15m is not later than steps[0].after (30m)"),
    (steps(("15m", "recipients"), ("15m", "team_manager")),
     "escalation.urgent.steps[1].after", "not later than"),
    # A working day is at least 24 hours: 20 hours after it is earlier, not later.
    (steps(("1 working day", "recipients"), ("20h", "team_manager"), urgency="routine"),
     "escalation.routine.steps[1].after", "1 working day"),
    (steps(("1h", "recipients"), ("2h", "team_manager"), ("90m", "duty"), urgency="high"),
     "escalation.high.steps[2].after", "90m is not later than steps[1].after (2h)"),
    (steps(("15m", "recipients"), repeat="1s"), "escalation.urgent.repeat",
     "at least every minute"),
])
def test_an_invalid_policy_is_refused_with_its_key(tmp_path, text, key, words):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env={})
    message = str(err.value)
    assert f"{key}: " in message and words in message, message


@pytest.mark.parametrize("text", [
    steps(("2 working hours", "recipients"), ("3h", "team_manager"), urgency="high"),
    steps(("1 working day", "recipients"), ("25h", "team_manager"), urgency="routine"),
    steps(("15m", "recipients"), ("30m", "team_manager"), repeat="1m"),
])
def test_a_valid_policy_is_accepted(tmp_path, text):
    load_config(write(tmp_path, text), env={})


MISSPELT = steps(("15m", "recipients"), ("30m", "team_manger"), ("60m", "edt"))


async def test_the_bot_refuses_to_start_with_a_target_nobody_has(db_url, clock, fake):
    world = World(db_url=db_url, clock=clock, fake=fake,
                  settings=make_settings(db_url, fake, escalation={"urgent": {"steps": [
                      {"after": "15m", "notify": "recipients"},
                      {"after": "30m", "notify": "team_manger"},
                      {"after": "60m", "notify": "sw-duty"}]}}))
    with pytest.raises(ConfigError) as err:
        await world.start()
    await world.stop()
    message = str(err.value)
    assert "escalation.urgent.steps[1].notify: 'team_manger' is neither" in message
    assert "steps[2]" not in message  # sw-duty is in the directory


def test_directory_import_and_run_refuse_a_target_nobody_has(tmp_path):
    assert fosterbot(tmp_path, "db", "upgrade").returncode == 0
    cfg = tmp_path / "config.toml"
    cfg.write_text(cfg.read_text() + MISSPELT)
    r = fosterbot(tmp_path, "directory", "import", str(EXAMPLE_DIRECTORY))
    assert r.returncode == 1
    assert "escalation.urgent.steps[1].notify: 'team_manger' is neither" in r.stderr
    assert "nothing was changed" in r.stderr

    # With the directory in (imported under a good policy), `run` refuses the bad one
    # before it talks to Telegram.
    good = cfg.read_text().replace(MISSPELT, "")
    cfg.write_text(good)
    assert fosterbot(tmp_path, "directory", "import", str(EXAMPLE_DIRECTORY)).returncode == 0
    cfg.write_text(good + MISSPELT)
    r = fosterbot(tmp_path, "run", env_extra={"FOSTERBOT_TELEGRAM_TOKEN": TOKEN})
    assert r.returncode == 2, r.stderr
    assert "escalation.urgent.steps[1].notify: 'team_manger' is neither" in r.stderr

    # A person id that the directory has is a valid target.
    cfg.write_text(good + steps(("15m", "recipients"), ("30m", "sw-duty")))
    r = fosterbot(tmp_path, "directory", "import", str(EXAMPLE_DIRECTORY))
    assert r.returncode == 0, r.stderr
