"""A seeded record for the review tests: two teams, reports with known timings.

Reports are made and acknowledged through ``bot.record.incidents`` at controlled
times on the FakeClock; the escalation steps that "ran" and the notification
times are written directly (those engines are other issues' work). Everything
a test needs to check the review against is in :class:`Seeded`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from bot.people.directory import apply_directory, parse_directory
from bot.record import incidents
from storage.models import Delivery, EscalationAction, Incident, IncidentMessage, Person
from tests.world import EXAMPLE_DIRECTORY, TG_IDS

SOUTH = """
[[teams]]
id = "south"
name = "South Children's Team"
manager = "tm-south"
duty = "sw-south"

[[people]]
id = "tm-south"
name = "Robin South"
roles = ["team_manager"]
team = "south"

[[people]]
id = "sw-south"
name = "Kim Lee"
roles = ["social_worker", "duty"]
team = "south"

[[people]]
id = "carer-south"
name = "Pat Green"
roles = ["carer"]

[[children]]
ref = "D4"
team = "south"
allocated_social_worker = "sw-south"

[[placements]]
child = "D4"
carers = ["carer-south"]
from = 2026-01-01
"""
SOUTH_TG = {"tm-south": 5101, "sw-south": 5102, "carer-south": 5103}
DIRECTORY = EXAMPLE_DIRECTORY.read_text() + SOUTH


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


# (key, carer, child, category, reported at, minutes to acknowledge, who acknowledges)
REPORTS = [
    ("r1", "carer-smith", "A1", "contact", utc(2026, 11, 2, 10, 0), 20, "sw-patel"),
    ("r2", "carer-brown", "B2", "medication", utc(2026, 11, 2, 11, 0), 90, "sw-khan"),
    ("r3", "carer-smith", "C3", "education", utc(2026, 11, 3, 9, 30), 5, "sw-patel"),
    ("r4", "carer-smith", "A1", "allegation", utc(2026, 11, 9, 10, 0), 40, "sw-patel"),
    ("r5", "carer-brown", "B2", "police_called", utc(2026, 11, 10, 14, 0), 300, "tm-jones"),
    ("r6", "carer-smith", "A1", "medication", utc(2026, 11, 18, 10, 0), 10, "sw-patel"),
    ("r7", "carer-brown", "B2", "contact", utc(2026, 11, 19, 10, 0), 3, "sw-khan"),
    ("r8", "carer-smith", "C3", "allegation", utc(2026, 11, 23, 10, 0), None, None),
    ("r9", "carer-brown", "B2", "education", utc(2026, 11, 24, 16, 0), None, None),
    ("s1", "carer-south", "D4", "contact", utc(2026, 11, 20, 10, 0), None, None),
]
NOW = utc(2026, 11, 25, 12, 0)
# Notification recorded (hours after the report) for notifiable reports.
NOTIFIED_AFTER = {"r4": 3, "r5": 30}
# Escalation steps that ran (the engine's step keys: step1, step2, ..., then repeat1, ...).
STEPS_RUN = {"r5": ["step1", "step2"], "r8": ["step1", "step2", "step3", "repeat1"]}


@dataclass
class Seeded:
    ids: dict[str, int] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    now: datetime = NOW


async def load_directory(services, text: str = DIRECTORY, link: bool = True) -> None:
    """Import the directory; mark everyone as linked to Telegram (routing needs it)."""
    async with services.db.write() as s:
        await apply_directory(s, parse_directory(text), now=services.clock.now(), actor="test")
        if link:
            for pid, tg in {**TG_IDS, **SOUTH_TG}.items():
                await s.execute(update(Person).where(Person.id == pid)
                                .values(telegram_user_id=tg, telegram_chat_id=tg))


async def seed(services, clock) -> Seeded:
    out = Seeded()
    clock.set(utc(2026, 11, 1, 9, 0))
    await load_directory(services)
    for key, carer_id, child, category, at, ack_min, acker in REPORTS:
        clock.set(at)
        async with services.db.write() as s:
            carer = await s.get(Person, carer_id)
            sub = await incidents.submit_report(
                s, services, carer=carer, child_ref=child, category_key=category,
                description=f"Report {key}: what happened, in the carer's words.")
            out.ids[key] = sub.incident.id
            out.refs[key] = sub.incident.reference
        if ack_min is not None:
            clock.set(at + timedelta(minutes=ack_min))
            async with services.db.write() as s:
                person = await s.get(Person, acker)
                res = await incidents.acknowledge(s, services, incident_id=out.ids[key],
                                                  person=person)
                assert res.status == "acknowledged", (key, res.status)
    async with services.db.write() as s:
        for key, hours in NOTIFIED_AFTER.items():
            inc = await s.get(Incident, out.ids[key])
            inc.notified_at = inc.reported_at + timedelta(hours=hours)
            inc.notified_by_id = "tm-jones"
        for key, steps in STEPS_RUN.items():
            inc = await s.get(Incident, out.ids[key])
            for i, step in enumerate(steps):
                s.add(EscalationAction(incident_id=inc.id, step_key=step,
                                       due_at=inc.reported_at + timedelta(minutes=15 * (i + 1)),
                                       fired_at=inc.reported_at + timedelta(minutes=15 * (i + 1))))
        # r5 has a follow-up from the carer, an hour after the report.
        r5 = await s.get(Incident, out.ids["r5"])
        s.add(IncidentMessage(incident_id=r5.id, author_id="carer-brown", kind="followup",
                              text="The police have now left; B2 is calmer.",
                              created_at=r5.reported_at + timedelta(hours=1)))
        # r6: its alert to Priya Patel could not be delivered.
        d = (await s.execute(
            Delivery.__table__.select().where(Delivery.incident_id == out.ids["r6"],
                                              Delivery.person_id == "sw-patel",
                                              Delivery.kind == "alert"))).first()
        await s.execute(update(Delivery).where(Delivery.id == d.id).values(
            status="failed", last_error="Forbidden: bot was blocked by the user"))
        # (as the dispatcher records it: the first message about r6 that reached nobody)
        await s.execute(update(Incident).where(Incident.id == out.ids["r6"]).values(
            undelivered_since=d.created_at))
    for key, ref in out.refs.items():
        assert ref.startswith("INC-2026-")
    clock.set(NOW)
    return out

