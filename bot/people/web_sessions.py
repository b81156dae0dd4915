"""Signing in to the web console: one-time links, browser sessions, ending them.

No passwords. ``/web`` in the bot issues a **link** (``issue_link``): a random
token, single use, valid ``web.link_ttl`` (10 minutes), bound to the person;
only its SHA-256 is stored. Opening it and pressing *Sign in* (``redeem_link``)
opens a **session** (``open_session``); a Telegram Mini App sign-in opens one
too, after ``bot/web/initdata.py`` has checked Telegram's signature. The
session's token lives only in the browser's cookie; the table holds its
SHA-256. ``find_session`` (a read) and ``settle`` (a write, only when needed)
end a session after ``web.session_idle`` without a request or
``web.session_max`` after it opened, and one whose person is no longer active. ``end_sessions_of`` is called when a person is
deactivated (directory import) or moved to another Telegram account
(``bot/people/relinking.py``), so a lost phone's console goes with it.

The CSRF token of a session is derived from its token (``csrf_token``), so it is
never stored and differs per session.

Audit events: ``web_link_issued``, ``web_signed_in`` (how: link | miniapp),
``web_signin_refused`` (why), ``web_signed_out``, ``web_sessions_ended`` (why).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.people.access import Access
from storage.models import Person, WebSession, WebSignInLink

TOKEN_BYTES = 32
TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most this often
LINK_PATH = "/web/signin/"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: derived from its secret, so never stored."""
    return hmac.new(session_token.encode(), b"fosterbot-csrf", hashlib.sha256).hexdigest()


def link_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{LINK_PATH}{token}"


async def issue_link(session: AsyncSession, person: Person, *, now: datetime,
                     ttl: timedelta) -> str:
    """A new one-time sign-in token for ``person`` (the caller builds the URL)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = WebSignInLink(person_id=person.id, token_hash=hash_token(token), created_at=now,
                         expires_at=now + ttl)
    session.add(link)
    await session.flush()
    await audit.record(session, "web_link_issued", at=now, actor_id=person.id, link=link.id,
                       expires_at=link.expires_at.isoformat())
    return token


@dataclass
class SignIn:
    status: str  # ok | invalid | used | expired | inactive | not allowed
    person: Person | None = None
    token: str = ""  # the new session's token (status ok)


async def redeem_link(session: AsyncSession, token: str, *, now: datetime,
                      session_max: timedelta, access: Access) -> SignIn:
    """Use a link once: a conditional UPDATE, so of two tabs racing only one signs in. The
    person must still be allowed the console (``Access.may_use_console``) when it is used."""
    link = (await session.execute(select(WebSignInLink).where(
        WebSignInLink.token_hash == hash_token(token)))).scalar_one_or_none()
    why = None
    if link is None:
        why = "invalid"
    elif link.used_at is not None:
        why = "used"
    elif link.expires_at <= now:
        why = "expired"
    person = await session.get(Person, link.person_id) if link is not None else None
    if why is None and (person is None or not person.active):
        why = "inactive"
    if why is None and not await access.may_use_console(session, person):
        why = "not allowed"
    if why is None:
        won = await session.execute(update(WebSignInLink).where(
            WebSignInLink.id == link.id, WebSignInLink.used_at.is_(None)).values(used_at=now))
        if won.rowcount != 1:
            why = "used"
    if why is not None:
        await audit.record(session, "web_signin_refused", at=now,
                           actor_id=person.id if person else None, how="link", why=why,
                           link=link.id if link else None)
        return SignIn(why, person)
    return SignIn("ok", person, await open_session(session, person, now=now, how="link",
                                                   session_max=session_max))


async def open_session(session: AsyncSession, person: Person, *, now: datetime, how: str,
                       session_max: timedelta, **details) -> str:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = WebSession(person_id=person.id, token_hash=hash_token(token), how=how, created_at=now,
                     last_seen_at=now, expires_at=now + session_max)
    session.add(row)
    await session.flush()
    await audit.record(session, "web_signed_in", at=now, actor_id=person.id, how=how,
                       web_session=row.id, **details)
    return token


@dataclass
class Found:
    """A cookie's session as read: ``end`` says why it must end now (expired | idle |
    deactivated), ``touch`` that ``last_seen_at`` is due to move (``settle`` writes both)."""

    row: WebSession
    person: Person
    end: str | None = None
    touch: bool = False


# Built once: every console request reads it.
_SESSION_AND_PERSON = (select(WebSession, Person)
                       .outerjoin(Person, Person.id == WebSession.person_id)
                       .where(WebSession.token_hash == bindparam("token_hash")))


async def find_session(session: AsyncSession, token: str, *, now: datetime,
                       idle: timedelta) -> Found | None:
    """Read the session of a cookie token (None: no such live session). Only reads, so a
    page view takes no write lock unless ``settle`` has something to write."""
    if not token:
        return None
    # The session and its person in one statement (every console request starts here).
    found = (await session.execute(_SESSION_AND_PERSON,
                                   {"token_hash": hash_token(token)})).first()
    if found is None or found[0].ended_at is not None:
        return None
    row, person = found
    end = None
    if row.expires_at <= now:
        end = "expired"
    elif now - row.last_seen_at > idle:
        end = "idle"
    elif person is None or not person.active:
        end = "deactivated"
    return Found(row, person, end, end is None and now - row.last_seen_at >= TOUCH_EVERY)


async def settle(session: AsyncSession, found: Found, *, now: datetime) -> None:
    """End the session found ending, or move its ``last_seen_at`` (at most once a minute)."""
    values = {"ended_at": now, "ended_reason": found.end} if found.end else {"last_seen_at": now}
    await session.execute(update(WebSession).where(
        WebSession.id == found.row.id, WebSession.ended_at.is_(None)).values(**values))


async def end_session(session: AsyncSession, row: WebSession, *, now: datetime,
                      why: str = "signed_out") -> None:
    if row.ended_at is None:
        row.ended_at, row.ended_reason = now, why
        await audit.record(session, "web_signed_out", at=now, actor_id=row.person_id,
                           web_session=row.id)


async def end_sessions_of(session: AsyncSession, person_id: str, *, now: datetime,
                          why: str) -> int:
    """End every live session of a person (deactivated, relinked); audited when any."""
    res = await session.execute(update(WebSession).where(
        WebSession.person_id == person_id, WebSession.ended_at.is_(None)).values(
        ended_at=now, ended_reason=why))
    if res.rowcount:
        await audit.record(session, "web_sessions_ended", at=now, person=person_id, why=why,
                           count=res.rowcount)
    return res.rowcount
