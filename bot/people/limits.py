"""Abuse limits: how often the bot answers strangers, and linked people's commands.

* **Strangers** (Telegram accounts not linked to an active person): one polite
  reply per account per ``limits.stranger_window`` (10 min). Further messages
  and buttons in that window get nothing and are only counted; the one
  ``access_refused`` audit event written at the start of the next window
  carries the count of the window before (``repeats``), so a flood from one
  account adds at most one audit row per window instead of one per message,
  and costs the bot no database write and no Telegram send: the polling loop
  and the webhook drop such an update before parsing it (:meth:`Limits.muted`),
  except ``/start <code>`` (an invite must always work; it has its own lockout).
* **Linked people's commands**: at most ``limits.commands_per_minute`` (20)
  commands a minute each; over it, one "slow down" answer per minute (audited
  once as ``rate_limited``) and the extra commands are not run. Plain text and
  buttons are never limited for linked people (a report must not be refused).

The counts are per process and in memory, measured on the injected clock; a
restart forgets them (the audit rows already written stay).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_TRACKED = 20_000  # accounts remembered at once; expired windows are dropped first


@dataclass
class Window:
    started: datetime
    count: int = 0  # attempts in this window beyond the first (strangers) / all (commands)
    told: bool = False  # the "slow down" answer was given in this window


@dataclass(frozen=True)
class Verdict:
    allow: bool  # answer (strangers) / run (commands)
    tell: bool = False  # a command over the limit: say "slow down" (once per window)
    repeats: int = 0  # strangers: attempts not answered in the window before


class Limits:
    def __init__(self, *, stranger_window: timedelta, commands_per_minute: int) -> None:
        self.stranger_window = stranger_window
        self.commands_per_minute = commands_per_minute
        self._strangers: dict[int, Window] = {}
        self._commands: dict[int, Window] = {}

    def stranger(self, telegram_user_id: int, now: datetime) -> Verdict:
        """A message or button from an account that is not linked."""
        w = self._strangers.get(telegram_user_id)
        if w is None or now - w.started >= self.stranger_window:
            repeats = w.count if w is not None else 0
            self._put(self._strangers, telegram_user_id, Window(now), now, self.stranger_window)
            return Verdict(True, repeats=repeats)
        w.count += 1
        return Verdict(False)

    def muted(self, telegram_user_id: int, now: datetime) -> bool:
        """A stranger already answered in this window: the update is counted and dropped
        before it is even parsed (the polling loop and the webhook ask this)."""
        w = self._strangers.get(telegram_user_id)
        if w is None or now - w.started >= self.stranger_window:
            return False
        w.count += 1
        return True

    def forget(self, telegram_user_id: int) -> None:
        """The account was just linked: it is no stranger any more."""
        self._strangers.pop(telegram_user_id, None)

    def command(self, telegram_user_id: int, now: datetime) -> Verdict:
        """A command from a linked person."""
        window = timedelta(minutes=1)
        w = self._commands.get(telegram_user_id)
        if w is None or now - w.started >= window:
            w = Window(now)
            self._put(self._commands, telegram_user_id, w, now, window)
        w.count += 1
        if w.count <= self.commands_per_minute:
            return Verdict(True)
        if not w.told:
            w.told = True
            return Verdict(False, tell=True)
        return Verdict(False)

    @staticmethod
    def _put(table: dict[int, Window], key: int, w: Window, now: datetime,
             window: timedelta) -> None:
        if len(table) >= MAX_TRACKED:
            for k in [k for k, v in table.items() if now - v.started >= window]:
                del table[k]
            while len(table) >= MAX_TRACKED:  # all current: forget the oldest
                del table[next(iter(table))]
        table[key] = w
