"""Issue 14 (guard), findings 13 and 11: what people type is cleaned and bounded.

* NUL and the other control characters are stripped from everything a person
  sends before it is stored (a NUL made Submit fail for ever on PostgreSQL);
* period arguments are bounded with a clear message (``/stats 9999`` crashed
  with an overflow), in the chat and on the command line.
"""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Draft, Incident
from tests.test_cli_and_schema import fosterbot


async def test_nul_and_control_characters_are_stripped_before_storing(world):
    smith = await world.linked("carer-smith")
    patel = await world.linked("sw-patel")
    typed = "He fell\x00 and hit\x07 his\x1b head\x7f\u0085.\n\tThen he cried."
    ref = await world.report(smith, child="A1", category="Other / general update", text=typed)
    await world.settle()
    async with world.services.db.read() as s:
        incident = (await s.execute(select(Incident).where(Incident.reference == ref))).scalar_one()
    # Newline and tab are kept; the rest is gone, on both backends.
    assert incident.description == "He fell and hit his head.\n\tThen he cried."
    alert = await patel.wait_for(ref)
    assert "\x00" not in alert.text and "He fell and hit his head." in alert.text
    # The thread takes the same care (a follow-up with a NUL is stored too).
    await smith.send("/report")
    await smith.wait_for("Which child")
    await smith.click("A1")
    await smith.wait_for("Choose one")
    await smith.click("Other / general update")
    await smith.wait_for("write what happened")
    await smith.send("\x00\x00")  # nothing but control characters: nothing to store
    await world.settle()
    async with world.services.db.read() as s:
        drafts = (await s.execute(select(Draft))).scalars().all()
    assert all("\x00" not in str(d.data) for d in drafts)


async def test_stats_and_export_refuse_periods_out_of_range(world):
    jones = await world.linked("tm-jones")
    for command in ("/stats 9999", "/export 9999", "/stats 9999-12", "/export 2026-01-01 9999-12-31",
                    "/stats 0000"):
        jones.mark()
        await jones.send(command)
        told = await jones.wait_for("Choose dates between 2000 and")
        assert "outside them" in told.text
    jones.mark()
    await jones.send("/stats 9999d")
    await jones.wait_for("Choose between 1 and")
    # The bot is still there and answers a proper period.
    jones.mark()
    await jones.send("/stats 7d")
    await jones.wait_for("last 7 days")


def test_cli_stats_refuses_periods_out_of_range(tmp_path):
    assert fosterbot(tmp_path, "db", "upgrade").returncode == 0
    r = fosterbot(tmp_path, "stats", "--to", "9999-12-31")
    assert r.returncode == 2 and "Choose dates between 2000 and" in r.stderr, r.stderr
    r = fosterbot(tmp_path, "export", "--from", "2026-01-01", "--to", "9999-12-31",
                  "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "Choose dates between 2000 and" in r.stderr, r.stderr
