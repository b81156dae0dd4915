"""Away and cover: ``/away <until> [cover]`` and ``/back`` for social workers.

While someone is away (``away_until`` in the future) routing and every
reminder send what they hold to their cover, else to the team's duty worker
(:func:`bot.rules.routing.holder_for`, the one rule). Decisions:

* ``until`` is a date ``2026-12-01`` (back at the start of that day's working
  hours, Europe/London; if that day is not a working day, the start of the next
  working day), ``tomorrow``, ``Nd`` (N days from today, same rule), or ``Nh``
  (exactly N hours from now, for part of a day). It must be in the future and
  within a year.
* A cover named with ``/away`` becomes the person's cover (as the directory's
  ``cover`` would); without one the existing cover stays. The cover must be an
  active social worker, supervising social worker, duty worker or team manager
  other than oneself. ``/back`` clears the absence and keeps the cover.
* Both are directory changes, audited as ``directory_changed`` (source
  ``/away`` or ``/back``). A later ``fosterbot directory import`` sets
  ``away_until`` and ``cover`` from the file again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.people import oncall
from bot.people.info import person_info
from bot.rules.roles import DUTY, SOCIAL_WORKER, SUPERVISING_SOCIAL_WORKER, TEAM_MANAGER
from bot.rules.routing import holder_for
from bot.texts import h, when
from storage import queries
from storage.models import Person, Team

if TYPE_CHECKING:
    from bot.services import Services

AWAY_ROLES = frozenset({SOCIAL_WORKER, SUPERVISING_SOCIAL_WORKER, DUTY, TEAM_MANAGER})
MAX_AWAY = timedelta(days=366)
USAGE = (
    "Use <code>/away UNTIL [COVER]</code>, for example <code>/away 2026-12-01</code>, "
    "<code>/away tomorrow</code>, <code>/away 3d sw-khan</code> or <code>/away 4h</code>. "
    "UNTIL is the date you are back (from the start of that working day), COVER the id of "
    "the colleague who covers for you. <code>/back</code> ends it early."
)
_DAYS = re.compile(r"^([1-9][0-9]{0,2})d$")
_HOURS = re.compile(r"^([1-9][0-9]{0,3})h$")


class AwayError(Exception):
    """The request cannot be done as asked; the message is for the person (plain text)."""


def parse_until(text: str, services: "Services", now: datetime) -> datetime:
    t = text.strip().lower()
    today = services.local(now).date()
    day: date | None = None
    if t == "tomorrow":
        day = today + timedelta(days=1)
    elif m := _DAYS.match(t):
        day = today + timedelta(days=int(m.group(1)))
    elif m := _HOURS.match(t):
        until = now + timedelta(hours=int(m.group(1)))
        return _check(until, now)
    else:
        try:
            day = date.fromisoformat(t)
        except ValueError:
            raise AwayError(f"I could not read {text!r} as a date.") from None
    midnight = datetime.combine(day, time(0), tzinfo=services.tz)
    return _check(services.calendar.next_working_start(midnight), now)


def _check(until: datetime, now: datetime) -> datetime:
    if until <= now:
        raise AwayError("That is not in the future. Give the day you are back, e.g. tomorrow.")
    if until - now > MAX_AWAY:
        raise AwayError("That is more than a year away; please ask an administrator instead.")
    return until


@dataclass
class AwayResult:
    person: Person
    until: datetime | None
    covered_by: Person | None  # who now has what this person holds
    covered_as: str | None  # "cover" | "duty"


async def who_covers(session: AsyncSession, person: Person,
                     now: datetime, tz: ZoneInfo) -> tuple[Person | None, str | None]:
    """Who would take an alert for ``person`` at ``now`` (the routing rule)."""

    team = await session.get(Team, person.team_id) if person.team_id else None
    tinfo = await oncall.team_at(session, team, now, tz)
    people = await queries.people_by_id(session, {person.id, person.cover_id or "",
                                                  tinfo.duty_id or ""})
    roles = await queries.roles_by_person(session, list(people))
    infos = {pid: person_info(p, roles.get(pid, frozenset())) for pid, p in people.items()}
    found = holder_for(person.id, tinfo, infos, now)
    if found is None:
        return None, None
    return people[found[0]], found[1]


async def _ensure_worker(session: AsyncSession, person: Person) -> None:
    if not (AWAY_ROLES & await queries.roles_of(session, person.id)):
        raise PermissionError("only social workers and managers can set themselves away")


async def set_away(session: AsyncSession, services: "Services", person: Person, *,
                   until: datetime, cover_id: str | None) -> AwayResult:
    """Mark ``person`` away until ``until``, optionally naming their cover."""
    now = services.clock.now()
    await _ensure_worker(session, person)
    if cover_id is not None:
        cover = await session.get(Person, cover_id)
        if cover is None or not cover.active:
            raise AwayError(f"There is no active colleague with the id {cover_id!r}.")
        if cover.id == person.id:
            raise AwayError("You cannot cover for yourself.")
        if not (AWAY_ROLES & await queries.roles_of(session, cover.id)):
            raise AwayError(f"{cover.name} is not a social worker or manager, so cannot cover.")
    me = await session.get(Person, person.id)
    assert me is not None
    before = {"away_until": me.away_until, "cover": me.cover_id}
    me.away_until = until
    if cover_id is not None:
        me.cover_id = cover_id
    me.updated_at = now
    await session.flush()
    await audit.record(session, "directory_changed", at=now, actor_id=me.id, source="/away",
                       person=me.id, away_until=until, cover=me.cover_id, before=before)
    covered_by, as_ = await who_covers(session, me, now, services.tz)
    return AwayResult(me, until, covered_by, as_)


async def set_back(session: AsyncSession, services: "Services", person: Person) -> AwayResult:
    now = services.clock.now()
    await _ensure_worker(session, person)
    me = await session.get(Person, person.id)
    assert me is not None
    was = me.away_until
    me.away_until = None
    me.updated_at = now
    await session.flush()
    await audit.record(session, "directory_changed", at=now, actor_id=me.id, source="/back",
                       person=me.id, away_until=None, before={"away_until": was})
    return AwayResult(me, None, None, None)


def away_confirmation(result: AwayResult, tz: ZoneInfo) -> str:
    """What /away answers: until when, and who takes the alerts meanwhile (HTML, escaped)."""
    lines = [f"🏖 You are marked away until <b>{when(result.until, tz)}</b>."]
    if result.covered_by is not None:
        label = "your cover" if result.covered_as == "cover" else "the duty social worker"
        lines.append(f"New alerts and reminders about your children go to "
                     f"<b>{h(result.covered_by.name)}</b> ({label}) until then.")
    else:
        lines.append("⚠️ Nobody can take your alerts while you are away (no cover and no duty "
                     "worker on Telegram): they go to your team manager. Please arrange cover.")
    lines.append("Send /back when you return early.")
    return "\n".join(lines)
