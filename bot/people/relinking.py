"""Moving a linked person to another Telegram account: never silently.

A code redeemed for a person who already has a linked account does not link at
once: a :class:`RelinkRequest` is written and the *current* account is asked,
with Yes / No buttons, whether to move. Only its Yes moves the person (within
``RELINK_TTL_HOURS``). When that account is lost (phone stolen, number gone),
an administrator issues a replacement code (``fosterbot invite --replace``),
which moves the person at once. Either way the old account (when reachable)
and the person's team manager are told, and the audit log records who moved
what (``relink_requested``, ``relink_refused``, ``linked`` with ``how`` and
``replaced_account``). A request nobody answered in time is removed by the
housekeeping (:func:`sweep_lapsed`, ``relink_lapsed``). Every message goes
through the outbox, in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit, callbacks
from bot.delivery import outbox
from bot.people import web_sessions
from bot.people.access import Access
from bot.texts import LONDON, h, when
from storage import queries
from storage.models import Delivery, Invite, Person, RelinkRequest

RELINK_TTL_HOURS = 24
YES, NO = "Yes, move to the new account", "No, this was not me"


def buttons(request_id: int) -> list[list[tuple[str, str]]]:
    return [[(YES, callbacks.RELINK.data(request_id, "y"))],
            [(NO, callbacks.RELINK.data(request_id, "n"))]]


async def managers_of(session: AsyncSession, person: Person, now: datetime) -> list[Person]:
    """Who is told when ``person``'s account changes: their team's manager; for people without
    a team (carers), the managers of their supervising social worker's team, else of the teams
    of the children placed with them."""
    team_ids: list[str] = []
    if person.team_id:
        team_ids.append(person.team_id)
    if not team_ids and person.supervising_social_worker_id:
        ssw = await session.get(Person, person.supervising_social_worker_id)
        if ssw is not None and ssw.team_id:
            team_ids.append(ssw.team_id)
    if not team_ids:
        children = await queries.children_placed_with(session, person.id,
                                                      now.astimezone(LONDON).date())
        team_ids.extend(sorted({c.team_id for c in children}))
    managers: dict[str, Person] = {}
    for tid in team_ids:
        team = await queries.team(session, tid)
        if team is None:
            continue
        for mid in (team.manager_id, team.service_manager_id):
            m = await session.get(Person, mid) if mid else None
            if m is not None and m.active and m.id != person.id and m.telegram_chat_id:
                managers.setdefault(m.id, m)
                break
    return list(managers.values())


async def _tell_managers(session: AsyncSession, person: Person, now: datetime, key: str,
                         text: str) -> None:
    for m in await managers_of(session, person, now):
        await outbox.enqueue(session, key=f"{key}:{m.id}", kind="notice", now=now, text=text,
                             person=m, priority=outbox.RECEIPT_PRIORITY)


async def request(session: AsyncSession, person: Person, invite: Invite, *, telegram_user_id: int,
                  chat_id: int, now: datetime) -> RelinkRequest:
    """Ask the person's current account to confirm a move to ``telegram_user_id``."""
    invite.used_at = now
    invite.used_by_telegram_user_id = telegram_user_id
    req = RelinkRequest(person_id=person.id, invite_id=invite.id,
                        old_telegram_user_id=person.telegram_user_id,
                        new_telegram_user_id=telegram_user_id, new_chat_id=chat_id,
                        created_at=now, expires_at=now + timedelta(hours=RELINK_TTL_HOURS))
    session.add(req)
    await session.flush()
    await audit.record(session, "relink_requested", at=now, actor_id=None,
                       telegram_user_id=telegram_user_id, person=person.id, invite=invite.id,
                       request=req.id, current_account=person.telegram_user_id)
    await outbox.enqueue(
        session, key=f"relink:{req.id}:ask", kind="notice", now=now, person=person,
        priority=outbox.RECEIPT_PRIORITY, buttons=buttons(req.id),
        text=(f"🔐 Someone used an invite code for you (<b>{h(person.name)}</b>) to link another "
              f"Telegram account ({h(str(telegram_user_id))}) at {when(now)}.\n\n"
              "If that is you on a new phone, tap <b>Yes</b>: alerts will go there and this "
              "account will no longer be linked. If it was not you, tap <b>No</b> — your "
              "manager will be told.\n"
              f"Nothing changes unless you tap Yes within {RELINK_TTL_HOURS} hours."),
    )
    return req


