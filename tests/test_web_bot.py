"""``/web`` in the bot, through the emulator: who gets a sign-in link, the link opens a
session on the console the bot itself serves (``[web] enabled``), and managers get the
"Open console" Mini App menu button."""

from __future__ import annotations

import re

import aiohttp
import pytest
from telegram import MenuButtonWebApp, WebAppInfo
from telegram.error import BadRequest

LINK = re.compile(r"https://console\.example\.org(/web/signin/[A-Za-z0-9_-]+)")


@pytest.fixture
def settings_overrides():
    return {"web": {"enabled": True, "public_base_url": "https://console.example.org",
                    "port": 0}}


async def test_web_links_menu_button_and_refusals(world, fake):
    jones, patel, smith = await world.link_all("tm-jones", "sw-patel", "carer-smith")
    server = world.runner.http
    assert server is not None and server.console is not None
    base = f"http://127.0.0.1:{server.port}"

    await jones.send("/web")
    reply = await jones.wait_for("sign-in link")
    path = LINK.search(reply.text).group(1)
    assert "once" in reply.text and "10 minutes" in reply.text
    await world.settle()  # the menu button is set after the reply
    # The manager's chat now has the console in its menu (a Mini App, HTTPS only).
    assert fake.menu_buttons[jones.id] == {
        "type": "web_app", "text": "Open console",
        "web_app": {"url": "https://console.example.org/web/app"}}

    async with aiohttp.ClientSession() as http:
        async with http.get(base + path) as r:
            assert r.status == 200 and "Sign in" in await r.text()
        token = path.rsplit("/", 1)[1]
        async with http.post(base + "/web/signin", data={"token": token},
                             allow_redirects=False) as r:
            assert r.status == 303
            cookie = r.headers["Set-Cookie"]
        # Secure (the base URL is https), HttpOnly, SameSite=Strict, for the console only.
        for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/web"):
            assert flag in cookie
        async with http.post(base + "/web/signin", data={"token": token}) as r:
            assert r.status == 403  # once only
        async with http.get(base + "/healthz") as r:
            assert r.status in (200, 503)  # the health check still served beside it

    # A worker gets a link but no menu button (the console's review pages are managers').
    await patel.send("/web")
    await patel.wait_for("sign-in link")
    await world.settle()
    assert patel.id not in fake.menu_buttons
    # A carer is refused.
    await smith.send("/web")
    refusal = await smith.wait_for("web console is for")
    assert "sign-in link" not in refusal.text

    # The emulator refuses a menu button as Telegram would.
    bot = world.runner.app.bot
    with pytest.raises(BadRequest, match="(?i)must be https"):
        await bot.set_chat_menu_button(chat_id=jones.id, menu_button=MenuButtonWebApp(
            "Open console", WebAppInfo(url="http://console.example.org/web/app")))
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.set_chat_menu_button(chat_id=424242)
    assert (await bot.get_chat_menu_button(chat_id=jones.id)).web_app.url.endswith("/web/app")
    assert (await bot.get_chat_menu_button(chat_id=patel.id)).type == "commands"
