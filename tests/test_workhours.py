"""Working-time arithmetic. Every expected value below was worked out by hand.

Calendar facts used (Europe/London, 2026):
- 2026-03-29 (Sun) clocks go forward 01:00 GMT -> 02:00 BST: 09:00 local on
  Mon 2026-03-30 is 08:00Z; before that date 09:00 local is 09:00Z.
- 2026-10-25 (Sun) clocks go back 02:00 BST -> 01:00 GMT: 09:00 local on
  Fri 2026-10-23 is 08:00Z; on Mon 2026-10-26 it is 09:00Z.
- Bank holidays (England & Wales): Good Friday 2026-04-03, Easter Monday
  2026-04-06, late summer 2026-08-31 (Mon), Christmas 2026-12-25 (Fri), Boxing
  Day 2026-12-26 is a Saturday so the substitute is Mon 2026-12-28, New Year
  2027-01-01 (Fri); in 2027 Christmas and Boxing Day fall at the weekend, so
  Mon 2027-12-27 and Tue 2027-12-28 are substitutes.
- 2026-11-27 is a Friday.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.rules.durations import parse_duration
from bot.rules.workhours import WorkingCalendar

LONDON = ZoneInfo("Europe/London")


def Z(y, mo, d, h=0, mi=0, s=0):
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


@pytest.fixture(scope="module")
def cal():
    return WorkingCalendar()


# --- bank holidays as the holidays package has them ---------------------------


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2026, 1, 1), "New Year's Day"),
        (date(2026, 4, 3), "Good Friday"),
        (date(2026, 4, 6), "Easter Monday"),
        (date(2026, 5, 4), "May Day"),
        (date(2026, 5, 25), "Spring Bank Holiday"),
        (date(2026, 8, 31), "Late Summer Bank Holiday"),
        (date(2026, 12, 25), "Christmas Day"),
        (date(2026, 12, 28), "Boxing Day (observed)"),
        (date(2027, 1, 1), "New Year's Day"),
        (date(2027, 12, 27), "Christmas Day (observed)"),
        (date(2027, 12, 28), "Boxing Day (observed)"),
        (date(2026, 11, 27), None),
        (date(2026, 12, 29), None),
    ],
)
def test_bank_holiday_names(cal, day, name):
    assert cal.bank_holiday_name(day) == name


def test_bank_holiday_years_are_loaded_lazily():
    c = WorkingCalendar()
    assert c._holiday_years == {}
    c.is_working_day(date(2031, 5, 5))
    assert set(c._holiday_years) == {2031}
    assert c.bank_holiday_name(date(2031, 5, 5)) == "May Day"


# --- working days ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 11, 27), True),  # Friday
        (date(2026, 11, 28), False),  # Saturday
        (date(2026, 11, 29), False),  # Sunday
        (date(2026, 11, 30), True),  # Monday
        (date(2026, 12, 24), True),
        (date(2026, 12, 25), False),  # Christmas Day
        (date(2026, 12, 28), False),  # Boxing Day substitute
        (date(2026, 12, 29), True),
        (date(2026, 8, 31), False),  # late summer bank holiday
        (date(2026, 9, 1), True),
        (date(2026, 4, 3), False),
        (date(2026, 4, 6), False),
        (date(2027, 1, 1), False),
        (date(2027, 12, 27), False),
        (date(2027, 12, 28), False),
        (date(2027, 12, 29), True),
    ],
)
def test_is_working_day(cal, day, working):
    assert cal.is_working_day(day) is working


def test_closures_and_bank_holidays_switch():
    c = WorkingCalendar(closures=[date(2026, 12, 29), date(2026, 12, 30)])
    assert not c.is_working_day(date(2026, 12, 29))
    assert not c.is_working_day(date(2026, 12, 30))
    assert c.is_working_day(date(2026, 12, 31))
    no_bh = WorkingCalendar(bank_holidays=False)
    assert no_bh.is_working_day(date(2026, 12, 25))
    assert no_bh.is_working_time(Z(2026, 12, 25, 12))
    assert no_bh.describe(Z(2026, 12, 25, 12)) == "working hours"


# --- working time ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "working"),
    [
        (Z(2026, 11, 27, 9), True),
        (Z(2026, 11, 27, 8, 59, 59), False),
        (Z(2026, 11, 27, 16, 59, 59), True),
        (Z(2026, 11, 27, 17), False),  # end is exclusive
        (Z(2026, 11, 28, 12), False),  # Saturday
        # summer time: 09:00-17:00 BST is 08:00-16:00Z
        (Z(2026, 3, 30, 8), True),
        (Z(2026, 3, 30, 7, 59), False),
        (Z(2026, 3, 30, 15, 59), True),
        (Z(2026, 3, 30, 16), False),
        (Z(2026, 3, 27, 8, 30), False),  # Friday before the change: still GMT
        (Z(2026, 3, 27, 16, 30), True),
        (Z(2026, 10, 23, 8), True),  # Friday before going back: BST
        (Z(2026, 10, 23, 16), False),
        (Z(2026, 10, 26, 8, 30), False),  # Monday after: GMT
        (Z(2026, 10, 26, 9), True),
        (Z(2026, 10, 26, 16, 30), True),
        # bank holidays
        (Z(2026, 12, 25, 12), False),
        (Z(2026, 12, 28, 12), False),
        (Z(2026, 8, 31, 11), False),
        (Z(2026, 12, 29, 12), True),
    ],
)
def test_is_working_time(cal, at, working):
    assert cal.is_working_time(at) is working


def test_accepts_any_aware_datetime(cal):
    # 09:30 London on Mon 2026-03-30 is 08:30Z
    assert cal.is_working_time(datetime(2026, 3, 30, 9, 30, tzinfo=LONDON))
    assert not cal.is_working_time(datetime(2026, 3, 30, 8, 30, tzinfo=LONDON))


def test_naive_datetimes_refused(cal):
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.is_working_time(datetime(2026, 11, 27, 12))
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add(datetime(2026, 11, 27, 12), parse_duration("1h"))
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.working_elapsed(Z(2026, 11, 27), datetime(2026, 11, 28))


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (Z(2026, 11, 27, 12), Z(2026, 11, 27, 12)),  # inside: itself
        (Z(2026, 11, 27, 8, 59), Z(2026, 11, 27, 9)),
        (Z(2026, 11, 27, 17), Z(2026, 11, 30, 9)),  # Fri close -> Mon
        (Z(2026, 11, 28, 10), Z(2026, 11, 30, 9)),
        (Z(2026, 3, 28, 12), Z(2026, 3, 30, 8)),  # Mon 09:00 BST
        (Z(2026, 3, 29, 1, 30), Z(2026, 3, 30, 8)),  # during the gap hour
        (Z(2026, 10, 25, 1, 30), Z(2026, 10, 26, 9)),  # during the repeated hour
        (Z(2026, 12, 24, 17), Z(2026, 12, 29, 9)),
        (Z(2026, 8, 30, 12), Z(2026, 9, 1, 8)),  # Tue 09:00 BST after bank holiday
    ],
)
def test_next_working_start(cal, at, expected):
    got = cal.next_working_start(at)
    assert got == expected
    assert got.tzinfo is UTC


# --- add ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "text", "expected"),
    [
        # clock durations: plain UTC arithmetic, weekends and holidays ignored
        (Z(2026, 11, 27, 16, 50), "15m", Z(2026, 11, 27, 17, 5)),
        (Z(2026, 12, 24, 23), "2h", Z(2026, 12, 25, 1)),
        (Z(2026, 11, 27, 12), "90s", Z(2026, 11, 27, 12, 1, 30)),
        # 00:50 GMT + 15 real minutes = 01:05Z (02:05 BST) on the spring change
        (Z(2026, 3, 29, 0, 50), "15m", Z(2026, 3, 29, 1, 5)),
        # 01:50 BST + 15 real minutes = 01:05 GMT on the autumn change
        (Z(2026, 10, 25, 0, 50), "15m", Z(2026, 10, 25, 1, 5)),
        # a clock day is 24 real hours even across a change
        (Z(2026, 3, 28, 12), "1d", Z(2026, 3, 29, 12)),
        (Z(2026, 10, 24, 12), "2d", Z(2026, 10, 26, 12)),
        # working hours / minutes
        (Z(2026, 11, 27, 16, 30), "1 working hour", Z(2026, 11, 30, 9, 30)),
        (Z(2026, 11, 27, 16), "1 working hour", Z(2026, 11, 27, 17)),  # ends at close
        (Z(2026, 11, 27, 10), "3 working hours", Z(2026, 11, 27, 13)),
        (Z(2026, 11, 30, 7), "30 working minutes", Z(2026, 11, 30, 9, 30)),
        (Z(2026, 11, 30, 9), "8 working hours", Z(2026, 11, 30, 17)),
        (Z(2026, 11, 30, 9), "9 working hours", Z(2026, 12, 1, 10)),
        (Z(2026, 11, 27, 9), "20 working hours", Z(2026, 12, 1, 13)),  # 8 Fri + 8 Mon + 4 Tue
        (Z(2026, 11, 28, 3), "1 working minute", Z(2026, 11, 30, 9, 1)),
        # bank holidays
        (Z(2026, 8, 28, 15, 30), "1 working hour", Z(2026, 9, 1, 8, 30)),  # Fri 16:30 BST -> Tue 09:30 BST
        (Z(2026, 12, 24, 16, 30), "1 working hour", Z(2026, 12, 29, 9, 30)),
        (Z(2026, 4, 2, 15, 30), "1 working hour", Z(2026, 4, 7, 8, 30)),  # Easter
        # DST with working hours
        (Z(2026, 10, 23, 15, 30), "1 working hour", Z(2026, 10, 26, 9, 30)),  # Fri 16:30 BST -> Mon 09:30 GMT
        (Z(2026, 3, 27, 16, 30), "1 working hour", Z(2026, 3, 30, 8, 30)),  # Fri 16:30 GMT -> Mon 09:30 BST
        (Z(2026, 3, 28, 12), "1 working minute", Z(2026, 3, 30, 8, 1)),
        # working days: same local time N working days later
        (Z(2026, 11, 27, 16), "1 working day", Z(2026, 11, 30, 16)),  # Fri 16:00 -> Mon 16:00
        (Z(2026, 11, 28, 10), "1 working day", Z(2026, 12, 1, 9)),  # Sat -> (Mon 09:00) -> Tue 09:00
        (Z(2026, 11, 26, 18), "1 working day", Z(2026, 11, 30, 9)),  # Thu 18:00 -> (Fri 09:00) -> Mon 09:00
        (Z(2026, 11, 27, 17), "1 working day", Z(2026, 12, 1, 9)),  # at close -> (Mon 09:00) -> Tue
        (Z(2026, 11, 26, 10), "5 working days", Z(2026, 12, 3, 10)),
        (Z(2026, 11, 26, 10, 15, 30), "2 working days", Z(2026, 11, 30, 10, 15, 30)),
        (Z(2026, 12, 23, 11), "2 working days", Z(2026, 12, 29, 11)),  # Thu 24, (25, 28 holidays) Tue 29
        (Z(2026, 8, 28, 10), "1 working day", Z(2026, 9, 1, 10)),  # Fri 11:00 BST -> Tue 11:00 BST
        (Z(2026, 10, 23, 15), "1 working day", Z(2026, 10, 26, 16)),  # Fri 16:00 BST -> Mon 16:00 GMT
        (Z(2026, 3, 27, 10), "1 working day", Z(2026, 3, 30, 9)),  # Fri 10:00 GMT -> Mon 10:00 BST
        (Z(2026, 3, 28, 10), "1 working day", Z(2026, 3, 31, 8)),  # Sat -> (Mon 09:00 BST) -> Tue 09:00 BST
    ],
)
def test_add(cal, at, text, expected):
    got = cal.add(at, parse_duration(text))
    assert got == expected
    assert got.tzinfo is UTC


def test_add_from_london_time_returns_utc(cal):
    got = cal.add(datetime(2026, 10, 23, 16, 30, tzinfo=LONDON), parse_duration("1 working hour"))
    assert got == Z(2026, 10, 26, 9, 30)
    assert got.tzinfo is UTC


def test_add_working_days_over_closures_and_new_year():
    c = WorkingCalendar(closures=[date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31)])
    # Thu 24 noon: Fri 25 and Mon 28 bank holidays, 29-31 closed, Fri 1 Jan bank holiday
    assert c.add(Z(2026, 12, 24, 12), parse_duration("1 working day")) == Z(2027, 1, 4, 12)
    assert c.add(Z(2026, 12, 24, 16), parse_duration("2 working hours")) == Z(2027, 1, 4, 10)


def test_add_working_day_clamps_to_shorter_day():
    # Friday closes at 16:30
    c = WorkingCalendar(hours={0: (time(9), time(17)), 1: (time(9), time(17)), 2: (time(9), time(17)),
                               3: (time(9), time(17)), 4: (time(9), time(16, 30))})
    assert c.add(Z(2026, 11, 26, 16, 45), parse_duration("1 working day")) == Z(2026, 11, 27, 16, 30)
    assert c.add(Z(2026, 11, 26, 16, 45), parse_duration("2 working days")) == Z(2026, 11, 30, 16, 45)
    # Fri 16:00 + 1 working hour: 30 min on Friday, 30 on Monday
    assert c.add(Z(2026, 11, 27, 16), parse_duration("1 working hour")) == Z(2026, 11, 30, 9, 30)


def test_custom_hours_with_saturday_and_text_times():
    c = WorkingCalendar(hours={0: ("08:30", "16:30"), 5: ("10:00", "13:00")})
    assert c.is_working_day(date(2026, 11, 28))  # Saturday
    assert not c.is_working_day(date(2026, 11, 27))  # Friday has no hours
    assert c.next_working_start(Z(2026, 11, 27, 12)) == Z(2026, 11, 28, 10)
    # Sat 12:30 + 1 working hour: 30 min Saturday, 30 min from Mon 08:30
    assert c.add(Z(2026, 11, 28, 12, 30), parse_duration("1 working hour")) == Z(2026, 11, 30, 9)
    assert c.describe(Z(2026, 11, 27, 12)) == "out of hours (not a working day: Friday)"
    assert c.describe(Z(2026, 11, 29, 12)) == "out of hours (weekend)"


def test_other_time_zone():
    c = WorkingCalendar(tz="America/New_York", bank_holidays=False)
    # 09:00 EST is 14:00Z
    assert c.is_working_time(Z(2026, 11, 27, 14))
    assert not c.is_working_time(Z(2026, 11, 27, 13, 59))


# --- working_elapsed ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (Z(2026, 11, 27, 16), Z(2026, 11, 30, 10), timedelta(hours=2)),  # over a weekend
        (Z(2026, 11, 27, 18), Z(2026, 11, 30, 8), timedelta(0)),
        (Z(2026, 11, 27, 12), Z(2026, 11, 27, 12), timedelta(0)),
        (Z(2026, 11, 30, 12), Z(2026, 11, 27, 12), timedelta(0)),  # reversed
        (Z(2026, 11, 27, 10, 15), Z(2026, 11, 27, 10, 45, 30), timedelta(minutes=30, seconds=30)),
        (Z(2026, 11, 30), Z(2026, 12, 7), timedelta(hours=40)),  # a whole week
        (Z(2026, 12, 24, 16), Z(2026, 12, 29, 10), timedelta(hours=2)),  # Christmas
        # 21 Dec - 3 Jan: 21-24 and 29-31 Dec are working days: 7 x 8 h
        (Z(2026, 12, 21), Z(2027, 1, 4), timedelta(hours=56)),
        # Fri 16:00-17:00 BST and Mon 09:00-10:00 GMT
        (Z(2026, 10, 23, 15), Z(2026, 10, 26, 10), timedelta(hours=2)),
        # Fri 16:00-17:00 GMT and Mon 09:00-10:00 BST (08:00-09:00Z)
        (Z(2026, 3, 27, 16), Z(2026, 3, 30, 9), timedelta(hours=2)),
    ],
)
def test_working_elapsed(cal, start, end, expected):
    assert cal.working_elapsed(start, end) == expected


@pytest.mark.parametrize(
    "text", ["1 working hour", "7 working hours", "45 working minutes", "20 working hours"]
)
@pytest.mark.parametrize("start", [Z(2026, 11, 27, 16, 30), Z(2026, 10, 23, 15, 30), Z(2026, 12, 24, 12)])
def test_elapsed_agrees_with_add(cal, start, text):
    d = parse_duration(text)
    end = cal.add(start, d)
    assert cal.working_elapsed(start, end) == d.amount


# --- describe ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "text"),
    [
        (Z(2026, 11, 27, 12), "working hours"),
        (Z(2026, 11, 28, 12), "out of hours (weekend)"),
        (Z(2026, 11, 29, 23), "out of hours (weekend)"),
        (Z(2026, 11, 27, 8), "out of hours (before 09:00)"),
        (Z(2026, 11, 27, 17), "out of hours (after 17:00)"),
        (Z(2026, 12, 25, 12), "out of hours (bank holiday: Christmas Day)"),
        (Z(2026, 12, 28, 12), "out of hours (bank holiday: Boxing Day (observed))"),
        (Z(2026, 8, 31, 12), "out of hours (bank holiday: Late Summer Bank Holiday)"),
        (Z(2026, 12, 26, 12), "out of hours (weekend)"),  # Boxing Day itself is a Saturday
        # 07:30Z on 2026-03-30 is 08:30 BST; 23:30Z on Sun 2026-03-29 is Mon 00:30 BST
        (Z(2026, 3, 30, 7, 30), "out of hours (before 09:00)"),
        (Z(2026, 3, 29, 23, 30), "out of hours (before 09:00)"),
        (Z(2026, 10, 23, 16, 30), "out of hours (after 17:00)"),
    ],
)
def test_describe(cal, at, text):
    assert cal.describe(at) == text


def test_describe_closure():
    c = WorkingCalendar(closures=[date(2026, 12, 29)])
    assert c.describe(Z(2026, 12, 29, 12)) == "out of hours (closed)"


# --- configuration errors -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tz": "Europe/Atlantis"}, "unknown time zone"),
        ({"hours": {}}, "at least one weekday"),
        ({"hours": {7: (time(9), time(17))}}, "weekday"),
        ({"hours": {0: (time(17), time(9))}}, "must be before"),
        ({"hours": {0: (time(9), time(9))}}, "must be before"),
        ({"hours": {0: ("nine", "17:00")}}, "not a time"),
    ],
)
def test_bad_configuration(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WorkingCalendar(**kwargs)


def test_all_closed_calendar_does_not_loop_forever():
    start = date(2026, 11, 30)
    c = WorkingCalendar(closures=[start + timedelta(days=i) for i in range(4 * 366)])
    with pytest.raises(ValueError, match="no working time"):
        c.next_working_start(Z(2026, 11, 30))
