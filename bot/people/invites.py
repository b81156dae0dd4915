"""Invite codes: single use, expiring, stored only as a SHA-256 hash, revocable.

An admin runs ``fosterbot invite PERSON_ID``; the person opens
``https://t.me/<bot>?start=<code>`` and their Telegram account is linked.
Wrong codes from one Telegram account are counted: after ``MAX_FAILURES`` in
``WINDOW`` the account must wait ``LOCKOUT``, and each later lockout twice as
long as the one before (15 min, 30, 60, … up to ``MAX_LOCKOUT``), before the
bot looks at another code, which makes guessing useless. The doubling starts
again after a successful link or ``LOCKOUT_MEMORY`` without a wrong code.
A code for a person who already has a linked account does not move them: the
current account must confirm (``bot/people/relinking.py``), unless the code was
issued with ``replace=True`` (``fosterbot invite --replace``) for a lost account.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.people import relinking
from storage.models import Invite, Person, StartAttempt

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
MAX_LOCKOUT = timedelta(days=1)
LOCKOUT_MEMORY = timedelta(days=1)
CODE_BYTES = 18  # 24 URL-safe characters; Telegram allows up to 64 in a start parameter


def hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def deep_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username or '<bot username>'}?start={code}"


async def create_invite(
    session: AsyncSession, person_id: str, *, now: datetime, ttl: timedelta, actor: str | None = None,
    replace: bool = False,
) -> tuple[str, Invite]:
    """A new single-use code; ``replace``: it may replace a linked account without its Yes."""
    person = await session.get(Person, person_id)
    if person is None:
        raise LookupError(f"no person with id {person_id!r} in the directory")
    if not person.active:
        raise LookupError(f"{person_id!r} is not active in the directory")
    code = secrets.token_urlsafe(CODE_BYTES)
    invite = Invite(person_id=person_id, code_hash=hash_code(code), created_at=now,
                    expires_at=now + ttl, replaces_account=replace)
    session.add(invite)
    await session.flush()
    await audit.record(session, "invite_created", at=now, actor_id=actor, person=person_id,
                       invite=invite.id, expires_at=invite.expires_at.isoformat(),
                       **({"replace": True} if replace else {}))
    return code, invite


async def revoke_invites(
    session: AsyncSession, person_id: str, *, now: datetime, actor: str | None = None
) -> int:
    res = await session.execute(
        update(Invite)
        .where(Invite.person_id == person_id, Invite.used_at.is_(None), Invite.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if res.rowcount:
        await audit.record(session, "invite_revoked", at=now, actor_id=actor, person=person_id,
                           count=res.rowcount)
    return res.rowcount


@dataclass
class RedeemResult:
    status: str  # linked | confirm | invalid | used | expired | revoked | locked | other_account | inactive
    person: Person | None = None
    wait: timedelta | None = None


async def _fail(session: AsyncSession, tg_user_id: int, now: datetime, status: str) -> RedeemResult:
    row = await session.get(StartAttempt, tg_user_id)
    if row is None:
        row = StartAttempt(telegram_user_id=tg_user_id, failures=0, lockouts=0,
                           window_started_at=now)
        session.add(row)
    if now - row.window_started_at > WINDOW:
        # A new window of wrong codes; earlier lockouts still count unless long forgotten.
        quiet_since = row.locked_until or row.window_started_at
        if now - quiet_since > LOCKOUT_MEMORY:
            row.lockouts = 0
        row.failures, row.window_started_at = 0, now
    row.failures += 1
    failures = row.failures
    if row.failures >= MAX_FAILURES:
        lockouts = row.lockouts or 0
        row.locked_until = now + min(MAX_LOCKOUT, LOCKOUT * (2 ** min(lockouts, 10)))
        row.lockouts = lockouts + 1
        # The next lockout needs MAX_FAILURES fresh wrong codes, counted after this one.
        row.failures, row.window_started_at = 0, now
    await audit.record(session, "invite_refused", at=now, telegram_user_id=tg_user_id,
                       why=status, failures=failures)
    return RedeemResult(status)


async def redeem(
    session: AsyncSession, code: str, *, telegram_user_id: int, chat_id: int, now: datetime
) -> RedeemResult:
    attempt = await session.get(StartAttempt, telegram_user_id)
    if attempt is not None and attempt.locked_until is not None and attempt.locked_until > now:
        return RedeemResult("locked", wait=attempt.locked_until - now)
    invite = (
        await session.execute(select(Invite).where(Invite.code_hash == hash_code(code)))
    ).scalar_one_or_none()
    if invite is None:
        return await _fail(session, telegram_user_id, now, "invalid")
    if invite.revoked_at is not None:
        return await _fail(session, telegram_user_id, now, "revoked")
    if invite.used_at is not None:
        return await _fail(session, telegram_user_id, now, "used")
    if invite.expires_at <= now:
        return await _fail(session, telegram_user_id, now, "expired")
    person = await session.get(Person, invite.person_id)
    if person is None or not person.active:
        return await _fail(session, telegram_user_id, now, "inactive")
    other = (
        await session.execute(select(Person).where(Person.telegram_user_id == telegram_user_id))
    ).scalar_one_or_none()
    if other is not None and other.id != person.id:
        await audit.record(session, "invite_refused", at=now, telegram_user_id=telegram_user_id,
                           why="account already linked", linked_to=other.id, person=person.id)
        return RedeemResult("other_account", other)
    if attempt is not None:
        attempt.failures, attempt.locked_until, attempt.lockouts = 0, None, 0
    if (person.telegram_user_id is not None and person.telegram_user_id != telegram_user_id
            and not invite.replaces_account):
        await relinking.request(session, person, invite, telegram_user_id=telegram_user_id,
                                chat_id=chat_id, now=now)
        return RedeemResult("confirm", person)
    invite.used_at = now
    invite.used_by_telegram_user_id = telegram_user_id
    await relinking.link(session, person, telegram_user_id=telegram_user_id, chat_id=chat_id,
                         now=now, invite_id=invite.id,
                         how="replacement code" if invite.replaces_account else "invite code")
    return RedeemResult("linked", person)
