"""The directory file: teams, people, children, placements (TOML), import and export.

``import_directory`` validates the whole file first and writes nothing unless
every entry is valid; it then applies it in one transaction. Importing the
same file twice changes nothing. The file is the whole directory: people and
children missing from it are deactivated (never deleted: the record refers to
them); placements missing from it are removed. Telegram links made with invite
codes are kept across imports.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.config import DEFAULT_CHILD_REF_PATTERN, StatutorySettings
from bot.people import chronicle, handover, statutory, web_sessions
from bot.rules.roles import CARER, ROLES, SOCIAL_WORKER, SUPERVISING_SOCIAL_WORKER
from bot.rules.rotas import Override, overlaps
from storage.models import Child, Person, PersonRole, Placement, Rota, RotaOverride, Team

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CHILD_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,15}$")


class DirectoryError(Exception):
    """The directory file is invalid; ``errors`` lists every problem (nothing was written)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TeamEntry(_Entry):
    id: str
    name: str
    manager: str | None = None
    duty: str | None = None
    edt: str | None = None
    service_manager: str | None = None
    deputy: str | None = None  # stands in for the manager when they and their cover cannot


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class RotaEntry(_Entry):
    id: str
    name: str
    members: list[str]
    shift: Literal["day", "week"]
    handover: str = "09:00"  # HH:MM, the service's time zone
    handover_day: str | None = None  # weekly rotas: the weekday of the handover
    start: date  # the first member's first shift begins on this day at the handover time

    @field_validator("handover")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", v):
            raise ValueError(f"expected a time of day as HH:MM, got {v!r}")
        return v

    @field_validator("handover_day")
    @classmethod
    def _day(cls, v: str | None) -> str | None:
        if v is not None and v.lower() not in _WEEKDAYS:
            raise ValueError(f"expected a weekday ({', '.join(_WEEKDAYS)}), got {v!r}")
        return v.lower() if v else v


class OverrideEntry(_Entry):
    rota: str
    person: str
    from_: datetime = Field(alias="from")
    to: datetime

    @field_validator("from_", "to")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-12-24T17:00:00Z")
        return v


class PersonEntry(_Entry):
    id: str
    name: str
    roles: list[str]
    team: str | None = None
    phone: str | None = None
    cover: str | None = None
    away_until: datetime | None = None
    active: bool = True
    supervising_social_worker: str | None = None

    @field_validator("roles")
    @classmethod
    def _roles(cls, v: list[str]) -> list[str]:
        # Unknown role names are reported by the cross-checks, with the other
        # mistakes of the same entry.
        if not v:
            raise ValueError("at least one role is needed")
        return sorted(set(v))

    @field_validator("away_until")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-12-01T09:00:00Z")
        return v


class ChildEntry(_Entry):
    ref: str
    team: str
    allocated_social_worker: str | None = None
    active: bool = True
    entered_care: date | None = None  # the needs-assessment clock starts here
    removed_at_birth: bool = False

    @field_validator("ref")
    @classmethod
    def _ref(cls, v: str) -> str:
        if not CHILD_REF_RE.match(v):
            raise ValueError(
                "a child's ref is a short pseudonymous reference (letters, digits, '-'; "
                "at most 16), never a name"
            )
        return v


class PlacementEntry(_Entry):
    child: str
    carers: list[str]
    from_: date = Field(alias="from")
    to: date | None = None
    long_term: bool = False


class DirectoryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    teams: list[dict[str, Any]] = Field(default_factory=list)
    people: list[dict[str, Any]] = Field(default_factory=list)
    children: list[dict[str, Any]] = Field(default_factory=list)
    placements: list[dict[str, Any]] = Field(default_factory=list)
    rotas: list[dict[str, Any]] = Field(default_factory=list)
    rota_overrides: list[dict[str, Any]] = Field(default_factory=list)


