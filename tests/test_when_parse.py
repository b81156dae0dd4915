"""Reading "when did it happen?": a table of inputs, Europe/London, around DST changes."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.rules.when_parse import WhenError, parse_when

UTC = timezone.utc
# Wednesday 25 November 2026, 10:00 GMT (= UTC).
NOV = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
# Sunday 29 March 2026, 13:00 BST: the clocks went forward at 01:00 GMT that morning.
SPRING = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)
# Sunday 25 October 2026, 12:00 GMT: the clocks went back at 02:00 BST that morning.
AUTUMN = datetime(2026, 10, 25, 12, 0, tzinfo=UTC)
# Wednesday 15 July 2026, 13:00 BST.
SUMMER = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


OK = [
    # (now, typed, expected UTC)
    (NOV, "now", utc(2026, 11, 25, 10, 0)),
    (NOV, "Just now", utc(2026, 11, 25, 10, 0)),
    (NOV, "yesterday 6pm", utc(2026, 11, 24, 18, 0)),
    (NOV, "6pm yesterday", utc(2026, 11, 24, 18, 0)),
    (NOV, "yesterday at 6.30 pm", utc(2026, 11, 24, 18, 30)),
    (NOV, "21/11 14:30", utc(2026, 11, 21, 14, 30)),
    (NOV, "14:30 on 21/11", utc(2026, 11, 21, 14, 30)),
    (NOV, "21/11/2026 14.30", utc(2026, 11, 21, 14, 30)),
    (NOV, "21/11/26 2:30pm", utc(2026, 11, 21, 14, 30)),
    (NOV, "21-11-2026 14:30", utc(2026, 11, 21, 14, 30)),
    (NOV, "2026-11-21 14:30", utc(2026, 11, 21, 14, 30)),
    (NOV, "21 Nov 14:30", utc(2026, 11, 21, 14, 30)),
    (NOV, "21st November 2026 2pm", utc(2026, 11, 21, 14, 0)),
    (NOV, "Nov 21, 9am", utc(2026, 11, 21, 9, 0)),
    (NOV, "1/2 10:00", utc(2026, 2, 1, 10, 0)),  # day first
    (NOV, "today 9:15", utc(2026, 11, 25, 9, 15)),
    (NOV, "9:15", utc(2026, 11, 25, 9, 15)),  # a time alone is today
    (NOV, "at 9am", utc(2026, 11, 25, 9, 0)),
    (NOV, "midnight", utc(2026, 11, 25, 0, 0)),
    (NOV, "noon yesterday", utc(2026, 11, 24, 12, 0)),
    (NOV, "2 hours ago", utc(2026, 11, 25, 8, 0)),
    (NOV, "about 20 mins ago", utc(2026, 11, 25, 9, 40)),
    (NOV, "an hour ago", utc(2026, 11, 25, 9, 0)),
    (NOV, "half an hour ago", utc(2026, 11, 25, 9, 30)),
    (NOV, "1 day ago", utc(2026, 11, 24, 10, 0)),
    (NOV, "Tue 10am", utc(2026, 11, 24, 10, 0)),
    (NOV, "last monday 18:00", utc(2026, 11, 23, 18, 0)),
    (NOV, "wed 9am", utc(2026, 11, 25, 9, 0)),  # today's weekday, earlier today
    (NOV, "wed 11am", utc(2026, 11, 18, 11, 0)),  # later today would be future: a week ago
    (NOV, "30/12 10:00", utc(2025, 12, 30, 10, 0)),  # no year: the most recent past one
    # Spring forward (29 Mar 2026): 01:00-02:00 local does not exist.
    (SPRING, "today 00:30", utc(2026, 3, 29, 0, 30)),  # still GMT
    (SPRING, "today 03:00", utc(2026, 3, 29, 2, 0)),  # BST
    (SPRING, "yesterday 6pm", utc(2026, 3, 28, 18, 0)),  # GMT
    (SPRING, "3 hours ago", utc(2026, 3, 29, 9, 0)),  # on the UTC timeline
    # Fall back (25 Oct 2026): 01:00-02:00 local happens twice; the first is taken.
    (AUTUMN, "today 01:30", utc(2026, 10, 25, 0, 30)),  # first 01:30, BST
    (AUTUMN, "today 00:30", utc(2026, 10, 24, 23, 30)),  # BST
    (AUTUMN, "today 3am", utc(2026, 10, 25, 3, 0)),  # GMT
    (AUTUMN, "yesterday 6pm", utc(2026, 10, 24, 17, 0)),  # BST
    (AUTUMN, "24/10 23:00", utc(2026, 10, 24, 22, 0)),
    (SUMMER, "today 10:00", utc(2026, 7, 15, 9, 0)),
    (SUMMER, "14/7 22:15", utc(2026, 7, 14, 21, 15)),
]


@pytest.mark.parametrize("now,typed,expected", OK, ids=[f"{n:%b}-{t}" for n, t, _ in OK])
def test_reads(now, typed, expected):
    assert parse_when(typed, now) == expected


BAD = [
    # (now, typed, words the refusal must contain)
    (NOV, "tomorrow 6pm", "could not read"),
    (NOV, "today 11:00", "in the future"),
    (NOV, "11:00", "in the future"),
    (NOV, "26/11 09:00", "in the future"),  # tomorrow's date this year: refused, not moved
    (NOV, "yesterday", "include the time"),
    (NOV, "21/11", "include the time"),
    (NOV, "25/13 10:00", "day first"),
    (NOV, "31/02 10:00", "no such date"),
    (NOV, "blah blah", "could not read"),
    (NOV, "3 weeks ago", "could not read"),
    (NOV, "21/11/2024 10:00", "more than a year ago"),
    (NOV, "", "type a date"),
    (NOV, "x" * 80, "too long"),
    (SPRING, "today 01:30", "clocks went forward"),
]


@pytest.mark.parametrize("now,typed,words", BAD, ids=[f"{n:%b}-{t[:20]}" for n, t, _ in BAD])
def test_refuses_with_an_example(now, typed, words):
    with pytest.raises(WhenError) as err:
        parse_when(typed, now)
    message = str(err.value)
    assert words in message
    if words not in ("clocks went forward",):
        assert "for example" in message
