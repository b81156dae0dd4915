"""deploy/: the hardened systemd unit, its secrets as credentials, and the Prometheus rules.

The unit is checked twice: its keys by parsing it (always), and by ``systemd-analyze
verify`` and ``systemd-analyze security`` where systemd is installed (otherwise that test
is skipped, and the skip says that only the parsed keys were checked)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from bot.config import load_config
from bot.metrics import Metrics
from storage import crypto
from tests.world import ROOT

UNIT = ROOT / "deploy" / "fosterbot.service"
RULES = ROOT / "deploy" / "prometheus-rules.yml"
DATA_DIR = "/var/lib/fosterbot"


def unit_keys() -> dict[str, list[str]]:
    """The [Service] section as {key: [values…]} (systemd allows a key several times)."""
    keys: dict[str, list[str]] = {}
    section = None
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        key, _, value = line.partition("=")
        if section == "[Service]":
            keys.setdefault(key.strip(), []).append(value.strip())
    return keys


def test_the_unit_has_every_hardening_key():
    k = unit_keys()
    assert k["User"] == ["fosterbot"] and k["Group"] == ["fosterbot"]  # dedicated, not root
    assert k["NoNewPrivileges"] == ["yes"] and k["PrivateTmp"] == ["yes"]
    assert k["CapabilityBoundingSet"] == [""] and k["AmbientCapabilities"] == [""]
    assert k["ProtectSystem"] == ["strict"] and k["ReadWritePaths"] == [DATA_DIR]
    assert k["StateDirectory"] == ["fosterbot"] and k["StateDirectoryMode"] == ["0700"]
    assert k["WorkingDirectory"] == [DATA_DIR] and k["UMask"] == ["0077"]
    assert k["Restart"] == ["on-failure"] and k["RestartPreventExitStatus"] == ["2"]
    assert k["ExecStart"][0].endswith("/fosterbot run")
    credentials = dict(v.split(":", 1) for v in k["LoadCredential"])
    assert set(credentials) == {"telegram-token", "webhook-secret", "data-keys"}
    assert all(p.startswith("/etc/fosterbot/credentials/") for p in credentials.values())
    assert k["EnvironmentFile"] == ["-/etc/fosterbot/env"]
    assert not any("TOKEN=" in v for v in k.get("Environment", []))  # no secret in the unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze not installed: only the unit's keys were checked "
                           "(test_the_unit_has_every_hardening_key)")
def test_systemd_analyze_verifies_the_unit(tmp_path):
    # verify checks that ExecStart exists: point it at this Python, as `python -m bot run`.
    unit = tmp_path / "fosterbot.service"
    unit.write_text(re.sub(r"^ExecStart=.*$", f"ExecStart={sys.executable} -m bot run",
                           UNIT.read_text(), flags=re.MULTILINE))
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert verify.returncode == 0 and verify.stdout + verify.stderr == "", verify.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)],
                              capture_output=True, text=True, timeout=60, check=False)
    level = re.search(r"Overall exposure level for fosterbot\.service: ([\d.]+)",
                      security.stdout)
    assert level and float(level.group(1)) < 2.0, security.stdout[-2000:]


def test_secrets_are_read_from_systemd_credentials(tmp_path, monkeypatch):
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "telegram-token").write_text("123456789:" + "A" * 35 + "\n")
    (creds / "webhook-secret").write_text("s3cret-from-credential")
    key_entry = crypto.new_key_entry("2026a")
    (creds / "data-keys").write_text(key_entry)
    config = tmp_path / "config.toml"
    config.write_text("")
    env = {"CREDENTIALS_DIRECTORY": str(creds)}
    settings = load_config(config, env=env)
    assert settings.token == "123456789:" + "A" * 35
    assert settings.webhook_secret == "s3cret-from-credential"
    # The environment wins over a credential.
    assert load_config(config, env={**env, "FOSTERBOT_TELEGRAM_TOKEN": "1:X"}).token == "1:X"
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    monkeypatch.delenv(crypto.ENV, raising=False)
    crypto.install(None)
    try:
        assert crypto.keyring().current == "2026a"
    finally:
        crypto.install(None)


def test_every_alert_rule_names_metrics_the_bot_exposes():
    exposed = {line.split("{")[0].split(" ")[0]
               for line in Metrics().render().decode().splitlines()
               if line and not line.startswith("#")}
    # Histograms and counters without samples yet are still declared in # TYPE lines.
    declared = set(re.findall(r"^# TYPE (\S+)", Metrics().render().decode(), flags=re.MULTILINE))
    text = RULES.read_text()
    alerts = re.findall(r"- alert: (\w+)", text)
    assert {"FosterbotOutboxBacklogOld", "FosterbotEscalationOverdue",
            "FosterbotEscalationStepsRanLate", "FosterbotNoLeader"} <= set(alerts)
    used = set(re.findall(r"\bfosterbot_\w+", text))
    assert used
    for name in used:
        base = re.sub(r"_(total|bucket|count|sum)$", "", name)
        assert name in exposed | declared or base in declared, name
