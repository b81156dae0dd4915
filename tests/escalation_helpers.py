"""Helpers for the escalation tests: read the record the way a manager's timeline would."""

from __future__ import annotations

from sqlalchemy import select

from bot.escalation_engine import pending
from storage.models import AuditEvent, EscalationAction, Incident


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
