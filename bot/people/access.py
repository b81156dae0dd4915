"""Who may see and do what: the one place for access rules.

A linked person may act on an incident only through a relationship the record
holds: the carer who reported it; a recipient (allocated worker, cover, duty,
EDT, copies, supervising social worker); the manager of the child's team.
Callers log every refusal as an ``access_refused`` audit event.

The managers' review (``/overdue``, ``/open`` for a team, ``/log``, ``/stats``,
``/export``) is limited to the teams a person manages: those whose
``manager_id`` or ``service_manager_id`` names them. The directory, not the
``team_manager`` role alone, decides (a role without a team sees nothing).
A child's chronology (``/child``) is for those who may see the child
(``may_see_child``): the allocated social worker and their named cover, the
managers of the child's team, administrators, and the supervising social worker
of a carer the child is or was placed with, who sees only the periods of those
placements. Carers are not among them: the chronology holds other carers'
placements and reports.

The web console (``bot/web``) is for workers, managers and administrators
(``may_use_console``); its review pages use ``console_scope``: administrators
see every team, managers their teams, workers only what was sent to them.

The command line (``fosterbot log|stats|export|chronology``) is for
administrators on the server and applies no Telegram access rules.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.rules.reasons import HANDED_OVER
from bot.rules.roles import ADMIN, CARER, WORKER_ROLES
from bot.rules.routing import HOLDER_REASONS
from storage import queries
from storage.models import (
    Child,
    Incident,
    IncidentRecipient,
    Person,
    Placement,
    RelinkRequest,
    Task,
    Team,
)

# Recipients who hold an incident (rather than being copied for information).


@dataclass(frozen=True)
class ChildView:
    """Why a person may see a child's chronology, and how much of it: ``windows`` None is the
    whole of it; otherwise only entries dated within these (start, end or None) periods."""

    reason: str  # admin | allocated | cover | manager | supervising
    windows: tuple[tuple[date, date | None], ...] | None = None


class Access:
    """Decision: the roles of the sender, read with their Person when an update
    arrives (``remember_roles``), serve the rest of that update's handling
    instead of a second query; like the Person's ``active`` flag they are as of
    the moment the update was taken up. Any other Person is asked afresh."""

    def __init__(self) -> None:
        self._known_roles: weakref.WeakKeyDictionary[Person, frozenset[str]] = (
            weakref.WeakKeyDictionary())

    @staticmethod
    def may_decide_relink(person: Person | None, request: RelinkRequest | None,
                          telegram_user_id: int) -> bool:
        """Only the account a person is linked to now may say Yes or No to moving them to
        another one (``bot/people/relinking.py``), and only about a request for that person."""
        return (person is not None and request is not None
                and request.person_id == person.id
                and person.telegram_user_id == request.old_telegram_user_id == telegram_user_id)

    def remember_roles(self, person: Person, roles: frozenset[str]) -> None:
        self._known_roles[person] = roles

    async def roles(self, session: AsyncSession, person: Person) -> frozenset[str]:
        known = self._known_roles.get(person)
        if known is not None:
            return known
        return await queries.roles_of(session, person.id)

    async def is_recipient(self, session: AsyncSession, person: Person, incident: Incident,
                           *reasons: str, exclude: tuple[str, ...] = ()) -> bool:
        """Whether the incident was sent to ``person`` (for one of ``reasons``, if given; not
        counting ``exclude``: a worker who handed a report over no longer has it)."""
        q = select(IncidentRecipient.id).where(
            IncidentRecipient.incident_id == incident.id,
            IncidentRecipient.person_id == person.id,
        )
        if reasons:
            q = q.where(IncidentRecipient.reason.in_(reasons))
        if exclude:
            q = q.where(IncidentRecipient.reason.not_in(exclude))
        return (await session.execute(q)).first() is not None

    async def manages_team(self, session: AsyncSession, person: Person, team_id: str) -> bool:
        team = await session.get(Team, team_id)
        return team is not None and person.id in (team.manager_id, team.service_manager_id)

    async def may_acknowledge(self, session: AsyncSession, person: Person, incident: Incident) -> bool:
        if not person.active:
            return False
        # The team first: read by key, it is in the session after the first check (a page
        # asks this three times), where the recipients are a query each time.
        if await self.manages_team(session, person, incident.team_id):
            return True
        return await self.is_recipient(session, person, incident, exclude=(HANDED_OVER,))

    async def may_record_task(self, session: AsyncSession, person: Person, task: Task) -> bool:
        """Record a statutory task done: its owner, or a manager (or deputy) of the child's
        team."""
        if not person.active:
            return False
        if task.owner_id == person.id:
            return True
        team = await session.get(Team, task.team_id)
        return team is not None and person.id in (team.manager_id, team.service_manager_id,
                                                  team.deputy_id)

    async def may_record_notification(self, session: AsyncSession, person: Person,
                                      incident: Incident | None,
                                      owners: frozenset[str] = frozenset(),
                                      reminded: frozenset[str] = frozenset()) -> bool:
        """Recording a Schedule 7 notification (or that an event is not notifiable): the
        owners named in ``[notification]`` (registered manager, deputy, out-of-hours
        owner), the managers of the child's team, or whoever was sent the reminder. An
        event with no incident (a DBS referral): the owners, any team's manager, and
        whoever its reminders reached (``reminded``: a stand-in down the owner's chain)."""
        if not person.active:
            return False
        if person.id in owners:
            return True
        if incident is None:
            if person.id in reminded:
                return True
            return bool((await session.execute(select(Team.id).where(
                (Team.manager_id == person.id) | (Team.service_manager_id == person.id))
            )).first())
        if await self.manages_team(session, person, incident.team_id):
            return True
        return await self.is_recipient(session, person, incident, "notification")

    async def event_scope(self, session: AsyncSession, person: Person,
                          owners: frozenset[str] = frozenset()) -> frozenset[str] | None:
        """Which overdue notifiable events without a report (DBS referrals) this person is
        shown in needs action (``/overdue``, the digest, the console): the notification
        owners (``owners``: registered manager, deputy, out-of-hours owner) and
        administrators all of them (None); a team's managers those recorded by someone in
        the teams they manage; anyone else none (an empty set). Narrower than
        ``may_record_notification``, which lets any team's manager record one: a list is
        a call to act, and the referral is the business of the owner's chain and of the
        recorder's manager."""
        if not person.active:
            return frozenset()
        if person.id in owners or ADMIN in await self.roles(session, person):
            return None
        return await self.managed_team_ids(session, person)

    async def may_view(self, session: AsyncSession, person: Person, incident: Incident) -> bool:
        if not person.active:
            return False
        if incident.reporter_id == person.id:
            return True
        if await self.may_acknowledge(session, person, incident):
            return True
        return ADMIN in await self.roles(session, person)

    # ---- the incident thread: replies and outcomes ---------------------------

    async def may_reply(self, session: AsyncSession, person: Person, incident: Incident) -> bool:
        """Reply to the carer: anyone the incident was sent to, or the team's manager."""
        return await self.may_acknowledge(session, person, incident)

    async def may_close(self, session: AsyncSession, person: Person, incident: Incident) -> bool:
        """Record an outcome and close: the same people who may reply."""
        return await self.may_acknowledge(session, person, incident)

    async def may_reopen(self, session: AsyncSession, person: Person, incident: Incident) -> bool:
        """Reopen a closed report: "its worker" - whoever closed it or holds it (allocated,
        cover, duty, EDT; not those copied for information) - or the team's manager."""
        if not person.active:
            return False
        if incident.closed_by_id == person.id:
            return True
        if await self.is_recipient(session, person, incident, *HOLDER_REASONS):
            return True
        return await self.manages_team(session, person, incident.team_id)

    async def may_add(self, session: AsyncSession, person: Person, incident: Incident) -> bool:
        """Add a follow-up or a correction: only the carer who reported it."""
        return person.active and incident.reporter_id == person.id

    async def can_report(self, session: AsyncSession, person: Person) -> bool:
        return person.active and CARER in await self.roles(session, person)

    async def is_worker(self, session: AsyncSession, person: Person) -> bool:
        return person.active and bool(WORKER_ROLES & await self.roles(session, person))

    async def managed_team_ids(self, session: AsyncSession, person: Person) -> frozenset[str]:
        """The teams whose records this person may review (none if inactive)."""
        if not person.active:
            return frozenset()
        return frozenset(t.id for t in await queries.teams_managed_by(session, person.id))

    async def may_oversee(self, session: AsyncSession, person: Person, team_id: str) -> bool:
        """Record management oversight on an incident or a child of this team: its managers
        (the directory has no deputies yet; when it does, they belong here)."""
        return person.active and await self.manages_team(session, person, team_id)

    async def may_see_child(self, session: AsyncSession, person: Person,
                            child_ref: str) -> ChildView | None:
        """May ``person`` see the chronology of ``child_ref``, and which part (None: refused,
        also when there is no such child)."""
        if not person.active:
            return None
        child = await session.get(Child, child_ref)
        if child is None:
            return None
        if ADMIN in await self.roles(session, person):
            return ChildView("admin")
        allocated = child.allocated_social_worker_id
        if allocated == person.id:
            return ChildView("allocated")
        worker = await session.get(Person, allocated) if allocated else None
        if worker is not None and worker.cover_id == person.id:
            return ChildView("cover")
        if await self.manages_team(session, person, child.team_id):
            return ChildView("manager")
        windows = tuple((start, end) for start, end in (await session.execute(
            select(Placement.start_date, Placement.end_date)
            .join(Person, Person.id == Placement.carer_id)
            .where(Placement.child_ref == child_ref,
                   Person.supervising_social_worker_id == person.id)
            .order_by(Placement.start_date))).all())
        if windows:
            return ChildView("supervising", windows)
        return None

    # ---- the web console (bot/web) ------------------------------------------

    async def may_use_console(self, session: AsyncSession, person: Person | None) -> bool:
        """Sign in to the web console: active workers (social workers, duty, EDT, LADO …),
        managers and administrators. Carers use the bot only: the console shows other
        people's reports and its pages are about oversight."""
        if person is None or not person.active:
            return False
        roles = await self.roles(session, person)
        return bool(ADMIN in roles or WORKER_ROLES & roles)

    async def console_scope(self, session: AsyncSession, person: Person) -> frozenset[str] | None:
        """The teams whose reports this person reviews in the console: administrators all
        (None), managers the teams they manage, anyone else none (an empty set: they see
        only the reports sent to them, as ``/open`` shows a worker)."""
        if not person.active:
            return frozenset()
        if ADMIN in await self.roles(session, person):
            return None
        return await self.managed_team_ids(session, person)

    async def may_review_incident(self, session: AsyncSession, person: Person,
                                  incident: Incident) -> bool:
        """May read this incident's full timeline: it belongs to a team they manage."""
        return incident.team_id in await self.managed_team_ids(session, person)


async def on_behalf_of(session: AsyncSession, incident: Incident, person: Person) -> str | None:
    """The holder ``person`` acts for when acknowledging, or None when acting for themselves.

    Someone who holds the incident acts for themselves. Someone it was escalated to,
    or the manager of the child's team (copied or not), acts on the holder's behalf.
    Other copies (supervising social worker, LADO, …) acknowledge in their own name.
    """
    rows = await queries.recipients_of(session, incident.id)
    own = [r for r in rows if r.person_id == person.id]
    if any(r.reason in HOLDER_REASONS for r in own):
        return None
    escalated = any(r.reason.startswith("escalation:") or r.reason == "notification" for r in own)
    if not escalated and not await Access().manages_team(session, person, incident.team_id):
        return None
    for reason in HOLDER_REASONS:
        for r in rows:
            if r.reason == reason and r.person_id != person.id:
                return r.person_id
    return None
