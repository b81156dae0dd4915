"""When a delivery finally fails: reroute the alert, tell the carer, tell the team manager.

Runs as the dispatcher's ``on_failure`` hook, inside the transaction that marks
the delivery failed, so the new recipient, their alert, the notices and the
audit events commit together with the failure or not at all.

Decisions:

* Any alert-like delivery (alert, copy, reminder, escalation) that ends failed
  is rerouted — whether Telegram said the person is unreachable (blocked,
  deactivated, chat not found) or the retries ran out — because either way that
  person was not told. Only the unreachable answers mark the person
  unreachable; a person becomes reachable again as soon as they write to the
  bot (``bot/runtime/updates.py``).
* Who gets it instead is ``bot.rules.routing.substitute_for``: cover → duty → team
  manager, skipping anyone away, unlinked, unreachable, or whose own alert on
  this incident failed. If that person already holds the incident, no second
  alert is sent; the carer is simply told who has it.
* An incident already acknowledged or closed is not rerouted (someone has it);
  the failure is still recorded and the manager told.
* The team manager of the incident's team is told about every failed delivery
  about an incident (not edits, and not failures of these notices themselves,
  so nothing cascades). Failures stay queryable as ``deliveries.status =
  'failed'`` rows and ``delivery_failed`` / ``rerouted`` / ``reroute_failed``
  audit events.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.delivery.outbox import PRIORITY, SendOutcome, enqueue
from bot.people import oncall
from bot.people.info import person_info
from bot.record import alerts
from bot.rules.routing import Substitute, substitute_for
from bot.texts import h
from storage import queries
from storage.models import Delivery, Incident, IncidentRecipient, Person, Team

if TYPE_CHECKING:
    from bot.services import Services

NOTICE_KIND = "failure_notice"
REROUTE_NOTICE_PRIORITY = 2
REASONS = {
    "cover": "covering for {name}, who could not be reached",
    "duty": "duty social worker, because {name} could not be reached",
    "team_manager": "team manager, because {name} could not be reached",
    "deputy": "deputy team manager, because {name} could not be reached",
    "service_manager": "service manager, because {name} could not be reached",
    "edt": "Emergency Duty Team, because {name} could not be reached",
    "last_resort": "last resort: {name} could not be reached, nor anyone else in the chain",
}
KIND_LABELS = {
    "alert": "alert", "copy": "copy", "reminder": "reminder", "escalation": "escalation",
    "receipt": "receipt", "notice": "notice",
}


async def handle_failed_delivery(
    session: AsyncSession, delivery: Delivery, outcome: SendOutcome, now: datetime, *,
    services: "Services",
) -> None:
    """The dispatcher's ``on_failure`` hook (bind ``services`` with functools.partial)."""
    if delivery.kind in (NOTICE_KIND, "edit") or delivery.incident_id is None:
        return
    incident = await session.get(Incident, delivery.incident_id)
    if incident is None:
        return
    result = None
    if delivery.kind in alerts.ALERT_KINDS and delivery.person_id:
        result = await reroute(session, services, incident, delivery, outcome, now)
    await tell_manager(session, services, incident, delivery, outcome, now, result)
    if result is not None:
        services.metrics.delivery("rerouted")  # counted with the transaction about to commit


async def _alert_states(session: AsyncSession, incident_id: int) -> tuple[set[str], set[str]]:
    """(people whose alerts on the incident all failed, people with a live alert)."""
    rows = (
        await session.execute(
            select(Delivery.person_id, Delivery.status).where(
                Delivery.incident_id == incident_id, Delivery.method == "send",
                Delivery.kind.in_(alerts.ALERT_KINDS), Delivery.person_id.is_not(None),
            )
        )
    ).all()
    live = {pid for pid, status in rows if status in ("pending", "sent")}
    failed = {pid for pid, status in rows if status == "failed"} - live
    return failed, live


