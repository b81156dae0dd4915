"""Working-time arithmetic for the service's calendar.

Pure: no clock is read here. Every datetime going in must be timezone-aware
(any zone; it is converted) and every datetime coming out is aware UTC. Local
wall-clock times (working hours, closures, bank holidays) are interpreted in
the calendar's time zone with :mod:`zoneinfo`, so they stay right across the
daylight-saving changes.

Working time is, for each local date that is a working day (its weekday has
hours, it is not a configured closure, and — unless turned off — not an
England & Wales bank holiday), the half-open interval ``[start, end)`` of that
weekday's hours. 17:00 on a 09:00–17:00 day is therefore *not* working time,
but adding working time can end exactly at 17:00.

Adding a :class:`~bot.rules.durations.Duration` (:meth:`WorkingCalendar.add`):

* clock durations (``15m``, ``2d``) are plain UTC arithmetic — ``15m`` across
  a daylight-saving change is 15 real minutes, ``1d`` is 24 real hours;
* working hours / minutes consume working time only, starting at
  :meth:`~WorkingCalendar.next_working_start` (Fri 16:30 + 1 working hour =
  Mon 09:30, or Tue 09:30 when Monday is a bank holiday);
* working days: first move to :meth:`~WorkingCalendar.next_working_start`;
  then the result is the same local wall-clock time on the N-th working day
  after that day (Fri 16:00 + 1 working day = Mon 16:00; Sat 10:00 + 1
  working day = Tue 09:00, counting from Mon 09:00; Thu 18:00 + 1 working day
  = Mon 09:00, counting from Fri 09:00). When the target day has different
  hours the time is clamped into them (before its start → its start, after
  its end → its end).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.rules.durations import Duration

__all__ = ["DEFAULT_HOURS", "WorkingCalendar"]

#: Monday to Friday, 09:00–17:00.
DEFAULT_HOURS: dict[int, tuple[time, time]] = {wd: (time(9, 0), time(17, 0)) for wd in range(5)}

_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

#: How far ahead to look for working time before giving up (a calendar whose
#: every day is closed would otherwise loop for ever).
_SEARCH_LIMIT_DAYS = 3 * 366

_ONE_DAY = timedelta(days=1)


def _as_time(value: time | str, what: str) -> time:
    if isinstance(value, str):
        try:
            value = time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{what}: {value!r} is not a time such as '09:00'") from None
    if not isinstance(value, time):
        raise TypeError(f"{what}: expected a time, got {type(value).__name__}")
    if value.tzinfo is not None:
        raise ValueError(f"{what}: working hours are local wall-clock times, without a time zone")
    return value.replace(fold=0)


def _utc(at: datetime, name: str = "at") -> datetime:
    if not isinstance(at, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {at.isoformat()}")
    return at.astimezone(UTC)


class WorkingCalendar:
    """The service's working hours, closures and bank holidays.

    ``tz`` — IANA zone of the wall-clock times (default Europe/London).
    ``hours`` — weekday (0 = Monday … 6 = Sunday) → (start, end) local times,
    start before end; weekdays absent are not working days. ``time`` objects
    or ``"HH:MM"`` text. Default Monday–Friday 09:00–17:00.
    ``closures`` — extra local dates on which the service is closed.
    ``bank_holidays`` — treat England & Wales bank holidays (from the
    ``holidays`` package, loaded a year at a time when first needed) as closed.
    """

    def __init__(
        self,
        tz: str = "Europe/London",
        hours: Mapping[int, tuple[time | str, time | str]] | None = None,
        closures: Iterable[date] = (),
        bank_holidays: bool = True,
    ) -> None:
        try:
            self.zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {tz!r} (expected an IANA name such as 'Europe/London')"
            ) from None
        self.tz = tz
        if hours is None:
            hours = DEFAULT_HOURS
        checked: dict[int, tuple[time, time]] = {}
        for weekday, span in hours.items():
            if not isinstance(weekday, int) or isinstance(weekday, bool) or not 0 <= weekday <= 6:
                raise ValueError(
                    f"working hours: weekday must be 0 (Monday) to 6 (Sunday), got {weekday!r}"
                )
            try:
                raw_start, raw_end = span
            except (TypeError, ValueError):
                raise ValueError(f"working hours for {_WEEKDAY_NAMES[weekday]}: expected (start, end)") from None
            start = _as_time(raw_start, f"working hours for {_WEEKDAY_NAMES[weekday]}")
            end = _as_time(raw_end, f"working hours for {_WEEKDAY_NAMES[weekday]}")
            if not start < end:
                raise ValueError(
                    f"working hours for {_WEEKDAY_NAMES[weekday]}: start {start:%H:%M} "
                    f"must be before end {end:%H:%M}"
                )
            checked[weekday] = (start, end)
        if not checked:
            raise ValueError("working hours: at least one weekday must have working hours")
        self.hours: dict[int, tuple[time, time]] = dict(sorted(checked.items()))
        closed: set[date] = set()
        for d in closures:
            if isinstance(d, datetime) or not isinstance(d, date):
                raise TypeError(f"closures must be dates, got {d!r}")
            closed.add(d)
        self.closures: frozenset[date] = frozenset(closed)
        self.bank_holidays = bank_holidays
        self._holiday_years: dict[int, dict[date, str]] = {}

    def __repr__(self) -> str:
        return (
            f"WorkingCalendar(tz={self.tz!r}, hours={self.hours!r}, "
            f"closures={sorted(self.closures)!r}, bank_holidays={self.bank_holidays!r})"
        )

    # -- days -----------------------------------------------------------------
    def bank_holiday_name(self, d: date) -> str | None:
        """The England & Wales bank holiday on ``d``, if any (even when
        ``bank_holidays`` is off, so it can still be shown)."""
        year = self._holiday_years.get(d.year)
        if year is None:
            import holidays  # a heavy import: only when first needed

            loaded = holidays.country_holidays("GB", subdiv="ENG", years=d.year)
            year = {day: name for day, name in loaded.items() if day.year == d.year}
            self._holiday_years[d.year] = year
        return year.get(d)

    def is_working_day(self, d: date) -> bool:
        """Whether the local date ``d`` has working hours at all."""
        if isinstance(d, datetime):
            raise TypeError("is_working_day takes a local date, not a datetime")
        if d.weekday() not in self.hours or d in self.closures:
            return False
        return not (self.bank_holidays and self.bank_holiday_name(d) is not None)

    def _local_instant(self, d: date, t: time) -> datetime:
        return datetime.combine(d, t, tzinfo=self.zone).astimezone(UTC)

    def _interval(self, d: date) -> tuple[datetime, datetime] | None:
        """The working interval of local date ``d`` in UTC, or None."""
        if not self.is_working_day(d):
            return None
        start, end = self.hours[d.weekday()]
        return self._local_instant(d, start), self._local_instant(d, end)

    def _local_date(self, at_utc: datetime) -> date:
        return at_utc.astimezone(self.zone).date()

    # -- instants -------------------------------------------------------------
    def is_working_time(self, at: datetime) -> bool:
        at = _utc(at)
        span = self._interval(self._local_date(at))
        return span is not None and span[0] <= at < span[1]

    def next_working_start(self, at: datetime) -> datetime:
        """``at`` itself when it is working time, else the start of the next
        working period."""
        at = _utc(at)
        d = self._local_date(at)
        for _ in range(_SEARCH_LIMIT_DAYS):
            span = self._interval(d)
            if span is not None and at < span[1]:
                return max(at, span[0])
            d += _ONE_DAY
        raise ValueError(f"no working time within {_SEARCH_LIMIT_DAYS} days after {at.isoformat()}")

    def add(self, at: datetime, duration: Duration) -> datetime:
        """``at`` plus ``duration``; see the module docstring for the rules."""
        at = _utc(at)
        if not duration.working:
            return at + duration.amount
        if duration.unit == "day":
            return self._add_working_days(at, duration.count)
        return self._add_working_span(at, duration.amount)

    def _add_working_span(self, at: datetime, remaining: timedelta) -> datetime:
        cur = self.next_working_start(at)
        while True:
            span = self._interval(self._local_date(cur))
            assert span is not None and span[0] <= cur < span[1]
            available = span[1] - cur
            if remaining <= available:
                return cur + remaining
            remaining -= available
            cur = self.next_working_start(span[1])

    def _add_working_days(self, at: datetime, days: int) -> datetime:
        start_local = self.next_working_start(at).astimezone(self.zone)
        wall = start_local.time().replace(fold=0)
        d = start_local.date()
        skipped = 0
        while days:
            d += _ONE_DAY
            if self.is_working_day(d):
                days -= 1
                skipped = 0
            else:
                skipped += 1
                if skipped > _SEARCH_LIMIT_DAYS:
                    raise ValueError(f"no working time within {_SEARCH_LIMIT_DAYS} days after {at.isoformat()}")
        day_start, day_end = self.hours[d.weekday()]
        return self._local_instant(d, min(max(wall, day_start), day_end))

    def working_elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Working time between two instants (zero when ``end`` is not after
        ``start``)."""
        start = _utc(start, "start")
        end = _utc(end, "end")
        total = timedelta(0)
        if end <= start:
            return total
        d = self._local_date(start)
        last = self._local_date(end)
        while d <= last:
            span = self._interval(d)
            if span is not None:
                overlap = min(span[1], end) - max(span[0], start)
                if overlap > timedelta(0):
                    total += overlap
            d += _ONE_DAY
        return total

    def describe(self, at: datetime) -> str:
        """Short text for people: "working hours", "out of hours (weekend)",
        "out of hours (bank holiday: Christmas Day)", "out of hours (closed)",
        "out of hours (before 09:00)", "out of hours (after 17:00)"."""
        at = _utc(at)
        d = self._local_date(at)
        holiday = self.bank_holiday_name(d)
        if self.bank_holidays and holiday is not None and d.weekday() in self.hours:
            return f"out of hours (bank holiday: {holiday})"
        if d.weekday() not in self.hours:
            if d.weekday() >= 5:
                return "out of hours (weekend)"
            return f"out of hours (not a working day: {_WEEKDAY_NAMES[d.weekday()]})"
        if d in self.closures:
            return "out of hours (closed)"
        start, end = self.hours[d.weekday()]
        span = self._interval(d)
        assert span is not None
        if at < span[0]:
            return f"out of hours (before {start:%H:%M})"
        if at >= span[1]:
            return f"out of hours (after {end:%H:%M})"
        return "working hours"
