"""Whom an escalation step reaches: a target name resolved to people who can act now.

Targets (``notify`` in a policy step):

* ``recipients`` — whoever holds the incident (the allocated worker, or the
  cover / duty worker / EDT / manager who took it at report time). Each holder
  who cannot take it now (away, inactive, not linked, unreachable) is replaced
  by the routing rule of :func:`bot.rules.routing.holder_for` (their cover, else the
  duty worker). Copies for information (LADO, supervising social worker, …)
  are not chased.
* ``team_manager``, ``duty``, ``edt``, ``service_manager`` — that person of the
  child's team;
* anything else — a person id.

A target that cannot be reached is a *missed recipient* (audited by the
engine) and the step goes on to the team manager (or, when the team manager
is the one missed, the service manager). People reached who did not hold the
incident are added as recipients, so they may acknowledge it (a manager's
acknowledgement is then recorded as on behalf of the holder).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.people.info import person_info
from bot.rules.routing import HOLDER_REASONS, PersonInfo, TeamInfo, holder_for
from storage import queries
from storage.models import Incident, IncidentRecipient, Person, Team

TEAM_TARGETS = {
    "team_manager": "manager_id",
    "duty": "duty_id",
    "edt": "edt_id",
    "service_manager": "service_manager_id",
}


@dataclass
class Reached:
    person: Person
    reason: str  # the recipient reason (existing, or the one added now)
    holder: bool  # holds it (or takes it over as cover / duty): a reminder, not an escalation


@dataclass
class Resolution:
    reached: list[Reached] = field(default_factory=list)
    missed: list[tuple[str, str]] = field(default_factory=list)  # (person id or role, why)
    fell_back: bool = False  # the target was missed and the step went on to a manager


def team_info(team: Team) -> TeamInfo:
    return TeamInfo(team.id, team.manager_id, team.duty_id, team.edt_id, team.service_manager_id)


async def _people(session: AsyncSession, ids: set[str]) -> tuple[dict[str, Person], dict[str, PersonInfo]]:

    people = await queries.people_by_id(session, {i for i in ids if i})
    covers = {p.cover_id for p in people.values() if p.cover_id and p.cover_id not in people}
    if covers:
        people.update(await queries.people_by_id(session, covers))
    # Roles play no part in who can take an alert now (routing.PersonInfo.unavailable_reason).
    return people, {pid: person_info(p, frozenset()) for pid, p in people.items()}


async def holders(session: AsyncSession, incident_id: int) -> list[IncidentRecipient]:
    rows = await queries.recipients_of(session, incident_id)
    return [r for r in rows if r.reason in HOLDER_REASONS and r.can_acknowledge]


async def recipient_ids(session: AsyncSession, incident_id: int) -> set[str]:
    rows = await session.execute(
        select(IncidentRecipient.person_id).where(IncidentRecipient.incident_id == incident_id)
    )
    return set(rows.scalars())


async def resolve(
    session: AsyncSession, incident: Incident, team: Team, target: str, now: datetime,
    *, chain_reason: str | None = None, recipients: list[IncidentRecipient] | None = None,
) -> Resolution:
    """The people a ladder step with ``notify = target`` reaches now (``recipients``: the
    incident's recipient rows, when the caller has them)."""
    if target == "recipients":
        if recipients is None:
            recipients = await queries.recipients_of(session, incident.id)
        rows = [r for r in recipients if r.reason in HOLDER_REASONS and r.can_acknowledge]
        return await _resolve_holders(session, rows, team, now)
    if target in TEAM_TARGETS:
        pid = getattr(team, TEAM_TARGETS[target])
        return await resolve_chain(session, team, [(pid, f"escalation:{target}", target)], now)
    return await resolve_chain(session, team, [(target, chain_reason or "escalation:person", target)],
                               now)


async def _resolve_holders(session: AsyncSession, rows: list[IncidentRecipient], team: Team,
                           now: datetime) -> Resolution:
    tinfo = team_info(team)
    people, infos = await _people(session, {r.person_id for r in rows} | {team.duty_id or ""})
    out = Resolution()
    seen: set[str] = set()
    for row in rows:
        found = holder_for(row.person_id, tinfo, infos, now, out.missed)
        if found is None or found[0] in seen:
            continue
        pid = found[0]
        seen.add(pid)
        reason = row.reason if pid == row.person_id else found[1]
        # A stand-in found now (cover, duty) takes it over: a reminder, as to a holder.
        out.reached.append(Reached(people[pid], reason, holder=True))
    if not out.reached:
        fallback = await resolve_chain(session, team, [], now)
        out.reached, out.fell_back = fallback.reached, True
        out.missed.extend(fallback.missed)
    return out


async def resolve_chain(
    session: AsyncSession, team: Team, chain: list[tuple[str | None, str, str]], now: datetime,
    *, exclude: set[str] | frozenset[str] = frozenset(),
) -> Resolution:
    """The first person of ``chain`` (then the team manager, then the service manager)
    who can be reached now, skipping anyone in ``exclude``. Each chain entry is
    (person id, reason, name for the record)."""
    full = [c for c in chain if c[0] not in exclude]
    chain = full[:]
    if not any(c[0] == team.manager_id and team.manager_id for c in full):
        full.append((team.manager_id, "escalation:team_manager", "team_manager"))
    full.append((team.service_manager_id, "escalation:service_manager", "service_manager"))
    full = [c for c in full if c[0] not in exclude]
    people, infos = await _people(session, {c[0] for c in full if c[0]})
    out = Resolution()
    for i, (pid, reason, name) in enumerate(full):
        info = infos.get(pid or "")
        if info is None:
            if i < len(chain):
                why = "nobody is named" if not pid else "no such person in the directory"
                out.missed.append((pid or name, why))
            continue
        why = info.unavailable_reason(now)
        if why is not None:
            if (info.id, why) not in out.missed:
                out.missed.append((info.id, why))
            continue
        out.reached.append(Reached(people[info.id], reason, holder=False))
        out.fell_back = i >= len(chain)
        return out
    out.fell_back = True
    return out


async def add_recipient(session: AsyncSession, incident_id: int, person_id: str, reason: str,
                        now: datetime, *, known: set[str] | None = None) -> bool:
    """Make someone a recipient (so they may acknowledge); False if they already were.
    ``known`` — the incident's recipients, when the caller has them (kept up to date)."""
    if known is None:
        known = await recipient_ids(session, incident_id)
    if person_id in known:
        return False
    known.add(person_id)
    session.add(IncidentRecipient(incident_id=incident_id, person_id=person_id, reason=reason,
                                  can_acknowledge=True, added_at=now))
    await session.flush()
    return True


