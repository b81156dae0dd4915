"""Configuration: validated at start-up, errors name the key, secrets from the environment."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_config


def write(tmp_path, text):
    p = tmp_path / "config.toml"
    p.write_text(text)
    return p


def test_example_config_is_valid_and_matches_defaults(tmp_path):
    from pathlib import Path

    example = load_config(Path(__file__).parent.parent / "config.example.toml", env={})
    defaults = load_config(write(tmp_path, ""), env={})
    assert example.model_dump() == defaults.model_dump()
    assert len(example.categories) == 17
    assert [str(s.after) for s in example.escalation["urgent"].steps] == ["15m", "30m", "60m"]


def test_token_comes_from_environment(tmp_path):
    s = load_config(write(tmp_path, ""), env={"FOSTERBOT_TELEGRAM_TOKEN": " 1:abc "})
    assert s.token == "1:abc"


def test_token_in_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="FOSTERBOT_TELEGRAM_TOKEN"):
        load_config(write(tmp_path, '[telegram]\ntoken = "1:abc"\n'), env={})


@pytest.mark.parametrize(
    "text, key, words",
    [
        ('[escalation.urgent]\nsteps = [{ after = "15 minutes", notify = "recipients" }]\n',
         "escalation.urgent.steps[0].after", "15 minutes"),
        ('[escalation.urgent]\nsteps = []\n', "escalation.urgent.steps", "at least one step"),
        ('[escalation.urgnt]\nsteps = [{ after = "1h", notify = "duty" }]\n', "escalation",
         "unknown urgency"),
        ('[hours]\nmonday = "17:00-09:00"\n', "hours.monday", "end must be after"),
        ('[service]\ntimezone = "Mars/Olympus"\n', "service.timezone", "unknown time zone"),
        ('[database]\nurl = "mysql://x"\n', "database.url", "sqlite+aiosqlite"),
        ('[telegram]\nmode = "carrier-pigeon"\n', "telegram.mode", "polling"),
        ('[servce]\nname = "x"\n', "servce", "Extra inputs"),
        ('[[categories]]\nkey = "Bad Key"\nlabel = "x"\nurgency = "routine"\n',
         "categories[0].key", "a-z"),
        ('[[categories]]\nkey = "x"\nlabel = "x"\nurgency = "soon"\n', "categories[0].urgency",
         "urgent"),
    ],
)
def test_invalid_config_names_the_key(tmp_path, text, key, words):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), env={})
    message = str(err.value)
    assert key in message and words in message, message


def test_bad_toml_says_so(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[service\n"), env={})


def test_missing_named_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "nope.toml", env={})


def test_policy_version_changes_with_policy(tmp_path):
    a = load_config(write(tmp_path, ""), env={})
    b = load_config(write(tmp_path, '[escalation.urgent]\nsteps = [{ after = "10m", notify = "recipients" }]\n'), env={})
    assert a.policy_version("urgent") != b.policy_version("urgent")
    assert a.policy_version("high") == b.policy_version("high")


def test_last_resort_is_read_beside_the_policies_and_checked(tmp_path):
    s = load_config(write(tmp_path, '[escalation]\nlast_resort = "head-of-service"\n'
                                    '[escalation.high]\nsteps = [{after="1h", notify="duty"}]\n'),
                    env={})
    assert s.last_resort == "head-of-service"
    assert [str(x.after) for x in s.escalation["urgent"].steps] == ["15m", "30m", "60m"]
    with pytest.raises(ConfigError, match="escalation.last_resort"):
        load_config(write(tmp_path, '[escalation]\nlast_resort = "no one!"\n'), env={})
