"""What comes in from Telegram, before python-telegram-bot parses it.

* :func:`clean` strips NUL and the other control characters (C0 except tab and
  newline, DEL, C1) from every string of an update, so no text a person sends
  is stored with them: PostgreSQL refuses NUL in text columns outright (a
  description with one made Submit fail for ever), and the others are invisible
  in chat and a way to disguise text in the record. Applied by the polling loop
  and the webhook to every update, so every handler sees clean text.
* :func:`describe` names an update that cannot be parsed by its id and size only:
  its content is a person's words and must not reach the logs.
"""

from __future__ import annotations

import json
import re
from typing import Any

# C0 controls except tab (\x09) and newline (\x0a), DEL, and the C1 controls.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(text: str) -> str:
    return CONTROL_CHARS.sub("", text)


# The same characters as they appear in ``json.dumps(..., ensure_ascii=False)``: C0 as an
# escape (``\u00XX``, or ``\b`` ``\f`` ``\r``; tab and newline are ``\t`` ``\n``), DEL and C1
# as themselves. A literal backslash followed by such letters also matches: that only means
# the full walk runs, never that a control character is missed.
_CONTROL_IN_JSON = re.compile(r"\\u00[01]|\\[bfr]|[\x7f-\x9f]")


def clean(data: Any) -> Any:
    """``data`` (decoded JSON) with control characters removed from every string (``data``
    itself when it has none, as nearly every update: one C-coded dump and one search, not
    a walk in Python over every value)."""
    try:
        if not _CONTROL_IN_JSON.search(json.dumps(data, ensure_ascii=False)):
            return data
    except (TypeError, ValueError):
        pass  # not plain JSON: the walk below handles what it can
    return _walk(data)


def _walk(data: Any) -> Any:
    if isinstance(data, str):
        return clean_text(data) if CONTROL_CHARS.search(data) else data
    if isinstance(data, dict):
        return {_walk(k): _walk(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_walk(v) for v in data]
    return data


def size_of(data: Any) -> int:
    try:
        return len(json.dumps(data, ensure_ascii=False).encode())
    except (TypeError, ValueError):
        return -1


def describe(update_id: Any, data: Any, exc: BaseException | None = None) -> str:
    """An unparseable update for the log: id, size and the kind of error, never its text."""
    keys = sorted(k for k in data if k != "update_id") if isinstance(data, dict) else []
    kind = f"; {type(exc).__name__}" if exc is not None else ""
    return f"update {update_id} ({size_of(data)} bytes; fields {keys[:5]}{kind})"


def sender_id(data: Any) -> int | None:
    """The Telegram user id of a raw message or button update (None for other kinds)."""
    if not isinstance(data, dict):
        return None
    for key in ("message", "callback_query"):
        part = data.get(key)
        if isinstance(part, dict):
            who = part.get("from")
            if isinstance(who, dict) and isinstance(who.get("id"), int):
                return who["id"]
    return None


def is_invite(data: Any) -> bool:
    """``/start <code>``: never dropped as a stranger's (it is how a stranger links)."""
    message = data.get("message") if isinstance(data, dict) else None
    text = message.get("text") if isinstance(message, dict) else None
    return isinstance(text, str) and text.startswith("/start ")


def muted(services: Any, data: Any) -> bool:
    """A stranger's update inside their quiet window (bot/people/limits.py): drop it unread."""
    if services is None:
        return False
    user_id = sender_id(data)
    if user_id is None or is_invite(data):
        return False
    return services.limits.muted(user_id, services.clock.now())
