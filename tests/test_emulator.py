"""Tests of the fake Bot API (bot.emulator) driven by the real python-telegram-bot."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.emulator import FakeBotAPI
from bot.emulator.faults import RateLimiter

# PTB 22 warns when RetryAfter.retry_after is read as an int (it is, internally)
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

TOKEN = "123456:TEST"


def kb(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


@pytest.fixture
async def fake():
    api = FakeBotAPI(TOKEN)
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def bot(fake):
    b = Bot(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url)
    async with b:
        yield b


@pytest.fixture
async def alice(fake):
    user = fake.user(1001, "Alice", "alice")
    user.started = True
    return user


# ---------------------------------------------------------------- echo app
async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    arg = " ".join(context.args) if context.args else "-"
    await update.message.reply_text(
        f"Welcome <b>{update.effective_user.first_name}</b> (code {arg})",
        parse_mode="HTML",
        reply_markup=kb([("Yes please", "yes"), ("No", "no")]),
    )


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_text(f"echo: {update.message.text}")


async def _button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    await query.answer(f"got {query.data}")
    await query.edit_message_text(f"You chose {query.data}")


@pytest.fixture
async def echo_app(fake):
    app: Application = (
        ApplicationBuilder().token(TOKEN).base_url(fake.base_url)
        .base_file_url(fake.base_file_url).build()
    )
    app.add_handler(CommandHandler("start", _start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, _echo))
    app.add_handler(CallbackQueryHandler(_button))
    await app.initialize()
    await app.start()
    await app.updater.start_polling(poll_interval=0.0, timeout=1)
    yield app
    await app.updater.stop()
    await app.stop()
    await app.shutdown()


# ------------------------------------------------------------------ basics
async def test_get_me_and_auth(fake, bot):
    me = await bot.get_me()
    assert me.username == "fosterbot_test_bot" and me.is_bot
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{fake.base_url}999:WRONG/getMe") as r:
            assert r.status == 401
            assert await r.json() == {"ok": False, "error_code": 401,
                                      "description": "Unauthorized"}
        async with s.post(f"{fake.base_url}{TOKEN}/noSuchMethod") as r:
            assert r.status == 404 and (await r.json())["description"] == "Not Found"


async def test_send_edit_delete_visible_to_user(fake, bot, alice):
    msg = await bot.send_message(alice.id, "Hello <i>there</i> &lt;3", parse_mode="HTML",
                                 reply_markup=kb([("A", "a"), ("B", "b")]))
    assert msg.text == "Hello there <3"
    assert msg.text_html == "Hello <i>there</i> &lt;3"  # entities round-trip through PTB
    seen = alice.last
    assert seen.text == "Hello there <3" and seen.html == "Hello <i>there</i> &lt;3"
    assert seen.buttons == [[("A", "a"), ("B", "b")]]

    edited = await bot.edit_message_text("Changed", chat_id=alice.id, message_id=msg.message_id)
    assert edited.text == "Changed" and edited.edit_date is not None
    assert alice.last.text == "Changed" and alice.last.edited == 1
    assert alice.last.buttons == []  # editing without reply_markup removes the keyboard

    assert await bot.delete_message(alice.id, msg.message_id)
    assert alice.messages == []
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(alice.id, msg.message_id)


async def test_get_updates_offsets_and_long_poll(fake, bot, alice):
    assert await bot.get_updates(timeout=0) == ()
    waiter = asyncio.create_task(bot.get_updates(timeout=2))
    await asyncio.sleep(0.05)
    await alice.send("/start CODE42")
    updates = await asyncio.wait_for(waiter, 1)  # returned as soon as the update existed
    assert [u.message.text for u in updates] == ["/start CODE42"]
    assert updates[0].message.entities[0].type == "bot_command"
    await alice.send("second")
    updates = await bot.get_updates(offset=updates[0].update_id + 1)
    assert [u.message.text for u in updates] == ["second"]
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()


# -------------------------------------------------------------- strictness
@pytest.mark.parametrize("html, detail", [
    ("a < b", "Can't parse entities"),
    ("fish & chips", "Can't parse entities"),
    ("<b>bold</i>", "Can't parse entities: unmatched end tag"),
    ("<b>never closed", "Can't parse entities: can't find end tag"),
    ("<div>x</div>", 'Can\'t parse entities: unsupported start tag "div"'),
    ('<span class="x">x</span>', "Can't parse entities"),
    ("<a>no href</a>", "Can't parse entities"),
])
async def test_bad_html_rejected(fake, bot, alice, html, detail):
    with pytest.raises(BadRequest) as err:
        await bot.send_message(alice.id, html, parse_mode="HTML")
    assert detail.lower() in err.value.message.lower()
    assert alice.messages == []


async def test_good_html_accepted(fake, bot, alice):
    html = ('<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s>'
            '<strike>k</strike><del>d</del><span class="tg-spoiler">p</span>'
            '<tg-spoiler>q</tg-spoiler><a href="https://x.org/?a=1&amp;b=2">l</a>'
            '<code>c</code><pre><code class="language-py">x = 1</code></pre>'
            '<blockquote expandable>quote</blockquote> &quot;&#33;&#x21;&gt;')
    msg = await bot.send_message(alice.id, html, parse_mode="HTML")
    assert alice.last.text == 'bsieunskdpqlcx = 1quote "!!>'
    assert msg.text_html.startswith("<b>b</b>")


async def test_text_limits(fake, bot, alice):
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(alice.id, "")
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(alice.id, "<b> </b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(alice.id, "x" * 4097)
    # markup does not count towards the limit
    await bot.send_message(alice.id, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_document(alice.id, b"data", filename="a.txt", caption="c" * 1025)


async def test_button_rules(fake, bot, alice):
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(alice.id, "x", reply_markup=kb([("big", "x" * 65)]))
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(alice.id, "x", reply_markup=kb([("emoji", "é" * 33)]))
    await bot.send_message(alice.id, "x", reply_markup=kb([("ok", "é" * 32)]))
    with pytest.raises(BadRequest, match="inline keyboard button"):
        await bot.send_message(alice.id, "x", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("both", callback_data="a", url="https://x.org")]]))


async def test_not_modified_and_missing(fake, bot, alice):
    msg = await bot.send_message(alice.id, "same", reply_markup=kb([("A", "a")]))
    with pytest.raises(BadRequest, match="Message is not modified: specified new message "
                                         "content and reply markup are exactly the same"):
        await bot.edit_message_text("same", chat_id=alice.id, message_id=msg.message_id,
                                    reply_markup=kb([("A", "a")]))
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(alice.id, msg.message_id,
                                            reply_markup=kb([("A", "a")]))
    await bot.edit_message_reply_markup(alice.id, msg.message_id, reply_markup=None)
    assert alice.last.buttons == []
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat_id=alice.id, message_id=999)


async def test_chat_access_errors(fake, bot):
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(424242, "hi")
    bob = fake.user(2002, "Bob")  # never opened the bot
    with pytest.raises(Forbidden, match="bot can't initiate conversation with a user"):
        await bot.send_message(bob.id, "hi")
    await bob.send("/start")
    await bot.send_message(bob.id, "hi")
    fake.block(bob.id)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(bob.id, "hi")
    fake.deactivate(bob.id)
    with pytest.raises(Forbidden, match="user is deactivated"):
        await bot.send_message(bob.id, "hi")


async def test_callback_answer_rules(fake, bot, alice):
    await bot.send_message(alice.id, "pick", reply_markup=kb([("Go", "go")]))
    query_id = await alice.click("Go")
    updates = await bot.get_updates()
    assert updates[-1].callback_query.data == "go"
    assert updates[-1].callback_query.message.text == "pick"
    with pytest.raises(BadRequest, match="Message_too_long"):
        await bot.answer_callback_query(query_id, text="x" * 201)
    assert await bot.answer_callback_query(query_id, text="Done", show_alert=True)
    assert alice.callback_answers[-1].text == "Done" and alice.callback_answers[-1].show_alert
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(query_id)
    with pytest.raises(BadRequest, match="query id is invalid"):
        await bot.answer_callback_query("nope")


async def test_click_reports_visible_buttons(fake, bot, alice):
    await bot.send_message(alice.id, "menu", reply_markup=kb([("Report", "r"), ("Help", "h")]))
    with pytest.raises(AssertionError, match=r"(?s)no button 'Cancel'.*\['Report', 'Help'\]"):
        await alice.click("Cancel")
    await alice.click("rep")  # substring, case-insensitive fallback
    await alice.press_data("forged:123")
    updates = await bot.get_updates()
    assert [u.callback_query.data for u in updates] == ["r", "forged:123"]


# ------------------------------------------------------- PTB Application
async def test_application_conversation(fake, echo_app):
    alice = fake.user(1001, "Alice")
    await alice.send("/start ABC")
    welcome = await alice.wait_for("Welcome")
    assert welcome.text == "Welcome Alice (code ABC)"
    assert welcome.html == "Welcome <b>Alice</b> (code ABC)"
    await alice.click("Yes please")
    answer = await alice.wait_for_answer("got yes")
    assert not answer.show_alert
    edited = await alice.wait_for("You chose yes")
    assert edited is welcome and welcome.edited == 1 and welcome.buttons == []
    await alice.send("hello")
    assert (await alice.wait_for("echo")).text == "echo: hello"
    await fake.wait_idle()
    assert len(alice.messages) == 2
    assert "Alice: hello" in alice.transcript()
    with pytest.raises(AssertionError, match="transcript"):
        await alice.wait_for("never said", timeout=0.1)


async def test_on_message_hook(fake, bot, alice):
    seen = []
    fake.on_message(lambda chat_id, m: seen.append((chat_id, m.text)))
    msg = await bot.send_message(alice.id, "one")
    await bot.edit_message_text("two", chat_id=alice.id, message_id=msg.message_id)
    assert seen == [(alice.id, "one"), (alice.id, "two")]


# ---------------------------------------------------------------- webhook
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def receiver():
    """A plain aiohttp webhook receiver that fails the first N posts on request."""
    state = {"fail": 0, "got": [], "headers": []}

    async def hook(request: web.Request) -> web.Response:
        state["headers"].append(request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        if state["fail"]:
            state["fail"] -= 1
            return web.Response(status=503)
        state["got"].append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield state
    await runner.cleanup()


async def test_webhook_delivery_retry_and_redeliver(fake, bot, alice, receiver):
    receiver["fail"] = 2
    assert await bot.set_webhook(receiver["url"], secret_token="s3cr3t")
    with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
        await bot.get_updates()
    await alice.send("hi")
    await fake.wait_idle(timeout=3)
    assert [u["message"]["text"] for u in receiver["got"]] == ["hi"]
    assert receiver["headers"] == ["s3cr3t"] * 3  # two failures, then delivered
    info = await bot.get_webhook_info()
    assert info.url == receiver["url"] and info.pending_update_count == 0
    assert "503" in info.last_error_message

    await fake.redeliver(receiver["got"][0]["update_id"])
    await fake.wait_idle(timeout=3)
    assert [u["update_id"] for u in receiver["got"]] == [receiver["got"][0]["update_id"]] * 2

    assert await bot.delete_webhook()
    await alice.send("polled")
    assert [u.message.text for u in await bot.get_updates()] == ["polled"]


class Backend:
    """One bot instance behind the balancer, as far as the balancer can tell: a webhook path
    that takes updates and a ``/healthz`` answering ``health`` (200 or 503)."""

    def __init__(self) -> None:
        self.got: list[int] = []
        self.health = 200
        self.checks = 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> Backend:
        async def hook(request: web.Request) -> web.Response:
            self.got.append((await request.json())["update_id"])
            return web.Response(text="ok")

        async def healthz(_request: web.Request) -> web.Response:
            self.checks += 1
            return web.Response(status=self.health)

        app = web.Application()
        app.router.add_post("/telegram", hook)
        app.router.add_get("/healthz", healthz)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/telegram"
        return self

    async def stop(self) -> None:
        """As a killed instance: its port refuses connections from now on."""
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


async def until(check, timeout: float = 3.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def test_balancer_skips_an_instance_that_refuses_and_sends_to_the_next(fake, bot, alice):
    """A killed instance (connection refused) is marked down at its first refusal, the update
    goes to the next instance at once, and nothing more is sent to the dead one."""
    a, b = await Backend().start(), await Backend().start()
    try:
        fake.balance([a.url, b.url], health_interval=60)  # no second check in this test
        assert await bot.set_webhook("https://balancer.invalid/telegram")
        await until(lambda: a.checks and b.checks)  # the first round of checks: both up
        await b.stop()
        for n in range(6):
            await alice.send(f"m{n}")
        await fake.wait_idle(timeout=5)
        ids = [u["update_id"] for u in fake.updates]
        assert sorted(a.got + b.got) == ids and len(set(a.got + b.got)) == 6  # each once
        refused = [(uid, url) for uid, _chat, url, status in fake.webhook_log if status == 0]
        assert refused == [(refused[0][0], b.url)]  # one refusal, then skipped
        assert (refused[0][0], a.url) in [(uid, url) for uid, _c, url, status
                                           in fake.webhook_log if status == 200]
        assert fake.backends_down == {b.url} and fake.counters["backend_down"] == 1
        assert fake.counters["webhook_rerouted"] == 1
    finally:
        await a.stop()
        await b.stop()


async def test_balancer_skips_an_instance_whose_healthz_fails_until_it_passes(fake, bot, alice):
    a, b = await Backend().start(), await Backend().start()
    b.health = 503
    try:
        fake.balance([a.url, b.url], health_interval=0.02)
        assert await bot.set_webhook("https://balancer.invalid/telegram")
        await until(lambda: b.url in fake.backends_down)
        for n in range(4):
            await alice.send(f"while down {n}")
        await fake.wait_idle(timeout=5)
        assert len(a.got) == 4 and b.got == []
        b.health = 200
        await until(lambda: not fake.backends_down)
        for n in range(4):
            await alice.send(f"back {n}")
        await fake.wait_idle(timeout=5)
        assert len(a.got) + len(b.got) == 8 and len(b.got) == 2  # in turn again
    finally:
        await a.stop()
        await b.stop()


async def test_ptb_webhook_updater(fake):
    """The real PTB webhook server receives updates pushed by the emulator."""
    app = (ApplicationBuilder().token(TOKEN).base_url(fake.base_url)
           .base_file_url(fake.base_file_url).build())
    app.add_handler(MessageHandler(filters.TEXT, _echo))
    port = _free_port()
    await app.initialize()
    await app.start()
    await app.updater.start_webhook(listen="127.0.0.1", port=port, url_path="tg",
                                    webhook_url=f"http://127.0.0.1:{port}/tg",
                                    secret_token="abc_DEF-1")
    try:
        assert fake.webhook["secret_token"] == "abc_DEF-1"
        carol = fake.user(3003, "Carol")
        await carol.send("via webhook")
        assert (await carol.wait_for("echo")).text == "echo: via webhook"
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


# ------------------------------------------------------------------ files
async def test_file_round_trip(fake, bot, alice):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (640).to_bytes(4, "big") + \
        (480).to_bytes(4, "big") + b"rest"
    await alice.send_photo(png, caption="the bruise")
    await alice.send_voice(b"OggS-voice")
    await alice.send_document(b"%PDF-1.4", "report.pdf", caption="form")
    await alice.send_video_note(b"mp4-note")
    photo_u, voice_u, doc_u, note_u = await bot.get_updates()
    photo = photo_u.message.photo[-1]
    assert (photo.width, photo.height) == (640, 480) and photo_u.message.caption == "the bruise"
    assert await (await photo.get_file()).download_as_bytearray() == png
    assert await (await voice_u.message.voice.get_file()).download_as_bytearray() == b"OggS-voice"
    assert doc_u.message.document.file_name == "report.pdf"
    assert await (await doc_u.message.document.get_file()).download_as_bytearray() == b"%PDF-1.4"
    assert await (await note_u.message.video_note.get_file()).download_as_bytearray() == \
        b"mp4-note"

    sent = await bot.send_document(alice.id, b"a,b\n1,2\n", filename="log.csv", caption="export")
    assert alice.last.document["file_name"] == "log.csv" and alice.last.caption == "export"
    assert await (await sent.document.get_file()).download_as_bytearray() == b"a,b\n1,2\n"
    again = await bot.send_photo(alice.id, photo.file_id)  # re-send by file_id
    assert again.photo[-1].file_unique_id == photo.file_unique_id
    with pytest.raises(BadRequest, match="Wrong file identifier"):
        await bot.send_voice(alice.id, "no-such-file-id")


# ------------------------------------------------------- faults and limits
async def test_fail_next_and_retry_after(fake, bot, alice):
    fake.fail_next("sendMessage", status=502, description="Bad Gateway")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(alice.id, "1")
    fake.fail_next("sendMessage", retry_after=7, chat_id=alice.id)
    with pytest.raises(RetryAfter, match=r"Retry in (7 seconds|0:00:07)"):
        await bot.send_message(alice.id, "2")
    await bot.send_message(alice.id, "3")
    assert [m.text for m in alice.messages] == ["3"]


async def test_drop_and_delay(fake, bot, alice):
    fake.drop_next("sendMessage")
    with pytest.raises(NetworkError):
        await bot.send_message(alice.id, "lost")
    assert alice.messages == []
    fake.drop_next("sendMessage", after_processing=True)
    with pytest.raises(NetworkError):
        await bot.send_message(alice.id, "sent but unacknowledged")
    assert [m.text for m in alice.messages] == ["sent but unacknowledged"]
    fake.delay_next("sendMessage", 0.5)
    with pytest.raises(TimedOut):
        await bot.send_message(alice.id, "slow", read_timeout=0.1)
    fake.clear_faults()
    await bot.send_message(alice.id, "fine")
    assert [c[0] for c in fake.calls].count("sendMessage") == 4


async def test_rate_limits(bot, fake, alice):
    now = [1000.0]
    fake.rate_limiter = RateLimiter(clock=lambda: now[0])  # frozen time: exact counts
    fake.enforce_rate_limits = True
    for i in range(3):  # the per-chat burst
        await bot.send_message(alice.id, f"m{i}")
    with pytest.raises(RetryAfter, match=r"Retry in ([1-3] seconds|0:00:0[1-3])"):
        await bot.send_message(alice.id, "too fast")
    async with aiohttp.ClientSession() as s:  # the raw answer carries parameters.retry_after
        async with s.post(f"{fake.base_url}{TOKEN}/sendMessage",
                          json={"chat_id": alice.id, "text": "raw"}) as r:
            body = await r.json()
    assert r.status == 429 and body["error_code"] == 429
    assert body["description"] == f"Too Many Requests: retry after {body['parameters']['retry_after']}"
    assert fake.counters["429"] == 2
    # other chats are only bound by the global limit (30/s)
    others = [fake.user(5000 + i, f"U{i}") for i in range(40)]
    for u in others:
        u.started = True
    results = await asyncio.gather(*(bot.send_message(u.id, "x") for u in others),
                                   return_exceptions=True)
    limited = [r for r in results if isinstance(r, RetryAfter)]
    assert len(limited) == 13  # 27 of the 30 global tokens were left
    assert fake.counters["429"] == 2 + 13
    now[0] += 1.0  # a second later alice may send again
    await bot.send_message(alice.id, "later")
    assert alice.last.text == "later"


async def test_rate_limits_counted_but_not_enforced(bot, fake, alice):
    """Benchmarks' mode: a call over the limits goes through and is counted, not refused."""
    now = [1000.0]
    fake.rate_limiter = RateLimiter(clock=lambda: now[0])
    fake.count_rate_limits = True
    for i in range(5):  # the per-chat burst is 3: two of these Telegram would refuse
        await bot.send_message(alice.id, f"m{i}")
    assert [m.text for m in alice.messages] == [f"m{i}" for i in range(5)]
    assert fake.counters["over_limit"] == 2 and fake.counters["429"] == 0
    now[0] += 1.0
    await bot.send_message(alice.id, "a second later")
    assert fake.counters["over_limit"] == 2


