"""Tests of the fake Bot API (bot.emulator) driven by the real python-telegram-bot."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, RetryAfter
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
