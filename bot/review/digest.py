"""The morning digest: each team manager's needs-action list, once a working day.

At the start of working time (or ``[digest] time``) on a working day, each
active, linked team manager is sent the needs-action list of the teams they
manage (the same list and scope as ``/overdue``) through the outbox; a manager
with nothing late gets nothing. The notification owners (``[notification]``
registered manager, deputy, out-of-hours owner) get it too, with every overdue
notification without a report (a DBS referral) besides their teams' reports. The day is inserted into ``digest_days`` in the
same transaction as the messages, and only the transaction whose insert made the
row sends, so the digest runs once a day whatever restarts or second processes do. If the bot is down at that
time, the digest goes when it is back, the same day. The housekeeping loop
calls :func:`run` with the injected clock.
"""

from __future__ import annotations

import logging
from datetime import datetime, time
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.delivery.outbox import enqueue
from bot.record import notification
from bot.review import needs, render
from bot.review.lists import team_label
from storage.models import DigestDay, Person, Team

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

DIGEST_PRIORITY = 6  # after alerts, receipts and reminders
OWNER_LABEL = "the fostering service's notifications"  # a notification owner with no team


def due_at(services: "Services", now: datetime) -> datetime | None:
    """When today's digest falls due (UTC), or None on a day without working hours."""
    local = services.local(now)
    day = local.date()
    calendar = services.calendar
    if not calendar.is_working_day(day):
        return None
    at = services.settings.digest.at()
    if at is not None:
        return datetime.combine(day, at, tzinfo=services.tz).astimezone(now.tzinfo)
    midnight = datetime.combine(day, time(0, 0), tzinfo=services.tz)
    return calendar.next_working_start(midnight)


async def _claim(session: AsyncSession, day: str, now: datetime) -> bool:
    """Mark ``day`` as the digest's (True), unless it already is (another process, or a
    run before a restart, sent it)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(DigestDay)
    result = await session.execute(ins.values(day=day, sent_at=now)
                                   .on_conflict_do_nothing(index_elements=["day"]))
    return result.rowcount == 1


async def run(services: "Services", now: datetime) -> int:
    """Send today's digests if they are due and not yet sent; how many were written."""
    if not services.settings.digest.enabled:
        return 0
    due = due_at(services, now)
    if due is None or now < due:
        return 0
    day = services.local(now).date().isoformat()
    async with services.db.read() as s:  # the usual case, without taking the write lock
        done = (await s.execute(select(DigestDay.day).where(DigestDay.day == day))
                ).scalar_one_or_none()
    if done is not None:
        return 0
    sent = 0
    async with services.db.write() as s:
        if not await _claim(s, day, now):
            return 0
        manager_ids = set((await s.execute(
            select(Team.manager_id).where(Team.manager_id.is_not(None)))).scalars())
        owners = notification.owners(services)
        manager_ids |= owners
        managers = (await s.execute(
            select(Person).where(Person.id.in_(sorted(manager_ids)), Person.active.is_(True),
                                 Person.telegram_chat_id.is_not(None)).order_by(Person.id)
        )).scalars().all()
        for manager in managers:
            scope = await services.access.managed_team_ids(s, manager)
            events = await services.access.event_scope(s, manager, owners)
            if not scope and events is not None and not events:
                continue
            result = await needs.needs_action(
                s, scope, now, events=events,
                owner_id=services.settings.notification.registered_manager)
            if not result.anything:
                continue
            label = await team_label(s, scope) if scope else OWNER_LABEL
            await enqueue(s, key=f"digest:{manager.id}:{day}", kind="digest", now=now,
                          person=manager, priority=DIGEST_PRIORITY,
                          text=render.digest_text(services, result, label))
            await audit.record(s, "digest_sent", at=now, to=manager.id, day=day,
                               reports=result.total,
                               incidents=[i.incident.id for i in result.items],
                               notifications_without_report=result.events_total)
            sent += 1
    if sent:
        log.info("digest: sent to %d manager(s) for %s", sent, day)
        services.wake_dispatcher()
    return sent
