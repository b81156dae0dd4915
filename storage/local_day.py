"""The start of a local calendar day as a UTC moment, in SQL.

A child's chronology dates a placement by its day (``placements.start_date``), at the start
of that day in the service's time zone, and sorts it among moments stored in UTC. So that the
sort (and the cut to a page) can happen in the database, ``local_midnight(date_column, tz)``
gives that moment in SQL:

* PostgreSQL: ``CAST(d AS TIMESTAMP) AT TIME ZONE tz`` (its own copy of the IANA rules);
* SQLite: ``fosterbot_local_midnight(d, tz)``, a deterministic function registered on each
  connection (``storage/db.py``) that runs Python's ``zoneinfo``, the same rule as the
  chronology's ``_day_start``; it returns the text SQLAlchemy stores a datetime as, so the
  result compares with stored moments.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from storage.models import UTCDateTime

SQLITE_FUNCTION = "fosterbot_local_midnight"
# How SQLAlchemy's SQLite DateTime stores a moment (always with microseconds).
_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class local_midnight(FunctionElement):
    """``local_midnight(date_expr, "Europe/London")``: the UTC moment the day starts there."""

    type = UTCDateTime()
    inherit_cache = True
    name = "local_midnight"

    def __init__(self, day: Any, tz_name: Any) -> None:
        """``tz_name``: a zone's key, or a SQL expression (a bound parameter) giving one."""
        super().__init__(day, literal(tz_name, String) if isinstance(tz_name, str) else tz_name)


@compiles(local_midnight, "postgresql")
def _pg(element: local_midnight, compiler: Any, **kw: Any) -> str:
    day, tz = list(element.clauses)
    return (f"(CAST({compiler.process(day, **kw)} AS TIMESTAMP) AT TIME ZONE "
            f"{compiler.process(tz, **kw)})")


@compiles(local_midnight, "sqlite")
def _sqlite(element: local_midnight, compiler: Any, **kw: Any) -> str:
    day, tz = list(element.clauses)
    return f"{SQLITE_FUNCTION}({compiler.process(day, **kw)}, {compiler.process(tz, **kw)})"


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def sqlite_local_midnight(day: str | None, tz_name: str | None) -> str | None:
    """The SQLite function: ``'2026-07-01'``, ``'Europe/London'`` → ``'2026-06-30 23:00:00.000000'``."""
    if day is None or tz_name is None:
        return None
    start = datetime.combine(date.fromisoformat(day[:10]), time(0), tzinfo=_zone(tz_name))
    return start.astimezone(UTC).strftime(_SQLITE_FORMAT)


def register_sqlite(dbapi_conn: Any) -> None:
    """Make ``local_midnight`` available on a new SQLite connection."""
    dbapi_conn.create_function(SQLITE_FUNCTION, 2, sqlite_local_midnight, deterministic=True)
