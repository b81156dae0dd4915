"""What the bot counts for Prometheus: one :class:`Metrics` per running bot, its own registry.

Each application instance (``Services.metrics``) has its own
``CollectorRegistry``, not prometheus-client's global one, so several bots in
one process (the tests, the demo) never share or collide on a counter.
``GET /metrics`` (``bot/runtime/webhook.py``) renders it; the figures that live
in the database (the outbox backlog, the watchdog) are read at scrape time by
``bot/runtime/scrape.py`` and set here just before rendering.

The places that count call one method each (the update processor
:meth:`handling`, the outbox :meth:`delivery`, the engine :meth:`step_fired`,
the Bot API hook :meth:`telegram_request`), so the hooks stay one line.
Every metric is named ``fosterbot_…``; the README lists them with the alert
rules an operator should set (``deploy/prometheus-rules.yml``).

The result of an update is kept in a context variable while it is handled, so
the code further down that learns it (the duplicate check in
``handlers/updates.py``, the error handler in ``bot/app.py``) says what became
of it with :func:`mark_update`, without a handle on the metrics.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE  # noqa: F401 - re-exported
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import event

from storage.db import is_unavailable

# Update kinds we name; anything else is "other" (a bounded label set).
UPDATE_KINDS = ("message", "edited_message", "callback_query", "my_chat_member")
UPDATE_RESULTS = ("ok", "duplicate", "error", "database_unavailable")
DELIVERY_RESULTS = ("sent", "rate_limited", "retried", "rerouted", "failed", "cancelled")
LEADER_ROLES = ("dispatcher", "engine")

HANDLER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Lateness of an escalation step: a healthy engine runs them within a second or two.
LATENESS_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)


class _Outcome:
    __slots__ = ("result",)

    def __init__(self) -> None:
        self.result = "ok"


_current: contextvars.ContextVar[_Outcome | None] = contextvars.ContextVar(
    "fosterbot_update_outcome", default=None)


def mark_update(result: str) -> None:
    """Say what became of the update being handled (no-op outside one)."""
    outcome = _current.get()
    if outcome is not None:
        outcome.result = result


def update_kind(update: Any) -> str:
    for kind in UPDATE_KINDS:
        if getattr(update, kind, None) is not None:
            return kind
    return "other"


class Metrics:
    """The bot's counters, gauges and histograms, in a registry of its own."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.updates = Counter(
            "fosterbot_updates_handled", "Telegram updates handled, by kind and result "
            "(ok, duplicate, error, database_unavailable)", ["kind", "result"], registry=r)
        self.handler_seconds = Histogram(
            "fosterbot_handler_seconds", "Time to handle one update (after its chat's turn came)",
            ["kind"], buckets=HANDLER_BUCKETS, registry=r)
        self.deliveries = Counter(
            "fosterbot_deliveries", "Outbox deliveries by result (sent, rate_limited, retried, "
            "rerouted, failed, cancelled)", ["result"], registry=r)
        self.telegram_requests = Counter(
            "fosterbot_telegram_requests", "Bot API requests made, by method and result",
            ["method", "result"], registry=r)
        self.steps = Counter(
            "fosterbot_escalation_steps_fired", "Escalation steps run, by clock",
            ["clock"], registry=r)
        self.lateness = Histogram(
            "fosterbot_escalation_step_lateness_seconds",
            "How long after its due time each escalation step ran", ["clock"],
            buckets=LATENESS_BUCKETS, registry=r)
        self.database_errors = Counter(
            "fosterbot_database_errors", "Database errors (unavailable: server down, connection "
            "lost, lock time-out; other: a refused statement)", ["kind"], registry=r)
        self.leader = Gauge(
            "fosterbot_leader", "1 while this instance leads for the role", ["role"], registry=r)
        # Read from the database at scrape time (bot/runtime/scrape.py).
        self.backlog = Gauge(
            "fosterbot_outbox_backlog", "Deliveries pending (due now or waiting for a retry)",
            registry=r)
        self.backlog_due = Gauge(
            "fosterbot_outbox_due", "Deliveries pending and due now", registry=r)
        self.oldest_pending = Gauge(
            "fosterbot_outbox_oldest_pending_seconds",
            "Age of the oldest pending delivery (0 when none)", registry=r)
        self.watchdog_ok = Gauge(
            "fosterbot_watchdog_ok", "1 when no escalation step is late beyond the margin and "
            "the engine sweeps on time", registry=r)
        self.overdue_steps = Gauge(
            "fosterbot_escalation_overdue_steps",
            "Escalation steps due for longer than the late margin", registry=r)
        self.oldest_overdue = Gauge(
            "fosterbot_escalation_oldest_overdue_seconds",
            "How late the most overdue escalation step is (0 when none)", registry=r)
        self.database_up = Gauge(
            "fosterbot_database_up", "1 when the database answered the scrape", registry=r)
        # The children the hot path uses, looked up once (``labels()`` takes a lock each time).
        self._updates = {(kind, result): self.updates.labels(kind, result)
                         for kind in UPDATE_KINDS + ("other",) for result in UPDATE_RESULTS}
        self._handler_seconds = {kind: self.handler_seconds.labels(kind)
                                 for kind in UPDATE_KINDS + ("other",)}
        self._deliveries = {result: self.deliveries.labels(result)
                            for result in DELIVERY_RESULTS}
        self._requests: dict[tuple[str, str], Any] = {}
        for kind in ("unavailable", "other"):
            self.database_errors.labels(kind)
        for role in LEADER_ROLES:
            self.leader.labels(role).set(0)

    # -- the one-line hooks ----------------------------------------------------------
    @contextlib.contextmanager
    def handling(self, update: Any) -> Iterator[None]:
        """Around the handling of one update: its kind, result and latency."""
        outcome = _Outcome()
        token = _current.set(outcome)
        kind = update_kind(update)
        started = time.perf_counter()
        try:
            yield
        except BaseException:
            outcome.result = "error"
            raise
        finally:
            _current.reset(token)
            self._handler_seconds[kind].observe(time.perf_counter() - started)
            counter = self._updates.get((kind, outcome.result))
            (counter or self.updates.labels(kind, outcome.result)).inc()

    def delivery(self, result: str | None) -> None:
        """One outbox delivery's recorded result (None: nothing to count)."""
        counter = self._deliveries.get(result)  # type: ignore[arg-type]
        if counter is not None:
            counter.inc()

    def step_fired(self, clock: str, lateness: timedelta | None) -> None:
        self.steps.labels(clock).inc()
        if lateness is not None:
            self.lateness.labels(clock).observe(max(0.0, lateness.total_seconds()))

    def steps_fired(self, clock: str, count: int) -> None:
        """Steps run without a lateness of their own (the statutory task clocks)."""
        if count:
            self.steps.labels(clock).inc(count)

    def telegram_request(self, method: str, result: str) -> None:
        key = (method, result)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = self.telegram_requests.labels(method, result)
        counter.inc()

    def set_leader(self, role: str, leading: bool) -> None:
        """1 while this instance leads for ``role`` (``dispatcher``, ``engine``)."""
        self.leader.labels(role).set(1 if leading else 0)

    # -- the database -----------------------------------------------------------------
    def watch_database(self, engine: Any) -> None:
        """Count every error the database engine raises (SQLAlchemy's ``handle_error``)."""
        sync_engine = getattr(engine, "sync_engine", engine)

        def counted(context: Any) -> None:
            if getattr(context, "is_pre_ping", False):
                return  # a stale pooled connection, replaced without anyone noticing
            error = context.original_exception or context.sqlalchemy_exception
            kind = "unavailable" if error is not None and is_unavailable(error) else "other"
            self.database_errors.labels(kind).inc()

        event.listen(sync_engine, "handle_error", counted)

    # -- reading ----------------------------------------------------------------------
    def render(self) -> bytes:
        return generate_latest(self.registry)

    def value(self, name: str, **labels: str) -> float:
        """One sample's value (0 when absent): for tests and the demo."""
        got = self.registry.get_sample_value(name, labels)
        return 0.0 if got is None else got
