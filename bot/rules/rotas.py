"""On-call rotas: who is on call for a rota at a given moment (pure; no database).

A rota has members in turn order, a shift length (a day or a week), a handover
time of day (and, for weekly rotas, a weekday) in the service's time zone, and
the date on which the first member's first shift begins. Shift boundaries are
local wall-clock times built with ``zoneinfo``, so a handover at 17:00 stays at
17:00 across the clock changes (the shift over the change is an hour longer or
shorter). One-off overrides (``/swap``, or the directory file) put someone else
on call for a stretch of time; the latest-starting override in force wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

DAY, WEEK = "day", "week"


@dataclass(frozen=True)
class Override:
    person_id: str
    starts_at: datetime  # aware
    ends_at: datetime  # aware, after starts_at


@dataclass(frozen=True)
class RotaDef:
    id: str
    members: tuple[str, ...]
    shift: str  # day | week
    handover: time
    weekday: int | None  # 0 = Monday; weekly rotas only
    start: date  # the first member's first shift begins on this date at the handover time
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True)
class Shift:
    person_id: str
    starts_at: datetime  # aware, UTC
    ends_at: datetime
    override: bool = False  # someone standing in (swap / directory override)


def _at(day: date, handover: time, tz: ZoneInfo) -> datetime:
    # In UTC: aware datetimes sharing one tzinfo compare and subtract by wall time.
    return datetime.combine(day, handover, tzinfo=tz).astimezone(timezone.utc)


def _shift_start_day(rota: RotaDef, local: datetime) -> date:
    """The local date on which the regular shift in force at ``local`` began."""
    day = local.date()
    if rota.shift == DAY:
        return day if local.time() >= rota.handover else day - timedelta(days=1)
    weekday = rota.weekday if rota.weekday is not None else rota.start.weekday()
    back = (day.weekday() - weekday) % 7
    start = day - timedelta(days=back)
    if back == 0 and local.time() < rota.handover:
        start -= timedelta(days=7)
    return start


def regular_shift(rota: RotaDef, at: datetime, tz: ZoneInfo) -> Shift | None:
    """The regular (rota order) shift in force at ``at``; None before the rota starts."""
    if not rota.members:
        return None
    local = at.astimezone(tz)
    start_day = _shift_start_day(rota, local)
    length = 1 if rota.shift == DAY else 7
    index = (start_day - rota.start).days // length
    if index < 0:
        return None
    person = rota.members[index % len(rota.members)]
    return Shift(person, _at(start_day, rota.handover, tz),
                 _at(start_day + timedelta(days=length), rota.handover, tz))


def _override_at(rota: RotaDef, at: datetime) -> Override | None:
    live = [o for o in rota.overrides if o.starts_at <= at < o.ends_at]
    return max(live, key=lambda o: o.starts_at) if live else None


def on_call(rota: RotaDef, at: datetime, tz: ZoneInfo) -> Shift | None:
    """Who is on call at ``at`` (an override in force, else the regular shift), and until when."""
    regular = regular_shift(rota, at, tz)
    o = _override_at(rota, at)
    if o is None:
        if regular is None:
            return None
        # An override starting during this shift ends it early.
        cut = min((x.starts_at for x in rota.overrides if at < x.starts_at < regular.ends_at),
                  default=regular.ends_at)
        return Shift(regular.person_id, regular.starts_at, cut)
    return Shift(o.person_id, o.starts_at.astimezone(timezone.utc),
                 o.ends_at.astimezone(timezone.utc), override=True)


def upcoming(rota: RotaDef, at: datetime, tz: ZoneInfo, count: int = 2) -> list[Shift]:
    """The shift in force at ``at`` and the ones after it (``count`` in all), overrides applied;
    consecutive stretches of the same person are merged."""
    out: list[Shift] = []
    t = at
    for _ in range(count * 4 + 4):
        s = on_call(rota, t, tz)
        if s is None:
            break
        if out and s.starts_at < t:  # a regular shift resuming after an override
            s = Shift(s.person_id, t.astimezone(timezone.utc), s.ends_at, s.override)
        if out and out[-1].person_id == s.person_id and out[-1].ends_at == s.starts_at:
            out[-1] = Shift(s.person_id, out[-1].starts_at, s.ends_at, out[-1].override or s.override)
        else:
            if len(out) == count:
                break
            out.append(s)
        t = s.ends_at
    return out[:count]


def overlaps(overrides: list[tuple[int, Override]]) -> list[tuple[int, int]]:
    """Pairs of overrides (by the caller's index) whose times overlap."""
    pairs = []
    items = sorted(overrides, key=lambda x: x[1].starts_at)
    for i, (a_idx, a) in enumerate(items):
        for b_idx, b in items[i + 1:]:
            if b.starts_at < a.ends_at:
                pairs.append((a_idx, b_idx))
    return pairs
