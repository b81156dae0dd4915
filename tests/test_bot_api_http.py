"""The Bot API's HTTP client on aiohttp (``bot/runtime/bot_api_http.py``), driven by the real
python-telegram-bot against the emulator over real HTTP: what arrives is what was sent
(text, buttons, files), Telegram's errors are python-telegram-bot's, and a failing
connection is a NetworkError or a TimedOut as with python-telegram-bot's own client."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.request import BaseRequest

from bot.emulator import FakeBotAPI
from bot.runtime.bot_api_http import AiohttpRequest

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

TOKEN = "123456:TEST"
CHAT = 4242


@pytest.fixture
async def fake():
    api = FakeBotAPI(TOKEN)
    await api.start()
    api.user(CHAT, "Carer").started = True
    yield api
    await api.stop()


@asynccontextmanager
async def _serving(handler, ssl_context: ssl.SSLContext | None = None):
    """A local HTTP(S) server answering every path with ``handler``; yields its port."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1]
    finally:
        await runner.cleanup()


def _bot(fake: FakeBotAPI, request: AiohttpRequest | None = None) -> Bot:
    return Bot(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url,
               request=request or AiohttpRequest(connection_pool_size=4))


async def test_a_message_with_html_and_buttons_arrives_as_sent(fake):
    async with _bot(fake) as bot:
        sent = await bot.send_message(
            CHAT, "Report <b>INC-1</b> &amp; more: “quotes”, ü 😀", parse_mode="HTML",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("✅ Acknowledge",
                                                                     callback_data="ack:1")]]))
        edited = await bot.edit_message_text("Edited", chat_id=CHAT, message_id=sent.message_id)
    [message] = fake.users[CHAT].messages
    assert message.text == "Edited" and message.edited == 1
    assert sent.text == "Report INC-1 & more: “quotes”, ü 😀"
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == "ack:1"
    assert edited.message_id == sent.message_id


async def test_files_arrive_whole_from_bytes_and_from_a_file(fake, tmp_path):
    path = tmp_path / "incidents.csv"
    path.write_bytes(b"reference,category\nINC-1,health\n" * 500)
    blob = bytes(range(256)) * 64
    async with _bot(fake) as bot:
        by_bytes = await bot.send_document(CHAT, document=blob, filename="chart.bin",
                                           caption="<i>chart</i>", parse_mode="HTML")
        with path.open("rb") as handle:
            by_file = await bot.send_document(CHAT, document=handle, filename=path.name)
    assert fake.files[by_bytes.document.file_id]["data"] == blob
    assert fake.files[by_file.document.file_id]["data"] == path.read_bytes()
    first, second = fake.users[CHAT].messages
    assert first.caption == "chart" and first.document["file_name"] == "chart.bin"
    assert second.document["file_name"] == "incidents.csv"


async def test_telegrams_errors_are_python_telegram_bots(fake):
    fake.fail_next("sendMessage", retry_after=7)
    async with _bot(fake) as bot:
        with pytest.raises(RetryAfter) as limited:
            await bot.send_message(CHAT, "one")
        with pytest.raises(BadRequest, match="(?i)chat not found"):
            await bot.send_message(999, "nobody")
        await bot.send_message(CHAT, "two")  # the connection is still good
    assert limited.value.retry_after in (7, timedelta(seconds=7))
    assert [m.text for m in fake.users[CHAT].messages] == ["two"]


async def test_a_slow_answer_times_out_and_a_lost_one_is_a_network_error(fake):
    async with _bot(fake, AiohttpRequest(read_timeout=0.2)) as bot:  # asks getMe
        fake.delay_next("sendMessage", seconds=2.0)
        fake.drop_next("getMe")
        with pytest.raises(TimedOut):
            await bot.send_message(CHAT, "slow")
        with pytest.raises(NetworkError) as lost:
            await bot.get_me()
        assert not isinstance(lost.value, TimedOut)
        # A time-out given for one call wins over the default.
        fake.delay_next("sendMessage", seconds=0.3)
        await bot.send_message(CHAT, "patient", read_timeout=5)
    assert "patient" in [m.text for m in fake.users[CHAT].messages]


async def test_waiting_for_a_free_connection_is_bounded_by_pool_and_connect_timeouts(fake):
    fake.delay_next("sendMessage", seconds=1.0)
    request = AiohttpRequest(connection_pool_size=1, pool_timeout=0.05, connect_timeout=0.05)
    async with _bot(fake, request) as bot:
        busy = asyncio.create_task(bot.send_message(CHAT, "holds the only connection"))
        await asyncio.sleep(0.1)  # the first call is on the wire
        with pytest.raises(TimedOut):
            await bot.send_message(CHAT, "waits for the pool")
        await busy
    assert [m.text for m in fake.users[CHAT].messages] == ["holds the only connection"]


