"""Builds the console: an aiohttp application mounted at ``/web``.

``build_console(services)`` makes the sub-application (its pages, sign-in routes,
static files, Jinja2 templates with autoescape, middlewares); ``bot/runtime/webhook.py``
``HttpServer`` mounts it beside the webhook and ``/healthz`` (``fosterbot run`` with
``[web] enabled``), and ``serve_alone`` runs it by itself for ``fosterbot web``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import jinja2
from aiohttp import web

from bot.services import Services
from bot.texts import waited, when
from bot.web import kit, pages, security, signin

assert pages.MODULES  # imported for their @page registrations

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
PREFIX = "/web"


def _environment(services: Services) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"], default=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        # The templates ship in the package and do not change while the process runs.
        auto_reload=False)
    env.filters["when"] = lambda at: when(at, services.tz) if at else ""
    env.filters["waited"] = waited
    return env


async def _home(request: web.Request) -> web.Response:
    """``/web/``: reviewers start at Needs action, everyone else at Open reports."""
    target = "needs" if kit.is_reviewer(request) else "open"
    return kit.see_other(request, target)


def build_console(services: Services) -> web.Application:
    """The console as an application to mount at ``/web``."""
    app = web.Application(middlewares=[security.headers, security.signed_in],
                          client_max_size=256 * 1024)
    app[kit.SERVICES] = services
    app[kit.JINJA] = _environment(services)
    app[security.PUBLIC] = signin.PUBLIC_ROUTES
    app[security.PAGE_OF] = {p.name: p for p in kit.PAGES}
    app.router.add_get("/", _home, name="home")
    signin.add_routes(app)
    for p in kit.PAGES:
        app.router.add_route(p.method, p.path, p.handler, name=p.name)
    app.router.add_static("/static", HERE / "static", name="static")
    return app


def mount(root: web.Application, services: Services) -> None:
    """Put the console under ``/web`` of ``root``."""
    root.add_subapp(PREFIX, build_console(services))


async def serve_alone(services: Services, *, listen: str, port: int) -> web.AppRunner:
    """``fosterbot web``: the console (and ``/`` redirecting to it) on its own server."""
    root = web.Application()

    async def to_console(request: web.Request) -> web.Response:
        return web.Response(status=303, headers={"Location": PREFIX + "/"})

    root.router.add_get("/", to_console)
    mount(root, services)
    runner = web.AppRunner(root, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, listen, port).start()
    log.info("web console on http://%s:%s%s/", listen, runner.addresses[0][1], PREFIX)
    return runner
