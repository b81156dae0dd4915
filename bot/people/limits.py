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

Strangers' windows are kept in the database (``stranger_windows``), so a restart
does not reset them and several instances of the bot share them. The hot path
stays in memory: :meth:`Limits.muted` (asked for every update before it is
parsed) answers from a cache of the windows this process has seen and only
counts the drop; those counts reach the table when the account's next window
opens here, or at the next housekeeping pass (:meth:`Limits.sweep`), whichever
comes first. A window this process has not seen (after a restart, or opened by
another instance) costs one database round trip at the account's next update,
in the handler, and is then cached. The sweep also removes windows that ended
more than ``FORGET_AFTER`` ago (a ``strangers_forgotten`` audit row keeps the
attempts they still held). Linked people's command counts stay per process and
in memory (a restart forgets them). All on the injected clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from storage.models import StrangerWindow

MAX_TRACKED = 20_000  # accounts remembered at once; expired windows are dropped first
FORGET_AFTER = timedelta(days=1)  # a stranger's window is removed this long after it ended


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
        self._quiet: dict[int, datetime] = {}  # stranger -> start of a window known here
        self._pending: dict[int, int] = {}  # attempts dropped by ``muted``, not yet stored
        self._commands: dict[int, Window] = {}

    async def stranger(self, session: AsyncSession, telegram_user_id: int,
                       now: datetime) -> Verdict:
        """A message or button from an account that is not linked, in the caller's write
        transaction: open a new window (answer, with the attempts of the one before) or
        count one more attempt in the current one. Safe with several instances: whichever
        opens a window first wins, the others count."""
        uid = telegram_user_id
        pending = self._pending.pop(uid, 0)
        opened = (await session.execute(
            update(StrangerWindow)
            .where(StrangerWindow.telegram_user_id == uid,
                   StrangerWindow.started_at <= now - self.stranger_window)
            .values(started_at=now, previous=StrangerWindow.count + pending, count=0)
            .returning(StrangerWindow.previous)
            .execution_options(synchronize_session=False))).first()
        if opened is not None:
            self._remember(uid, now)
            return Verdict(True, repeats=opened[0])
        dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(StrangerWindow)
        created = (await session.execute(
            ins.values(telegram_user_id=uid, started_at=now, count=0, previous=0)
            .on_conflict_do_nothing(index_elements=["telegram_user_id"])
            .returning(StrangerWindow.telegram_user_id))).first()
        if created is not None:
            self._remember(uid, now)
            return Verdict(True, repeats=pending)
        started = (await session.execute(
            update(StrangerWindow).where(StrangerWindow.telegram_user_id == uid)
            .values(count=StrangerWindow.count + 1 + pending)
            .returning(StrangerWindow.started_at)
            .execution_options(synchronize_session=False))).scalar_one()
        self._remember(uid, started)
        return Verdict(False)

    def muted(self, telegram_user_id: int, now: datetime) -> bool:
        """A stranger already answered in this window: the update is counted and dropped
        before it is even parsed (the polling loop and the webhook ask this). Memory only:
        no database round trip for a flood."""
        started = self._quiet.get(telegram_user_id)
        if started is None:
            return False
        if now - started >= self.stranger_window:
            return False
        self._pending[telegram_user_id] = self._pending.get(telegram_user_id, 0) + 1
        return True

    async def forget(self, session: AsyncSession, telegram_user_id: int) -> None:
        """The account was just linked (in the caller's transaction): it is no stranger any
        more."""
        self._quiet.pop(telegram_user_id, None)
        self._pending.pop(telegram_user_id, None)
        await session.execute(delete(StrangerWindow).where(
            StrangerWindow.telegram_user_id == telegram_user_id))

    async def sweep(self, session: AsyncSession, now: datetime) -> int:
        """Housekeeping: store the attempts counted in memory since, and remove the windows
        that ended more than ``FORGET_AFTER`` ago. Returns how many were removed."""
        pending, self._pending = self._pending, {}
        for uid, n in pending.items():
            started = self._quiet.get(uid)
            if started is None:
                continue
            await session.execute(
                update(StrangerWindow)
                .where(StrangerWindow.telegram_user_id == uid, StrangerWindow.started_at == started)
                .values(count=StrangerWindow.count + n)
                .execution_options(synchronize_session=False))
        cutoff = now - self.stranger_window - FORGET_AFTER
        old = StrangerWindow.started_at < cutoff
        accounts, attempts = (await session.execute(
            select(func.count(), func.coalesce(func.sum(StrangerWindow.count), 0)).where(old)
        )).one()
        if accounts:
            await session.execute(delete(StrangerWindow).where(old))
            await audit.record(session, "strangers_forgotten", at=now, accounts=accounts,
                               unanswered_attempts=int(attempts))
        for uid in [u for u, started in self._quiet.items()
                    if now - started >= self.stranger_window]:
            del self._quiet[uid]
        return int(accounts)

    def _remember(self, uid: int, started: datetime) -> None:
        if uid not in self._quiet and len(self._quiet) >= MAX_TRACKED:
            del self._quiet[next(iter(self._quiet))]  # the oldest: it costs a lookup, no more
        self._quiet[uid] = started

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