async def test_nothing_listening_is_a_network_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot",
              request=AiohttpRequest(connect_timeout=1))
    request = bot.request
    await request.initialize()
    try:
        with pytest.raises(NetworkError):
            await bot.get_me()
    finally:
        await request.shutdown()


async def test_a_request_is_usable_only_between_initialize_and_shutdown(fake):
    request = AiohttpRequest()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(f"{fake.base_url}{TOKEN}/getMe", "POST")
    await request.initialize()
    status, body = await request.do_request(f"{fake.base_url}{TOKEN}/getMe", "POST")
    assert status == 200 and b'"ok":true' in body
    await request.shutdown()
    await request.shutdown()  # twice is harmless
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(f"{fake.base_url}{TOKEN}/getMe", "POST")
    await request.initialize()  # and it can start again
    status, _ = await request.do_request(f"{fake.base_url}{TOKEN}/getMe", "POST")
    await request.shutdown()
    assert status == 200


def test_a_pool_of_no_connections_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        AiohttpRequest(connection_pool_size=0)


def _self_signed(folder) -> tuple[str, str]:
    """A certificate for 127.0.0.1 that no authority signed, and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


async def test_a_server_whose_certificate_no_authority_signed_is_refused(tmp_path):
    """TLS is verified: a Bot API address serving a self-signed certificate gets no call."""
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    asked = []

    async def answer(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.json_response({"ok": True, "result": {}})

    async with _serving(answer, context) as port:
        request = AiohttpRequest(connect_timeout=5)
        await request.initialize()
        try:
            with pytest.raises(NetworkError, match="(?i)certificate"):
                await request.post(f"https://127.0.0.1:{port}/bot{TOKEN}/getMe")
        finally:
            await request.shutdown()
    assert asked == []


def test_the_time_outs_bound_each_part_and_the_whole_call():
    request = AiohttpRequest(read_timeout=1, write_timeout=2, connect_timeout=3, pool_timeout=4,
                             media_write_timeout=20)
    default = BaseRequest.DEFAULT_NONE
    plain = request._timeout(default, default, default, default)
    assert (plain.sock_read, plain.sock_connect, plain.connect, plain.total) == (1, 3, 7, 10)
    # A call with files may write for longer; a time-out given for the call wins.
    upload = request._timeout(default, default, default, default, files=True)
    assert upload.total == 1 + 20 + 3 + 4
    given = request._timeout(50, 0.5, default, default)
    assert (given.sock_read, given.total) == (50, 50 + 0.5 + 3 + 4)
    # None leaves that part unbounded, and so the whole call.
    endless = request._timeout(None, default, default, None)
    assert (endless.sock_read, endless.connect, endless.total) == (None, None, None)
    assert endless.sock_connect == 3


async def test_a_proxy_named_in_the_environment_is_used(monkeypatch):
    """As python-telegram-bot's default client does: a host that reaches Telegram only
    through a proxy (HTTPS_PROXY / HTTP_PROXY) keeps working."""
    asked = []

    async def proxy(request: web.Request) -> web.Response:
        asked.append((request.method, str(request.url)))
        return web.json_response({"ok": True, "result": {
            "id": 123456, "is_bot": True, "first_name": "Fosterbot", "username": "fb_bot"}})

    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with _serving(proxy) as port:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        request = AiohttpRequest(connect_timeout=5)
        await request.initialize()
        try:
            bot = Bot(TOKEN, base_url="http://api.telegram.invalid/bot", request=request)
            me = await bot.get_me()
        finally:
            await request.shutdown()
    assert me.username == "fb_bot"
    assert asked == [("POST", f"http://api.telegram.invalid/bot{TOKEN}/getMe")]


async def test_a_redirect_is_not_followed():
    """As python-telegram-bot's default client: a 3xx is an answer, not a hop elsewhere."""
    asked = []

    async def moved(request: web.Request) -> web.Response:
        asked.append(request.path)
        if request.path.endswith("/getMe"):
            raise web.HTTPTemporaryRedirect(f"/bot{TOKEN}/elsewhere")
        return web.json_response({"ok": True, "result": True})

    async with _serving(moved) as port:
        request = AiohttpRequest()
        await request.initialize()
        try:
            status, _ = await request.do_request(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe",
                                                 "POST")
        finally:
            await request.shutdown()
    assert status == 307 and asked == [f"/bot{TOKEN}/getMe"]
