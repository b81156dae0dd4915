"""Reusable queries over the directory and the record (no business rules here)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage.models import (
    Child,
    Incident,
    IncidentMessage,
    IncidentRecipient,
    Person,
    PersonRole,
    Placement,
    Team,
)


async def person_by_telegram(session: AsyncSession, telegram_user_id: int) -> Person | None:
    return (
        await session.execute(select(Person).where(Person.telegram_user_id == telegram_user_id))
    ).scalar_one_or_none()


async def person_and_roles_by_telegram(
    session: AsyncSession, telegram_user_id: int
) -> tuple[Person | None, frozenset[str]]:
    """The person linked to a Telegram account and their roles, in one statement."""
    rows = (
        await session.execute(
            select(Person, PersonRole.role)
            .outerjoin(PersonRole, PersonRole.person_id == Person.id)
            .where(Person.telegram_user_id == telegram_user_id)
        )
    ).all()
    if not rows:
        return None, frozenset()
    return rows[0][0], frozenset(role for _, role in rows if role is not None)


_ROLES_OF = select(PersonRole.role).where(PersonRole.person_id == bindparam("person_id"))


async def roles_of(session: AsyncSession, person_id: str) -> frozenset[str]:
    rows = await session.execute(_ROLES_OF, {"person_id": person_id})
    return frozenset(rows.scalars())


async def roles_by_person(
    session: AsyncSession, person_ids: list[str] | None = None
) -> dict[str, frozenset[str]]:
    q = select(PersonRole)
    if person_ids is not None:
        q = q.where(PersonRole.person_id.in_(person_ids))
    out: dict[str, set[str]] = {}
    for r in (await session.execute(q)).scalars():
        out.setdefault(r.person_id, set()).add(r.role)
    return {k: frozenset(v) for k, v in out.items()}


async def people_with_role(session: AsyncSession, role: str) -> list[Person]:
    q = (
        select(Person)
        .join(PersonRole, PersonRole.person_id == Person.id)
        .where(PersonRole.role == role, Person.active.is_(True))
        .order_by(Person.id)
    )
    return list((await session.execute(q)).scalars())


# Read at every /report and every Submit: built once.
_CHILDREN_PLACED_WITH = (
    select(Child)
    .join(Placement, Placement.child_ref == Child.ref)
    .where(
        Placement.carer_id == bindparam("carer_id"),
        Placement.start_date <= bindparam("placed_on"),
        or_(Placement.end_date.is_(None), Placement.end_date >= bindparam("placed_on")),
        Child.active.is_(True),
    )
    .order_by(Child.ref)
    .distinct()
)


async def children_placed_with(session: AsyncSession, carer_id: str, on: date) -> list[Child]:
    return list((await session.execute(_CHILDREN_PLACED_WITH,
                                       {"carer_id": carer_id, "placed_on": on})).scalars())


async def child_refs_placed_with(conn: AsyncConnection, carer_id: str, on: date) -> list[str]:
    """:func:`children_placed_with`'s references, on a bare connection (its rows, no ORM)."""
    rows = await conn.execute(_CHILDREN_PLACED_WITH, {"carer_id": carer_id, "placed_on": on})
    return [row.ref for row in rows]


_PEOPLE_BY_ID = select(Person).where(Person.id.in_(bindparam("ids", expanding=True)))


async def people_by_id(session: AsyncSession, ids: set[str]) -> dict[str, Person]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    rows = await session.execute(_PEOPLE_BY_ID, {"ids": sorted(ids)})
    return {p.id: p for p in rows.scalars()}


async def team(session: AsyncSession, team_id: str) -> Team | None:
    return await session.get(Team, team_id)


async def recipients_of(session: AsyncSession, incident_id: int) -> list[IncidentRecipient]:
    q = select(IncidentRecipient).where(IncidentRecipient.incident_id == incident_id).order_by(
        IncidentRecipient.id
    )
    return list((await session.execute(q)).scalars())


_BY_REFERENCE = select(Incident).where(Incident.reference == bindparam("reference"))
_PERSON = bindparam("person_id")
_MANAGED_BY = select(Team).where(or_(Team.manager_id == _PERSON,
                                     Team.service_manager_id == _PERSON))


async def incident_by_reference(session: AsyncSession, reference: str) -> Incident | None:
    return (await session.execute(_BY_REFERENCE, {"reference": reference})).scalar_one_or_none()


async def teams_managed_by(session: AsyncSession, person_id: str) -> list[Team]:
    return list((await session.execute(_MANAGED_BY, {"person_id": person_id})).scalars())


async def recent_incidents_of_carer(
    session: AsyncSession, carer_id: str, limit: int = 10
) -> list[Incident]:
    q = (
        select(Incident)
        .where(Incident.reporter_id == carer_id)
        .order_by(Incident.reported_at.desc(), Incident.id.desc())
        .limit(limit)
    )
    return list((await session.execute(q)).scalars())


async def open_incidents_for(session: AsyncSession, person_id: str,
                             exclude_reasons: tuple[str, ...] = ()) -> list[Incident]:
    q = (
        select(Incident)
        .join(IncidentRecipient, and_(IncidentRecipient.incident_id == Incident.id,
                                      IncidentRecipient.person_id == person_id,
                                      IncidentRecipient.reason.not_in(exclude_reasons)))
        .where(Incident.status != "closed")
        .order_by(Incident.reported_at)
    )
    return list((await session.execute(q)).scalars())


async def mark_undelivered(session: AsyncSession, incident_id: int, now: datetime) -> None:
    """Record the first moment a message about an incident reached nobody (kept thereafter)."""
    await session.execute(
        update(Incident)
        .where(Incident.id == incident_id, Incident.undelivered_since.is_(None))
        .values(undelivered_since=now)
        .execution_options(synchronize_session=False)
    )


async def messages_of(session: AsyncSession, incident_id: int) -> list[IncidentMessage]:
    """An incident's thread, oldest first."""
    return list((await session.execute(
        select(IncidentMessage).where(IncidentMessage.incident_id == incident_id)
        .order_by(IncidentMessage.created_at, IncidentMessage.id))).scalars())
