"""The directory file: validated whole, imported idempotently, updated, exported."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.people.directory import (
    DirectoryError,
    apply_directory,
    export_directory,
    parse_directory,
)
from storage.models import AuditEvent, Child, Person, PersonRole, Placement, Team
from tests.world import EXAMPLE_DIRECTORY

EXAMPLE = EXAMPLE_DIRECTORY.read_text()


async def load(services, text, *, source="test"):
    d = parse_directory(text, source=source)
    async with services.db.write() as s:
        return await apply_directory(s, d, now=services.clock.now(), actor="test")


async def counts(services):
    async with services.db.read() as s:
        return {
            m.__tablename__: (await s.execute(select(func.count()).select_from(m))).scalar_one()
            for m in (Team, Person, PersonRole, Child, Placement, AuditEvent)
        }


async def test_import_is_idempotent(services):
    first = await load(services, EXAMPLE)
    assert first.created == 17 and first.changed
    before = await counts(services)
    second = await load(services, EXAMPLE)
    assert not second.changed and str(second).startswith("directory unchanged")
    assert await counts(services) == before  # not even an audit event


async def test_changed_file_updates_records(services):
    await load(services, EXAMPLE)
    changed = (EXAMPLE.replace('name = "Priya Patel"', 'name = "Priya Patel-Shah"')
               .replace('roles = ["lado"]', 'roles = ["lado", "child_protection"]')
               .replace('allocated_social_worker = "sw-khan"', 'allocated_social_worker = "sw-patel"'))
    summary = await load(services, changed)
    assert summary.updated == 3 and summary.created == 0
    async with services.db.read() as s:
        assert (await s.get(Person, "sw-patel")).name == "Priya Patel-Shah"
        assert (await s.get(Child, "B2")).allocated_social_worker_id == "sw-patel"
        roles = (await s.execute(select(PersonRole.role).where(PersonRole.person_id == "lado-1"))).scalars()
        assert sorted(roles) == ["child_protection", "lado"]
        events = (await s.execute(select(AuditEvent.event))).scalars().all()
    assert events.count("directory_changed") == 2


async def test_people_missing_from_file_are_deactivated_not_deleted(services):
    await load(services, EXAMPLE)
    without = EXAMPLE.replace(
        '[[people]]\nid = "admin-1"\nname = "Service Admin"\nroles = ["admin"]\n', "")
    summary = await load(services, without)
    assert summary.deactivated == 1
    async with services.db.read() as s:
        admin = await s.get(Person, "admin-1")
    assert admin is not None and admin.active is False


async def test_invalid_file_lists_every_error_with_line_and_writes_nothing(services):
    bad = EXAMPLE.replace('roles = ["social_worker"]\nteam = "north"\nphone = "0116 000 0001"',
                          'roles = ["social_wrker"]\nteam = "south"\nphone = "0116 000 0001"')
    bad = bad.replace('allocated_social_worker = "sw-khan"', 'allocated_social_worker = "nobody"')
    bad = bad.replace('carers = ["carer-brown"]', 'carers = ["sw-khan"]')
    bad = bad.replace('to = 2027-12-31', 'to = 2025-12-31')
    with pytest.raises(DirectoryError) as err:
        parse_directory(bad, source="dir.toml")
    errors = err.value.errors
    text = "\n".join(errors)
    lines = bad.splitlines()

    def line_of(fragment):
        return next(i for i, l in enumerate(lines, 1) if fragment in l)

    assert f"dir.toml:{line_of('social_wrker')}: people[2] (sw-patel).roles: unknown role" in text
    assert f"dir.toml:{line_of('nobody')}: children[2] (B2).allocated_social_worker: no person 'nobody'" in text
    carers_line = line_of('carers = ["sw-khan"]')
    assert f"dir.toml:{carers_line}: placements[3] (B2).carers: 'sw-khan' does not have the role carer" in text
    assert f"dir.toml:{line_of('to = 2025-12-31')}: placements[3] (B2).to: ends before it starts" in text
    south_line = line_of('team = "south"')
    assert f"dir.toml:{south_line}: people[2] (sw-patel).team: no team 'south'" in text
    # A1 and C3 name sw-patel, whose roles are now wrong: said at their own lines.
    assert sum("does not have the role social_worker" in e for e in errors) == 2
    assert len(errors) == 7, errors
    assert await counts(services) == {k: 0 for k in
                                      ("teams", "people", "person_roles", "children", "placements",
                                       "audit_events")}


@pytest.mark.parametrize("text, expected", [
    ('[[people]]\nid = "x"\nroles = ["carer"]\n', "people[1] (x).name: is required"),
    ('[[people]]\nid = "x"\nname = "X"\nroles = ["carer"]\nemail = "x@y"\n',
     "people[1] (x).email: is not a known field"),
    ('[[teams]]\nid = "t"\nname = "T"\n[[teams]]\nid = "t"\nname = "U"\n', "id 't' is used twice"),
    ('[[children]]\nref = "Jane Doe"\nteam = "t"\n', "pseudonymous reference"),
    ('[[staff]]\nid = "x"\n', "unknown section 'staff'"),
    ('[[people]]\nid = "x"\nname = "X"\nroles = ["carer"]\naway_until = 2026-12-01T09:00:00\n',
     "give a time zone"),
    ("[[people]\n", "not valid TOML"),
])
def test_each_kind_of_error(text, expected):
    with pytest.raises(DirectoryError) as err:
        parse_directory(text)
    assert expected in str(err.value)


async def test_export_round_trips(services):
    await load(services, EXAMPLE)
    async with services.db.read() as s:
        exported = await export_directory(s)
    summary = await load(services, exported)
    assert not summary.changed
    again = parse_directory(exported)
    assert {p.id for p in again.people} == {p.id for p in parse_directory(EXAMPLE).people}
