"""The services a handler reaches through its context: settings, database, clock, engines.

Built once per process by ``bot.app.make_services``; tests build one with a
fake clock. The long-running parts (dispatcher, engine, poller, the handled-update
log) are set by the runtime that owns them; here they are typed by what the rest
of the code asks of them (``Protocol``), so this module depends on nothing above it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.config import Settings
from bot.metrics import Metrics
from bot.people.access import Access
from bot.people.limits import Limits
from bot.rules.workhours import WorkingCalendar
from storage.db import Database


class DispatcherHandle(Protocol):
    """The outbox dispatcher (``bot.delivery.outbox.Dispatcher``) as others use it."""

    sent_count: int
    rate_limited_count: int

    @property
    def in_memory(self) -> int: ...

    def wake(self) -> None: ...


class EngineHandle(Protocol):
    """The escalation engine (``bot.engine.escalation.EscalationEngine``) as others use it."""

    def wake(self) -> None: ...

    def due_at(self, times: Iterable[datetime | None]) -> None: ...

    async def health(self) -> dict[str, Any]: ...


class PollerHandle(Protocol):
    """The polling loop (``bot.runtime.polling.Poller``) as the health check sees it."""

    @property
    def running(self) -> bool: ...


class ClusterHandle(Protocol):
    """Other instances on the same PostgreSQL database (``bot.runtime.cluster.Cluster``)."""

    def wake_leader(self, what: str, at: datetime | None = None) -> None: ...


class HandledUpdates(Protocol):
    """Where handled update ids are recorded (``bot.runtime.updates.HandledLog``)."""

    async def add(self, handled: Any) -> None: ...


def calendar_from(settings: Settings) -> WorkingCalendar:
    return WorkingCalendar(
        tz=settings.service.timezone,
        hours=settings.hours.weekly(),
        closures=settings.hours.closures,
        bank_holidays=settings.hours.bank_holidays,
    )


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    handled: HandledUpdates
    access: Access = field(default_factory=Access)
    dispatcher: DispatcherHandle | None = None
    engine: EngineHandle | None = None
    poller: PollerHandle | None = None
    # Set when several instances may share the database (PostgreSQL): an instance that does
    # not lead has no dispatcher or engine and wakes the leader's instead.
    cluster: ClusterHandle | None = None
    bot_username: str = ""
    metrics: Metrics = field(default_factory=Metrics)  # this instance's own registry
    calendar: WorkingCalendar = field(init=False)  # working hours, from the settings
    tz: ZoneInfo = field(init=False)
    limits: Limits = field(init=False)  # abuse limits (strangers, commands)

    def __post_init__(self) -> None:
        self.calendar = calendar_from(self.settings)
        self.tz = ZoneInfo(self.settings.service.timezone)
        self.limits = Limits(stranger_window=self.settings.limits.stranger_window.amount,
                             commands_per_minute=self.settings.limits.commands_per_minute)
        self.metrics.watch_database(self.db.engine)

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.tz)

    def today(self, now: datetime | None = None) -> date:
        return self.local(now or self.clock.now()).date()

    def wake_dispatcher(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()
        elif self.cluster is not None:
            self.cluster.wake_leader("outbox")

    def wake_engine(self, *due: datetime | None) -> None:
        """After a commit that may bring an escalation step forward (a report, an ack).

        With the due times the commit set (a new report's clocks), the engine only
        brings its timer forward when nothing is due yet (``EscalationEngine.due_at``);
        without them it runs a pass."""
        if self.engine is not None:
            if due:
                self.engine.due_at(due)
            else:
                self.engine.wake()
        elif self.cluster is not None:
            times = [t for t in due if t is not None]
            if not due or times:
                self.cluster.wake_leader("engine", min(times) if times else None)
