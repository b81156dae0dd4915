"""Whom an escalation step reaches: a target name resolved to people who can act now.

Targets (``notify`` in a policy step):

* ``recipients`` — whoever holds the incident (the allocated worker, or the
  cover / duty worker / EDT / manager who took it at report time). Each holder
  who cannot take it now (away, inactive, not linked, unreachable) is replaced
  by the routing rule of :func:`bot.rules.routing.holder_for` (their cover, else the
  duty worker). Copies for information (LADO, supervising social worker, …)
  are not chased.
* ``team_manager``, ``duty``, ``edt``, ``service_manager`` — that person of the
  child's team (a duty or EDT rota is resolved to whoever is on call now);
* anything else — a person or rota id.

A target who cannot take it now is passed over, in the order of
:func:`bot.rules.routing.stand_in_chain`: their cover, the team manager and the
manager's cover, the team's deputy, the service manager, the duty worker (in
working hours) or the out-of-hours team (outside them), and last the configured
``escalation.last_resort``. Everyone passed over is a *missed recipient*
(audited by the engine); reaching the last resort is audited as such. People
reached who did not hold the incident are added as recipients, so they may
acknowledge it (a manager's acknowledgement is then recorded as on behalf of
the holder).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.people import oncall
from bot.people.info import person_info
from bot.rules.reasons import HANDED_OVER
from bot.rules.routing import (
    HOLDER_REASONS,
    LAST_RESORT,
    PersonInfo,
    TeamInfo,
    first_available,
    holder_for,
    stand_in_chain,
)
from storage import queries
from storage.models import Incident, IncidentRecipient, Person, Team

if TYPE_CHECKING:
    from bot.services import Services

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
    fell_back: bool = False  # the target was missed and the step went on down the chain
    last_resort: bool = False  # nobody else could be reached: it went to the last resort


@dataclass(frozen=True)
class Scene:
    """The team and the hour as a step sees them when it runs (rotas resolved)."""

    team: TeamInfo
    now: datetime
    out_of_hours: bool
    last_resort_id: str | None
    tz: ZoneInfo


async def scene(session: AsyncSession, services: "Services", team: Team | None,
                now: datetime) -> Scene:
    return Scene(
        team=await oncall.team_at(session, team, now, services.tz), now=now,
        out_of_hours=not services.calendar.is_working_time(now),
        last_resort_id=await oncall.resolve_id(session, services.settings.last_resort, now,
                                               services.tz),
        tz=services.tz,
    )


async def _people(session: AsyncSession, ids: set[str]) -> tuple[dict[str, Person], dict[str, PersonInfo]]:

    people = await queries.people_by_id(session, {i for i in ids if i})
    covers = {p.cover_id for p in people.values() if p.cover_id and p.cover_id not in people}
    if covers:
        people.update(await queries.people_by_id(session, covers))
    # Roles play no part in who can take an alert now (routing.PersonInfo.unavailable_reason).
    return people, {pid: person_info(p, frozenset()) for pid, p in people.items()}


def _team_ids(sc: Scene) -> set[str]:
    t = sc.team
    return {i for i in (t.manager_id, t.duty_id, t.edt_id, t.service_manager_id, t.deputy_id,
                        sc.last_resort_id) if i}


async def holders(session: AsyncSession, incident_id: int) -> list[IncidentRecipient]:
    rows = await queries.recipients_of(session, incident_id)
    return [r for r in rows if r.reason in HOLDER_REASONS and r.can_acknowledge]


async def recipient_ids(session: AsyncSession, incident_id: int) -> set[str]:
    rows = await session.execute(
        select(IncidentRecipient.person_id).where(IncidentRecipient.incident_id == incident_id)
    )
    return set(rows.scalars())


async def resolve(
    session: AsyncSession, sc: Scene, incident: Incident, target: str,
    *, recipients: list[IncidentRecipient] | None = None,
) -> Resolution:
    """The people a ladder step with ``notify = target`` reaches now (``recipients``: the
    incident's recipient rows, when the caller has them)."""
    if target == "recipients":
        if recipients is None:
            recipients = await queries.recipients_of(session, incident.id)
        rows = [r for r in recipients if r.reason in HOLDER_REASONS and r.can_acknowledge]
        return await resolve_holders(session, sc, [r.person_id for r in rows],
                                     {r.person_id: r.reason for r in rows})
    if target in TEAM_TARGETS:
        pid = getattr(sc.team, TEAM_TARGETS[target])
        return await resolve_chain(session, sc, pid, f"escalation:{target}", name=target)
    pid = await oncall.resolve_id(session, target, sc.now, sc.tz)
    return await resolve_chain(session, sc, pid, "escalation:person", name=target)


async def resolve_holders(session: AsyncSession, sc: Scene, holder_ids: list[str],
                          reasons: dict[str, str] | None = None) -> Resolution:
    """Each holder who can act now, else their cover, else the duty worker (routing's
    rule); when none of them can, the chain from the team manager down."""
    reasons = reasons or {}
    people, infos = await _people(session, set(holder_ids) | {sc.team.duty_id or ""})
    out = Resolution()
    seen: set[str] = set()
    for hid in holder_ids:
        found = holder_for(hid, sc.team, infos, sc.now, out.missed)
        if found is None or found[0] in seen:
            continue
        pid = found[0]
        seen.add(pid)
        reason = reasons.get(pid, found[1]) if pid == hid else found[1]
        # A stand-in found now (cover, duty) takes it over: a reminder, as to a holder.
        out.reached.append(Reached(people[pid], reason, holder=True))
    if not out.reached:
        fallback = await resolve_chain(session, sc, sc.team.manager_id, "escalation:team_manager",
                                       name="team_manager")
        out.reached, out.fell_back, out.last_resort = (fallback.reached, True,
                                                       fallback.last_resort)
        out.missed.extend(m for m in fallback.missed if m not in out.missed)
    return out


async def resolve_chain(
    session: AsyncSession, sc: Scene, target_id: str | None, reason: str, *, name: str,
    exclude: set[str] | frozenset[str] = frozenset(),
) -> Resolution:
    """The first person of the stand-in chain from ``target_id`` who can be reached now,
    skipping anyone in ``exclude``; ``name`` is the target as the record names it."""
    people, infos = await _people(session, _team_ids(sc) | {target_id or ""})
    chain = stand_in_chain(target_id, reason, team=sc.team, people=infos,
                           out_of_hours=sc.out_of_hours, last_resort_id=sc.last_resort_id)
    index, missed = first_available(chain, infos, sc.now, exclude=exclude)
    out = Resolution(missed=missed)
    if not target_id:
        out.missed.insert(0, (name, "nobody is named"))
    if index is None:
        out.fell_back = True
        return out
    pid, why = chain[index]
    out.reached.append(Reached(people[pid], why, holder=False))
    out.fell_back = index > 0
    out.last_resort = why == LAST_RESORT
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




async def outcome_holder(session: AsyncSession, incident: Incident) -> str | None:
    """Who an outcome reminder goes to: the worker who holds the report.

    The person a manager acknowledged on behalf of; else the holder recorded at
    routing (allocated worker, or the cover / duty worker / EDT who took it),
    whoever acknowledged it; else the acknowledger.
    """
    rows = await holders(session, incident.id)
    # Unless the report was handed over since (then the holder now is the new worker).
    if incident.acknowledged_on_behalf_of_id and not await _handed_over(
            session, incident.id, incident.acknowledged_on_behalf_of_id):
        return incident.acknowledged_on_behalf_of_id
    for reason in HOLDER_REASONS:
        for r in rows:
            if r.reason == reason:
                return r.person_id
    if await _handed_over(session, incident.id, incident.acknowledged_by_id or ""):
        return None
    return incident.acknowledged_by_id


async def _handed_over(session: AsyncSession, incident_id: int, person_id: str) -> bool:
    row = await session.execute(select(IncidentRecipient.id).where(
        IncidentRecipient.incident_id == incident_id, IncidentRecipient.person_id == person_id,
        IncidentRecipient.reason == HANDED_OVER))
    return row.first() is not None


async def resolve_owner(session: AsyncSession, services: "Services", sc: Scene,
                        registered_manager: str | None, deputy: str | None,
                        out_of_hours_owner: str | None) -> Resolution:
    """Who owns a Schedule 7 notification now (issue 16): out of hours the out-of-hours
    owner first; then the registered manager, their cover, the deputy and the deputy's
    cover; then the child's team's stand-in chain from its manager down to the last resort.
    Rotas are resolved to whoever is on call."""
    ids = [await oncall.resolve_id(session, i, sc.now, services.tz) if i else None
           for i in (registered_manager, deputy, out_of_hours_owner)]
    rm, dep, ooh = ids
    people, infos = await _people(session, _team_ids(sc) | {i for i in ids if i})

    def cover_of(pid: str | None) -> str | None:
        p = infos.get(pid) if pid else None
        return p.cover_id if p is not None else None

    chain: list[tuple[str | None, str]] = []
    if sc.out_of_hours:
        chain.append((ooh, "notification:out_of_hours"))
    chain += [(rm, "notification:registered_manager"), (cover_of(rm), "escalation:cover"),
              (dep, "notification:deputy"), (cover_of(dep), "escalation:cover")]
    if not sc.out_of_hours:
        chain.append((ooh, "notification:out_of_hours"))
    chain += stand_in_chain(sc.team.manager_id, "escalation:team_manager", team=sc.team,
                            people=infos, out_of_hours=sc.out_of_hours,
                            last_resort_id=sc.last_resort_id)
    seen: set[str] = set()
    chain = [(p, r) for p, r in chain if p and not (p in seen or seen.add(p))]
    index, missed = first_available(chain, infos, sc.now)
    out = Resolution(missed=missed)
    if not rm:
        out.missed.insert(0, ("registered_manager", "nobody is named"))
    if index is None:
        out.fell_back = True
        return out
    pid, why = chain[index]
    out.reached.append(Reached(people[pid], why, holder=False))
    out.fell_back = index > 0
    out.last_resort = why == LAST_RESORT
    return out
