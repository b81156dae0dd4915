"""Webhook mode and the health endpoint: a small aiohttp server.

``telegram.mode = "webhook"``: Telegram POSTs each update to
``telegram.webhook.url``; the server listens on ``telegram.webhook.listen`` :
``port`` at ``path`` (put a TLS-terminating proxy in front). Every request must
carry ``X-Telegram-Bot-Api-Secret-Token`` equal to ``FOSTERBOT_WEBHOOK_SECRET``
(compared in constant time); anything else gets 403 and changes nothing. The
bot refuses to start in webhook mode without a secret, and calls
``setWebhook`` with it at start.

Decision: the update is handled *before* the request is answered (through the
application's per-chat update processor, so each chat stays in order), not
dropped into ``app.update_queue`` and answered at once. Telegram retries a
webhook until it gets a 2xx, so answering only after handling means a crash in
between makes Telegram deliver the update again instead of losing it;
``processed_updates`` then skips it if it was in fact handled. While stopping,
the server answers 503 so Telegram keeps the update for later.

``GET /healthz`` (``bot/runtime/health.py``) is served next to the webhook, and so
is the web console under ``/web`` when ``[web] enabled`` (built by ``bot.app``
from ``bot/web`` and handed in as an aiohttp application). In polling
mode it is served on its own when ``[health] port`` is set (0, the default,
means no health server while polling).
"""

from __future__ import annotations

import hmac
import logging
import re
from typing import TYPE_CHECKING

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.runtime import failures, health, inbound

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.services import Services

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_SECRET_FORMAT = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class WebhookConfigError(RuntimeError):
    """Webhook mode is configured but cannot run (the message says what to set)."""


def config_problems(settings: "Settings") -> list[str]:
    """Why webhook mode cannot start with these settings (empty when it can, or polling)."""
    if settings.telegram.mode != "webhook":
        return []
    problems = []
    if not settings.telegram.webhook.url:
        problems.append("telegram.webhook.url: set the public HTTPS URL Telegram should post to")
    if not settings.webhook_secret:
        problems.append("FOSTERBOT_WEBHOOK_SECRET is not set: webhook mode needs a secret token "
                        "(1-256 characters of A-Z, a-z, 0-9, _ and -)")
    elif not _SECRET_FORMAT.match(settings.webhook_secret):
        problems.append("FOSTERBOT_WEBHOOK_SECRET may only hold 1-256 characters of A-Z, a-z, "
                        "0-9, _ and -")
    if not settings.telegram.webhook.path.startswith("/"):
        problems.append("telegram.webhook.path must start with /")
    return problems


class HttpServer:
    """The webhook endpoint (when ``app`` is given) and ``GET /healthz``."""

    def __init__(self, services: "Services", *, listen: str, port: int,
                 app: Application | None = None, path: str = "/telegram",
                 secret: str = "", console: web.Application | None = None) -> None:
        self.services = services
        self.console = console  # the web console (bot/web), mounted at /web when given
        self.app = app
        self.listen = listen
        self.port = port
        self.path = path
        self._secret = secret.encode()
        self._accepting = False
        self._runner: web.AppRunner | None = None
        self.refused = 0
        self.handled = 0

    async def start(self) -> None:
        web_app = web.Application(client_max_size=2 * 1024 * 1024)
        web_app.router.add_get("/healthz", self._health)
        if self.app is not None:
            if not self._secret:
                raise WebhookConfigError("refusing to serve a webhook without a secret token")
            web_app.router.add_post(self.path, self._update)
        if self.console is not None:
            web_app.add_subapp("/web", self.console)
        self._runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=15)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.listen, self.port).start()
        self.port = self._runner.addresses[0][1]
        self._accepting = True
        log.info("listening on %s:%s (%s%s)", self.listen, self.port,
                 "webhook and /healthz" if self.app is not None else "/healthz",
                 ", web console at /web/" if self.console is not None else "")

    def stop_accepting(self) -> None:
        """Answer 503 to new updates (Telegram keeps them); /healthz still answers."""
        self._accepting = False

    async def stop(self) -> None:
        self._accepting = False
        if self._runner is not None:
            await self._runner.cleanup()  # waits for requests being handled
            self._runner = None

    async def _health(self, request: web.Request) -> web.Response:
        report = await health.status(self.services)
        return web.json_response(report, status=200 if report["ok"] else 503)

    async def _update(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            self.refused += 1
            log.warning("webhook request refused: %s secret token from %s",
                        "wrong" if given else "no", request.remote)
            return web.Response(status=403, text="forbidden")
        if not self._accepting:
            return web.Response(status=503, text="stopping")
        try:
            data = await request.json()
        except Exception:  # noqa: BLE001 - malformed input is refused, never fatal
            data = None
        update_id = data.get("update_id") if isinstance(data, dict) else None
        if not isinstance(update_id, int):
            log.warning("webhook: a request that is not an update was refused")
            return web.Response(status=400, text="not an update")
        if inbound.muted(self.services, data):
            return web.Response(text="ok")  # a stranger answered already in this window
        try:
            update = Update.de_json(inbound.clean(data), self.app.bot)
        except Exception as exc:  # noqa: BLE001 - answered so it is not sent again
            # As the polling loop does: Telegram would otherwise send it again and again.
            # By id and size only: the content is a person's words (never logged).
            log.error("could not read %s; it is answered without being handled",
                      inbound.describe(update_id, data, exc))
            return web.Response(text="unreadable update skipped")
        await self.app.update_processor.process_update(update, self.app.process_update(update))
        if failures.take(self.app.bot_data, update_id):
            # Failed on the database: not confirmed, so Telegram delivers it again.
            return web.Response(status=503, text="database unavailable; send it again")
        self.handled += 1
        return web.Response(text="ok")
