"""Who is told about an incident: the one place for the routing rules (docs/ARCHITECTURE.md).

Pure logic over plain values; no database, no Telegram. The caller loads a
:class:`RoutingInput` and stores the :class:`Route` it gets back.

1. The child's allocated social worker.
2. If they cannot take it (away, inactive, not linked to Telegram, or
   unreachable), their named cover if the cover can, else the team's duty worker.
3. Out of hours, urgent and high reports also go to the Emergency Duty Team.
4. The category's "also copied" roles get a copy; the carer's supervising
   social worker is copied on every report of theirs.
5. If nobody who can act on it can be reached, the team manager is told at
   once (if they can be), and the carer is told whom to phone.

Every person on the route receives the alert with an Acknowledge button: any of
them may take it. Each person appears once, under the first reason found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.rules.roles import CHILD_PROTECTION, LADO

# Urgencies the out-of-hours team (EDT) takes outside working hours, at report time and at
# every escalation step that falls out of hours.
OUT_OF_HOURS_URGENCIES = ("urgent", "high")

# Recipient reasons that mean "holds the incident" (may be reminded, acts on it),
# in order of precedence; every other reason is a copy for information.
HOLDER_REASONS = ("allocated", "cover", "duty", "edt", "manager_fallback")


@dataclass(frozen=True)
class PersonInfo:
    id: str
    name: str
    roles: frozenset[str]
    active: bool = True
    linked: bool = False
    away_until: datetime | None = None
    cover_id: str | None = None
    unreachable: bool = False
    phone: str | None = None

    def unavailable_reason(self, now: datetime) -> str | None:
        """Why this person cannot take an alert now, or None if they can."""
        if not self.active:
            return "is no longer active"
        if self.away_until is not None and self.away_until > now:
            return f"is away until {self.away_until.isoformat()}"
        if not self.linked:
            return "has not linked Telegram"
        if self.unreachable:
            return "cannot be reached on Telegram"
        return None


@dataclass(frozen=True)
class TeamInfo:
    id: str
    manager_id: str | None = None
    duty_id: str | None = None
    edt_id: str | None = None
    service_manager_id: str | None = None
    deputy_id: str | None = None  # stands in for the team manager


@dataclass(frozen=True)
class RoutingInput:
    now: datetime
    urgency: str
    copy_roles: tuple[str, ...]
    out_of_hours: bool
    team: TeamInfo
    allocated_id: str | None
    carer_id: str
    supervising_id: str | None
    people: dict[str, PersonInfo]
    # Everyone holding the lado / child_protection roles (service-wide).
    by_role: dict[str, tuple[str, ...]] = field(default_factory=dict)
    last_resort_id: str | None = None  # escalation.last_resort, a rota already resolved


@dataclass(frozen=True)
class Recipient:
    person_id: str
    reason: str  # allocated | cover | duty | edt | copy:<role> | supervising | manager_fallback
    primary: bool  # holds the incident (allocated worker, their cover or the duty worker)


@dataclass
class Route:
    recipients: list[Recipient]
    missed: list[tuple[str, str]]  # (person id, why they were not told)
    holder_id: str | None  # who has it: allocated worker, or the cover / duty standing in
    nobody_reachable: bool
    phone_advice: list[tuple[str, str]]  # (name, phone) the carer should call

    @property
    def recipient_ids(self) -> list[str]:
        return [r.person_id for r in self.recipients]


def holder_for(
    person_id: str | None, team: TeamInfo, people: dict[str, PersonInfo], now: datetime,
    missed: list[tuple[str, str]] | None = None,
) -> tuple[str, str] | None:
    """Who can act now for ``person_id``: ``(id, reason)`` or None.

    The rule of routing steps 1–2, used at report time and again by every
    reminder (``bot/engine/escalation.py``): the person themselves if they can
    take it now (reason "allocated"), else their named cover if the cover can
    ("cover"), else the team's duty worker ("duty"). Those passed over are
    appended to ``missed`` with why.
    """
    missed = missed if missed is not None else []

    def ok(pid: str | None) -> bool:
        p = people.get(pid) if pid else None
        if p is None:
            return False
        why = p.unavailable_reason(now)
        if why is not None:
            if (p.id, why) not in missed:
                missed.append((p.id, why))
            return False
        return True

    first = people.get(person_id) if person_id else None
    if ok(person_id):
        return person_id, "allocated"  # type: ignore[return-value]
    cover_id = first.cover_id if first is not None else None
    if cover_id and cover_id != person_id and ok(cover_id):
        return cover_id, "cover"
    if team.duty_id and ok(team.duty_id):
        return team.duty_id, "duty"
    return None


def route_incident(r: RoutingInput) -> Route:
    recipients: list[Recipient] = []
    missed: list[tuple[str, str]] = []
    phone_advice: list[tuple[str, str]] = []
    seen: set[str] = set()

    def person(pid: str | None) -> PersonInfo | None:
        return r.people.get(pid) if pid else None

    def add(pid: str | None, reason: str, primary: bool = False) -> bool:
        p = person(pid)
        if p is None:
            return False
        why = p.unavailable_reason(r.now)
        if why is not None:
            missed.append((p.id, why))
            return False
        if p.id not in seen:
            seen.add(p.id)
            recipients.append(Recipient(p.id, reason, primary))
        return True

    allocated = person(r.allocated_id)
    if allocated is not None and allocated.unavailable_reason(r.now) is not None:
        if allocated.phone and allocated.active:
            phone_advice.append((allocated.name, allocated.phone))
    holder: str | None = None
    found = holder_for(r.allocated_id, r.team, r.people, r.now, missed)
    if found is not None:
        holder, reason = found
        add(holder, reason, primary=True)

    if r.out_of_hours and r.urgency in OUT_OF_HOURS_URGENCIES:
        add(r.team.edt_id, "edt")

    for role in r.copy_roles:
        if role == "team_manager":
            add(r.team.manager_id, "copy:team_manager")
        elif role == "duty":
            add(r.team.duty_id, "copy:duty")
        elif role == "edt":
            add(r.team.edt_id, "copy:edt")
        elif role in (LADO, CHILD_PROTECTION):
            for pid in r.by_role.get(role, ()):
                add(pid, f"copy:{role}")

    add(r.supervising_id, "supervising")

    nobody = not recipients
    if nobody:
        # The chain that never ends with nobody: the manager, their cover, the deputy, the
        # service manager, duty or EDT by the hour, the last resort.
        chain = stand_in_chain(r.team.manager_id, "manager_fallback", team=r.team,
                               people=r.people, out_of_hours=r.out_of_hours,
                               last_resort_id=r.last_resort_id)
        index, passed = first_available(chain, r.people, r.now, exclude={r.carer_id})
        missed.extend(m for m in passed if m not in missed)
        if index is not None:
            add(chain[index][0], chain[index][1])
    if holder is None:
        duty = person(r.team.duty_id)
        if duty is not None and duty.phone:
            phone_advice.append((duty.name, duty.phone))
    # The carer themselves never receives their own alert.
    recipients = [x for x in recipients if x.person_id != r.carer_id]
    return Route(recipients, missed, holder, nobody, phone_advice)


# Who stands in for someone who cannot be reached, in this order (rules 2 and 5 above).
SUBSTITUTE_CHAIN = ("cover", "duty", "team_manager", "cover", "deputy", "service_manager", "edt",
                    "last_resort")


@dataclass(frozen=True)
class Substitute:
    person_id: str
    reason: str  # one of SUBSTITUTE_CHAIN
    already_has_it: bool  # they hold the incident already: no new alert is needed


def substitute_for(
    person_id: str, *, team: TeamInfo, people: dict[str, PersonInfo], now: datetime,
    exclude: set[str] = frozenset(), holding: set[str] = frozenset(),
    out_of_hours: bool = False, last_resort_id: str | None = None,
) -> tuple[Substitute | None, list[tuple[str, str]]]:
    """Who should have an incident instead of ``person_id``, whom Telegram could not reach.

    Their named cover, else the team's duty worker, else the team manager: the
    first of them who can take it now (not away, active, linked, reachable) and
    is not in ``exclude`` (the carer, and people whose alerts on this incident
    failed too). Someone in ``holding`` (they already have a live alert about
    it) is chosen without a new alert. After the team manager the chain goes on as
    :func:`stand_in_chain` does: the manager's cover, the deputy, the service
    manager, the out-of-hours team (out of hours) and the last resort. Returns the
    substitute (or None when nobody can be reached) and who was passed over and why.
    """
    missed: list[tuple[str, str]] = []
    failed = people.get(person_id)
    manager = people.get(team.manager_id) if team.manager_id else None
    chain = (
        ("cover", failed.cover_id if failed else None),
        ("duty", team.duty_id),
        ("team_manager", team.manager_id),
        ("cover", manager.cover_id if manager else None),
        ("deputy", team.deputy_id),
        ("service_manager", team.service_manager_id),
        ("edt", team.edt_id if out_of_hours else None),
        ("last_resort", last_resort_id),
    )
    for reason, pid in chain:
        if not pid or pid == person_id:
            continue
        if pid in exclude:
            missed.append((pid, "could not be reached either"))
            continue
        p = people.get(pid)
        if p is None:
            continue
        why = p.unavailable_reason(now)
        if why is not None:
            missed.append((pid, why))
            continue
        return Substitute(pid, reason, pid in holding), missed
    return None, missed


# --------------------------------------------------------------------------
# The chain that never ends with nobody (issue 13)
# --------------------------------------------------------------------------

LAST_RESORT = "escalation:last_resort"


def stand_in_chain(
    target_id: str | None, reason: str, *, team: TeamInfo, people: dict[str, PersonInfo],
    out_of_hours: bool, last_resort_id: str | None,
) -> list[tuple[str | None, str]]:
    """Everyone an escalation step to ``target_id`` may reach, in order: ``(person id, reason)``.

    The target; their cover; the team manager (when the target is someone else)
    and the manager's cover; the team's deputy manager; the service manager; the
    duty worker in working hours or the out-of-hours team (EDT) outside them; and
    last the configured last resort. The caller takes the first who can act now
    (:func:`first_available`). Ids that are rotas must already be resolved to the
    person on call (``team``, ``last_resort_id``).
    """
    def cover_of(pid: str | None) -> str | None:
        p = people.get(pid) if pid else None
        return p.cover_id if p is not None else None

    chain: list[tuple[str | None, str]] = [(target_id, reason),
                                           (cover_of(target_id), "escalation:cover")]
    if target_id != team.manager_id:
        chain.append((team.manager_id, "escalation:team_manager"))
    chain.append((cover_of(team.manager_id), "escalation:cover"))
    chain.append((team.deputy_id, "escalation:deputy"))
    chain.append((team.service_manager_id, "escalation:service_manager"))
    if out_of_hours:
        chain.append((team.edt_id, "escalation:edt"))
    else:
        chain.append((team.duty_id, "escalation:duty"))
    chain.append((last_resort_id, LAST_RESORT))
    out: list[tuple[str | None, str]] = []
    seen: set[str] = set()
    for i, (pid, why) in enumerate(chain):
        if i > 0 and (not pid or pid in seen):
            continue
        if pid:
            seen.add(pid)
        out.append((pid, why))
    return out


def first_available(
    chain: list[tuple[str | None, str]], people: dict[str, PersonInfo], now: datetime,
    *, exclude: set[str] | frozenset[str] = frozenset(),
) -> tuple[int | None, list[tuple[str, str]]]:
    """The index in ``chain`` of the first person who can act now (not in ``exclude``),
    or None; and who was passed over and why."""
    missed: list[tuple[str, str]] = []
    for i, (pid, _reason) in enumerate(chain):
        if not pid:
            continue
        if pid in exclude:
            continue
        p = people.get(pid)
        if p is None:
            missed.append((pid, "no such person in the directory"))
            continue
        why = p.unavailable_reason(now)
        if why is not None:
            if (pid, why) not in missed:
                missed.append((pid, why))
            continue
        return i, missed
    return None, missed
