"""Reading "when did it happen?" as a carer types it.

A small, documented parser rather than a general library: the forms carers use
are few, and the answers must be predictable (a library that guesses
"21/11" as month/day, or "Tue" as next Tuesday, would put a wrong time on a
record). Everything is read in the service's time zone (Europe/London by
default) and returned in UTC.

Accepted (case-insensitive, a leading "at"/"on" ignored):

* ``now``, ``just now``
* relative: ``2 hours ago``, ``20 mins ago``, ``an hour ago``, ``half an hour ago``,
  ``1 day ago`` (computed on the UTC timeline, so a DST change in between is
  counted correctly);
* a day: ``today``, ``yesterday``, a weekday (``tue``, ``Tuesday``, ``last tue``),
  a date ``21/11``, ``21/11/2026``, ``21/11/26``, ``21-11-2026``, ``2026-11-21``
  (not ``21.11``: a dot means a time, as in ``14.30``), ``21 Nov``, ``21st November 2026``, ``Nov 21``;
* a time: ``14:30``, ``14.30``, ``6pm``, ``6:30pm``, ``6.30 pm``, ``10am``,
  ``noon``, ``midday``, ``midnight``;
* a day and a time in either order (``yesterday 6pm``, ``6pm yesterday``,
  ``21/11 14:30``, ``Tue 10am``, ``14:30 on 21/11``).

Decisions where nothing else says:

* Day-first dates (UK): ``01/02`` is 1 February.
* A date without a year is this year's, or last year's when this year's is more
  than a month ahead (on 2 January, ``30/12`` is last December; on 25 November,
  ``26/11`` is tomorrow, so it is refused as a future time rather than read as
  a year ago).
* A weekday is the most recent such day, today included; if that makes the
  time future, the same weekday a week earlier.
* A time alone means today.
* A day alone (``yesterday``) is not enough: the carer is asked for a time too
  (they can press Skip if they do not know it).
* A local time that does not exist (the hour skipped when clocks go forward) is
  refused; one that happens twice (when clocks go back) is taken as the first.
* Future times are refused (one minute of grace for clock differences), and so
  are times more than a year ago (almost always a typing slip).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

EXAMPLE = "for example “yesterday 6pm”, “21/11 14:30”, “today 9:15” or “2 hours ago”"
GRACE = timedelta(minutes=1)
OLDEST = timedelta(days=366)

_MONTHS = {
    m: i
    for i, names in enumerate(
        [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
         ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
         ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
         ("dec", "december")],
        start=1,
    )
    for m in names
}
_WEEKDAYS = {
    name: i
    for i, names in enumerate(
        [("mon", "monday"), ("tue", "tues", "tuesday"), ("wed", "weds", "wednesday"),
         ("thu", "thur", "thurs", "thursday"), ("fri", "friday"), ("sat", "saturday"),
         ("sun", "sunday")]
    )
    for name in names
}
_UNITS = {
    "min": 1, "mins": 1, "minute": 1, "minutes": 1, "m": 1,
    "hr": 60, "hrs": 60, "hour": 60, "hours": 60, "h": 60,
    "day": 1440, "days": 1440, "d": 1440,
}

_RELATIVE = re.compile(
    r"^(?P<n>\d{1,3}|an?|half an?)\s*(?P<unit>[a-z]+)\s+ago$"
)
_TIME = re.compile(
    r"(?<![\d/.:-])(?:(?P<h24>[01]?\d|2[0-3])[:.](?P<m24>[0-5]\d)(?!\s*[ap]\.?m)"
    r"|(?P<h12>1[0-2]|0?[1-9])(?:[:.](?P<m12>[0-5]\d))?\s*(?P<ampm>[ap])\.?m\.?"
    r"|(?P<word>noon|midday|midnight))(?![\d/])"
)
_NUMERIC_DATE = re.compile(
    r"(?<![\d:])(?:(?P<y>\d{4})-(?P<ym>\d{1,2})-(?P<yd>\d{1,2})"
    r"|(?P<d>\d{1,2})[/-](?P<m>\d{1,2})(?:[/-](?P<yy>\d{4}|\d{2}))?)(?![\d:])"
)
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WORD_DATE = re.compile(
    rf"\b(?:(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon>{_MONTH_NAMES})\.?"
    rf"|(?P<mon2>{_MONTH_NAMES})\.?\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?)"
    rf"(?:,?\s+(?P<y>\d{{4}}))?\b"
)
_WEEKDAY = re.compile(
    r"\b(?:last\s+)?(?P<wd>" + "|".join(sorted(_WEEKDAYS, key=len, reverse=True)) + r")\b\.?"
)
_DAYWORD = re.compile(r"\b(?P<w>today|yesterday|tonight)\b")
_FILLER = re.compile(r"\b(?:at|on|about|around|approx|approximately|ish|the|,)\b|,")


class WhenError(ValueError):
    """The text is not a time we can use; the message (with an example) is for the carer."""


def parse_when(text: str, now: datetime, tz: ZoneInfo | str = "Europe/London") -> datetime:
    """The moment ``text`` names, in UTC; ``now`` is an aware datetime."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    now = now.astimezone(timezone.utc)
    raw = " ".join((text or "").strip().lower().split())
    if not raw:
        raise WhenError(f"Please type a date and time, {EXAMPLE}.")
    if len(raw) > 60:
        raise WhenError(f"That is too long for a time. Please type just the date and time, {EXAMPLE}.")
    raw = re.sub(r"^(?:about|around|approx\.?|approximately)\s+", "", raw)
    if raw in ("now", "just now", "right now"):
        return now.replace(microsecond=0)

    rel = _RELATIVE.match(raw)
    if rel:
        return _check(_relative(rel, now), now, text)

    rest = raw
    day: date | None = None
    today = now.astimezone(zone).date()

    tm: time | None = None
    m = _TIME.search(rest)
    if m:
        tm = _time_of(m)
        rest = rest[: m.start()] + " " + rest[m.end():]

    for finder in (_day_word, _numeric_date, _word_date, _weekday):
        found = finder(rest, today)
        if found is not None:
            day, rest, weekday = found
            break
    else:
        weekday = False

    leftover = _FILLER.sub(" ", rest).strip(" .")
    if leftover:
        raise WhenError(f"I could not read “{text.strip()}” as a date and time. Please type it "
                        f"again, {EXAMPLE}.")
    if tm is None:
        raise WhenError(f"Please include the time as well, {EXAMPLE}. "
                        "If you do not know the time, press Skip.")
    if day is None:
        day = today
    at = _localise(datetime.combine(day, tm), zone, text)
    if weekday and at > now + GRACE:
        at = _localise(datetime.combine(day - timedelta(days=7), tm), zone, text)
    return _check(at, now, text)


