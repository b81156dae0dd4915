"""Application wiring: the python-telegram-bot Application, our services, start and stop.

``build_application`` makes the PTB Application with our typed context, the
per-chat update processor and every handler; ``BotRunner`` starts and stops it
together with the outbox dispatcher and the escalation engine,
for ``fosterbot run``, the demo and the tests alike.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import warnings
from dataclasses import dataclass

from telegram import BotCommand, Update
from telegram.ext import Application, ApplicationBuilder, ApplicationHandlerStop, ContextTypes
from telegram.warnings import PTBUserWarning

import handlers
from bot import metrics
from bot.clock import Clock, SystemClock
from bot.config import ConfigError, Settings
from bot.delivery.handoff import Handoff
from bot.delivery.outbox import Dispatcher
from bot.delivery.pacing import Pacing, SharedRateLimiter
from bot.engine import rerouting
from bot.engine.escalation import EscalationEngine
from bot.people import oncall
from bot.people.directory import active_person_ids
from bot.runtime import failures, gc_tuning, redaction, webhook
from bot.runtime.bot_api_http import AiohttpRequest
from bot.runtime.cluster import Cluster, parse_wake
from bot.runtime.housekeeping import Housekeeper
from bot.runtime.polling import Poller
from bot.runtime.update_processor import PerChatUpdateProcessor
from bot.runtime.updates import HandledLog
from bot.runtime.updates_request import UPDATES_REQUEST, UpdatesRequest
from bot.runtime.webhook import HttpServer
from bot.services import Services
from bot.web.server import build_console
from handlers.common import BotContext
from storage import migrate
from storage.db import Database, is_unavailable
from storage.send_budget import SendBudget

log = logging.getLogger(__name__)

COMMANDS = [
    BotCommand("report", "Report an incident (carers)"),
    BotCommand("myreports", "Your recent reports"),
    BotCommand("help", "What this bot does for you"),
    BotCommand("guidance", "How to report well"),
    BotCommand("cancel", "Stop what you are doing"),
    BotCommand("open", "Open reports (yours, or your team's)"),
    BotCommand("oncall", "Who is on duty and out of hours, now and next"),
    BotCommand("overdue", "Overdue reports in your teams (managers)"),
    BotCommand("log", "Timeline of a report: /log INC-… (managers)"),
    BotCommand("child", "A child's chronology: /child A1 (workers, managers)"),
    BotCommand("stats", "Statistics: /stats 30d or /stats 2026-11 (managers)"),
    BotCommand("export", "CSV export: /export 2026-11-01 2026-11-30 (managers)"),
    BotCommand("notifications", "Schedule 7 notification register (managers)"),
]
WEB_COMMAND = BotCommand("web", "A sign-in link for the web console (workers, managers)")


class SchemaOutOfDate(RuntimeError):
    pass


async def check_schema(url: str) -> None:
    current, head = await migrate.current_revision(url), migrate.head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"the database schema is {'missing' if current is None else 'at ' + current}, "
            f"the code needs {head}: run `fosterbot db upgrade` first"
        )


UNAVAILABLE_TEXT = (
    "⚠️ Sorry — our database is not answering just now, so what you sent has <b>not been "
    "saved yet</b>. The bot will take it in by itself as soon as the database is back: you do "
    "not need to send it again. If a child is in danger, phone 999 or the duty line now.")
UNAVAILABLE_ANSWER = ("Sorry — our database is not answering, so this has not been done yet. "
                      "It will be done by itself when the database is back.")


async def check_policy_targets(services: Services) -> None:
    """Refuse to start when an escalation step names someone the directory does not have
    (a misspelt ``team_manger`` would otherwise reach nobody at run time)."""
    async with services.db.read() as s:
        problems = services.settings.target_problems(await active_person_ids(s))
    if problems:
        raise ConfigError("the escalation policy is invalid:\n  " + "\n  ".join(problems))


async def error_handler(update: object, context: BotContext) -> None:
    """A handler failed. On a database outage the update is kept for another try (not
    recorded as handled, not confirmed to Telegram: ``bot/runtime/failures.py``), the
    person is told that once, and no later handler group runs for it. Otherwise: logged,
    and the person is told something went wrong."""
    error = context.error
    if isinstance(update, Update) and error is not None and is_unavailable(error):
        log.warning("update %s: the database is unavailable (%s); it will be retried",
                    update.update_id, error)
        failures.mark(context.application.bot_data, update.update_id)
        metrics.mark_update("database_unavailable")
        chat = update.effective_chat
        if chat is not None and failures.should_tell(context.application.bot_data, chat.id,
                                                      update.update_id):
            try:
                if update.callback_query is not None:
                    await update.callback_query.answer(UNAVAILABLE_ANSWER, show_alert=True)
                else:
                    await chat.send_message(UNAVAILABLE_TEXT, parse_mode="HTML")
            except Exception:  # noqa: BLE001 - telling the user is best effort
                log.warning("could not tell chat %s about the outage", chat.id, exc_info=True)
        raise ApplicationHandlerStop()  # no later group (nor the "handled" record) runs
    log.error("update %s failed", getattr(update, "update_id", "?"), exc_info=error)
    metrics.mark_update("error")
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(
                    "Sorry, something went wrong. Nothing you sent was lost; please try again.",
                    show_alert=True,
                )
            else:
                await update.effective_chat.send_message(
                    "Sorry, something went wrong on our side. Nothing you sent was lost; "
                    "please try again in a moment. In an emergency, phone."
                )
        except Exception:  # noqa: BLE001 - telling the user is best effort
            log.exception("could not tell the user about the error")


def build_application(services: Services, pacing: Pacing | None = None) -> Application:
    """The PTB Application; every request its bot makes goes through ``pacing`` (the one
    gate the outbox dispatcher shares), so handler replies and alerts share each chat's
    allowance and a 429 is waited out rather than raised to the handler."""
    settings = services.settings
    pacing = pacing or Pacing.from_settings(settings.delivery)
    if not settings.token:
        raise RuntimeError("no Telegram token: set FOSTERBOT_TELEGRAM_TOKEN")
    timeout = settings.telegram.request_timeout_seconds
    # getUpdates: decodes the updates already in hand no more (bot/runtime/updates_request.py)
    updates_request = UpdatesRequest(read_timeout=timeout + 40, connect_timeout=timeout)
    builder = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.telegram.api_base_url)
        .base_file_url(settings.telegram.base_file_url)
        .context_types(ContextTypes(context=BotContext))
        .concurrent_updates(PerChatUpdateProcessor(64, metrics=services.metrics))
        .request(AiohttpRequest(connection_pool_size=32, read_timeout=timeout,
                                write_timeout=timeout, connect_timeout=timeout))
        .get_updates_request(updates_request)
        .rate_limiter(SharedRateLimiter(
            pacing, metrics=services.metrics,
            handoff=Handoff(services.db, services.clock, services.wake_dispatcher)))
    )
    app = builder.build()
    app.bot_data["services"] = services
    app.bot_data[UPDATES_REQUEST] = updates_request
    handlers.register(app)
    app.add_error_handler(error_handler)
    return app


@dataclass
class BotRunner:
    """Runs the bot without blocking: used by ``fosterbot run``, the demo and tests.

    Start: the application, the outbox dispatcher, the housekeeping loop, then
    the source of updates — our own polling loop, or in webhook mode the
    webhook server (after ``setWebhook`` with the secret token); plus the
    ``/healthz`` server in polling mode when ``[health] port`` is set.
    Stop (SIGTERM) in the reverse order: stop taking updates (the updates or
    request in hand are finished), stop the housekeeping, let the dispatcher
    finish the sends on the wire and put back what it had claimed, then stop
    the application. ``run_forever`` closes the database last.
    """

    services: Services
    app: Application | None = None
    dispatcher: Dispatcher | None = None
    engine: EscalationEngine | None = None
    poller: Poller | None = None
    http: HttpServer | None = None
    housekeeper: Housekeeper | None = None
    cluster: Cluster | None = None
    budget: SendBudget | None = None  # several instances: the shared send budget
    # The one pacing gate; None: built from ``[delivery]`` on real time. A test gives one on a
    # clock it drives (Telegram's long "retry after" waits pass when the test says so).
    pacing: Pacing | None = None

    async def start(self, *, polling: bool = True, poll_interval: float = 0.0,
                    set_commands: bool = True) -> None:
        """``polling=False``: start everything but take no updates (tests feed them)."""
        settings = self.services.settings
        redaction.install([settings.token, settings.webhook_secret])  # before any request
        problems = webhook.config_problems(settings)
        if problems and polling:
            raise webhook.WebhookConfigError("; ".join(problems))
        pacing = self.pacing or Pacing.from_settings(settings.delivery)
        await check_policy_targets(self.services)
        self.app = build_application(self.services, pacing)
        await self.app.initialize()
        me = self.app.bot.bot
        self.services.bot_username = settings.telegram.bot_username or me.username
        self.dispatcher = Dispatcher.from_settings(
            self.services.db, self.app.bot, self.services.clock, settings.delivery,
            on_failure=functools.partial(rerouting.handle_failed_delivery,
                                         services=self.services),
            pacing=pacing, monotonic=pacing.clock, sleep=pacing.sleep,
            metrics=self.services.metrics,
        )
        if set_commands:
            try:
                await self.app.bot.set_my_commands(
                    COMMANDS + ([WEB_COMMAND] if settings.web.enabled else []))
            except Exception:  # noqa: BLE001 - a menu is a nicety
                log.warning("could not set the command menu", exc_info=True)
        await self.app.start()
        self.engine = EscalationEngine(self.services)
        self.housekeeper = Housekeeper(self.services)
        if self.services.db.is_postgres:
            # Several instances may share the database: one leads (bot/runtime/cluster.py).
            self.cluster = Cluster(settings.database.url, self.dispatcher.instance.id,
                                   on_elected=self._lead, on_deposed=self._follow,
                                   on_wake=self._woken)
            self.dispatcher.alive = self.cluster.is_alive
            d = settings.delivery
            self.budget = SendBudget(
                self.services.db, global_per_second=d.global_per_second,
                global_burst=d.global_burst, per_chat_per_second=d.per_chat_per_second,
                per_chat_burst=d.per_chat_burst)
            pacing.share(self.budget)
            self.services.cluster = self.cluster
            await self.cluster.start()
            if polling and settings.telegram.mode == "webhook":
                self.app.update_processor.shared = self.cluster.chat  # type: ignore[attr-defined]
        else:
            await self._lead()
        console = build_console(self.services) if settings.web.enabled else None
        if polling and settings.telegram.mode == "webhook":
            hook = settings.telegram.webhook
            self.http = HttpServer(self.services, listen=hook.listen, port=hook.port,
                                   app=self.app, path=hook.path, secret=settings.webhook_secret,
                                   console=console)
            await self.http.start()
            await self.app.bot.set_webhook(url=hook.url, secret_token=settings.webhook_secret,
                                           allowed_updates=Update.ALL_TYPES,
                                           drop_pending_updates=False)
        else:
            if settings.health.port or console is not None:
                await self._start_health_server(console)
            if polling:
                self.poller = Poller(self.app)
                await self.poller.start()
                self.services.poller = self.poller
        log.info("fosterbot running as @%s (%s)", self.services.bot_username,
                 settings.telegram.mode if polling else "no updates")

    async def _lead(self) -> None:
        """Run the dispatcher, the escalation engine and the housekeeping here (the only
        instance on SQLite; the elected one on PostgreSQL)."""
        assert self.app is not None and self.dispatcher is not None
        assert self.engine is not None and self.housekeeper is not None
        self.services.dispatcher = self.dispatcher
        await self.dispatcher.start()
        self.services.metrics.set_leader("dispatcher", True)
        self.services.engine = self.engine
        await self.engine.start(self.app.job_queue)
        self.services.metrics.set_leader("engine", True)
        await self.housekeeper.start()

    async def _follow(self) -> None:
        """Stop leading: the sends on the wire finish, claimed rows are put back."""
        self.services.engine = None
        self.services.dispatcher = None
        self.services.metrics.set_leader("engine", False)
        self.services.metrics.set_leader("dispatcher", False)
        if self.housekeeper is not None:
            await self.housekeeper.stop()
        if self.engine is not None:
            await self.engine.stop()
        if self.dispatcher is not None:
            await self.dispatcher.stop()

    def _woken(self, payload: str) -> None:
        """Another instance committed a delivery or a due time (``NOTIFY``)."""
        what, at = parse_wake(payload)
        if what == "outbox" and self.dispatcher is not None:
            self.dispatcher.wake()
        elif what == "engine" and self.engine is not None:
            if at is None:
                self.engine.wake()
            else:
                self.engine.due_at([at])

    async def _start_health_server(self, console=None) -> None:
        """The polling-mode health server, with the web console under /web when enabled
        (on ``[web] listen``/``port`` when ``[health] port`` is 0). A port that cannot be
        had is logged as an error but does not stop the bot: alerts matter more."""
        settings = self.services.settings
        listen, port = settings.health.listen, settings.health.port
        if not port:
            listen, port = settings.web.listen, settings.web.port
        server = HttpServer(self.services, listen=listen, port=port, console=console)
        try:
            await server.start()
        except OSError as exc:
            log.error("health check%s not served on %s:%s: %s",
                      " and web console" if console is not None else "", listen, port, exc)
            await server.stop()
            return
        self.http = server

    async def stop(self) -> None:
        if self.app is None:
            return
        if self.http is not None:
            self.http.stop_accepting()
        if self.poller is not None:
            await self.poller.stop()
            self.poller = None
            self.services.poller = None
        if self.http is not None:
            await self.http.stop()
            self.http = None
        if self.cluster is not None:
            await self.cluster.stop()  # steps down first when leading
            self.services.cluster = None
            self.cluster = None
        else:
            await self._follow()
        self.housekeeper = None
        self.engine = None
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()
        self.app = None
        if self.budget is not None:  # after the last request that drew on it
            await self.budget.close()
            self.budget = None


def make_services(settings: Settings, *, clock: Clock | None = None,
                  db: Database | None = None) -> Services:
    db = db or Database(settings.database.url)
    return Services(settings=settings, db=db, clock=clock or SystemClock(), handled=HandledLog(db))


def quiet_ptb_warnings() -> None:
    warnings.filterwarnings("ignore", category=PTBUserWarning, message=".*CallbackQueryHandler.*")


async def check_last_resort(services: Services) -> None:
    """``escalation.last_resort`` must name an active person or a rota in the directory.

    Unset, the bot still starts (a fresh install, the quick start) but says at once
    that a step nobody can take will reach nobody (``escalation_unreachable``)."""
    name = services.settings.last_resort
    if not name:
        log.error("escalation.last_resort is not set: a step that nobody in the chain can take "
                  "will reach nobody. Name a person or rota in [escalation] last_resort.")
        return
    async with services.db.read() as s:
        if not await oncall.exists(s, name):
            raise ConfigError(f"escalation.last_resort: no active person or rota {name!r} in "
                              "the directory")


async def check_notification_owners(services: Services) -> None:
    """``[notification]`` registered_manager, deputy and out_of_hours, when set, must name
    an active person or rota: a typo would silently hand the duty to the team manager."""
    n = services.settings.notification
    async with services.db.read() as s:
        for key in ("registered_manager", "deputy", "out_of_hours"):
            name = getattr(n, key)
            if name and not await oncall.exists(s, name):
                raise ConfigError(f"notification.{key}: no active person or rota {name!r} in "
                                  "the directory")


async def run_forever(services: Services) -> None:
    """``fosterbot run``: polling or webhook until SIGINT/SIGTERM, then a graceful stop."""

    await check_schema(services.settings.database.url)
    await check_last_resort(services)
    await check_notification_owners(services)
    # Catch SIGINT/SIGTERM before starting: one that arrives while the bot starts
    # (a supervisor stopping it early) must still mean a graceful stop once started.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # pragma: no cover - not on Linux
            pass
    runner = BotRunner(services)
    try:
        await runner.start()
    except BaseException:
        await runner.stop()
        await services.db.dispose()
        raise
    gc_tuning.settle()
    await stop.wait()
    log.info("stopping: no new updates; finishing in-flight work")
    await runner.stop()
    await services.db.dispose()
    log.info("stopped")
