"""/web: a one-time link that signs the person in to the web console (``bot/web``).

Who may: workers, managers and administrators (``Access.may_use_console``);
carers are refused politely. The link (``bot/people/web_sessions.py``) works once,
for ``[web] link_ttl`` (10 minutes), and is sent without a link preview (a
preview would fetch it; the page only signs in when *Sign in* is pressed,
anyway). For people who review a team (managers, administrators) the bot also
sets this chat's menu button "Open console" to the console's Telegram Mini App,
when the console's address is HTTPS (Telegram opens Mini Apps over HTTPS only).
"""

from __future__ import annotations

import logging

from telegram import LinkPreviewOptions, MenuButtonWebApp, Update, WebAppInfo
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.people import web_sessions
from bot.texts import h
from handlers.common import BotContext, linked, refuse, reply
from storage.models import Person

log = logging.getLogger(__name__)

MENU_TEXT = "Open console"
NOT_ENABLED = "The web console is not switched on for this service."
NOT_FOR_YOU = ("The web console is for social workers, managers and administrators. "
               "/help shows what you can do here.")


@linked
async def web_command(update: Update, context: BotContext, person: Person) -> None:
    """Send a one-time sign-in link to the console (and the Mini App menu button)."""
    services = context.services
    web = services.settings.web
    if not web.enabled or not web.public_base_url:
        await reply(update, h(NOT_ENABLED))
        return
    async with services.db.write() as s:
        allowed = await services.access.may_use_console(s, person)
        if allowed:
            token = await web_sessions.issue_link(s, person, now=services.clock.now(),
                                                  ttl=web.link_ttl.amount)
            reviewer = await services.access.console_scope(s, person) != frozenset()
    if not allowed:
        await refuse(update, context, person, action="web", why="may not use the console",
                     text=NOT_FOR_YOU)
        return
    minutes = int(web.link_ttl.amount.total_seconds() // 60)
    url = web_sessions.link_url(web.public_base_url, token)
    await update.effective_chat.send_message(
        f"🖥 Your sign-in link for the web console (it works <b>once</b>, for {minutes} "
        f"minutes; do not forward it):\n{h(url)}",
        parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True))
    if reviewer and web.secure:
        try:
            await context.bot.set_chat_menu_button(
                chat_id=update.effective_chat.id,
                menu_button=MenuButtonWebApp(MENU_TEXT, WebAppInfo(url=f"{web.public_base_url}"
                                                                       "/web/app")))
        except TelegramError as exc:  # the link was sent; the button is a convenience
            log.warning("could not set the console menu button for chat %s: %s",
                        update.effective_chat.id, exc)
