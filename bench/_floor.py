"""The honest floor (issue 18): a bare python-telegram-bot application that makes exactly the
Bot API calls one fosterbot report makes, with no database and no logic of ours.

A report in ``bench/report_throughput.py`` is five updates (``/report``, the category tap,
the description, "Skip the rest", Submit) and ten Bot API calls, captured from fosterbot
against the emulator and mirrored here call for call, with texts and keyboards of the same
shape and size:

=====================  ==================================================================
update                 calls
=====================  ==================================================================
``/report``            sendMessage (the category keyboard)
category tap           answerCallbackQuery, editMessageText (guidance, Cancel)
description            sendMessage ("(1 of 7) When did it happen?", five buttons)
"Skip the rest"        answerCallbackQuery, editMessageText (the review, three buttons)
Submit                 answerCallbackQuery, editMessageText ("Submitting …"),
                       sendMessage (the carer's receipt), sendMessage (the worker's alert)
=====================  ==================================================================

**Paced** (the floor the benchmark's target is judged against, ``paced=True``): with
python-telegram-bot's own rate limiter, ``AIORateLimiter`` at its defaults (30 requests a
second overall), the framework's documented way to stay inside Telegram's flood limits.
Without it (``paced=False``, the issue's first floor) the floor sends a burst of reports
well over Telegram's overall limit, calls Telegram would refuse with 429; the benchmark's
emulator, which enforces that limit for fosterbot and the paced floor alike, counts them
for that floor instead of refusing them (``count_rate_limits``). fosterbot paces every
call too (``bot/delivery/pacing.py``), so only the paced floor makes the same calls at the
same pace. The per-chat limit is left out for all: ``AIORateLimiter`` does not pace private
chats, and fosterbot paces them anyway. ``max_retries=3``: a 429 that slips through is
waited out and tried again, as fosterbot does, rather than failing the report.

``http="aiohttp"``: the same floor on fosterbot's Bot API client
(``bot/runtime/bot_api_http.py``) instead of python-telegram-bot's default (httpx), to show
how much of fosterbot's distance from the floor is that choice.

The state a report needs (child, category, description, a reference number) is kept in a
dict in memory; the alert goes to the chat given for the carer in ``routes``. Everything
else is python-telegram-bot as fosterbot uses it: the same connection pool size, per-chat
update processor, HTML parse mode, inline keyboards with ``action:id`` data. It polls with
python-telegram-bot's own ``Updater`` (as the framework would by default).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from html import escape
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot.rules.categories import DEFAULT_CATEGORIES
from bot.runtime.bot_api_http import AiohttpRequest
from bot.runtime.update_processor import PerChatUpdateProcessor

HTML = "HTML"
WHEN = ("(1 of 7) <b>When did it happen?</b>\nPress a button, or type a date and time, for "
        "example “yesterday 6pm”, “21/11 14:30”, “today 9:15” or “2 hours ago”.")
WRITE = ("Now write what happened in one message: what, when and where, who was there, the "
         "child's own words if relevant, and what you have done already.\nYou can also send "
         "photos, voice notes or documents.")


@dataclass
class Draft:
    id: int
    child: str
    category: dict | None = None
    text: str = ""


@dataclass
class FloorState:
    """What a report needs between its updates, in memory (the floor has no database)."""

    routes: dict[int, tuple[str, int]]  # carer chat -> (child reference, worker chat)
    drafts: dict[int, Draft] = field(default_factory=dict)
    ids: Any = field(default_factory=lambda: itertools.count(1))


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=data)


def _cancel(draft_id: int) -> list[InlineKeyboardButton]:
    return [_button("✖️ Cancel", f"rx:{draft_id}")]


def build_floor(token: str, base_url: str, base_file_url: str,
                routes: dict[int, tuple[str, int]], *, paced: bool = True,
                http: str = "httpx") -> Application:
    state = FloorState(routes=routes)
    by_key = {c["key"]: c for c in DEFAULT_CATEGORIES}

    async def report(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        child, _ = state.routes[chat.id]
        draft = state.drafts[chat.id] = Draft(next(state.ids), child)
        keyboard = [[_button(c["label"], f"rk:{draft.id}:{c['key']}")]
                    for c in DEFAULT_CATEGORIES] + [_cancel(draft.id)]
        await chat.send_message(f"Report about <b>{escape(child)}</b>. What happened? "
                                "Choose one:", parse_mode=HTML,
                                reply_markup=InlineKeyboardMarkup(keyboard))

    async def category(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        draft = state.drafts[update.effective_chat.id]
        draft.category = by_key[query.data.split(":")[2]]
        await query.answer()
        await query.edit_message_text(
            f"<b>{escape(draft.category['label'])}</b>\n{escape(draft.category['guidance'])}"
            f"\n\n{WRITE}", parse_mode=HTML,
            reply_markup=InlineKeyboardMarkup([_cancel(draft.id)]))

    async def described(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        draft = state.drafts[update.effective_chat.id]
        draft.text = update.effective_message.text
        d = draft.id
        await update.effective_chat.send_message(WHEN, parse_mode=HTML, reply_markup=(
            InlineKeyboardMarkup([[_button("Now", f"rw:{d}:now"),
                                   _button("Earlier today", f"rw:{d}:today")],
                                  [_button("Skip", f"rz:{d}"),
                                   _button("⏭ Skip the rest", f"rr:{d}")],
                                  _cancel(d)])))

    async def skip_rest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        draft = state.drafts[update.effective_chat.id]
        await query.answer()
        await query.edit_message_text(
            f"<b>Please check your report</b>\nChild: <b>{escape(draft.child)}</b>\n"
            f"Category: {escape(draft.category['label'])}\nUrgency: 🟢 Routine\n\n"
            f"{escape(draft.text)}", parse_mode=HTML,
            reply_markup=InlineKeyboardMarkup([[_button("✅ Submit", f"rs:{draft.id}")],
                                               [_button("✏️ Edit", f"re:{draft.id}"),
                                                *_cancel(draft.id)]]))

    async def submit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        chat = update.effective_chat
        draft = state.drafts.pop(chat.id)
        child, worker = state.routes[chat.id]
        ref = f"INC-2026-{draft.id:06d}"
        await query.answer()
        await query.edit_message_text(f"Submitting <b>{ref}</b>… your receipt follows.",
                                      parse_mode=HTML)
        await chat.send_message(
            f"📨 Report <b>{ref}</b> received and recorded at 10:00 Wed 25 Nov 2026.\n"
            "Sent to:\n• Worker — allocated social worker\n\nYou will be told here when "
            "someone acknowledges it. /myreports shows your reports. To add to this report "
            "or correct it, use the buttons below.", parse_mode=HTML,
            reply_markup=InlineKeyboardMarkup([[_button("➕ Add more", f"add:{draft.id}"),
                                                _button("✏️ Correct something",
                                                        f"fix:{draft.id}")]]))
        await context.bot.send_message(
            worker,
            f"🟢 Routine — <b>{ref}</b>\n<b>{escape(draft.category['label'])}</b>\n"
            f"Child: <b>{escape(child)}</b>\nReported by: {escape(chat.first_name or '')} at "
            f"10:00 Wed 25 Nov 2026\nYou have this as: allocated social worker\n\n"
            f"What happened:\n{escape(draft.text)}", parse_mode=HTML,
            reply_markup=InlineKeyboardMarkup([
                [_button("✅ Acknowledge", f"ack:{draft.id}")],
                [_button("💬 Reply to carer", f"reply:{draft.id}"),
                 _button("☑️ Close with outcome", f"close:{draft.id}")],
                [_button("📄 Full record", f"det:{draft.id}")]]))

    request = {"httpx": HTTPXRequest, "aiohttp": AiohttpRequest}[http]
    builder = (ApplicationBuilder().token(token).base_url(base_url).base_file_url(base_file_url)
               .concurrent_updates(PerChatUpdateProcessor(64))
               .request(request(connection_pool_size=32))
               .get_updates_request(request(read_timeout=50)))
    if paced:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    app = builder.build()
    app.add_handler(CommandHandler("report", report))
    app.add_handler(CallbackQueryHandler(category, pattern=r"^rk:"))
    app.add_handler(CallbackQueryHandler(skip_rest, pattern=r"^rr:"))
    app.add_handler(CallbackQueryHandler(submit, pattern=r"^rs:"))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, described))
    return app
