"""Callback data: short ``action:arg`` strings, checked on the way back in.

Telegram allows 1–64 bytes. Buttons may be pressed hours or days later (after a
restart), so the data names database rows, never in-memory objects, and every
press is checked against the database and the presser's rights. Anything that
does not parse is forged or stale and is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_BYTES = 64
_ACTION = re.compile(r"^[a-z][a-z_]{0,15}$")
_ARG = re.compile(r"^[A-Za-z0-9_.-]{0,40}$")


@dataclass(frozen=True)
class Callback:
    action: str
    args: tuple[str, ...]

    def int_arg(self, i: int = 0) -> int | None:
        try:
            value = self.args[i]
        except IndexError:
            return None
        return int(value) if value.isdigit() and len(value) <= 12 else None


def encode(action: str, *args: object) -> str:
    data = ":".join([action, *(str(a) for a in args)])
    if not _ACTION.match(action) or any(not _ARG.match(str(a)) for a in args):
        raise ValueError(f"callback data not encodable: {data!r}")
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data over {MAX_BYTES} bytes: {data!r}")
    return data


def decode(data: str | None) -> Callback | None:
    """The parsed callback, or None for anything malformed."""
    if not data or len(data.encode()) > MAX_BYTES:
        return None
    parts = data.split(":")
    if not _ACTION.match(parts[0]) or any(not _ARG.match(p) for p in parts[1:]):
        return None
    return Callback(parts[0], tuple(parts[1:]))


def single_id(data: str | None) -> int | None:
    """The one numeric argument of a button such as ``ack:42`` (None if malformed)."""
    cb = decode(data)
    return cb.int_arg(0) if cb and len(cb.args) == 1 else None
