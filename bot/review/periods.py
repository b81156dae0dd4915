"""Periods for /stats and /export, written the way a manager would type them.

Accepted (local dates, Europe/London by default):

* nothing — the last 30 days up to now;
* ``7d``, ``30d``, ``4w`` — that many days or weeks up to now;
* ``2026-11`` — a calendar month; ``2026`` — a calendar year;
* ``2026-11-01`` — from that day to now; ``2026-11-01 2026-11-30`` — from the
  first day to the end of the second, both included.

A period is half open, ``[start, end)``, in UTC. Dates are whole local days, so
a month is the same month whatever the season (daylight saving included).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

DEFAULT_DAYS = 30
MAX_DAYS = 3660
# Dates outside these years are refused with a clear message (9999 overflowed).
FIRST_YEAR = 2000
YEARS_AHEAD = 1

USAGE = ("Periods: 7d, 30d, 4w (up to now), 2026-11 (a month), 2026 (a year), "
         "2026-11-01 (from that day), or 2026-11-01 2026-11-30 (both days included).")


class PeriodError(ValueError):
    """The text is not a period; the message says what is accepted."""


@dataclass(frozen=True)
class Period:
    start: datetime  # UTC, included
    end: datetime  # UTC, excluded
    label: str  # for people: "1 Nov 2026 – 30 Nov 2026"

    def slug(self, tz: ZoneInfo) -> str:
        """For file names: 2026-11-01_2026-11-30 (local dates, end day included)."""
        first = self.start.astimezone(tz).date()
        last = (self.end - timedelta(microseconds=1)).astimezone(tz).date()
        return f"{first.isoformat()}_{last.isoformat()}"


def day_start(d: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0), tzinfo=tz).astimezone(timezone.utc)


def _fmt(d: date) -> str:
    return f"{d.day} {d:%b %Y}"


def _check_year(year: int, today: date) -> None:
    """Refuse years no record can have (9999 overflowed the date arithmetic)."""
    latest = today.year + YEARS_AHEAD
    if not FIRST_YEAR <= year <= latest:
        raise PeriodError(f"Choose dates between {FIRST_YEAR} and {latest} "
                          f"({year} is outside them).")


def _check_years(first: date, last: date, today: date) -> None:
    _check_year(first.year, today)
    _check_year(last.year, today)


def _dates(first: date, last: date, tz: ZoneInfo, today: date) -> Period:
    _check_years(first, last, today)
    if last < first:
        raise PeriodError(f"The period ends ({last}) before it starts ({first}).")
    if (last - first).days > MAX_DAYS:
        raise PeriodError("That period is too long (ten years at most).")
    return Period(day_start(first, tz), day_start(last + timedelta(days=1), tz),
                  f"{_fmt(first)} – {_fmt(last)}")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"{text!r} is not a date (write it as 2026-11-01). {USAGE}") from None


def parse_period(args: list[str] | tuple[str, ...], now: datetime, tz: ZoneInfo) -> Period:
    """The period the words name (see the module docstring)."""
    args = [a.strip() for a in args if a.strip()]
    today = now.astimezone(tz).date()
    if not args:
        args = [f"{DEFAULT_DAYS}d"]
    if len(args) > 2:
        raise PeriodError(USAGE)
    if len(args) == 2:
        return _dates(_date(args[0]), _date(args[1]), tz, today)
    text = args[0].lower()
    m = re.fullmatch(r"(\d{1,4})([dw])", text)
    if m:
        n = int(m.group(1)) * (7 if m.group(2) == "w" else 1)
        if not 1 <= n <= MAX_DAYS:
            raise PeriodError(f"Choose between 1 and {MAX_DAYS} days.")
        start = now - timedelta(days=n)
        # Up to and including this instant (the end is exclusive).
        return Period(start, now + timedelta(microseconds=1), f"the last {n} days ({_fmt(start.astimezone(tz).date())} – "
                                  f"{_fmt(today)})")
    m = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if m:
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(f"{text!r} is not a month. {USAGE}")
        _check_year(year, today)
        first = date(year, month, 1)
        nxt = date(year + (month == 12), month % 12 + 1, 1)
        p = _dates(first, nxt - timedelta(days=1), tz, today)
        return Period(p.start, p.end, f"{first:%B %Y}")
    if re.fullmatch(r"\d{4}", text):
        year = int(text)
        _check_year(year, today)
        p = _dates(date(year, 1, 1), date(year, 12, 31), tz, today)
        return Period(p.start, p.end, str(year))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return _dates(_date(text), today, tz, today)
    raise PeriodError(f"I do not understand {args[0]!r}. {USAGE}")


def between(first: date | None, last: date | None, now: datetime, tz: ZoneInfo) -> Period:
    """The command line's ``--from``/``--to`` (both optional, both days included)."""
    today = now.astimezone(tz).date()
    last = last or today
    _check_years(first or last, last, today)
    first = first or (last - timedelta(days=DEFAULT_DAYS - 1))
    return _dates(first, last, tz, today)
