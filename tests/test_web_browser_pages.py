"""Part B's pages in a real browser (tests/browser.py: Playwright driving Debian's Chromium, one
browser per session): a manager signs in with the link the bot sends, opens an incident,
acknowledges it and records oversight, and the carer's and the worker's chats (the emulator)
show the effect; a reply made in the bot appears on the open page by itself; every page of
part B passes the axe-core check with no serious or critical violation. Screenshots go to the
git-ignored ``tests/artifacts/``."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import screenshot

ALLEGATION = "Allegation or serious complaint about a carer or househol…"
LINK = re.compile(r"http://console\.invalid(/web/signin/[A-Za-z0-9_-]+)")

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])  # the HTTP tests run on both


@pytest.fixture
def settings_overrides():
    return {"web": {"enabled": True, "public_base_url": "http://console.invalid", "port": 0,
                    "refresh_seconds": 1}}


async def test_a_manager_acts_on_an_incident_in_the_browser(world, browser):
    patel, jones, smith = await world.link_all("sw-patel", "tm-jones", "carer-smith")
    ref = await world.report(smith, child="A1", category=ALLEGATION,
                             text="A1 says a visitor pushed her.")
    alert = await patel.wait_for(ref)
    await world.settle()
    base = f"http://127.0.0.1:{world.runner.http.port}"
    await jones.send("/web")
    link = base + LINK.search((await jones.wait_for("sign-in link")).text).group(1)
    page = await browser.new_page()

    def open_incident():
        page.goto(link)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/web/needs$"))
        page.goto(f"{base}/web/incidents/{ref}")
        expect(page.get_by_role("heading", level=1)).to_contain_text(ref)
        expect(page.get_by_text("A1 says a visitor pushed her.").first).to_be_visible()
        screenshot(page, "webb-01-incident")
        problems = browser.axe_check(page)
        page.get_by_role("button", name=f"Acknowledge {ref}").click()
        expect(page.get_by_role("status")).to_contain_text("The carer has been told")
        return problems

    smith.mark()
    assert await browser.run(open_incident) == []
    await world.settle()
    told = await smith.wait_for("was acknowledged by")
    assert "Alex Jones" in told.text and ref in told.text
    assert "Acknowledged by Alex Jones" in next(
        m for m in patel.messages if m.message_id == alert.message_id).text

    def record_oversight():
        page.get_by_label("Decision").fill("Strategy discussion; A1 stays.")
        page.get_by_label("Rationale").fill("No injury; the carer acted at once.")
        page.get_by_label(re.compile("^Actions")).fill(
            "sw-patel, 2026-11-27, Visit and see A1 alone")
        page.get_by_role("button", name="Record oversight").click()
        expect(page.get_by_role("status")).to_contain_text("Management oversight recorded")
        expect(page.locator("#live")).to_contain_text(
            "Management oversight recorded by Alex Jones")
        screenshot(page, "webb-02-incident-after-oversight")
        return browser.axe_check(page)

    patel.mark()
    assert await browser.run(record_oversight) == []
    await world.settle()
    action = await patel.wait_for("An action for you")
    assert ref in action.text and "Visit and see A1 alone" in action.text

    # A reply made in the bot reaches the open page by itself (no reload, the form kept).
    def type_something():
        page.get_by_label("Note on the outcome").fill("half-written note")

    await browser.run(type_something)
    await patel.click("Reply to carer", message_id=alert.message_id)
    await patel.wait_for("Write your reply")
    await patel.send("I will visit tomorrow morning.")
    await world.settle()

    def refreshed():
        expect(page.locator("#live")).to_contain_text("I will visit tomorrow morning.",
                                                      timeout=8_000)
        assert page.get_by_label("Note on the outcome").input_value() == "half-written note"

    await browser.run(refreshed)

    def other_pages():
        problems = {}
        for path, name in (("/web/children/A1", "child"), ("/web/stats", "stats"),
                           ("/web/notifications", "notifications"),
                           ("/web/compliance", "compliance"), ("/web/audit", "audit")):
            response = page.goto(base + path)
            assert response.status == 200, path
            screenshot(page, f"webb-03-{name}")
            problems[name] = browser.axe_check(page)
        page.goto(f"{base}/web/stats")
        assert page.locator("svg[role=img] > title").count() == 2
        return problems

    assert await browser.run(other_pages) == {name: [] for name in (
        "child", "stats", "notifications", "compliance", "audit")}