@dataclass
class Directory:
    teams: list[TeamEntry] = field(default_factory=list)
    people: list[PersonEntry] = field(default_factory=list)
    children: list[ChildEntry] = field(default_factory=list)
    placements: list[PlacementEntry] = field(default_factory=list)
    rotas: list[RotaEntry] = field(default_factory=list)
    rota_overrides: list[OverrideEntry] = field(default_factory=list)
    # Where each child's allocation is written ("file:line"), for refusals made on import.
    child_lines: dict[str, str] = field(default_factory=dict)


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    deactivated: int = 0
    unchanged: int = 0
    changes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deactivated or self.changes)

    def __str__(self) -> str:
        if not self.changed:
            return f"directory unchanged ({self.unchanged} records)"
        return (
            f"directory imported: {self.created} created, {self.updated} updated, "
            f"{self.deactivated} deactivated, {self.unchanged} unchanged"
        )


def _header_lines(text: str, table: str) -> list[int]:
    """1-based line numbers of each ``[[table]]`` header, in order."""
    pat = re.compile(r"^\s*\[\[\s*" + re.escape(table) + r"\s*\]\]\s*(#.*)?$")
    return [i for i, line in enumerate(text.splitlines(), 1) if pat.match(line)]


def _field_line(text: str, start: int | None, key: str) -> int | None:
    if start is None:
        return None
    lines = text.splitlines()
    pat = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
    for i in range(start, len(lines)):
        if lines[i].lstrip().startswith("["):
            break
        if pat.match(lines[i]):
            return i + 1
    return start


