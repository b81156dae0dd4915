"""Incidents: submitting a report and acknowledging it (the core loop's domain rules).

Each function works inside the caller's write transaction: the incident, its
recipients, the deliveries it owes and its audit events commit together or not
at all. Nothing here talks to Telegram; the dispatcher sends what was enqueued.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from bot import audit, logs
from bot.delivery.outbox import PRIORITY, RECEIPT_PRIORITY, enqueue, enqueue_all, owed
from bot.escalation import clocks
from bot.escalation import policy as escalation
from bot.people import oncall
from bot.people.access import on_behalf_of as escalation_on_behalf_of
from bot.people.info import person_info
from bot.record import alerts, attachments, notification
from bot.record.prompt import Submitted
from bot.rules.reasons import reason_label
from bot.rules.roles import CHILD_PROTECTION, LADO
from bot.rules.routing import (
    HOLDER_REASONS,
    Route,
    RoutingInput,
    route_incident,
)
from bot.texts import h, when
from storage import content as record_content
from storage import queries
from storage.models import (
    Child,
    Delivery,
    Incident,
    IncidentCounter,
    IncidentRecipient,
    Person,
    Team,
)

if TYPE_CHECKING:
    from bot.config import Category
    from bot.services import Services

log = logging.getLogger(__name__)

# A long paste arrives split in messages of up to 4096 characters (Telegram's limit for one
# message); up to four are joined into the description. The alert shows what fits and "Full
# record" the rest (bot.chunks); anything beyond goes to the draft's notes, never dropped.
MAX_DESCRIPTION = 4 * 4096


class ReportError(Exception):
    """A report cannot be accepted as it is; the message is for the carer."""




# Who "has" a report, in order of precedence: the routing's holder (allocated
# worker, else their cover, else duty …), then whoever a failed alert was rerouted
# to (bot/engine/rerouting.py), earliest first; a candidate all of whose alerts on
# the report failed does not have it.
REROUTED = "reroute:"


# Who may hold a report: a recipient with a holder's reason, or someone a failed alert was
# rerouted to (``holder_ids`` ranks them).
HOLDER_CANDIDATE = (IncidentRecipient.reason.in_(HOLDER_REASONS)
                    | IncidentRecipient.reason.startswith(REROUTED, autoescape=True))
# The candidates to hold each of some incidents, in the order they were added (built once:
# building a statement costs more than a small query runs).
_HOLDER_CANDIDATES = (
    select(IncidentRecipient.incident_id, IncidentRecipient.person_id, IncidentRecipient.reason)
    .where(IncidentRecipient.incident_id.in_(bindparam("incident_ids", expanding=True)),
           HOLDER_CANDIDATE)
    .order_by(IncidentRecipient.id))


async def holder_ids(session: AsyncSession, incident_ids: list[int]) -> dict[int, str]:
    """The person holding each incident now (one ranking for /overdue, /open, the digest).

    Candidates are the recipients recorded at routing with a holder's reason (in
    ``HOLDER_REASONS`` order), then the people a failed alert was rerouted to
    (``reroute:*``, in the order they were added). The first candidate who was reached
    holds it: one whose every alert on the incident failed (blocked the bot, retries ran
    out) has not got it, so the report is with whoever it was rerouted to. A failed copy
    (LADO, duty) that was rerouted does not take the report from a holder who was
    reached. When nobody was reached, the routing's holder is still named (nobody else
    has it). The deliveries are read only for incidents that were rerouted."""
    if not incident_ids:
        return {}
    rows = await session.execute(_HOLDER_CANDIDATES, {"incident_ids": list(incident_ids)})
    return await rank_holders(session, rows)


async def rank_holders(session: AsyncSession,
                       candidates: Iterable[tuple[int, str, str]]) -> dict[int, str]:
    """``holder_ids`` from candidates already read with another statement: (incident id,
    person id, reason) of the recipients ``HOLDER_CANDIDATE`` selects, each incident's in
    the order they were added."""
    ranked: dict[int, list[tuple[int, int, str]]] = {}
    for n, (incident_id, person_id, reason) in enumerate(candidates):
        rank = HOLDER_REASONS.index(reason) if reason in HOLDER_REASONS else len(HOLDER_REASONS)
        ranked.setdefault(incident_id, []).append((rank, n, person_id))
    rerouted = [iid for iid, cands in ranked.items()
                if any(rank == len(HOLDER_REASONS) for rank, _, _ in cands)]
    unreached = await _unreached(session, rerouted) if rerouted else {}
    out: dict[int, str] = {}
    for incident_id, cands in ranked.items():
        cands.sort()
        missed = unreached.get(incident_id, set())
        reached = [pid for _, _, pid in cands if pid not in missed]
        if reached:
            out[incident_id] = reached[0]
        elif cands[0][0] < len(HOLDER_REASONS):
            out[incident_id] = cands[0][2]
    return out


async def _unreached(session: AsyncSession, incident_ids: list[int]) -> dict[int, set[str]]:
    """Per incident, the people every one of whose alerts on it failed."""
    rows = await session.execute(
        select(Delivery.incident_id, Delivery.person_id, Delivery.status).where(
            Delivery.incident_id.in_(incident_ids), Delivery.method == "send",
            Delivery.kind.in_(alerts.ALERT_KINDS), Delivery.person_id.is_not(None)))
    failed: dict[int, set[str]] = {}
    live: dict[int, set[str]] = {}
    for incident_id, person_id, status in rows:
        (failed if status == "failed" else live).setdefault(incident_id, set()).add(person_id)
    return {iid: pids - live.get(iid, set()) for iid, pids in failed.items()}


def silent_out_of_hours(urgency: str, out_of_hours: bool) -> bool:
    """Routine alerts made out of hours arrive without a sound (they wait for working time;
    urgent and high ones ring, and go to the out-of-hours team)."""
    return out_of_hours and urgency == "routine"


async def next_reference(session: AsyncSession, year: int) -> str:
    """The year's next reference: one upsert that takes the next number (the first is 1).

    References are gapless per year and unique: an inspector reading INC-2026-000123 and
    INC-2026-000125 would ask where 124 went. So the number comes from a counter row
    (``incident_counters``) updated in the report's own transaction — a rollback gives
    the number back — and not from a sequence, which never gives one back. The price is
    that the row stays locked until that transaction commits and every other Submit
    waits for it: call this last (``finish_report``), just before the report's few
    remaining writes and its commit.
    """
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    table = IncidentCounter.__table__
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    number = (
        await session.execute(
            ins.values(year=year, last_number=1)
            .on_conflict_do_update(index_elements=["year"],
                                   set_={"last_number": table.c.last_number + 1})
            .returning(table.c.last_number)
        )
    ).scalar_one()
    return f"INC-{year}-{number:06d}"


# An incident is written before it has its number (``file_report``) with this prefix and 48
# random bits (unique, within the column's 20 characters); ``finish_report`` replaces it
# before the commit, so no other transaction ever sees it.
UNNUMBERED = "pending-"


async def routing_input(
    session: AsyncSession, *, child: Child, team: Team, carer: Person, urgency: str,
    copy_roles: tuple[str, ...], out_of_hours: bool, now: datetime, tz: ZoneInfo,
    last_resort_id: str | None = None,
) -> tuple[RoutingInput, dict[str, Person]]:
    by_role = {
        role: tuple(p.id for p in await queries.people_with_role(session, role))
        for role in (LADO, CHILD_PROTECTION) if role in copy_roles
    }
    tinfo = await oncall.team_at(session, team, now, tz)  # rotas: whoever is on call now
    last_resort = await oncall.resolve_id(session, last_resort_id, now, tz)
    ids = {child.allocated_social_worker_id, team.manager_id, tinfo.duty_id, tinfo.edt_id,
           tinfo.deputy_id, tinfo.service_manager_id, last_resort,
           carer.supervising_social_worker_id, carer.id}
    ids |= {pid for group in by_role.values() for pid in group}
    people = await queries.people_by_id(session, {i for i in ids if i})
    covers = {p.cover_id for p in people.values() if p.cover_id and p.cover_id not in people}
    if covers:
        people.update(await queries.people_by_id(session, covers))
    roles = await queries.roles_by_person(session, list(people))
    infos = {pid: person_info(p, roles.get(pid, frozenset())) for pid, p in people.items()}
    return (
        RoutingInput(
            now=now, urgency=urgency, copy_roles=copy_roles, out_of_hours=out_of_hours,
            team=tinfo,
            allocated_id=child.allocated_social_worker_id, carer_id=carer.id,
            supervising_id=carer.supervising_social_worker_id, people=infos, by_role=by_role,
            last_resort_id=last_resort,
        ),
        people,
    )


# Core statements of the Submit, built once (issue 18: the ORM's unit of work cost more
# Python than these few rows need).
_INSERT_RECIPIENTS = IncidentRecipient.__table__.insert()
_NUMBER = (Incident.__table__.update()
           .where(Incident.__table__.c.id == bindparam("incident_id"))
           .values(reference=bindparam("number"), content_hash=bindparam("vouched")))


def _numbered(session: Session, incident: Incident, reference: str) -> dict[str, Any]:
    """Give the filed incident its reference, and the chain's snapshot of it as numbered
    (``storage.content.vouch``), in one UPDATE; the snapshot, for the ``reported`` event."""
    set_committed_value(incident, "reference", reference)
    vouched = record_content.vouch(incident)
    session.connection().execute(_NUMBER, {"incident_id": incident.id, "number": reference,
                                           "vouched": incident.content_hash})
    return vouched


@dataclass
class FiledReport:
    """A report written but not yet numbered (``file_report``); ``finish_report`` numbers
    it and writes what carries the number."""

    incident: Incident
    carer: Person
    category: Category
    route: Route
    people: dict[str, Person]
    now: datetime  # the moment of the report: every row and event of its Submit carries it
    n_files: int
    draft_id: int | None
    # Audit events owed between "reported" and "routed" (the notification event),
    # written with them by finish_report.
    events: list[audit.Event] = field(default_factory=list)


async def submit_report(
    session: AsyncSession,
    services: "Services",
    *,
    carer: Person,
    child_ref: str,
    category_key: str,
    description: str,
    occurred_at: datetime | None = None,
    details: dict[str, Any] | None = None,
    draft_id: int | None = None,
) -> Submitted:
    """Record a report, route it, owe every alert and the carer's receipt
    (``file_report`` then ``finish_report``; a caller with more to write in the same
    transaction writes it between the two)."""
    filed = await file_report(session, services, carer=carer, child_ref=child_ref,
                              category_key=category_key, description=description,
                              occurred_at=occurred_at, details=details, draft_id=draft_id)
    return await finish_report(session, services, filed)


async def file_report(
    session: AsyncSession,
    services: "Services",
    *,
    carer: Person,
    child_ref: str,
    category_key: str,
    description: str,
    occurred_at: datetime | None = None,
    details: dict[str, Any] | None = None,
    draft_id: int | None = None,
) -> FiledReport:
    """Check a report, route it and write everything about it that does not carry its
    reference: the incident (``UNNUMBERED``), its recipients, its notifiable event, its
    files. Takes no lock that another report waits for (issue 18)."""
    settings, now = services.settings, services.clock.now()
    category = settings.category(category_key)
    if category is None:
        raise ReportError("That category is no longer offered. Please choose another.")
    description = description.strip()
    if not description:
        raise ReportError("Please write what happened before submitting.")
    if len(description) > MAX_DESCRIPTION:
        raise ReportError(
            f"The description is {len(description)} characters; please keep it under "
            f"{MAX_DESCRIPTION} and add the rest as a follow-up."
        )
    placed = await queries.children_placed_with(session, carer.id, services.today(now))
    child = next((c for c in placed if c.ref == child_ref), None)
    if child is None:
        raise ReportError("That child is not placed with you, so I cannot take a report about them.")
    team = await session.get(Team, child.team_id)
    assert team is not None
    out_of_hours = not services.calendar.is_working_time(now)
    rin, people = await routing_input(
        session, child=child, team=team, carer=carer, urgency=category.urgency,
        copy_roles=tuple(category.copy_roles), out_of_hours=out_of_hours, now=now,
        tz=services.tz, last_resort_id=settings.last_resort or None,
    )
    route = route_incident(rin)

    plan = escalation.freeze_plan(settings, services.calendar, category.urgency, now)
    step, due = escalation.first_due(plan)
    incident = Incident(
        reference=UNNUMBERED + secrets.token_hex(6),
        child_ref=child.ref, team_id=team.id, reporter_id=carer.id, category=category.key,
        urgency=category.urgency, occurred_at=occurred_at, reported_at=now,
        description=description, details=details or {}, status="open",
        out_of_hours=out_of_hours, policy_version=plan["version"], plan=plan,
        escalation_level=0, next_step=step, next_due_at=due, ack_due_at=due,
        notifiable=category.notifiable,
        **escalation.notification_fields(category.notifiable,
                                         settings.notification.event(category.key).deadline,
                                         services.calendar, now),
        updated_at=now,
    )
    session.add(incident)
    await session.flush()
    filed = FiledReport(incident, carer, category, route, people, now, 0, draft_id)
    if category.notifiable:
        await notification.open_event(session, services, event=category.key, now=now,
                                      incident=incident, events=filed.events)
    filed.n_files = await attachments.move_draft(session, draft_id, incident.id) if draft_id else 0
    if route.recipients:
        conn = await session.connection()
        recipients = [{"incident_id": incident.id, "person_id": r.person_id,
                       "reason": r.reason, "can_acknowledge": True, "added_at": now}
                      for r in route.recipients]
        await conn.execute(_INSERT_RECIPIENTS,
                           recipients if len(recipients) > 1 else recipients[0])
    await session.flush()  # the notifiable event's change of the incident, if any
    return filed


async def finish_report(
    session: AsyncSession, services: "Services", filed: FiledReport, *,
    then: Callable[[], Awaitable[Sequence[Delivery]]] | None = None,
) -> Submitted:
    """Number a filed report and write what carries its number: the alerts, the carer's
    receipt (then what ``then`` builds with ``outbox.owed``: messages owed after the
    receipt, rendered once the number is known) and the audit events — the last writes
    of the Submit transaction.

    The reference's counter row (``next_reference``) and the audit chain's head are the
    two rows every report locks until its commit; taken here, after everything else, each
    is held for a handful of statements rather than the whole Submit (issue 18: under a
    burst eighteen sessions queued on the counter while its holders did the rest). That
    shortened the queue on the locks, not the burst's alert latency, which Telegram's
    global limit bounds (``bench/RESULTS.md``, branch ``refburst``)."""
    settings, now = services.settings, filed.now
    incident, carer, category, route = filed.incident, filed.carer, filed.category, filed.route
    reference = await next_reference(session, services.local(now).year)
    vouched = await session.run_sync(_numbered, incident, reference)
    logs.set_incident(incident.reference)
    log.info("%s reported: %s (%s) about %s", incident.reference, category.key,
             category.urgency, incident.child_ref)
    result = Submitted(incident, phone_advice=route.phone_advice,
                       nobody_reachable=route.nobody_reachable)
    rows = []
    for r in route.recipients:
        person = filed.people[r.person_id]
        result.told.append((person, r.reason))
        rows.append(owed(
            key=f"alert:{incident.id}:{person.id}", kind="alert", now=now,
            person=person, incident_id=incident.id, priority=PRIORITY[category.urgency],
            text=alerts.alert_text(services, incident, carer, reason_label(r.reason),
                                   filed.n_files),
            buttons=alerts.alert_buttons(incident, filed.n_files,
                                         settings.privacy.minimal_alerts),
            silent=silent_out_of_hours(category.urgency, incident.out_of_hours),
        ))
    rows.append(owed(
        key=f"receipt:{incident.id}", kind="receipt", now=now, person=carer,
        incident_id=incident.id, priority=RECEIPT_PRIORITY,
        text=alerts.receipt_text(services, incident, result),
        buttons=alerts.receipt_buttons(incident),
    ))
    if then is not None:
        rows.extend(await then())
    await enqueue_all(session, rows)
    await audit.record_all(session, [
        audit.event("reported", at=now, actor_id=carer.id, incident_id=incident.id,
                    reference=incident.reference, child=incident.child_ref,
                    category=category.key, urgency=category.urgency,
                    out_of_hours=incident.out_of_hours, draft=filed.draft_id,
                    **{record_content.KEY: vouched}),
        *filed.events,
        audit.event("routed", at=now, incident_id=incident.id,
                    recipients=[{"person": r.person_id, "reason": r.reason}
                                for r in route.recipients],
                    missed=[{"person": pid, "why": why} for pid, why in route.missed],
                    holder=route.holder_id, nobody_reachable=route.nobody_reachable),
        *(audit.event("recipient_missed", at=now, incident_id=incident.id, person=pid, why=why)
          for pid, why in route.missed),
    ])
    return result


@dataclass
class AckResult:
    status: str  # acknowledged | already | refused | not_found
    incident: Incident | None = None
    by_name: str | None = None
    at: datetime | None = None


async def acknowledge(
    session: AsyncSession, services: "Services", *, incident_id: int, person: Person,
    telegram_user_id: int | None = None, on_behalf_of: str | None = None,
) -> AckResult:
    """Record the first acknowledgement; later taps change nothing."""
    now = services.clock.now()
    incident = await session.get(Incident, incident_id)
    if incident is None:
        await audit.refused(session, at=now, actor_id=person.id,
                            telegram_user_id=telegram_user_id, action="acknowledge",
                            why="no such incident", incident_ref=incident_id)
        return AckResult("not_found")
    logs.set_incident(incident.reference)
    if not await services.access.may_acknowledge(session, person, incident):
        await audit.refused(session, at=now, actor_id=person.id,
                            telegram_user_id=telegram_user_id, incident_id=incident.id,
                            action="acknowledge", why="not a recipient of this incident")
        return AckResult("refused", incident)
    if on_behalf_of is None:
        on_behalf_of = await escalation_on_behalf_of(session, incident, person)
    res = await session.execute(
        update(Incident)
        .where(Incident.id == incident.id, Incident.status == "open")
        .values(status="acknowledged", acknowledged_by_id=person.id, acknowledged_at=now,
                acknowledged_on_behalf_of_id=on_behalf_of, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(incident)
    if res.rowcount != 1:
        by = await session.get(Person, incident.acknowledged_by_id) if incident.acknowledged_by_id else None
        return AckResult("already", incident, by.name if by else "someone", incident.acknowledged_at)

    await clocks.after_ack(session, services.calendar, incident, now)
    await audit.record(
        session, "acknowledged", at=now, actor_id=person.id, telegram_user_id=telegram_user_id,
        incident_id=incident.id, on_behalf_of=on_behalf_of,
        waited_seconds=int((now - incident.reported_at).total_seconds()),
    )
    await refresh_alerts(session, services, incident, reason="ack")
    carer = await session.get(Person, incident.reporter_id)
    if carer is not None:
        await enqueue(
            session, key=f"ack-notice:{incident.id}", kind="notice", now=now, person=carer,
            incident_id=incident.id, priority=RECEIPT_PRIORITY,
            text=(f"✅ Your report <b>{h(incident.reference)}</b> was acknowledged by "
                  f"<b>{h(person.name)}</b> at {when(now, services.tz)}."),
        )
    return AckResult("acknowledged", incident, person.name, now)


async def refresh_alerts(
    session: AsyncSession, services: "Services", incident: Incident, *, reason: str
) -> int:
    """Edit every alert already sent (or owed) about an incident to show its new state."""
    now = services.clock.now()
    rows = (
        await session.execute(
            select(Delivery).where(
                Delivery.incident_id == incident.id, Delivery.method == "send",
                Delivery.kind.in_(alerts.ALERT_KINDS),
                Delivery.status.in_(("pending", "sent")),
            ).order_by(Delivery.id)
        )
    ).scalars().all()
    status_line = await alerts.status_line(session, services, incident)
    buttons = await alerts.buttons_for(session, services, incident)
    for d in rows:
        text = alerts.with_status(d.payload.get("text", ""), status_line)
        await enqueue(
            session, key=f"edit:{d.id}:{reason}:{incident.status}:{now.timestamp()}", kind="edit",
            method="edit", now=now, chat_id=d.chat_id, incident_id=incident.id,
            priority=d.priority + 1, text=text, buttons=buttons, target_delivery_id=d.id,
        )
    return len(rows)