async def replace(session: AsyncSession, person: Person, *, previous_user: int | None,
                  previous_chat: int | None, now: datetime, how: str) -> None:
    """Tell the old account and the managers that ``person`` is now on a new account."""
    if previous_chat:
        await outbox.enqueue(
            session, key=f"relinked:{person.id}:{previous_user}:{now.isoformat()}", kind="notice",
            now=now, chat_id=previous_chat, priority=outbox.RECEIPT_PRIORITY,
            text=(f"🔐 This Telegram account is no longer linked to <b>{h(person.name)}</b>: "
                  f"from {when(now)} alerts go to a new account ({h(how)}). If you did not "
                  "ask for this, contact your manager at once."))
    await _tell_managers(
        session, person, now, f"relinked-manager:{person.id}:{previous_user}:{now.isoformat()}",
        f"🔐 <b>{h(person.name)}</b> is now linked to a new Telegram account ({h(how)}, "
        f"{when(now)}); the old account no longer receives anything. If this is unexpected, "
        "check with them and ask an administrator to revoke it.")


SWEEP_BATCH = 200


async def sweep_lapsed(session: AsyncSession, now: datetime) -> int:
    """Remove the requests nobody answered within ``RELINK_TTL_HOURS`` (housekeeping).

    For each: a ``relink_lapsed`` audit event (whose account, which new account, the
    request), the question on the current account loses its buttons (an edit through
    the outbox: a late Yes could only be refused), the new account is told nothing
    changed, and the person's manager is told (an unanswered move may mean a leaked code
    or a lost phone). Then the row is deleted: it held a stranger's Telegram ids, and
    the audit log keeps the fact."""
    lapsed = list((await session.execute(
        select(RelinkRequest).where(RelinkRequest.decided_at.is_(None),
                                    RelinkRequest.expires_at <= now)
        .order_by(RelinkRequest.id).limit(SWEEP_BATCH)
    )).scalars())
    for req in lapsed:
        person = await session.get(Person, req.person_id)
        await audit.record(session, "relink_lapsed", at=now, actor_id=None, person=req.person_id,
                           request=req.id, new_account=req.new_telegram_user_id,
                           asked_at=req.created_at.isoformat())
        ask = (await session.execute(select(Delivery).where(
            Delivery.idempotency_key == f"relink:{req.id}:ask"))).scalar_one_or_none()
        if ask is not None:
            await outbox.enqueue(
                session, key=f"relink:{req.id}:lapsed-edit", kind="edit", method="edit",
                now=now, chat_id=ask.chat_id, priority=outbox.RECEIPT_PRIORITY,
                target_delivery_id=ask.id,
                text=(f"🔐 A request to link another Telegram account "
                      f"({h(str(req.new_telegram_user_id))}) to you was made at "
                      f"{when(req.created_at)} and lapsed unanswered: nothing changed."))
        await outbox.enqueue(
            session, key=f"relink:{req.id}:lapsed", kind="notice", now=now,
            chat_id=req.new_chat_id, priority=outbox.RECEIPT_PRIORITY,
            text="The request to link this Telegram account was not confirmed in time by the "
                 "account already linked, so nothing was changed. If you need access, ask your "
                 "service for a new code.")
        if person is not None:
            await _tell_managers(
                session, person, now, f"relink:{req.id}:lapsed-manager",
                f"⚠️ Someone asked to link another Telegram account to <b>{h(person.name)}</b> "
                f"with an invite code at {when(req.created_at)}; nobody answered within "
                f"{RELINK_TTL_HOURS} hours, so nothing changed. The code may have leaked, or "
                f"{h(person.name)} may have lost their phone: check with them.")
        await session.delete(req)
    if lapsed:
        await session.flush()
    return len(lapsed)


