"""The services a handler reaches through its context: settings, database, clock, engines.

Built once per process by ``bot/runtime/app.py``; tests build one with a fake clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.people.access import Access
from bot.clock import Clock
from bot.config import Settings
from bot.runtime.updates import HandledLog
from bot.rules.workhours import WorkingCalendar
from storage.db import Database
from storage.models import Incident


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
    calendar: WorkingCalendar = None  # type: ignore[assignment]
    access: Access = field(default_factory=Access)
    dispatcher: Any = None  # bot.delivery.outbox.Dispatcher once the bot is built
    engine: Any = None  # bot.engine.escalation.EscalationEngine once the bot runs
    bot_username: str = ""
    poller: Any = None  # bot.runtime.polling.Poller while the bot polls
    handled: HandledLog = None  # type: ignore[assignment]  # made here: one per process

    def __post_init__(self) -> None:
        if self.calendar is None:
            self.calendar = calendar_from(self.settings)
        self.tz = ZoneInfo(self.settings.service.timezone)
        if self.handled is None:
            self.handled = HandledLog(self.db)

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.tz)

    def today(self, now: datetime | None = None) -> date:
        return self.local(now or self.clock.now()).date()

    def wake_dispatcher(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()

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

    async def escalation_after_ack(self, session: AsyncSession, incident: Incident, now: datetime) -> None:
        """Acknowledgement stops the ladder; the outcome clock (if any) starts."""
        from bot.engine.escalation import after_ack

        await after_ack(session, self, incident, now)
