"""Part B's pages in a real browser (Playwright driving Debian's Chromium): a manager signs in
with the link the bot sends, opens an incident, acknowledges it and records oversight, and
the carer's and the worker's chats (the emulator) show the effect; the other pages open
with their charts and downloads. Screenshots of each page go to the git-ignored
``tests/artifacts/``. One browser, one test: they are slow."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.web_helpers import start_console

playwright_api = pytest.importorskip("playwright.async_api")
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ALLEGATION = "Allegation or serious complaint about a carer or househol…"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="Debian's chromium is not installed (apt-get install "
                                       "chromium)")


@pytest.fixture
def backend():
    return "sqlite"  # the browser drives the same pages on either database: one is enough


@pytest.fixture
def settings_overrides():
    return {"web": {"enabled": True, "public_base_url": "http://127.0.0.1"}}


async def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"webb-{name}.png"), full_page=True)


async def test_a_manager_acts_on_an_incident_in_the_browser(world):
    patel, jones, smith = await world.link_all("sw-patel", "tm-jones", "carer-smith")
    ref = await world.report(smith, child="A1", category=ALLEGATION,
                             text="A1 says a visitor pushed her.")
    alert = await patel.wait_for(ref)
    await world.settle()
    console = await start_console(world.services)
    try:
        await jones.send("/web")
        sent = await jones.wait_for("sign-in link")
        link = urlparse(re.search(r"https?://\S+", sent.text).group(0))
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM),
                                               args=["--no-sandbox"])
            try:
                page = await browser.new_page(viewport={"width": 1100, "height": 900})
                await page.goto(console.url(link.path))
                await page.get_by_role("button", name="Sign in").click()
                await page.wait_for_url(re.compile(r"/web/needs"))

                await page.goto(console.url(f"/web/incidents/{ref}"))
                await page.get_by_role("heading", name=re.compile(ref)).wait_for()
                await page.get_by_text("A1 says a visitor pushed her.").first.wait_for()
                await _shot(page, "incident")

                smith.mark()
                await page.get_by_role("button", name=f"Acknowledge {ref}").click()
                await page.get_by_text("Acknowledged. The carer has been told").wait_for()
                await world.settle()
                told = await smith.wait_for("was acknowledged by")
                assert "Alex Jones" in told.text and ref in told.text
                assert "Acknowledged by Alex Jones" in next(
                    m for m in patel.messages if m.message_id == alert.message_id).text

                patel.mark()
                await page.get_by_label("Decision").fill("Strategy discussion; A1 stays.")
                await page.get_by_label("Rationale").fill("No injury; the carer acted at once.")
                await page.get_by_label(re.compile("^Actions")).fill(
                    "sw-patel, 2026-11-27, Visit and see A1 alone")
                await page.get_by_role("button", name="Record oversight").click()
                await page.get_by_text("Management oversight recorded.").wait_for()
                # the timeline shows it (the record part is rendered by the server)
                await page.get_by_text("Management oversight recorded by Alex Jones").wait_for()
                await _shot(page, "incident-after-oversight")
                await world.settle()
                action = await patel.wait_for("An action for you")
                assert ref in action.text and "Visit and see A1 alone" in action.text

                # A change made in the bot reaches the open page without a reload.
                await patel.click("Reply to carer", message_id=alert.message_id)
                await patel.wait_for("Write your reply")
                await patel.send("I will visit tomorrow morning.")
                await world.settle()
                await page.get_by_text("I will visit tomorrow morning.").first.wait_for(
                    timeout=15_000)

                for path, name in (("/web/children/A1", "child"), ("/web/stats", "stats"),
                                   ("/web/notifications", "notifications"),
                                   ("/web/compliance", "compliance"), ("/web/audit", "audit")):
                    response = await page.goto(console.url(path))
                    assert response.status == 200, path
                    await _shot(page, name)
                await page.goto(console.url("/web/stats"))
                assert await page.locator("svg[role=img] > title").count() == 2
            finally:
                await browser.close()
    finally:
        await console.close()
