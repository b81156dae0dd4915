"""Helpers for the escalation tests: read the record the way a manager's timeline would."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from bot.engine.escalation import EscalationEngine, pending
from bot.people.directory import apply_directory, parse_directory
from bot.record import incidents
from storage.models import AuditEvent, Delivery, EscalationAction, Incident, Person
from tests.world import EXAMPLE_DIRECTORY, TG_IDS


async def incident(world, ref: str) -> Incident:
    async with world.services.db.read() as s:
        return (await s.execute(select(Incident).where(Incident.reference == ref))).scalar_one()


async def actions(world, ref: str) -> list[str]:
    """The steps that ran, in the order they ran."""
    inc = await incident(world, ref)
    async with world.services.db.read() as s:
        rows = await s.execute(
            select(EscalationAction.step_key).where(EscalationAction.incident_id == inc.id)
            .order_by(EscalationAction.id)
        )
        return list(rows.scalars())


async def events(world, ref: str | None = None, *names: str) -> list[AuditEvent]:
    async with world.services.db.read() as s:
        q = select(AuditEvent).order_by(AuditEvent.id)
        if ref is not None:
            inc = (await s.execute(select(Incident).where(Incident.reference == ref))).scalar_one()
            q = q.where(AuditEvent.incident_id == inc.id)
        if names:
            q = q.where(AuditEvent.event.in_(names))
        return list((await s.execute(q)).scalars())


async def next_pending(world, ref: str):
    return pending(await incident(world, ref))


async def tick(world, **delta) -> int:
    """Move the clock on and let the engine and the outbox do what falls due."""
    world.clock.advance(**delta)
    fired = await world.runner.engine.run_due()
    await world.settle()
    return fired


# ----------------------------------------------------------------------------- the desk
# Domain-level tests: the directory loaded and people "linked" (a chat id on record),
# reports submitted through bot.record.incidents, the engine run by hand; what people would
# be sent is read from the outbox. Fast, and on both backends.

class Desk:
    def __init__(self, services):
        self.services = services
        self.clock = services.clock
        self.engine = EscalationEngine(services)

    async def load(self, text: str | None = None, *, linked=tuple(TG_IDS)) -> None:
        directory = parse_directory(text or EXAMPLE_DIRECTORY.read_text())
        async with self.services.db.write() as s:
            await apply_directory(s, directory, now=self.clock.now(), actor="test")
            for pid in linked:
                p = await s.get(Person, pid)
                if p is not None:
                    p.telegram_user_id = p.telegram_chat_id = TG_IDS[pid]

    async def person(self, pid: str) -> Person:
        async with self.services.db.read() as s:
            return await s.get(Person, pid)

    async def update_person(self, pid: str, **values) -> None:
        async with self.services.db.write() as s:
            p = await s.get(Person, pid)
            for k, v in values.items():
                setattr(p, k, v)

    async def report(self, category: str = "missing", *, child: str = "A1",
                     carer: str = "carer-smith", text: str = "Something happened.") -> Incident:
        async with self.services.db.write() as s:
            who = await s.get(Person, carer)
            result = await incidents.submit_report(s, self.services, carer=who, child_ref=child,
                                                   category_key=category, description=text)
            return result.incident

    async def ack(self, inc: Incident, pid: str):
        async with self.services.db.write() as s:
            return await incidents.acknowledge(s, self.services, incident_id=inc.id,
                                               person=await s.get(Person, pid))

    async def run(self, **delta) -> int:
        if delta:
            self.clock.advance(**delta)
        return await self.engine.run_due()

    async def sent(self, inc: Incident | None = None, *, kind: str | tuple[str, ...] | None = None,
                   to: str | None = None) -> list[Delivery]:
        """Messages owed (in the order written), optionally by incident, kind and person."""
        async with self.services.db.read() as s:
            q = select(Delivery).where(Delivery.method == "send").order_by(Delivery.id)
            if inc is not None:
                q = q.where(Delivery.incident_id == inc.id)
            if kind is not None:
                q = q.where(Delivery.kind.in_((kind,) if isinstance(kind, str) else kind))
            if to is not None:
                q = q.where(Delivery.person_id == to)
            return list((await s.execute(q)).scalars())

    async def steps(self, inc: Incident) -> list[tuple[str, datetime, datetime]]:
        async with self.services.db.read() as s:
            rows = await s.execute(
                select(EscalationAction).where(EscalationAction.incident_id == inc.id)
                .order_by(EscalationAction.id)
            )
            return [(a.step_key, a.due_at, a.fired_at) for a in rows.scalars()]

    async def fresh(self, inc: Incident) -> Incident:
        async with self.services.db.read() as s:
            return await s.get(Incident, inc.id)

    async def events(self, inc: Incident | None = None, *names: str) -> list[AuditEvent]:
        async with self.services.db.read() as s:
            q = select(AuditEvent).order_by(AuditEvent.id)
            if inc is not None:
                q = q.where(AuditEvent.incident_id == inc.id)
            if names:
                q = q.where(AuditEvent.event.in_(names))
            return list((await s.execute(q)).scalars())


@pytest.fixture
async def desk(services):
    d = Desk(services)
    await d.load()
    return d