@dataclass
class Decision:
    status: str  # confirmed | refused | expired | stale | taken
    person: Person | None = None
    text: str = ""


async def decide(session: AsyncSession, request_id: int, *, presser: Person, yes: bool,
                 telegram_user_id: int, now: datetime) -> Decision:
    """The current account's answer. Only that account, while the request is open."""
    presser = await session.get(Person, presser.id)  # this session's copy: it may change
    req = (await session.execute(
        select(RelinkRequest).where(RelinkRequest.id == request_id).with_for_update()
    )).scalar_one_or_none()
    if not Access.may_decide_relink(presser, req, telegram_user_id) or req.decided_at is not None:
        return Decision("stale")
    if req.expires_at <= now:
        return Decision("expired", presser,
                        "This request has expired; nothing was changed. Ask for a new code.")
    req.decided_at = now
    if not yes:
        req.decision = "refused"
        await audit.record(session, "relink_refused", at=now, actor_id=presser.id,
                           telegram_user_id=telegram_user_id, request=req.id,
                           new_account=req.new_telegram_user_id)
        await outbox.enqueue(
            session, key=f"relink:{req.id}:refused", kind="notice", now=now,
            chat_id=req.new_chat_id, priority=outbox.RECEIPT_PRIORITY,
            text="The request to link this Telegram account was refused by the account already "
                 "linked. Nothing was changed. If you need access, ask your service.")
        await _tell_managers(
            session, presser, now, f"relink:{req.id}:refused-manager",
            f"⚠️ Someone tried to link another Telegram account to <b>{h(presser.name)}</b> with "
            f"an invite code at {when(req.created_at)}; {h(presser.name)} refused it. The code "
            "may have leaked: consider who had it.")
        return Decision("refused", presser,
                        "Thank you. This account stays linked; nothing was changed. "
                        "Your manager has been told.")
    taken = (await session.execute(
        select(Person).where(Person.telegram_user_id == req.new_telegram_user_id)
    )).scalar_one_or_none()
    if taken is not None:
        req.decision = "refused"
        return Decision("taken", presser, "That new account is already linked to someone else; "
                                          "nothing was changed.")
    req.decision = "confirmed"
    await link(session, presser, telegram_user_id=req.new_telegram_user_id,
               chat_id=req.new_chat_id, now=now, invite_id=req.invite_id,
               how="confirmed by the current account", tell_old=False)
    await outbox.enqueue(
        session, key=f"relink:{req.id}:linked", kind="notice", now=now, chat_id=req.new_chat_id,
        priority=outbox.RECEIPT_PRIORITY,
        text=f"✅ Linked. You are <b>{h(presser.name)}</b>. Send /help to see what you can do.")
    return Decision("confirmed", presser,
                    "Done: this account is no longer linked; alerts now go to your new account.")


async def link(session: AsyncSession, person: Person, *, telegram_user_id: int, chat_id: int,
               now: datetime, invite_id: int, how: str, tell_old: bool = True) -> None:
    """Link ``person`` to the account; an account it replaces (and the managers) are told."""
    previous_user, previous_chat = person.telegram_user_id, person.telegram_chat_id
    replacing = previous_user is not None and previous_user != telegram_user_id
    if replacing:
        # The unique column must be free before the new value lands (PostgreSQL checks per row).
        person.telegram_user_id = None
        await session.flush()
    person.telegram_user_id = telegram_user_id
    person.telegram_chat_id = chat_id
    person.linked_at = now
    person.unreachable_since = None
    person.unreachable_reason = None
    person.updated_at = now
    await audit.record(session, "linked", at=now, actor_id=person.id,
                       telegram_user_id=telegram_user_id, invite=invite_id,
                       replaced_account=previous_user if replacing else None,
                       how=how if replacing else "invite code")
    if replacing:
        # The console's sessions belonged to the old account (a lost phone may hold one).
        await web_sessions.end_sessions_of(session, person.id, now=now, why="relinked")
        await replace(session, person, previous_user=previous_user,
                      previous_chat=previous_chat if tell_old else None, now=now, how=how)
