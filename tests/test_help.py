"""/help explains what the bot does for each role; /guidance gives the guidance."""

from __future__ import annotations


async def test_help_depends_on_role(world):
    smith, patel, jones = await world.link_all("carer-smith", "sw-patel", "tm-jones")
    await smith.send("/help")
    carer_help = await smith.wait_for("As a foster carer")
    assert "/report" in carer_help.text and "Receiving alerts" not in carer_help.text
    await patel.send("/help")
    worker_help = await patel.wait_for("Receiving alerts")
    assert "As a foster carer" not in worker_help.text and "/report —" not in worker_help.text
    await jones.send("/help")
    manager_help = await jones.wait_for("As a team manager")
    assert "escalations" in manager_help.text
    for text in (carer_help.text, worker_help.text, manager_help.text):
        assert "call 999 first" in text


async def test_guidance_and_unknown_command(world):
    smith = await world.linked("carer-smith")
    await smith.send("/guidance")
    msg = await smith.wait_for("Reporting well")
    assert "child's own words" in msg.text and "never by name" in msg.text
    await smith.send("/frobnicate")
    await smith.wait_for("I do not know that command")
