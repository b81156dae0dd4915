"""The period a review page shows, from its ``from`` and ``to`` fields (``YYYY-MM-DD``, both
days included, local dates), as ``fosterbot stats --from --to`` reads them
(``bot/review/periods.py`` ``between``). Empty fields: the page's default span up to
today. A date that cannot be read, or a period the bot would refuse, is said on the page
(and the default period shown), never a server error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.review.periods import Period, PeriodError, between


@dataclass(frozen=True)
class Asked:
    period: Period
    first: date  # as shown in the form
    last: date
    error: str = ""


def _day(text: str | None) -> date | None:
    text = (text or "").strip()
    return date.fromisoformat(text) if text else None


def default_first(last: date, days: int | None, months: int | None) -> date:
    if months:
        first = last.replace(day=1)
        for _ in range(months - 1):
            first = (first - timedelta(days=1)).replace(day=1)
        return first
    return last - timedelta(days=(days or 30) - 1)


def asked(query, now: datetime, tz: ZoneInfo, *, days: int | None = 30,
          months: int | None = None) -> Asked:
    today = now.astimezone(tz).date()
    try:
        last = _day(query.get("to")) or today
        first = _day(query.get("from")) or default_first(last, days, months)
        period = between(first, last, now, tz)
        return Asked(period, first, last)
    except (ValueError, PeriodError) as exc:
        message = str(exc) if isinstance(exc, PeriodError) else \
            "Write dates as YYYY-MM-DD, for example 2026-11-01."
        first = default_first(today, days, months)
        return Asked(between(first, today, now, tz), first, today,
                     f"{message} Showing the default period instead.")
