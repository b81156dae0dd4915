"""Logs an operator can search: the update and incident a line is about, and JSON lines.

The update processor (``bot/runtime/update_processor.py``) opens a :func:`scope`
with the update's id around its handling, and the escalation engine one per
step; whoever learns the incident inside it (a report submitted, an
acknowledgement, a step run) calls :func:`set_incident` with its reference.
Context variables carry both to every log line written meanwhile, on any
logger, including tasks started from there.

``[logging] format = "json"`` (or ``FOSTERBOT_LOG_FORMAT=json``) writes one JSON
object per line through :class:`JsonFormatter`::

    {"time": "2026-11-25T10:00:01.123Z", "level": "INFO", "logger": "bot.app",
     "message": "…", "update_id": 100012, "incident": "INC-2026-000001"}

``update_id`` and ``incident`` appear only when known; an exception adds
``exception`` (its formatted traceback). Nothing else from the update is
written: never the text a person sent (no logger of ours logs it), and the
record factory of ``bot/runtime/redaction.py`` has already replaced the token
and webhook secret in the message and traceback before any formatter sees them.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_update_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "fosterbot_log_update_id", default=None)
_incident: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "fosterbot_log_incident", default=None)


@contextlib.contextmanager
def scope(*, update_id: int | None = None) -> Iterator[None]:
    """Lines written inside name this update (if given) and the incident set inside."""
    tokens = (_update_id.set(update_id), _incident.set(None))
    try:
        yield
    finally:
        _incident.reset(tokens[1])
        _update_id.reset(tokens[0])


def set_incident(reference: str | None) -> None:
    """The incident the work in hand is about (until the enclosing scope ends)."""
    _incident.set(reference)


def current() -> dict[str, object]:
    out: dict[str, object] = {}
    if (update_id := _update_id.get()) is not None:
        out["update_id"] = update_id
    if (incident := _incident.get()) is not None:
        out["incident"] = incident
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the update and incident."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(current())
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter(kind: str) -> logging.Formatter:
    """The formatter for ``[logging] format`` (``text`` or ``json``)."""
    if kind == "json":
        return JsonFormatter()
    return logging.Formatter(TEXT_FORMAT)
