"""Durations as written in the configuration.

Two kinds exist:

* clock time — ``90s``, ``15m``, ``4h``, ``2d``: a fixed span of real time;
* working time — ``1 working day``, ``3 working days``, ``3 working hours``,
  ``30 working minutes``: counted only inside the service's working hours
  (see :mod:`bot.rules.workhours`, which does the arithmetic).

A working day is not 24 hours, so a working duration keeps its count and unit
(``day`` / ``hour`` / ``minute``); ``amount`` is then ``count`` times one unit
(``3 working days`` has ``amount == timedelta(days=3)``) and only carries the
count. A clock duration keeps the unit it was written in so that ``str()``
gives back the same text (``90s`` stays ``90s``).

This module is pure: no clock, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

__all__ = [
    "ACCEPTED_FORMS",
    "Duration",
    "DurationField",
    "parse_duration",
]

ACCEPTED_FORMS = (
    "'90s', '15m', '4h', '2d' (clock time) or "
    "'1 working day', '3 working days', '3 working hours', '30 working minutes' "
    "(working time)"
)

#: clock units as written -> one unit of time
_CLOCK_UNITS: dict[str, timedelta] = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
}

#: working units -> one unit, used only to carry the count in ``amount``
_WORKING_UNITS: dict[str, timedelta] = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}

#: nothing longer than this is accepted (a typo such as "15d" for "15m" is
#: plausible; ten years is not a plausible escalation delay)
MAX_AMOUNT = timedelta(days=3650)

_CLOCK_RE = re.compile(r"^\s*(?P<n>[0-9]+)\s*(?P<unit>[smhd])\s*$", re.IGNORECASE | re.ASCII)
_WORKING_RE = re.compile(
    r"^\s*(?P<n>[0-9]+)\s+working\s+(?P<unit>day|hour|minute)s?\s*$", re.IGNORECASE | re.ASCII
)


def _bad(text: object, why: str) -> ValueError:
    return ValueError(f"invalid duration {text!r}: {why}; accepted forms: {ACCEPTED_FORMS}")


@dataclass(frozen=True)
class Duration:
    """A positive span of clock time or of working time.

    ``amount`` — the span for clock durations; ``count`` × one ``unit`` for
    working durations.
    ``working`` — True for working time.
    ``unit`` — ``"s"``, ``"m"``, ``"h"`` or ``"d"`` for clock time;
    ``"minute"``, ``"hour"`` or ``"day"`` for working time.
    """

    amount: timedelta
    working: bool
    unit: str

    def __post_init__(self) -> None:
        units = _WORKING_UNITS if self.working else _CLOCK_UNITS
        if self.unit not in units:
            raise ValueError(
                f"unknown {'working' if self.working else 'clock'} duration unit "
                f"{self.unit!r} (expected one of {', '.join(units)})"
            )
        if not isinstance(self.amount, timedelta):
            raise TypeError(f"Duration.amount must be a timedelta, not {type(self.amount).__name__}")
        if self.amount <= timedelta(0):
            raise ValueError(f"a duration must be positive, got {self.amount}")
        if self.amount % units[self.unit]:
            raise ValueError(f"amount {self.amount} is not a whole number of {self.unit!r} units")
        if self.amount > MAX_AMOUNT:
            raise ValueError(f"a duration may be at most {MAX_AMOUNT.days} days, got {self.amount}")

    # -- constructors -----------------------------------------------------
    @classmethod
    def clock(cls, count: int, unit: str = "s") -> Duration:
        """``Duration.clock(15, "m")`` is ``15m``."""
        if unit not in _CLOCK_UNITS:
            raise ValueError(f"unknown clock unit {unit!r}")
        return cls(_CLOCK_UNITS[unit] * int(count), False, unit)

    @classmethod
    def working_time(cls, count: int, unit: str) -> Duration:
        """``Duration.working_time(2, "day")`` is ``2 working days``."""
        if unit not in _WORKING_UNITS:
            raise ValueError(f"unknown working unit {unit!r}")
        return cls(_WORKING_UNITS[unit] * int(count), True, unit)

    @classmethod
    def from_timedelta(cls, span: timedelta) -> Duration:
        """A clock duration in the largest unit that divides ``span`` exactly."""
        if span <= timedelta(0):
            raise ValueError(f"a duration must be positive, got {span}")
        for unit in ("d", "h", "m", "s"):
            if not span % _CLOCK_UNITS[unit]:
                return cls(span, False, unit)
        raise ValueError(f"a duration must be a whole number of seconds, got {span}")

    # -- accessors ----------------------------------------------------------
    @property
    def count(self) -> int:
        """How many units: 3 for ``3 working days``, 90 for ``90s``."""
        units = _WORKING_UNITS if self.working else _CLOCK_UNITS
        return self.amount // units[self.unit]

    def __str__(self) -> str:
        n = self.count
        if self.working:
            return f"{n} working {self.unit}{'' if n == 1 else 's'}"
        return f"{n}{self.unit}"

    def __repr__(self) -> str:
        return f"Duration({str(self)!r})"


def parse_duration(text: str) -> Duration:
    """Parse ``90s`` / ``15m`` / ``4h`` / ``2d`` or ``N working day(s)|hour(s)|minute(s)``.

    Case and surrounding spaces are ignored; ``1 working days`` is accepted
    like ``1 working day``. Raises :class:`ValueError` quoting the text and
    listing the accepted forms when the text is not one of them, or when the
    duration is zero or longer than ten years.
    """
    if not isinstance(text, str):
        raise _bad(text, f"expected text, got {type(text).__name__}")
    m = _CLOCK_RE.match(text)
    working = False
    if m is None:
        m = _WORKING_RE.match(text)
        working = True
    if m is None:
        if text.strip().startswith("-"):
            raise _bad(text, "a duration cannot be negative")
        raise _bad(text, "not a recognised duration")
    count = int(m.group("n"))
    unit = m.group("unit").lower()
    if count == 0:
        raise _bad(text, "a duration must be greater than zero")
    one = (_WORKING_UNITS if working else _CLOCK_UNITS)[unit]
    if count > MAX_AMOUNT // one:
        raise _bad(text, f"longer than the maximum of {MAX_AMOUNT.days} days")
    return Duration(one * count, working, unit)


def _coerce(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, timedelta) and not isinstance(value, bool):
        try:
            return Duration.from_timedelta(value)
        except ValueError as exc:
            raise _bad(value, str(exc)) from None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # A bare number is ambiguous (minutes? seconds?), so it is refused.
        raise _bad(value, "a bare number is ambiguous, write it as text with its unit")
    raise _bad(value, f"expected text, got {type(value).__name__}")


#: Use as a pydantic v2 field type: accepts the text forms (or a ``Duration``)
#: and serialises back to the canonical text.
DurationField = Annotated[
    Duration,
    BeforeValidator(_coerce),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "description": f"a duration: {ACCEPTED_FORMS}",
            "examples": ["15m", "4h", "2 working days"],
        }
    ),
]
