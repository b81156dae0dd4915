"""Bulk data for the benchmarks: a generated directory and a history of incidents.

Rows go in with multi-row INSERTs (fast on SQLite and PostgreSQL alike), not
through the directory import or the report flow, which would take far longer
than the thing being measured. The shape follows the real schema: teams of
social workers with a manager and a duty worker, one Emergency Duty Team,
carers each with one child placed, everyone linked to a Telegram id; and
incidents with their recipients, deliveries and a valid audit hash chain
(so ``audit verify`` passes on the result).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import insert, text, update

from bot import audit
from bot.config import Settings
from storage.db import Database
from storage.models import (
    AuditEvent,
    AuditHead,
    Child,
    Delivery,
    Incident,
    IncidentCounter,
    IncidentRecipient,
    Person,
    PersonRole,
    Placement,
    Team,
)

TEAM_WORKERS = 18  # social workers per team (plus a manager and a duty worker)
CHILDREN_PER_WORKER = 12
WORKER_TG_BASE = 2_000_000
CARER_TG_BASE = 1_000_000


@dataclass
class Population:
    carers: list[tuple[str, int, str]] = field(default_factory=list)  # (id, telegram id, child)
    workers: list[tuple[str, int]] = field(default_factory=list)  # (id, telegram id)
    allocated: dict[str, str] = field(default_factory=dict)  # child ref -> social worker id

    @property
    def people(self) -> int:
        return len(self.carers) + len(self.workers)


async def _insert(db: Database, model, rows: list[dict], chunk: int = 2000) -> None:
    for i in range(0, len(rows), chunk):
        async with db.write() as s:
            await s.execute(insert(model.__table__), rows[i:i + chunk])


def _shape(carers: int) -> tuple[int, int]:
    """(social workers, teams) for this many carers."""
    workers = max(1, -(-carers // CHILDREN_PER_WORKER))
    return workers, max(1, -(-workers // TEAM_WORKERS))


def carers_for(people: int) -> int:
    """How many carers make a directory of (at most) ``people`` people in all."""
    carers = people
    while carers > 1:
        workers, teams = _shape(carers)
        if carers + workers + 2 * teams + 1 <= people:
            return carers
        carers -= 1
    return 1


async def populate_directory(db: Database, carers: int, *, now: datetime) -> Population:
    """``carers`` carers, one child each, and enough teams of workers to hold them."""
    pop = Population()
    workers_needed, n_teams = _shape(carers)
    teams, people, roles = [], [], []
    tg = WORKER_TG_BASE

    def person(pid: str, name: str, team: str | None, *rs: str) -> None:
        nonlocal tg
        tg += 1
        people.append({"id": pid, "name": name, "team_id": team, "phone": "0116 000 0000",
                       "active": True, "telegram_user_id": tg, "telegram_chat_id": tg,
                       "linked_at": now, "created_at": now, "updated_at": now})
        roles.extend({"person_id": pid, "role": r} for r in rs)
        pop.workers.append((pid, tg))

    teams.append({"id": "t0", "name": "Team 0", "manager_id": "tm-0", "duty_id": "duty-0",
                  "edt_id": "edt"})
    for t in range(1, n_teams):
        teams.append({"id": f"t{t}", "name": f"Team {t}", "manager_id": f"tm-{t}",
                      "duty_id": f"duty-{t}", "edt_id": "edt"})
    await _insert(db, Team, teams)
    person("edt", "Emergency Duty Team", None, "edt")
    social_workers: list[tuple[str, str]] = []
    for t in range(n_teams):
        person(f"tm-{t}", f"Manager {t}", f"t{t}", "team_manager")
        person(f"duty-{t}", f"Duty {t}", f"t{t}", "duty", "social_worker")
        per_team = min(TEAM_WORKERS, workers_needed - t * TEAM_WORKERS)
        for w in range(max(1, per_team)):
            pid = f"sw-{t}-{w}"
            person(pid, f"Worker {t}.{w}", f"t{t}", "social_worker")
            social_workers.append((pid, f"t{t}"))
    children, placements = [], []
    for c in range(carers):
        pid, ctg, ref = f"carer-{c}", CARER_TG_BASE + c, f"K{c}"
        people.append({"id": pid, "name": f"Carer {c}", "team_id": None, "phone": None, "active": True,
                       "telegram_user_id": ctg, "telegram_chat_id": ctg, "linked_at": now,
                       "created_at": now, "updated_at": now})
        roles.append({"person_id": pid, "role": "carer"})
        sw, team = social_workers[c % len(social_workers)]
        children.append({"ref": ref, "team_id": team, "allocated_social_worker_id": sw,
                         "active": True})
        placements.append({"child_ref": ref, "carer_id": pid, "start_date": date(2020, 1, 1)})
        pop.carers.append((pid, ctg, ref))
        pop.allocated[ref] = sw
    await _insert(db, Person, people)
    await _insert(db, PersonRole, roles)
    await _insert(db, Child, children)
    await _insert(db, Placement, placements)
    # (The audit chain's head row is made by migration 4_audit_head_row.)
    return pop


async def populate_incidents(db: Database, settings: Settings, pop: Population, count: int, *,
                             now: datetime, seed: int = 7) -> int:
    """``count`` past incidents over two years: 99% closed, ~1% acknowledged, 0.1% open.

    Each has its allocated worker as recipient, an alert and a receipt delivered,
    and audit events (reported, routed, 2 × delivered, acknowledged, closed) chained
    with valid hashes. Returns the number of audit events written.
    """
    rng = random.Random(seed)
    cats = settings.categories
    span = timedelta(days=730).total_seconds()
    stamps = sorted(now - timedelta(seconds=rng.random() * span) for _ in range(count))
    incidents, recipients, deliveries, events = [], [], [], []
    counters: dict[int, int] = {}
    prev, event_id = audit.GENESIS, 0

    def event(name: str, at: datetime, incident_id: int, actor: str | None, **details) -> None:
        nonlocal prev, event_id
        event_id += 1
        at = at.replace(microsecond=0)
        digest = hashlib.sha256(audit.canonical(
            id=event_id, at=at, event=name, actor_id=actor, telegram_user_id=None,
            incident_id=incident_id, details=details, prev_hash=prev)).hexdigest()
        events.append({"id": event_id, "at": at, "event": name, "actor_id": actor,
                       "telegram_user_id": None, "incident_id": incident_id,
                       "details": details, "prev_hash": prev, "hash": digest})
        prev = digest

    for i, reported in enumerate(stamps, 1):
        carer_id, _, child = pop.carers[rng.randrange(len(pop.carers))]
        sw = pop.allocated[child]
        cat = cats[rng.randrange(len(cats))]
        year = reported.year
        counters[year] = counters.get(year, 0) + 1
        roll = rng.random()
        status = "open" if i > count - max(1, count // 1000) else (
            "acknowledged" if roll < 0.01 else "closed")
        if status == "open":
            reported = now - timedelta(minutes=rng.randrange(1, 10))
        acked = reported + timedelta(minutes=rng.randrange(2, 240))
        closed = acked + timedelta(days=rng.randrange(1, 10))
        incidents.append({
            "id": i, "reference": f"INC-{year}-{counters[year]:06d}", "child_ref": child,
            "team_id": f"t{int(sw.split('-')[1])}", "reporter_id": carer_id,
            "category": cat.key, "urgency": cat.urgency, "occurred_at": None,
            "reported_at": reported,
            "description": "A generated report for the benchmark. " * rng.randrange(1, 6),
            "details": {}, "status": status,
            "acknowledged_by_id": sw if status != "open" else None,
            "acknowledged_at": acked if status != "open" else None,
            "closed_by_id": sw if status == "closed" else None,
            "closed_at": closed if status == "closed" else None,
            "outcome_code": "advice" if status == "closed" else None,
            "outcome_text": "Advice given." if status == "closed" else None,
            "out_of_hours": False, "policy_version": "bench", "plan": {},
            "escalation_level": 0, "next_step": None, "next_due_at": None,
            "notifiable": cat.notifiable, "notification_due_at": None,
            "notified_at": reported + timedelta(hours=3) if cat.notifiable else None,
            "notified_by_id": None, "updated_at": closed if status == "closed" else reported,
        })
        recipients.append({"incident_id": i, "person_id": sw, "reason": "allocated",
                           "can_acknowledge": True, "added_at": reported})
        for kind, to in (("alert", sw), ("receipt", carer_id)):
            deliveries.append({
                "idempotency_key": f"{kind}:{i}:{to}", "incident_id": i, "person_id": to,
                "chat_id": None, "kind": kind, "method": "send",
                "payload": {"text": f"{kind} for incident {i}", "buttons": []},
                "priority": 3, "status": "sent", "attempts": 1, "next_attempt_at": reported,
                "created_at": reported, "sent_at": reported, "telegram_message_id": i,
            })
        event("reported", reported, i, carer_id, child=child, category=cat.key,
              urgency=cat.urgency)
        event("routed", reported, i, None, recipients=[{"person": sw, "reason": "allocated"}])
        event("delivered", reported, i, None, kind="alert", to=sw)
        event("delivered", reported, i, None, kind="receipt", to=carer_id)
        if status != "open":
            event("acknowledged", acked, i, sw,
                  waited_seconds=int((acked - reported).total_seconds()))
        if status == "closed":
            event("closed", closed, i, sw, outcome="advice")
    await _insert(db, Incident, incidents, chunk=1000)
    await _insert(db, IncidentRecipient, recipients)
    await _insert(db, Delivery, deliveries)
    await _insert(db, AuditEvent, events, chunk=5000)
    if db.is_postgres:  # explicit ids were given: move the id sequence past them
        async with db.write() as s:
            await s.execute(text("SELECT setval(pg_get_serial_sequence('incidents', 'id'), "
                                 "(SELECT max(id) FROM incidents))"))
    async with db.write() as s:
        await s.execute(insert(IncidentCounter.__table__),
                        [{"year": y, "last_number": n} for y, n in counters.items()])
        await s.execute(update(AuditHead).where(AuditHead.id == 1).values(
            last_event_id=event_id, last_hash=prev, count=event_id))
    return event_id


def fixed_now() -> datetime:
    """The benchmarks' simulated 'now': a Wednesday at 10:00 London (working hours)."""
    return datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
