"""The console in a real browser (Chromium through Playwright; tests/browser.py): a
manager signs in with the link the bot sent, sees needs action update by itself when the
worker acknowledges in Telegram, moves around by keyboard alone, passes the axe-core
accessibility check on every page, and signs out; a used link is refused. Screenshots of
each page go to tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from bot.web import initdata
from tests.browser import screenshot
from tests.conftest import TOKEN
from tests.escalation_helpers import tick

MISSING = "Child missing or absent without permission"  # urgent: late after 15 minutes
LINK = re.compile(r"http://console\.invalid(/web/signin/[A-Za-z0-9_-]+)")

# One backend is enough here: the HTTP tests run on both.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


@pytest.fixture
def settings_overrides():
    return {"web": {"enabled": True, "public_base_url": "http://console.invalid", "port": 0,
                    "refresh_seconds": 1}}


async def test_a_manager_uses_the_console_in_a_browser(world, browser):
    jones, patel, smith = await world.link_all("tm-jones", "sw-patel", "carer-smith")
    ref = await world.report(smith, child="A1", category=MISSING, text="Not back from school.")
    await tick(world, minutes=20)
    base = f"http://127.0.0.1:{world.runner.http.port}"
    await jones.send("/web")
    link = base + LINK.search((await jones.wait_for("sign-in link")).text).group(1)
    page = await browser.new_page()

    def sign_in():
        page.goto(link)
        assert page.title().startswith("Sign in")
        screenshot(page, "01-sign-in")
        problems = browser.axe_check(page)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/web/needs$"))
        return problems

    assert await browser.run(sign_in) == []

    def needs_action():
        heading = page.get_by_role("heading", level=1)
        assert heading.inner_text() == "Needs action"
        assert ref in page.inner_text("#live")
        assert "Not acknowledged" in page.inner_text("#live")
        screenshot(page, "02-needs-action")
        return browser.axe_check(page)

    assert await browser.run(needs_action) == []

    # The worker acknowledges in Telegram: the list changes by itself within seconds.
    await patel.click("Acknowledge")
    await patel.wait_for_answer()
    await world.settle()

    def refreshed():
        expect(page.locator("#live")).to_contain_text("Nothing is overdue", timeout=8_000)
        assert ref not in page.inner_text("#live")

    await browser.run(refreshed)

    def by_keyboard():
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        for _ in range(10):  # through the navigation to "Open reports"
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent") == "Open reports":
                break
        else:
            raise AssertionError("Open reports cannot be reached with Tab")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/web/open$"))
        assert ref in page.inner_text("table")
        page.get_by_label("State").select_option("acknowledged")
        page.get_by_label("State").focus()
        page.keyboard.press("Tab")  # to "Show"
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"state=acknowledged"))
        assert ref in page.inner_text("table") and "Priya Patel" in page.inner_text("table")
        screenshot(page, "03-open-reports")
        return browser.axe_check(page)

    assert await browser.run(by_keyboard) == []

    def sign_out():
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(re.compile(r"/web/signed-out$"))
        screenshot(page, "04-signed-out")
        problems = browser.axe_check(page)
        response = page.goto(base + "/web/needs")
        assert response.status == 401 and "not signed in" in page.inner_text("main")
        # The link was used once: it does not sign in again.
        page.goto(link)
        page.get_by_role("button", name="Sign in").click()
        assert "already been used" in page.inner_text("main")
        screenshot(page, "05-link-used")
        return problems + browser.axe_check(page)

    assert await browser.run(sign_out) == []
    await browser.run(page.context.close)

    # The Mini App: Telegram opens /web/app with the signed initData in the fragment; the
    # page's script posts it and the manager lands on needs action.
    init = initdata.sign({"auth_date": str(int(world.clock.now().timestamp())),
                          "user": json.dumps({"id": jones.id, "first_name": "Alex"})}, TOKEN)
    app_page = await browser.new_page()

    def mini_app():
        app_page.goto(f"{base}/web/app#tgWebAppData={quote(init)}&tgWebAppVersion=8.0")
        app_page.wait_for_url(re.compile(r"/web/needs$"))
        screenshot(app_page, "06-mini-app")
        app_page.goto(f"{base}/web/app")  # opened outside Telegram: says what to do
        expect(app_page.locator("#miniapp-status")).to_contain_text("send /web")

    await browser.run(mini_app)
    await browser.run(app_page.context.close)