# ------------------------------------------------------------ odds and ends
async def test_polling_redeliver_duplicates_update(fake, echo_app):
    dave = fake.user(4004, "Dave")
    await dave.send("once")
    await dave.wait_for("echo: once")
    await fake.wait_idle()
    await fake.redeliver(fake.updates[-1]["update_id"])
    await dave.wait_for_count(2)
    assert [m.text for m in dave.messages] == ["echo: once", "echo: once"]


async def test_markdown_v2_minimal(fake, bot, alice):
    await bot.send_message(alice.id, r"*Hi* _there_ [site](https://x.org)\!", parse_mode="MarkdownV2")
    assert alice.last.text == "Hi there site!"
    with pytest.raises(BadRequest, match="character '\\.' is reserved"):
        await bot.send_message(alice.id, "Done.", parse_mode="MarkdownV2")
    with pytest.raises(BadRequest, match="can't find end of bold entity"):
        await bot.send_message(alice.id, "*open", parse_mode="MarkdownV2")


async def test_commands_chat_action_and_get_chat(fake, bot, alice):
    from telegram import BotCommand

    assert await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("report", "Report")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "report"]
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    assert await bot.send_chat_action(alice.id, "typing")
    assert alice.chat_actions == ["typing"]
    chat = await bot.get_chat(alice.id)
    assert chat.first_name == "Alice" and chat.type == "private"


async def test_wait_for_only_sees_news_since_last_action(fake, bot, alice):
    await bot.send_message(alice.id, "old news")
    await alice.send("/again")
    with pytest.raises(AssertionError, match="old news"):  # transcript is shown
        await alice.wait_for("old news", timeout=0.05)

    async def send_later() -> None:
        await asyncio.sleep(0.05)
        await bot.send_message(alice.id, "fresh news")

    task = asyncio.create_task(send_later())
    assert (await alice.wait_for(predicate=lambda m: "fresh" in m.text)).text == "fresh news"
    await task