async def reroute(
    session: AsyncSession, services: "Services", incident: Incident, delivery: Delivery,
    outcome: SendOutcome, now: datetime,
) -> Substitute | None:
    """Give the incident to whoever should have it instead; tell the carer. None: nobody."""
    if incident.status != "open":
        await audit.record(session, "reroute_skipped", at=now, incident_id=incident.id,
                           delivery=delivery.id, person=delivery.person_id,
                           why=f"incident already {incident.status}")
        return None
    team = await session.get(Team, incident.team_id)
    team_info = await oncall.team_at(session, team, now, services.tz)
    failed_ids, live_ids = await _alert_states(session, incident.id)
    failed_person = await session.get(Person, delivery.person_id)
    ids = {delivery.person_id, incident.reporter_id}
    last_resort = await oncall.resolve_id(session, services.settings.last_resort, now,
                                          services.tz)
    ids |= {team_info.duty_id, team_info.manager_id, team_info.deputy_id, team_info.edt_id,
            team_info.service_manager_id, last_resort}
    if failed_person is not None and failed_person.cover_id:
        ids.add(failed_person.cover_id)
    people = await queries.people_by_id(session, {i for i in ids if i})
    manager = people.get(team_info.manager_id or "")
    if manager is not None and manager.cover_id and manager.cover_id not in people:
        people.update(await queries.people_by_id(session, {manager.cover_id}))
    infos = {pid: person_info(p, frozenset()) for pid, p in people.items()}
    sub, missed = substitute_for(
        delivery.person_id, team=team_info, people=infos, now=now,
        exclude=failed_ids | {incident.reporter_id, delivery.person_id}, holding=live_ids,
        out_of_hours=not services.calendar.is_working_time(now), last_resort_id=last_resort,
    )
    failed_name = failed_person.name if failed_person else delivery.person_id
    carer = people.get(incident.reporter_id)
    if sub is None:
        await audit.record(
            session, "reroute_failed", at=now, incident_id=incident.id, delivery=delivery.id,
            person=delivery.person_id, error=outcome.error,
            missed=[{"person": p, "why": w} for p, w in missed],
        )
        if carer is not None:
            await enqueue(
                session, key=f"reroute-notice:{delivery.id}", kind="notice", now=now,
                person=carer, incident_id=incident.id, priority=REROUTE_NOTICE_PRIORITY,
                text=_nobody_text(services, incident, failed_person, failed_name),
            )
        return None

    to = people[sub.person_id]
    label = REASONS[sub.reason].format(name=failed_name)
    if not sub.already_has_it:
        exists = (
            await session.execute(
                select(IncidentRecipient).where(IncidentRecipient.incident_id == incident.id,
                                                IncidentRecipient.person_id == to.id)
            )
        ).scalar_one_or_none()
        if exists is None:
            session.add(IncidentRecipient(incident_id=incident.id, person_id=to.id,
                                          reason=f"reroute:{sub.reason}", can_acknowledge=True,
                                          added_at=now))
        await enqueue(
            session, key=f"reroute:{delivery.id}:{to.id}", kind="alert", now=now, person=to,
            incident_id=incident.id, priority=PRIORITY.get(incident.urgency, 3),
            text=alerts.alert_text(services, incident, carer or to, label),
            buttons=alerts.alert_buttons(incident),
        )
    await audit.record(
        session, "rerouted", at=now, incident_id=incident.id, delivery=delivery.id,
        **{"from": delivery.person_id}, to=to.id, reason=sub.reason,
        already_had_it=sub.already_has_it, error=outcome.error,
        missed=[{"person": p, "why": w} for p, w in missed],
    )
    if carer is not None:
        await enqueue(
            session, key=f"reroute-notice:{delivery.id}", kind="notice", now=now, person=carer,
            incident_id=incident.id, priority=REROUTE_NOTICE_PRIORITY,
            text=(f"ℹ️ Your report <b>{h(incident.reference)}</b>: {h(failed_name)} could not "
                  f"be reached on Telegram, so <b>{h(to.name)}</b> "
                  f"({h(_role_words(sub.reason))}) has it now."),
        )
    return sub


def _role_words(reason: str) -> str:
    return {"cover": "covering", "duty": "duty social worker",
            "team_manager": "team manager", "deputy": "deputy team manager",
            "service_manager": "service manager", "edt": "Emergency Duty Team",
            "last_resort": "the service's last resort"}.get(reason, reason)


def _nobody_text(services: "Services", incident: Incident, failed: Person | None,
                 failed_name: str) -> str:
    s = services.settings.service
    lines = [f"⚠️ Your report <b>{h(incident.reference)}</b>: {h(failed_name)} could not be "
             "reached on Telegram and nobody else could be alerted through this bot.",
             "Please phone now:"]
    if failed is not None and failed.phone:
        lines.append(f"• {h(failed_name)}: <b>{h(failed.phone)}</b>")
    if s.duty_phone:
        lines.append(f"• Duty social worker: <b>{h(s.duty_phone)}</b>")
    if s.out_of_hours_phone:
        lines.append(f"• Out of hours: <b>{h(s.out_of_hours_phone)}</b>")
    return "\n".join(lines)


async def tell_manager(
    session: AsyncSession, services: "Services", incident: Incident, delivery: Delivery,
    outcome: SendOutcome, now: datetime, sub: Substitute | None,
) -> None:
    team = await session.get(Team, incident.team_id)
    manager = await session.get(Person, team.manager_id) if team and team.manager_id else None
    if manager is None or manager.id == delivery.person_id or manager.telegram_chat_id is None:
        await audit.record(session, "failure_not_reported", at=now, incident_id=incident.id,
                           delivery=delivery.id,
                           why="no reachable team manager for this incident's team")
        return
    person = await session.get(Person, delivery.person_id) if delivery.person_id else None
    name = person.name if person else "someone"
    lines = [
        f"⚠️ A message about <b>{h(incident.reference)}</b> could not be delivered.",
        f"{KIND_LABELS.get(delivery.kind, delivery.kind).capitalize()} to {h(name)}: "
        f"{h(outcome.error or 'failed')}",
    ]
    if outcome.unreachable:
        lines.append(f"{h(name)} is marked unreachable on Telegram until they write to the bot "
                     "again; please contact them.")
    if delivery.kind in alerts.ALERT_KINDS:
        if sub is not None:
            to = await session.get(Person, sub.person_id)
            lines.append(f"The report has gone to <b>{h(to.name if to else sub.person_id)}</b> "
                         "instead.")
        elif incident.status == "open":
            lines.append("Nobody else could be alerted through the bot; the carer was asked "
                         "to phone.")
    await enqueue(
        session, key=f"failure-notice:{delivery.id}", kind=NOTICE_KIND, now=now, person=manager,
        incident_id=incident.id, priority=REROUTE_NOTICE_PRIORITY, text="\n".join(lines),
    )
