"""`fosterbot demo`: the scripted day runs the real bot and shows what it should."""

from __future__ import annotations

import asyncio
import io
import sqlite3
import tempfile

from bot import cli
from bot.demo import DB_NAME, SCENES, TRANSCRIPT_NAME, DemoOptions, run_demo


async def test_demo_plays_the_day_and_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    out = io.StringIO()
    code = await run_demo(DemoOptions(pause=0, out=out, width=100))
    text = " ".join(out.getvalue().split())  # lines are wrapped to the width: unwrap
    assert code == 0, out.getvalue()
    # Everyone linked through the real /start flow.
    assert "Sam Smith (carer) ⟵ bot: ✅ Linked. You are Sam Smith (foster carer)." in text
    # The routine report was routed, delivered and acknowledged promptly.
    assert "Priya Patel (social worker) ⟵ bot: 🟢 Routine — INC-2026-000001" in text
    assert ("[09:20 Wed] Sam Smith (carer) ⟵ bot: ✅ Your report INC-2026-000001 was "
            "acknowledged by Priya Patel") in text
    # The carer adds more, the worker replies in the thread, then closes with an outcome.
    assert "Follow-up on INC-2026-000001 (Education / school incident, child A1) from Sam Smith" in text
    assert "Sam Smith (carer) ⟵ bot: 💬 Priya Patel replied about your report INC-2026-000001" in text
    assert "Your report INC-2026-000001 was closed by Priya Patel at 16:40 Thu" in text
    # Out of hours, the urgent report reached the Emergency Duty Team, who acknowledged it.
    # Urgent, nobody acknowledges: reminder at 15 min, escalation to the manager at 30 min,
    # who acknowledges on the worker's behalf.
    assert ("[11:15 Wed] Priya Patel (social worker) ⟵ bot: ⏰ Reminder: INC-2026-000002 is not "
            "acknowledged yet — the report has waited 15 min.") in text
    assert ("[11:30 Wed] Alex Jones (team manager) ⟵ bot: ⚠️ Escalation: INC-2026-000002 has not "
            "been acknowledged after 30 min.") in text
    assert "✅ Acknowledged by Alex Jones at 11:30 on behalf of Priya Patel" in text
    assert "[22:00 Thu] Emergency Duty Team (out of hours) ⟵ bot: 🔴 URGENT — INC-2026-000003" in text
    assert "You have this as: Emergency Duty Team (out of hours)" in text
    assert "was acknowledged by Emergency Duty Team at 22:04" in text
    # The record, and its check.
    assert "09:20 Wed Acknowledged by Priya Patel after 5 min" in text
    assert "16:40 Thu Closed by Priya Patel — outcome: Advice given" in text
    assert "22:00 Thu Reported by Jo Brown — Child missing or absent without permission, urgent, out of hours" in text
    assert "intact," in text.split("fosterbot audit verify")[-1]
    # Every scene of the day plays; none is skipped.
    for scene in SCENES:
        assert scene.title in text
    assert "scene skipped" not in text
    assert list(tmp_path.iterdir()) == []


def test_quiet_keep_writes_database_transcript_and_config(tmp_path):
    keep = tmp_path / "kept"
    out = io.StringIO()
    assert asyncio.run(run_demo(DemoOptions(keep=keep, pause=0, quiet=True, out=out))) == 0
    shown = out.getvalue()
    assert "⟵ bot:" not in shown  # quiet: no chats on screen
    assert "intact," in shown and f"Kept in {keep}" in shown
    transcript = (keep / TRANSCRIPT_NAME).read_text()
    assert "Priya Patel (social worker) ⟶ taps [Acknowledge]" in transcript  # but kept
    with sqlite3.connect(keep / DB_NAME) as db:
        refs = [r for (r,) in db.execute("select reference from incidents order by id")]
    assert refs == ["INC-2026-000001", "INC-2026-000002", "INC-2026-000003"]
    # The kept config points the ordinary CLI at the kept database.
    assert cli.main(["--config", str(keep / "config.toml"), "audit", "verify"]) == 0
    # A second run refuses to overwrite what was kept.
    again = io.StringIO()
    assert asyncio.run(run_demo(DemoOptions(keep=keep, pause=0, out=again))) == 1
    assert "already exists" in again.getvalue()
    assert refs == [r for (r,) in sqlite3.connect(keep / DB_NAME).execute(
        "select reference from incidents order by id")]


def test_cli_demo_needs_no_configuration(tmp_path, monkeypatch, capsys):
    (tmp_path / "config.toml").write_text("this is [not valid toml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    assert cli.main(["demo", "--fast", "--quiet"]) == 0
    assert "intact," in capsys.readouterr().out
    assert list((tmp_path / "tmp").iterdir()) == []