def parse_directory(text: str, *, source: str = "directory",
                    child_ref_pattern: str = DEFAULT_CHILD_REF_PATTERN) -> Directory:
    """Validate a directory file; raise DirectoryError listing every problem.

    ``child_ref_pattern`` (``privacy.child_ref_pattern``) is what a child's reference
    must match: by default it needs a digit, so a name is refused."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DirectoryError([f"{source}: not valid TOML: {exc}"]) from None
    errors: list[str] = []
    try:
        top = DirectoryFile(**raw)
    except ValidationError as exc:
        raise DirectoryError(
            [f"{source}: unknown section {e['loc'][0]!r}; use teams, people, children, "
             "placements, rotas, rota_overrides"
             for e in exc.errors()]
        ) from None

    def where(table: str, index: int, key: str | None = None) -> str:
        heads = _header_lines(text, table)
        start = heads[index] if index < len(heads) else None
        line = _field_line(text, start, key) if key else start
        return f"{source}:{line}" if line else source

    out = Directory()
    models = {"teams": TeamEntry, "people": PersonEntry, "children": ChildEntry,
              "placements": PlacementEntry, "rotas": RotaEntry, "rota_overrides": OverrideEntry}
    for table, model in models.items():
        for i, item in enumerate(getattr(top, table)):
            try:
                getattr(out, table).append(model(**item))
            except ValidationError as exc:
                for e in exc.errors():
                    key = str(e["loc"][0]) if e["loc"] else None
                    key = "from" if key == "from_" else key
                    ident = (item.get("id") or item.get("ref") or item.get("child")
                             or item.get("rota") or "")
                    label = f"{table}[{i + 1}]" + (f" ({ident})" if ident else "")
                    msg = e["msg"].removeprefix("Value error, ")
                    if e["type"] == "missing":
                        msg = "is required"
                    elif e["type"] == "extra_forbidden":
                        msg = "is not a known field"
                    errors.append(f"{where(table, i, key)}: {label}.{key}: {msg}")

    def dupes(table: str, attr: str) -> None:
        seen: dict[str, int] = {}
        for i, e in enumerate(getattr(out, table)):
            val = getattr(e, attr)
            if val in seen:
                errors.append(f"{where(table, i, attr)}: {table}: {attr} {val!r} is used twice")
            seen[val] = i

    for i, c in enumerate(out.children):
        out.child_lines[c.ref] = where("children", i, "allocated_social_worker")
    dupes("teams", "id")
    dupes("people", "id")
    dupes("children", "ref")
    dupes("rotas", "id")
    ref_pattern = re.compile(child_ref_pattern)
    for i, c in enumerate(out.children):
        if not ref_pattern.search(c.ref):
            errors.append(f"{where('children', i, 'ref')}: children[{i + 1}] ({c.ref}).ref: "
                          "looks like a name; a child's ref is a pseudonymous reference "
                          f"(it must match privacy.child_ref_pattern {child_ref_pattern!r})")

    teams = {t.id: t for t in out.teams}
    people = {p.id: p for p in out.people}
    children = {c.ref: c for c in out.children}
    # Entries that failed validation still exist for cross-references, so one
    # mistake is reported once rather than again wherever the entry is named.
    team_ids = set(teams) | {str(t.get("id")) for t in top.teams}
    person_ids = set(people) | {str(p.get("id")) for p in top.people}
    child_refs = set(children) | {str(c.get("ref")) for c in top.children}

    rota_ids = {r.id for r in out.rotas} | {str(r.get("id")) for r in top.rotas}
    for i, t in enumerate(out.teams):
        if not ID_RE.match(t.id):
            errors.append(f"{where('teams', i, 'id')}: teams: id {t.id!r} has characters not allowed")
        for key in ("manager", "duty", "edt", "service_manager", "deputy"):
            ref = getattr(t, key)
            if ref and ref not in person_ids and not (key in ("duty", "edt") and ref in rota_ids):
                errors.append(f"{where('teams', i, key)}: teams[{i + 1}] ({t.id}).{key}: "
                              f"no person {'or rota ' if key in ('duty', 'edt') else ''}"
                              f"with id {ref!r}")
    errors.extend(_check_rotas(out, where, person_ids, rota_ids))
    for i, p in enumerate(out.people):
        label = f"people[{i + 1}] ({p.id})"
        if not ID_RE.match(p.id):
            errors.append(f"{where('people', i, 'id')}: {label}.id: characters not allowed")
        bad_roles = [r for r in p.roles if r not in ROLES]
        if bad_roles:
            errors.append(f"{where('people', i, 'roles')}: {label}.roles: unknown role(s) "
                          f"{bad_roles}; roles are {', '.join(ROLES)}")
        if p.team and p.team not in team_ids:
            errors.append(f"{where('people', i, 'team')}: {label}.team: no team {p.team!r}")
        if p.cover:
            if p.cover == p.id:
                errors.append(f"{where('people', i, 'cover')}: {label}.cover: cannot cover themselves")
            elif p.cover not in person_ids:
                errors.append(f"{where('people', i, 'cover')}: {label}.cover: no person {p.cover!r}")
        ssw = p.supervising_social_worker
        if ssw and (why := _not_one_with_role(ssw, SUPERVISING_SOCIAL_WORKER, person_ids, people)):
            errors.append(f"{where('people', i, 'supervising_social_worker')}: "
                          f"{label}.supervising_social_worker: {why}")
    for i, c in enumerate(out.children):
        label = f"children[{i + 1}] ({c.ref})"
        if c.team not in team_ids:
            errors.append(f"{where('children', i, 'team')}: {label}.team: no team {c.team!r}")
        sw = c.allocated_social_worker
        if sw and (why := _not_one_with_role(sw, SOCIAL_WORKER, person_ids, people)):
            errors.append(f"{where('children', i, 'allocated_social_worker')}: "
                          f"{label}.allocated_social_worker: {why}")
    for i, pl in enumerate(out.placements):
        label = f"placements[{i + 1}] ({pl.child})"
        if pl.child not in child_refs:
            errors.append(f"{where('placements', i, 'child')}: {label}.child: no child {pl.child!r}")
        if not pl.carers:
            errors.append(f"{where('placements', i, 'carers')}: {label}.carers: at least one carer")
        for c in pl.carers:
            if why := _not_one_with_role(c, CARER, person_ids, people):
                errors.append(f"{where('placements', i, 'carers')}: {label}.carers: {why}")
        if pl.to is not None and pl.to < pl.from_:
            errors.append(f"{where('placements', i, 'to')}: {label}.to: ends before it starts")
    if errors:
        raise DirectoryError(errors)
    return out


def _not_one_with_role(ref: str, role: str, person_ids: set[str],
                       people: dict[str, PersonEntry]) -> str | None:
    """Why ``ref`` cannot be named where the file needs a person with ``role`` (the
    supervising social worker, the allocated social worker, a placement's carers), or None
    if it can. ``person_ids`` includes entries that failed validation (``people`` does not):
    their own mistake is reported once, so their roles are not judged here."""
    if ref not in person_ids:
        return f"no person {ref!r}"
    if ref in people and role not in people[ref].roles:
        return f"{ref!r} does not have the role {role}"
    return None


def _check_rotas(out: Directory, where: Any, person_ids: set[str],
                 rota_ids: set[str]) -> list[str]:
    """Rotas: members named, not empty, weekly ones with a handover day the start falls on;
    ids distinct from people's; overrides of one rota that overlap refused (both lines)."""
    errors = []
    for i, r in enumerate(out.rotas):
        label = f"rotas[{i + 1}] ({r.id})"
        if not ID_RE.match(r.id):
            errors.append(f"{where('rotas', i, 'id')}: {label}.id: characters not allowed")
        if r.id in person_ids:
            errors.append(f"{where('rotas', i, 'id')}: {label}.id: a person has this id too")
        if not r.members:
            errors.append(f"{where('rotas', i, 'members')}: {label}.members: a rota needs at "
                          "least one member")
        for m in r.members:
            if m not in person_ids:
                errors.append(f"{where('rotas', i, 'members')}: {label}.members: no person {m!r}")
        if len(set(r.members)) != len(r.members):
            errors.append(f"{where('rotas', i, 'members')}: {label}.members: someone is named "
                          "twice")
        if r.shift == "week":
            if r.handover_day is None:
                errors.append(f"{where('rotas', i, 'handover_day')}: {label}.handover_day: "
                              "a weekly rota needs the weekday of its handover")
            elif _WEEKDAYS[r.start.weekday()] != r.handover_day:
                errors.append(f"{where('rotas', i, 'start')}: {label}.start: {r.start} is a "
                              f"{_WEEKDAYS[r.start.weekday()]}, not a {r.handover_day}")
    by_rota: dict[str, list[tuple[int, Override]]] = {}
    for i, o in enumerate(out.rota_overrides):
        label = f"rota_overrides[{i + 1}] ({o.rota})"
        if o.rota not in rota_ids:
            errors.append(f"{where('rota_overrides', i, 'rota')}: {label}.rota: no rota {o.rota!r}")
        if o.person not in person_ids:
            errors.append(f"{where('rota_overrides', i, 'person')}: {label}.person: no person "
                          f"{o.person!r}")
        if o.to <= o.from_:
            errors.append(f"{where('rota_overrides', i, 'to')}: {label}.to: ends before it starts")
            continue
        by_rota.setdefault(o.rota, []).append((i, Override(o.person, o.from_, o.to)))
    for rota, items in by_rota.items():
        for a, b in overlaps(items):
            errors.append(f"{where('rota_overrides', b)}: rota_overrides[{b + 1}] ({rota}): "
                          f"overlaps rota_overrides[{a + 1}] at {where('rota_overrides', a)}")
    return errors


def _set(obj: Any, values: dict[str, Any]) -> bool:
    changed = False
    for k, v in values.items():
        if getattr(obj, k) != v:
            setattr(obj, k, v)
            changed = True
    return changed


def active_people(directory: Directory) -> set[str]:
    """The ids a directory file makes valid escalation targets: its active people and its
    rotas (for the policy check)."""
    return {p.id for p in directory.people if p.active} | {r.id for r in directory.rotas}


async def active_person_ids(session: AsyncSession) -> set[str]:
    """The ids valid as escalation targets in the stored directory: active people and rotas
    (for the policy check)."""
    people = set((await session.execute(select(Person.id).where(Person.active.is_(True)))).scalars())
    return people | set((await session.execute(select(Rota.id))).scalars())


async def apply_directory(
    session: AsyncSession, directory: Directory, *, now: datetime, actor: str | None = None,
    source: str = "", statutory_settings: StatutorySettings | None = None,
) -> ImportSummary:
    """Apply a validated directory in the caller's transaction: hand over the open work of
    children whose allocated worker changes, and start the statutory clocks now owed."""
    s = ImportSummary()
    moves = await _plan_handovers(session, directory)
    existing_teams = {t.id: t for t in (await session.execute(select(Team))).scalars()}
    for t in directory.teams:
        vals = {"name": t.name, "manager_id": t.manager, "duty_id": t.duty, "edt_id": t.edt,
                "service_manager_id": t.service_manager, "deputy_id": t.deputy}
        row = existing_teams.get(t.id)
        if row is None:
            session.add(Team(id=t.id, **vals))
            s.created += 1
        elif _set(row, vals):
            s.updated += 1
        else:
            s.unchanged += 1
    await session.flush()

    existing_people = {p.id: p for p in (await session.execute(select(Person))).scalars()}
    roles_now: dict[str, set[str]] = {}
    for r in (await session.execute(select(PersonRole))).scalars():
        roles_now.setdefault(r.person_id, set()).add(r.role)
    file_people = {p.id for p in directory.people}
    for p in directory.people:
        away = p.away_until.astimezone(timezone.utc) if p.away_until else None
        vals = {"name": p.name, "team_id": p.team, "phone": p.phone, "cover_id": p.cover,
                "away_until": away, "active": p.active,
                "supervising_social_worker_id": p.supervising_social_worker}
        row = existing_people.get(p.id)
        role_changed = roles_now.get(p.id, set()) != set(p.roles)
        if row is not None and row.active and not p.active:
            await web_sessions.end_sessions_of(session, p.id, now=now, why="deactivated")
        if row is None:
            session.add(Person(id=p.id, created_at=now, updated_at=now, **vals))
            s.created += 1
        else:
            if _set(row, vals) or role_changed:
                row.updated_at = now
                s.updated += 1
            else:
                s.unchanged += 1
        if role_changed:
            await session.flush()
            await session.execute(delete(PersonRole).where(PersonRole.person_id == p.id))
            for role in p.roles:
                session.add(PersonRole(person_id=p.id, role=role))
    for pid, row in existing_people.items():
        if pid not in file_people and row.active:
            row.active = False
            row.updated_at = now
            s.deactivated += 1
            await web_sessions.end_sessions_of(session, pid, now=now, why="deactivated")
    await session.flush()

    existing_children = {c.ref: c for c in (await session.execute(select(Child))).scalars()}
    allocations: list[tuple[str, str | None, str | None]] = []  # (child, from, to)
    file_children = {c.ref for c in directory.children}
    for c in directory.children:
        vals = {"team_id": c.team, "allocated_social_worker_id": c.allocated_social_worker,
                "active": c.active, "entered_care": c.entered_care,
                "removed_at_birth": c.removed_at_birth}
        row = existing_children.get(c.ref)
        before = row.allocated_social_worker_id if row is not None else None
        if before != c.allocated_social_worker:
            allocations.append((c.ref, before, c.allocated_social_worker))
        if row is None:
            session.add(Child(ref=c.ref, **vals))
            s.created += 1
        elif _set(row, vals):
            s.updated += 1
        else:
            s.unchanged += 1
    for ref, row in existing_children.items():
        if ref not in file_children and row.active:
            row.active = False
            s.deactivated += 1
    await session.flush()
    for ref, before, after in allocations:
        await chronicle.record(session, "allocation_changed", child_ref=ref, at=now,
                               actor_id=actor, source=source, **{"from": before, "to": after})
    for ref, team_id, old, new in moves:
        done = await handover.hand_over(session, child_ref=ref, team_id=team_id, from_id=old,
                                        to_id=new, now=now, actor=actor)
        s.changes.append(f"handover: {ref} from {old or 'nobody'} to {new}, "
                         f"{len(done.items)} open item(s) moved")

    existing_pl = {
        (p.child_ref, p.carer_id, p.start_date): p
        for p in (await session.execute(select(Placement))).scalars()
    }
    wanted: set[tuple[str, str, date]] = set()
    for pl in directory.placements:
        for carer in pl.carers:
            key = (pl.child, carer, pl.from_)
            wanted.add(key)
            row = existing_pl.get(key)
            if row is None:
                session.add(Placement(child_ref=pl.child, carer_id=carer, start_date=pl.from_,
                                      end_date=pl.to, long_term=pl.long_term))
                s.created += 1
            elif _set(row, {"end_date": pl.to, "long_term": pl.long_term}):
                s.updated += 1
            else:
                s.unchanged += 1
    for key, row in existing_pl.items():
        if key not in wanted:
            await session.delete(row)
            s.changes.append(f"placement removed: {key[0]} with {key[1]} from {key[2]}")
            await chronicle.record(session, "placement_removed", child_ref=key[0], at=now,
                                   actor_id=actor, source=source, carer=key[1],
                                   **{"from": key[2].isoformat(),
                                      "to": row.end_date.isoformat() if row.end_date else None})
    await session.flush()
    await _apply_rotas(session, directory, s, now)
    made = await statutory.start_clocks(session, statutory_settings or StatutorySettings(),
                                        now=now, actor=actor)
    if made:
        s.changes.append(f"statutory tasks started: {made}")
    if s.changed:
        await audit.record(
            session, "directory_changed", at=now, actor_id=actor, source=source,
            created=s.created, updated=s.updated, deactivated=s.deactivated,
            removed_placements=len(s.changes),
        )
    return s


async def _plan_handovers(session: AsyncSession,
                          directory: Directory) -> list[tuple[str, str, str | None, str]]:
    """The allocation changes this import makes to existing children, as (child, team, from,
    to); refuses (writing nothing) one that would leave a child with open reports and no
    active allocated worker, naming the line."""
    active = {p.id for p in directory.people if p.active}
    existing = {c.ref: c for c in (await session.execute(select(Child))).scalars()}
    were_active = set((await session.execute(
        select(Person.id).where(Person.active.is_(True)))).scalars())
    moves: list[tuple[str, str, str | None, str]] = []
    lose: list[ChildEntry] = []
    for c in directory.children:
        row = existing.get(c.ref)
        if row is None:
            continue
        old = row.allocated_social_worker_id
        new = c.allocated_social_worker if c.allocated_social_worker in active else None
        if new is not None and new != old:
            moves.append((c.ref, c.team, old, new))
        elif new is None and old is not None and old in were_active:
            lose.append(c)
    open_items = await handover.children_with_open_items(session, {c.ref for c in lose})
    errors = []
    for c in lose:
        if c.ref in open_items:
            named = c.allocated_social_worker
            why = (f"{named!r} is not active" if named else "no allocated_social_worker is named")
            errors.append(f"{directory.child_lines.get(c.ref, 'directory')}: children ({c.ref}): "
                          f"{why}, but the child has {open_items[c.ref]} open item(s) (reports, "
                          "statutory tasks); "
                          "allocate an active social worker to hand them over to")
    if errors:
        raise DirectoryError(errors)
    return moves


async def _apply_rotas(session: AsyncSession, directory: Directory, s: ImportSummary,
                       now: datetime) -> None:
    """Rotas as in the file (rotas missing from it are removed); the file's overrides replace
    those from earlier imports, while swaps made with /swap are kept."""
    existing = {r.id: r for r in (await session.execute(select(Rota))).scalars()}
    for r in directory.rotas:
        vals = {"name": r.name, "members": list(r.members), "shift": r.shift,
                "handover_time": r.handover,
                "handover_weekday": _WEEKDAYS.index(r.handover_day) if r.handover_day else None,
                "start_date": r.start}
        row = existing.get(r.id)
        if row is None:
            session.add(Rota(id=r.id, **vals))
            s.created += 1
        elif _set(row, vals):
            s.updated += 1
        else:
            s.unchanged += 1
    wanted = {r.id for r in directory.rotas}
    for rid, row in existing.items():
        if rid not in wanted:
            await session.delete(row)
            s.changes.append(f"rota removed: {rid}")
    await session.flush()
    old = {(o.rota_id, o.person_id, o.starts_at, o.ends_at): o for o in (await session.execute(
        select(RotaOverride).where(RotaOverride.source == "directory"))).scalars()}
    new = {(o.rota, o.person, o.from_.astimezone(timezone.utc), o.to.astimezone(timezone.utc))
           for o in directory.rota_overrides}
    for key, row in old.items():
        if key not in new:
            await session.delete(row)
            s.changes.append(f"rota override removed: {key[0]} {key[1]}")
    for key in new - set(old):
        session.add(RotaOverride(rota_id=key[0], person_id=key[1], starts_at=key[2], ends_at=key[3],
                                 source="directory", created_at=now))
        s.created += 1
    await session.flush()


async def export_directory(session: AsyncSession) -> str:
    """The directory as a TOML file that ``import`` accepts (Telegram links are not in it)."""
    teams = (await session.execute(select(Team).order_by(Team.id))).scalars().all()
    people = (await session.execute(select(Person).order_by(Person.id))).scalars().all()
    roles: dict[str, list[str]] = {}
    for r in (await session.execute(select(PersonRole))).scalars():
        roles.setdefault(r.person_id, []).append(r.role)
    children = (await session.execute(select(Child).order_by(Child.ref))).scalars().all()
    placements = (
        await session.execute(select(Placement).order_by(Placement.child_ref, Placement.start_date,
                                                         Placement.carer_id))
    ).scalars().all()

    def clean(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if v is not None}

    doc: dict[str, Any] = {
        "teams": [clean({"id": t.id, "name": t.name, "manager": t.manager_id, "duty": t.duty_id,
                         "edt": t.edt_id, "service_manager": t.service_manager_id,
                         "deputy": t.deputy_id}) for t in teams],
        "people": [clean({"id": p.id, "name": p.name, "roles": sorted(roles.get(p.id, [])),
                          "team": p.team_id, "phone": p.phone, "cover": p.cover_id,
                          "away_until": p.away_until,
                          "active": None if p.active else False,
                          "supervising_social_worker": p.supervising_social_worker_id})
                   for p in people if roles.get(p.id)],
        "children": [clean({"ref": c.ref, "team": c.team_id,
                            "allocated_social_worker": c.allocated_social_worker_id,
                            "active": None if c.active else False,
                            "entered_care": c.entered_care,
                            "removed_at_birth": True if c.removed_at_birth else None})
                     for c in children],
    }
    grouped: dict[tuple[str, date, date | None, bool], list[str]] = {}
    for p in placements:
        grouped.setdefault((p.child_ref, p.start_date, p.end_date, bool(p.long_term)),
                           []).append(p.carer_id)
    doc["placements"] = [
        clean({"child": k[0], "carers": v, "from": k[1], "to": k[2],
               "long_term": True if k[3] else None}) for k, v in grouped.items()
    ]
    rotas = (await session.execute(select(Rota).order_by(Rota.id))).scalars().all()
    doc["rotas"] = [clean({"id": r.id, "name": r.name, "members": list(r.members or []),
                           "shift": r.shift, "handover": r.handover_time,
                           "handover_day": _WEEKDAYS[r.handover_weekday]
                           if r.handover_weekday is not None else None,
                           "start": r.start_date}) for r in rotas]
    overrides = (await session.execute(
        select(RotaOverride).where(RotaOverride.source == "directory")
        .order_by(RotaOverride.rota_id, RotaOverride.starts_at))).scalars().all()
    doc["rota_overrides"] = [{"rota": o.rota_id, "person": o.person_id, "from": o.starts_at,
                              "to": o.ends_at} for o in overrides]
    header = "# fosterbot directory (exported). Load with: fosterbot directory import FILE\n\n"
    return header + tomli_w.dumps({k: v for k, v in doc.items() if v})
