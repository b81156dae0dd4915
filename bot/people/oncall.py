"""On-call rotas from the database: who is on call now for a team's duty or out-of-hours slot.

A team's ``duty_id`` / ``edt_id`` (and ``escalation.last_resort``) may name a
rota instead of a person. Routing and every escalation step call
:func:`team_at` / :func:`resolve_id` at the moment they run, so a handover
takes effect at once. The pure rules are :mod:`bot.rules.rotas`.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.delivery.outbox import RECEIPT_PRIORITY, enqueue
from bot.rules.rotas import Override, RotaDef, Shift, on_call, upcoming
from bot.rules.routing import TeamInfo
from bot.texts import h, when
from storage import queries
from storage.models import Person, Rota, RotaOverride, Team


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


# --------------------------------------------------------------------------
# /oncall and /swap
# --------------------------------------------------------------------------

SLOTS = (("duty_id", "Duty (office hours)"), ("edt_id", "Out of hours (EDT)"))
SWAP_USAGE = (
    "Use <code>/swap PERSON DATE [THEIR_DATE]</code>: your shift on DATE "
    "(<code>2026-12-24</code>, <code>today</code> or <code>tomorrow</code>) goes to PERSON, "
    "another member of your rota; with THEIR_DATE you take their shift on that day in return."
)


class SwapError(Exception):
    """The swap cannot be made as asked; the message is for the person (plain text)."""


async def _teams_of(session: AsyncSession, person: Person) -> list[Team]:
    if person.team_id:
        team = await session.get(Team, person.team_id)
        return [team] if team is not None else []
    # Someone outside the teams (an EDT worker): the teams whose rotas they are on.
    rotas = {rid for rid, r in (await rota_defs(session)).items() if person.id in r.members}
    teams = (await session.execute(select(Team).order_by(Team.id))).scalars()
    return [t for t in teams if t.duty_id in rotas or t.edt_id in rotas]


async def oncall_text(session: AsyncSession, person: Person, now: datetime, tz: ZoneInfo) -> str:
    """Who is on call now and next for the person's team (duty and out of hours)."""
    teams = await _teams_of(session, person)
    if not teams:
        return "You are not in a team with an on-call rota, so there is nothing to show."
    rotas = await rota_defs(session)
    ids = {p for r in rotas.values() for p in r.members} | {
        getattr(t, a) for t in teams for a, _ in SLOTS if getattr(t, a)}
    ids |= {o.person_id for r in rotas.values() for o in r.overrides}
    names = {pid: p.name for pid, p in (await queries.people_by_id(session, ids)).items()}
    lines = []
    for team in teams:
        lines.append(f"📟 <b>On call — {h(team.name)}</b> (now {when(now, tz)})")
        for attr, label in SLOTS:
            ref = getattr(team, attr)
            if not ref:
                lines.append(f"{label}: nobody is named")
            elif ref not in rotas:
                lines.append(f"{label}: <b>{h(names.get(ref, ref))}</b>")
            else:
                shifts = upcoming(rotas[ref], now, tz, 2)
                if not shifts:
                    lines.append(f"{label}: the rota {h(ref)} has not started")
                    continue
                cur = shifts[0]
                swap = " (swapped)" if cur.override else ""
                lines.append(f"{label}: <b>{h(names.get(cur.person_id, cur.person_id))}</b>{swap} "
                             f"until {when(cur.ends_at, tz)}")
                if len(shifts) > 1:
                    nxt = shifts[1]
                    swap = " (swapped)" if nxt.override else ""
                    lines.append(f"  next: {h(names.get(nxt.person_id, nxt.person_id))}{swap} "
                                 f"from {when(nxt.starts_at, tz)} until {when(nxt.ends_at, tz)}")
    return "\n".join(lines)


def parse_day(text: str, today: date) -> date:
    t = text.strip().lower()
    if t == "today":
        return today
    if t == "tomorrow":
        return today + timedelta(days=1)
    try:
        return date.fromisoformat(t)
    except ValueError:
        raise SwapError(f"I could not read {text!r} as a date (use 2026-12-24).") from None


def _shift_on(rota: RotaDef, day: date, tz: ZoneInfo) -> Shift | None:
    """The shift in force at the handover time of ``day`` (overrides applied)."""
    return on_call(rota, datetime.combine(day, rota.handover, tzinfo=tz), tz)


async def swap(session: AsyncSession, person: Person, *, other_id: str, day: date,
               their_day: date | None, now: datetime, tz: ZoneInfo) -> list[tuple[str, Shift]]:
    """Give ``person``'s shift on ``day`` to ``other_id`` (and take theirs on ``their_day``):
    one-off overrides on the rota they share, audited, and the other member told."""
    other = await session.get(Person, other_id)
    if other is None or not other.active or other.id == person.id:
        raise SwapError(f"There is no other active colleague with the id {other_id!r}.")
    rotas = [r for r in (await rota_defs(session)).values()
             if person.id in r.members and other.id in r.members]
    if not rotas:
        raise SwapError(f"You and {other.name} are not on a rota together.")
    wanted = [(person.id, other.id, day)] + ([(other.id, person.id, their_day)] if their_day else [])
    for rota in rotas:
        made: list[tuple[str, Shift]] = []
        for giver, taker, d in wanted:
            shift = _shift_on(rota, d, tz)
            if shift is None or shift.person_id != giver:
                break
            made.append((taker, shift))
        else:
            break
    else:
        whose = "your" if len(wanted) == 1 else "your or their"
        raise SwapError(f"That is not {whose} shift on the rota you share; /oncall shows who is on.")
    for taker, shift in made:
        if shift.ends_at <= now:
            raise SwapError(f"The shift ending {when(shift.ends_at, tz)} is already over.")
        clash = (await session.execute(
            select(RotaOverride.id).where(RotaOverride.rota_id == rota.id,
                                          RotaOverride.starts_at < shift.ends_at,
                                          RotaOverride.ends_at > shift.starts_at))).first()
        if clash is not None:
            raise SwapError("That shift has already been swapped; ask an administrator to change it.")
        session.add(RotaOverride(rota_id=rota.id, person_id=taker, starts_at=shift.starts_at,
                                 ends_at=shift.ends_at, source="swap", created_by_id=person.id,
                                 created_at=now))
    await session.flush()
    await audit.record(
        session, "rota_swapped", at=now, actor_id=person.id, rota=rota.id, with_person=other.id,
        shifts=[{"to": taker, "from": shift.starts_at.isoformat(), "until": shift.ends_at.isoformat()}
                for taker, shift in made],
    )
    lines = [f"🔁 <b>{h(person.name)}</b> swapped on-call shifts with you ({h(rota.id)}):"]
    for taker, shift in made:
        who = "You are" if taker == other.id else f"{h(person.name)} is"
        lines.append(f"{who} on call from {when(shift.starts_at, tz)} until {when(shift.ends_at, tz)}.")
    await enqueue(session, key=f"swap:{rota.id}:{person.id}:{made[0][1].starts_at.isoformat()}",
                  kind="notice", now=now, person=other, priority=RECEIPT_PRIORITY,
                  text="\n".join(lines))
    return made


async def exists(session: AsyncSession, pid: str) -> bool:
    """An active person, or a rota, with this id."""
    if await session.get(Rota, pid) is not None:
        return True
    person = await session.get(Person, pid)
    return person is not None and person.active
