"""Errors, injected faults and rate limits for the fake Bot API.

* :class:`ApiError` - raise it from a method implementation to answer with a
  Telegram-shaped error (``{"ok": false, "error_code", "description",
  "parameters"}``).
* :class:`FaultInjector` - rules queued by tests (``fail_next``,
  ``drop_next``, ``delay_next``) that are consumed by matching requests, so a
  test can make e.g. the next ``sendMessage`` to one chat fail with a 502.
* :class:`RateLimiter` - models Telegram's flood control (about 30
  messages/s overall, about 1 message/s per chat with a small burst) and
  answers 429 ``Too Many Requests: retry after N``. Edits (text, caption,
  buttons) are limited too, at the same rate from a per-chat allowance of their
  own (Telegram answers 429 to fast edits but does not count them as new
  messages); both count towards the global limit.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

__all__ = ["ApiError", "Fault", "FaultInjector", "RateLimiter"]


class ApiError(Exception):
    """An error answer of the Bot API."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict:
        body: dict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


def forbidden(detail: str) -> ApiError:
    return ApiError(403, f"Forbidden: {detail}")


@dataclass
class Fault:
    """One queued fault. ``kind`` is "fail", "drop" or "delay"."""

    kind: str
    method: str
    times: int = 1
    chat_id: int | str | None = None
    status: int = 500
    description: str = "Internal Server Error"
    retry_after: int | None = None
    seconds: float = 0.0
    after_processing: bool = False  # drop: execute the method, then lose the response

    def matches(self, method: str, params: dict) -> bool:
        if self.method.lower() != method.lower():
            return False
        if self.chat_id is not None and str(params.get("chat_id")) != str(self.chat_id):
            return False
        return self.times > 0


class FaultInjector:
    """Queue of faults; :meth:`take` consumes the first rule matching a request."""

    def __init__(self) -> None:
        self.rules: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self.rules.append(fault)

    def take(self, method: str, params: dict, kinds: tuple[str, ...]) -> Fault | None:
        for rule in self.rules:
            if rule.kind in kinds and rule.matches(method, params):
                rule.times -= 1
                if rule.times <= 0:
                    self.rules.remove(rule)
                return rule
        return None

    def clear(self) -> None:
        self.rules.clear()


class RateLimiter:
    """Token buckets: one global (``per_second``) and one per chat (``per_chat``/s, ``burst``)."""

    def __init__(self, per_second: float = 30.0, per_chat: float = 1.0,
                 burst: int = 3, clock=time.monotonic) -> None:
        self.per_second = per_second
        self.per_chat = per_chat
        self.burst = burst
        self.clock = clock
        self._global = (float(per_second), clock())
        self._chats: dict[tuple[str, str], tuple[float, float]] = {}

    @staticmethod
    def _refill(state: tuple[float, float], rate: float, cap: float, now: float) -> float:
        tokens, at = state
        return min(cap, tokens + (now - at) * rate)

    def check(self, chat_id, kind: str = "send") -> int | None:
        """Consume one message (``kind`` "send") or edit ("edit": a per-chat allowance of its
        own, at the same rate); return None if allowed, else seconds to wait (>= 1)."""
        now = self.clock()
        g = self._refill(self._global, self.per_second, self.per_second, now)
        key = (kind, str(chat_id))
        c = self._refill(self._chats.get(key, (float(self.burst), now)), self.per_chat,
                         self.burst, now)
        if g < 1 or c < 1:
            self._global = (g, now)
            self._chats[key] = (c, now)
            wait = max((1 - g) / self.per_second if g < 1 else 0,
                       (1 - c) / self.per_chat if c < 1 else 0)
            return max(1, math.ceil(wait))
        self._global = (g - 1, now)
        self._chats[key] = (c - 1, now)
        return None
