"""Signing in and out: the ``/web`` link, the Telegram Mini App, sign-out.

* ``GET /web/signin/<token>`` shows a *Sign in* button and changes nothing: link
  previews and scanners that fetch the link must not use it up. ``POST
  /web/signin`` uses the link once (``web_sessions.redeem_link``) and sets the
  session cookie; a used, expired or unknown link gets 403 and a page saying
  to send ``/web`` again.
* ``GET /web/app`` is the Mini App page: a small same-origin script posts the
  ``initData`` Telegram gives it to ``POST /web/app``, which checks it
  (``bot/web/initdata.py``), maps the Telegram account to its linked person and
  opens a session. Forged, stale or unlinked: 403, audited.
* ``POST /web/signout`` (with the CSRF token) ends the session.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot import audit
from bot.people import web_sessions
from bot.web import initdata, kit, security
from storage import queries
from storage.models import WebSession

log = logging.getLogger(__name__)

REFUSED_LINK = {
    "used": "This sign-in link has already been used.",
    "expired": "This sign-in link has expired (links last {minutes} minutes).",
    "invalid": "This sign-in link is not valid.",
    "inactive": "This sign-in link is not valid.",
    "not allowed": "The web console is for social workers, managers and administrators.",
}
PUBLIC_ROUTES = frozenset({"signin_form", "signin", "miniapp", "miniapp_signin", "signed_out"})


async def signin_form(request: web.Request) -> web.Response:
    return kit.render(request, "signin.html", title="Sign in",
                      token=request.match_info["token"])


def _signed_in(request: web.Request, token: str) -> web.Response:
    response = kit.see_other(request, "home")
    security.set_cookie(request, response, token)
    return response


async def signin(request: web.Request) -> web.StreamResponse:
    svc = kit.services(request)
    form = await request.post()
    token = str(form.get("token", ""))[:200]
    async with svc.db.write() as s:
        result = await web_sessions.redeem_link(s, token, now=svc.clock.now(),
                                                session_max=svc.settings.web.session_max.amount,
                                                access=svc.access)
    if result.status != "ok":
        log.info("console sign-in refused (link %s) from %s", result.status, request.remote)
        minutes = int(svc.settings.web.link_ttl.amount.total_seconds() // 60)
        return kit.render(request, "error.html", status=403, title="Sign-in link not valid",
                          message=REFUSED_LINK[result.status].format(minutes=minutes)
                          + " Send /web to the bot for a new one.")
    log.info("console: %s signed in with a link", result.person.id)
    return _signed_in(request, result.token)


async def miniapp(request: web.Request) -> web.Response:
    return kit.render(request, "miniapp.html", title="Opening the console")


async def miniapp_signin(request: web.Request) -> web.StreamResponse:
    svc = kit.services(request)
    form = await request.post()
    now = svc.clock.now()
    checked = initdata.check(str(form.get("initData", "")), svc.settings.token, now=now,
                             max_age=svc.settings.web.miniapp_max_age.amount)
    async with svc.db.write() as s:
        who = None
        if checked.status == "ok":
            who, roles = await queries.person_and_roles_by_telegram(s, checked.telegram_user_id)
            if who is not None:
                svc.access.remember_roles(who, roles)
        why = checked.status if checked.status != "ok" else (
            "account not linked" if who is None else
            None if await svc.access.may_use_console(s, who) else "may not use the console")
        if why is not None:
            await audit.record(s, "web_signin_refused", at=now, how="miniapp", why=why,
                               actor_id=who.id if who else None,
                               telegram_user_id=checked.telegram_user_id)
        else:
            token = await web_sessions.open_session(
                s, who, now=now, how="miniapp", telegram_user_id=checked.telegram_user_id,
                session_max=svc.settings.web.session_max.amount)
    if why is not None:
        log.info("console Mini App sign-in refused (%s) from %s", why, request.remote)
        return kit.render(request, "error.html", status=403, title="Cannot sign in",
                          message="Telegram's sign-in for the console could not be checked "
                                  "(it may be out of date). Close the console and open it "
                                  "again from the bot's menu, or send /web to the bot.")
    log.info("console: %s signed in from the Mini App", who.id)
    return _signed_in(request, token)


async def signout(request: web.Request) -> web.StreamResponse:
    svc = kit.services(request)
    async with svc.db.write() as s:
        row = await s.get(WebSession, request[kit.SESSION].id)
        await web_sessions.end_session(s, row, now=svc.clock.now())
    response = kit.see_other(request, "signed_out")
    security.clear_cookie(request, response)
    return response


async def signed_out(request: web.Request) -> web.Response:
    return kit.render(request, "signed_out.html", title="Signed out")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/signin/{token}", signin_form, name="signin_form")
    app.router.add_post("/signin", signin, name="signin")
    app.router.add_get("/app", miniapp, name="miniapp")
    app.router.add_post("/app", miniapp_signin, name="miniapp_signin")
    app.router.add_post("/signout", signout, name="signout")
    app.router.add_get("/signed-out", signed_out, name="signed_out")
