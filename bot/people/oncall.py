"""On-call rotas from the database: who is on call now for a team's duty or out-of-hours slot.

A team's ``duty_id`` / ``edt_id`` (and ``escalation.last_resort``) may name a
rota instead of a person. Routing and every escalation step call
:func:`team_at` / :func:`resolve_id` at the moment they run, so a handover
takes effect at once. The pure rules are :mod:`bot.rules.rotas`.
"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.rules.rotas import Override, RotaDef, on_call
from bot.rules.routing import TeamInfo
from storage.models import Rota, RotaOverride, Team


def parse_hhmm(text: str) -> time:
    hh, mm = text.split(":")
    return time(int(hh), int(mm))


async def rota_defs(session: AsyncSession, ids: set[str] | None = None) -> dict[str, RotaDef]:
    """The rotas (all, or those among ``ids``) with their overrides."""
    q = select(Rota)
    if ids is not None:
        ids = {i for i in ids if i}
        if not ids:
            return {}
        q = q.where(Rota.id.in_(ids))
    rotas = list((await session.execute(q)).scalars())
    if not rotas:
        return {}
    overrides: dict[str, list[Override]] = {}
    rows = await session.execute(
        select(RotaOverride).where(RotaOverride.rota_id.in_([r.id for r in rotas]))
        .order_by(RotaOverride.starts_at, RotaOverride.id)
    )
    for o in rows.scalars():
        overrides.setdefault(o.rota_id, []).append(Override(o.person_id, o.starts_at, o.ends_at))
    return {
        r.id: RotaDef(r.id, tuple(r.members or ()), r.shift, parse_hhmm(r.handover_time),
                      r.handover_weekday, r.start_date, tuple(overrides.get(r.id, ())))
        for r in rotas
    }


def _resolved(pid: str | None, rotas: dict[str, RotaDef], now: datetime, tz: ZoneInfo) -> str | None:
    if pid and pid in rotas:
        shift = on_call(rotas[pid], now, tz)
        return shift.person_id if shift is not None else None
    return pid


async def resolve_id(session: AsyncSession, pid: str | None, now: datetime,
                     tz: ZoneInfo) -> str | None:
    """A person id as it is, or a rota id as the person on call at ``now``."""
    if not pid:
        return None
    return _resolved(pid, await rota_defs(session, {pid}), now, tz)


async def team_at(session: AsyncSession, team: Team | None, now: datetime,
                  tz: ZoneInfo) -> TeamInfo:
    """The team as routing sees it at ``now``: rotas replaced by whoever is on call."""
    if team is None:
        return TeamInfo("")
    rotas = await rota_defs(session, {team.duty_id or "", team.edt_id or ""})
    return TeamInfo(team.id, team.manager_id, _resolved(team.duty_id, rotas, now, tz),
                    _resolved(team.edt_id, rotas, now, tz), team.service_manager_id,
                    team.deputy_id)
