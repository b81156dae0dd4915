"""The console's middlewares: security headers, the signed-in person, CSRF.

* **Headers** on every answer: a strict Content-Security-Policy (``default-src
  'self'``; scripts only from our own static files, never inline; no plugins;
  forms post only to us; ``frame-ancestors 'none'``), ``X-Frame-Options: DENY``,
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` (a
  sign-in link's token never leaves in a Referer), and ``Cache-Control:
  no-store`` on everything but the static files (every page holds personal
  data). Decision on framing: the Mini App opens in Telegram's own webview
  (mobile and desktop apps), a top-level page, not a frame; Telegram Web shows
  Mini Apps in a cross-site iframe, where our SameSite=Strict cookie would not
  be sent anyway, so the console refuses every frame.
* **The person**: every route except the public ones (sign-in, the Mini App
  loader, static files) needs a live session (``bot/people/web_sessions.py``
  ``find_session``; a page view writes only when the session ends or its
  last-seen time is a minute old): its person, their review scope and the
  session's CSRF token are put on the request. No session: 401 with a page saying how to sign
  in. A person who may no longer use the console (``Access.may_use_console``),
  or a page for reviewers asked by someone who reviews no team: 403, audited.
* **CSRF**: every POST from a signed-in session must carry the session's token
  in the form field ``csrf`` (compared in constant time); without it: 403,
  audited, nothing done. The cookie is also SameSite=Strict.
"""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from bot.people import web_sessions
from bot.web import kit

log = logging.getLogger(__name__)

COOKIE = "fosterbot_console"
COOKIE_PATH = "/web"
CSRF_FIELD = "csrf"
PUBLIC = web.AppKey("public_routes", frozenset)  # route names that need no session
PAGE_OF = web.AppKey("page_of", dict)  # route name -> kit.Page

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")


def _is_static(request: web.Request) -> bool:
    route = request.match_info.route
    return route is not None and route.resource is not None \
        and isinstance(route.resource, web.StaticResource)


@web.middleware
async def headers(request: web.Request, handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "no-referrer")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if _is_static(request):
        h.setdefault("Cache-Control", "public, max-age=3600")
    else:
        h["Cache-Control"] = "no-store"
    if isinstance(response, web.HTTPException) and response.status >= 300:
        raise response
    return response


def set_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    settings = kit.services(request).settings.web
    response.set_cookie(COOKIE, token, path=COOKIE_PATH, httponly=True, samesite="Strict",
                        secure=settings.secure,
                        max_age=int(settings.session_max.amount.total_seconds()))


def clear_cookie(request: web.Request, response: web.StreamResponse) -> None:
    settings = kit.services(request).settings.web
    response.del_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="Strict",
                        secure=settings.secure)


@web.middleware
async def signed_in(request: web.Request, handler) -> web.StreamResponse:
    route = request.match_info.route
    name = route.name if route is not None else None
    if _is_static(request) or name in request.config_dict[PUBLIC] or \
            request.match_info.http_exception is not None:
        return await handler(request)
    svc = kit.services(request)
    token = request.cookies.get(COOKIE, "")
    now = svc.clock.now()
    async with svc.db.read() as s:
        found = await web_sessions.find_session(s, token, now=now,
                                                idle=svc.settings.web.session_idle.amount)
        allowed, scope = False, frozenset()
        if found is not None and found.end is None:
            # Read once, as the bot does when an update arrives: the rest of this request
            # (the console's scope, the page's access checks) uses them.
            svc.access.remember_roles(found.person, await svc.access.roles(s, found.person))
            allowed = await svc.access.may_use_console(s, found.person)
            scope = await svc.access.console_scope(s, found.person) if allowed else scope
    if found is not None and (found.end or found.touch):
        async with svc.db.write() as s:
            await web_sessions.settle(s, found, now=now)
    if found is None or found.end:
        response = kit.render(request, "signin_needed.html", status=401, title="Please sign in")
        if token:
            clear_cookie(request, response)
        return response
    who, row = found.person, found.row
    request[kit.PERSON], request[kit.SESSION] = who, row
    request[kit.SCOPE] = scope
    request[kit.CSRF] = web_sessions.csrf_token(token)
    if not allowed:
        return await kit.refuse(request, action=request.path, why="may not use the console",
                                text="The web console is for social workers, managers and "
                                     "administrators.")
    if request.method == "POST":
        form = await request.post()
        given = str(form.get(CSRF_FIELD, ""))
        if not given or not hmac.compare_digest(given, request[kit.CSRF]):
            return await kit.refuse(request, action=request.path, why="missing or wrong CSRF token",
                                    text="This form had expired or did not come from this "
                                         "console, so nothing was done. Go back, reload the "
                                         "page and try again.")
    page = request.config_dict[PAGE_OF].get(name)
    if page is not None and page.who == kit.REVIEWERS and not kit.is_reviewer(request):
        return await kit.refuse(request, action=page.name, why="reviews no team",
                                text="This page is for team managers (it shows the teams they "
                                     "manage) and administrators.")
    return await handler(request)
