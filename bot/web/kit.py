"""What a console page uses: ``@page`` to register it, ``render`` to answer with a template,
``db_read``/``db_write`` for its unit of work, ``refuse`` for a 403 that is audited, and
``audit_view`` for the audit event every view of an incident or a child must leave.

A page handler is ``async def view(request) -> web.Response``; the middlewares in
``bot/web/security.py`` have already put the signed-in person on the request
(``person(request)``, or ``request[PERSON]``: an active Person), their review scope
(``scope(request)``: team ids, or None for all, from ``Access.console_scope``) and
the session's CSRF token (``request[CSRF]``, filled into every form by ``render``).
aiohttp's typed ``RequestKey``s are used rather than bare strings.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jinja2
from aiohttp import web

from bot import audit
from bot.services import Services
from storage.models import Person, WebSession

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SERVICES = web.AppKey("services", Services)
JINJA = web.AppKey("jinja", jinja2.Environment)
# What the middlewares put on a signed-in request (read them with the functions below).
PERSON = web.RequestKey("person", Person)
SCOPE = web.RequestKey("scope", object)  # frozenset of team ids, or None for every team
CSRF = web.RequestKey("csrf", str)
SESSION = web.RequestKey("web_session", WebSession)

# Who a page is for (checked before the handler runs; the handler still checks the record).
EVERYONE = "everyone"  # anyone signed in (workers, managers, admins)
REVIEWERS = "reviewers"  # managers of a team and administrators (the bot's /overdue, /stats…)


@dataclass(frozen=True)
class Page:
    path: str  # below /web, e.g. "/incidents/{ref}"
    name: str  # route name, for url(name, **parts) in templates
    handler: Handler
    method: str = "GET"
    nav: str = ""  # the label in the navigation bar ("" = not in it)
    who: str = EVERYONE


PAGES: list[Page] = []


def page(path: str, *, name: str, method: str = "GET", nav: str = "",
         who: str = EVERYONE) -> Callable[[Handler], Handler]:
    """Register a console page: ``@page("/incidents/{ref}", name="incident")``.

    ``who=REVIEWERS`` refuses (403, audited) anyone who reviews no team; ``nav`` puts the
    page in the navigation bar (in registration order). A POST page gets the CSRF check
    of ``bot/web/security.py`` before it runs."""

    def register(handler: Handler) -> Handler:
        PAGES.append(Page(path, name, handler, method.upper(), nav, who))
        return handler

    return register


def services(request: web.Request) -> Services:
    return request.config_dict[SERVICES]


def person(request: web.Request) -> Person:
    """The signed-in person (active, may use the console)."""
    return request[PERSON]


def scope(request: web.Request) -> frozenset[str] | None:
    """The teams this person reviews: None for all (administrators), their teams for
    managers, empty for workers (who see only what was sent to them)."""
    return request.get(SCOPE, frozenset())


def is_reviewer(request: web.Request) -> bool:
    """Manages a team or is an administrator (the bot's /overdue, /stats … are theirs)."""
    found = scope(request)
    return found is None or bool(found)


def render(request: web.Request, template: str, *, status: int = 200, **context: Any
           ) -> web.Response:
    """The template filled in (autoescaped) with ``context`` and what every page has:
    ``person``, ``csrf``, ``nav``, ``url(name, query={...}, **parts)``, ``has_page(name)``,
    ``service`` and ``now`` (local time)."""
    env = request.config_dict[JINJA]
    svc = services(request)
    signed_in = request.get(PERSON)
    nav = [(p.nav, p.name) for p in PAGES
           if p.nav and signed_in is not None and (p.who == EVERYONE or is_reviewer(request))]
    html = env.get_template(template).render(
        person=signed_in, csrf=request.get(CSRF, ""), nav=nav,
        current=request.match_info.route.name if request.match_info.route else None,
        url=lambda name, **parts: _url(request, name, **parts),
        has_page=lambda name: name in request.app.router.named_resources(),
        service=svc.settings.service.name, now=svc.local(svc.clock.now()),
        **context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def live_part(request: web.Request, template: str, **context: Any
              ) -> tuple[web.Response, str]:
    """A page's part that the console's ``static/refresh.js`` fetches again, rendered, and
    its digest: the page carries the digest (``data-digest``) and the part's own response
    carries it as ``X-Digest``, so the script replaces the part only when it has changed."""
    part = render(request, template, **context)
    digest = hashlib.sha256(part.text.encode()).hexdigest()[:16]
    part.headers["X-Digest"] = digest
    return part, digest


def _url(request: web.Request, name: str, query: dict | None = None, **parts: Any) -> str:
    url = request.app.router[name].url_for(**{k: str(v) for k, v in parts.items()})
    if query:
        url = url.with_query({k: v for k, v in query.items() if v not in (None, "")})
    return str(url)


def see_other(request: web.Request, name: str, query: dict | None = None,
              **parts: Any) -> web.Response:
    """303 to a named route (after a POST, so that reloading does not post again)."""
    return web.Response(status=303, headers={"Location": _url(request, name, query, **parts)})


def opaque(request: web.Request, value: str) -> str:
    """A tag for ``value`` (a person id …) to put in a URL instead of it: keyed by the
    session, so it means nothing elsewhere; resolve it by tagging the candidates."""
    return hmac.new(request[CSRF].encode(), value.encode(), hashlib.sha256).hexdigest()[:16]


def db_read(request: web.Request):
    return services(request).db.read()


def db_write(request: web.Request):
    return services(request).db.write()


async def refuse(request: web.Request, *, action: str, why: str,
                 incident_id: int | None = None, text: str = "", **details: Any) -> web.Response:
    """403 with a plain page, and an ``access_refused`` audit event (as the bot's refusals)."""
    svc = services(request)
    who = request.get(PERSON)
    async with svc.db.write() as s:
        await audit.refused(s, at=svc.clock.now(), action=f"web {action}", why=why,
                            actor_id=who.id if who else None, incident_id=incident_id,
                            **details)
    return render(request, "error.html", status=403, title="Not available",
                  message=text or "You cannot see this page: it does not exist or it is not "
                                  "one you have access to.")


async def audit_view(request: web.Request, *, what: str, incident_id: int | None = None,
                     **details: Any) -> None:
    """Every view of an incident or a child in the console is a ``web_viewed`` event
    (``what``: incident | child | …; a child by ``child=<ref>``)."""
    svc = services(request)
    async with svc.db.write() as s:
        await audit.record(s, "web_viewed", at=svc.clock.now(), actor_id=person(request).id,
                           incident_id=incident_id, what=what, **details)