def _relative(m: re.Match, now: datetime) -> datetime:
    n_text, unit = m.group("n"), m.group("unit")
    minutes = _UNITS.get(unit)
    if minutes is None:
        raise WhenError(f"I could not read “{m.group(0)}”. Please type it again, {EXAMPLE}.")
    if n_text.startswith("half"):
        amount = 0.5
    elif n_text in ("a", "an"):
        amount = 1
    else:
        amount = int(n_text)
    return (now - timedelta(minutes=amount * minutes)).replace(microsecond=0)


def _time_of(m: re.Match) -> time:
    if m.group("word"):
        return time(0, 0) if m.group("word") == "midnight" else time(12, 0)
    if m.group("h24") is not None:
        return time(int(m.group("h24")), int(m.group("m24")))
    hour = int(m.group("h12")) % 12
    if m.group("ampm") == "p":
        hour += 12
    return time(hour, int(m.group("m12") or 0))


def _day_word(rest: str, today: date):
    m = _DAYWORD.search(rest)
    if not m:
        return None
    day = today - timedelta(days=1) if m.group("w") == "yesterday" else today
    return day, rest[: m.start()] + " " + rest[m.end():], False


def _year_for(day: int, month: int, year: int | None, today: date) -> date:
    try:
        if year is not None:
            return date(year, month, day)
        candidate = date(today.year, month, day)
        if candidate - today > timedelta(days=31):
            candidate = date(today.year - 1, month, day)
        return candidate
    except ValueError:
        raise WhenError(f"There is no such date. Please type it again, {EXAMPLE}.") from None


def _numeric_date(rest: str, today: date):
    m = _NUMERIC_DATE.search(rest)
    if not m:
        return None
    if m.group("y"):
        day = _year_for(int(m.group("yd")), int(m.group("ym")), int(m.group("y")), today)
    else:
        yy = m.group("yy")
        year = None if yy is None else (int(yy) + 2000 if len(yy) == 2 else int(yy))
        if not 1 <= int(m.group("m")) <= 12:
            raise WhenError(f"Please write dates day first, {EXAMPLE}.")
        day = _year_for(int(m.group("d")), int(m.group("m")), year, today)
    return day, rest[: m.start()] + " " + rest[m.end():], False


def _word_date(rest: str, today: date):
    m = _WORD_DATE.search(rest)
    if not m:
        return None
    d = int(m.group("d") or m.group("d2"))
    month = _MONTHS[m.group("mon") or m.group("mon2")]
    year = int(m.group("y")) if m.group("y") else None
    return _year_for(d, month, year, today), rest[: m.start()] + " " + rest[m.end():], False


def _weekday(rest: str, today: date):
    m = _WEEKDAY.search(rest)
    if not m:
        return None
    back = (today.weekday() - _WEEKDAYS[m.group("wd")]) % 7
    return today - timedelta(days=back), rest[: m.start()] + " " + rest[m.end():], True


def _localise(naive: datetime, zone: ZoneInfo, text: str) -> datetime:
    """Local wall time → UTC; refuses the hour skipped when the clocks go forward."""
    local = naive.replace(tzinfo=zone, fold=0)
    as_utc = local.astimezone(timezone.utc)
    if as_utc.astimezone(zone).replace(tzinfo=None) != naive:
        raise WhenError(
            f"{naive:%H:%M} on {naive.day} {naive:%b} did not happen in the UK: the clocks went "
            "forward that night. Please check the time (for example 01:59 or 03:00)."
        )
    return as_utc


def _check(at: datetime, now: datetime, text: str) -> datetime:
    if at > now + GRACE:
        raise WhenError(f"“{text.strip()}” is in the future. Please give the time it happened, "
                        f"{EXAMPLE}.")
    if now - at > OLDEST:
        raise WhenError(f"“{text.strip()}” is more than a year ago. Please check the date, "
                        f"{EXAMPLE}.")
    return at
