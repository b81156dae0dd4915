"""A fake Telegram Bot API server plus simulated people, for tests and the demo.

Run the real bot (python-telegram-bot) against it over real HTTP on
127.0.0.1, with no network::

    async with FakeBotAPI() as fake:
        app = (ApplicationBuilder().token(fake.token)
               .base_url(fake.base_url).base_file_url(fake.base_file_url).build())
        alice = fake.user(1001, "Alice")
        await alice.send("/start")
        msg = await alice.wait_for("Welcome")
        await alice.click("Report")

It is strict where Telegram is strict (HTML entity parsing, message/caption
length, callback_data size, "message is not modified", answering a callback
query twice, 403 for users who blocked the bot or never started it, optional
429 flood control) with Telegram's exact error descriptions, so a bot that
passes against it does not fail on those in production.

Modules: :mod:`.server` (HTTP, updates, webhook, faults), :mod:`.methods`
(Bot API methods), :mod:`.people` (FakeUser, BotMessage), :mod:`.markup`
(HTML/MarkdownV2 checker), :mod:`.faults` (errors, fault rules, rate limiter).
Depends only on aiohttp and the standard library.
"""

from .faults import ApiError
from .people import BotMessage, CallbackAnswer, FakeUser
from .server import FakeBotAPI

__all__ = ["ApiError", "BotMessage", "CallbackAnswer", "FakeBotAPI", "FakeUser"]
