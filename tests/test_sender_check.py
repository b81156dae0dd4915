"""The per-update sender check (``bot/runtime/updates.py`` ``check``) reads the sender's row
with Core on a bare connection and hands back a ``Person`` built from it
(``storage/rows.py`` ``detached``): it must be the person the record holds, with their roles,
and behave as a person a session loaded: one that joins a later session is updated, never
inserted a second time."""

from __future__ import annotations

from sqlalchemy import inspect

from bot.runtime import updates
from storage.models import Person


async def test_the_sender_is_the_person_on_record_and_joins_a_session_as_itself(world):
    smith = await world.linked("carer-smith")
    await world.settle()
    db = world.services.db
    seen, person, roles = await updates.check(db, 987_654, smith.id)
    assert seen is False and "carer" in roles
    assert inspect(person).detached and not inspect(person).modified
    async with db.read() as s:
        on_record = await s.get(Person, "carer-smith")
        columns = [c.key for c in inspect(Person).columns]
        assert {k: getattr(person, k) for k in columns} == {
            k: getattr(on_record, k) for k in columns}
    async with db.write() as s:
        s.add(person)  # attached as the row it is: a change is an UPDATE of that row
        person.phone = "0116 496 0000"
    async with db.read() as s:
        assert (await s.get(Person, "carer-smith")).phone == "0116 496 0000"
    # Nobody linked to the account: no person, no roles; an update handled is seen.
    assert await updates.check(db, 987_655, 1_234_567_890) == (False, None, frozenset())
    await updates.record(db, [updates.Handled(987_656, world.services.clock.now())])
    assert (await updates.check(db, 987_656, smith.id))[0] is True
