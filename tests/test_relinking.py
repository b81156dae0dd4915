"""Issue 14 finding 1: a fresh code must not silently move a linked person to another account.

Relinking needs the current account's Yes, or a replacement code from an administrator
(``fosterbot invite --replace``); either way the old account and the team manager are
told, and the audit log says who moved what.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.people import invites, relinking
from storage.models import AuditEvent, Person, RelinkRequest
from tests.escalation_helpers import tick
from tests.world import TG_IDS


async def linked_to(world, person_id: str) -> int | None:
    async with world.services.db.read() as s:
        return (await s.get(Person, person_id)).telegram_user_id


async def events(world, *names: str) -> list[AuditEvent]:
    async with world.services.db.read() as s:
        return list((await s.execute(select(AuditEvent).where(AuditEvent.event.in_(names))
                                     .order_by(AuditEvent.id))).scalars())


async def replacement_code(world, person_id: str) -> str:
    async with world.services.db.write() as s:
        code, _ = await invites.create_invite(s, person_id, now=world.clock.now(),
                                              ttl=world.settings.service.invite_ttl.amount,
                                              actor="cli", replace=True)
    return code


async def test_fresh_code_does_not_take_over_a_linked_account_without_its_yes(world):
    patel, manager = await world.link_all("sw-patel", "tm-jones")
    code = await world.invite("sw-patel")  # leaked, or issued by mistake
    mallory = world.fake.user(6666, "Mallory")
    await mallory.send(f"/start {code}")
    told = await mallory.wait_for("must confirm")
    assert "Linked" not in told.text
    assert await linked_to(world, "sw-patel") == TG_IDS["sw-patel"]
    ask = await patel.wait_for("link another Telegram account")
    assert "Yes" in " ".join(ask.button_labels) and "No" in " ".join(ask.button_labels)
    # Nobody else may answer for Priya (a forged press of her Yes by her manager).
    await manager.press_data(ask.buttons[0][0][1])
    await manager.wait_for_answer("not valid")
    assert await linked_to(world, "sw-patel") == TG_IDS["sw-patel"]

    await patel.click("No, this was not me")
    await patel.wait_for("stays linked")
    await mallory.wait_for("was refused")
    warn = await manager.wait_for("Priya Patel")
    assert "refused" in warn.text
    assert await linked_to(world, "sw-patel") == TG_IDS["sw-patel"]
    assert [e.event for e in await events(world, "relink_requested", "relink_refused")] == [
        "relink_requested", "relink_refused"]
    # An alert about a report still reaches Priya, not Mallory.
    carer = await world.linked("carer-smith")
    await world.report(carer, child="A1", category="Other / general update", text="A quiet day")
    await world.settle()
    assert not [m for m in mallory.messages if "INC-" in (m.text or "")]


async def test_current_account_confirms_the_move_and_everyone_is_told(world):
    patel, manager = await world.link_all("sw-patel", "tm-jones")
    code = await world.invite("sw-patel")
    new_phone = world.fake.user(6667, "Priya")
    await new_phone.send(f"/start {code}")
    await new_phone.wait_for("must confirm")
    ask = await patel.wait_for("link another Telegram account")
    yes = ask.buttons[0][0][1]
    await patel.click("Yes, move to the new account")
    await patel.wait_for("no longer linked")
    await new_phone.wait_for("Linked")
    await manager.wait_for("now linked to a new Telegram account")
    assert await linked_to(world, "sw-patel") == new_phone.id
    linked = (await events(world, "linked"))[-1]
    assert linked.details["replaced_account"] == TG_IDS["sw-patel"]
    assert linked.details["how"] == "confirmed by the current account"
    # The old account's button, pressed again, changes nothing.
    await patel.press_data(yes, ask.message_id)
    await patel.wait_for_answer("only for people registered")
    assert await linked_to(world, "sw-patel") == new_phone.id


async def test_unanswered_request_lapses(world):
    patel = await world.linked("sw-patel")
    code = await world.invite("sw-patel")
    mallory = world.fake.user(6668, "Mallory")
    await mallory.send(f"/start {code}")
    await mallory.wait_for("must confirm")
    await patel.wait_for("link another Telegram account")
    await tick(world, hours=relinking.RELINK_TTL_HOURS, minutes=1)
    await patel.click("Yes, move to the new account")
    await patel.wait_for_answer("expired")
    assert await linked_to(world, "sw-patel") == TG_IDS["sw-patel"]


async def test_replacement_code_from_an_administrator_moves_a_lost_account(world):
    patel, manager = await world.link_all("sw-patel", "tm-jones")
    code = await replacement_code(world, "sw-patel")
    new_phone = world.fake.user(6669, "Priya")
    await new_phone.send(f"/start {code}")
    await new_phone.wait_for("Linked")
    await world.settle()
    assert await linked_to(world, "sw-patel") == new_phone.id
    await patel.wait_for("no longer linked")
    await manager.wait_for("now linked to a new Telegram account")
    linked = (await events(world, "linked"))[-1]
    assert linked.details["how"] == "replacement code"
    assert linked.details["replaced_account"] == TG_IDS["sw-patel"]
    created = [e for e in await events(world, "invite_created") if e.details.get("replace")]
    assert len(created) == 1


async def test_carer_relink_tells_the_manager_of_their_childrens_team(world):
    smith, manager = await world.link_all("carer-smith", "tm-jones")
    code = await replacement_code(world, "carer-smith")
    new_phone = world.fake.user(6670, "Sam")
    await new_phone.send(f"/start {code}")
    await new_phone.wait_for("Linked")
    await smith.wait_for("no longer linked")
    await manager.wait_for("Sam Smith")


async def test_an_unanswered_relink_request_lapses_and_is_swept(world):
    """Issue 14 gap: a request nobody answers lapses after a day, but was kept for ever. The
    housekeeping removes it (audited): Priya's question loses its buttons, the new account
    and her manager are told nothing changed, and a late Yes moves nobody."""

    patel, manager = await world.link_all("sw-patel", "tm-jones")
    code = await world.invite("sw-patel")
    mallory = world.fake.user(6666, "Mallory")
    await mallory.send(f"/start {code}")
    await mallory.wait_for("must confirm")
    ask = await patel.wait_for("link another Telegram account")
    yes = ask.buttons[0][0][1]
    world.clock.advance(hours=relinking.RELINK_TTL_HOURS, minutes=1)
    await world.runner.housekeeper.run_once()
    await world.settle()
    async with world.services.db.read() as s:
        assert (await s.execute(select(RelinkRequest))).scalars().all() == []
    lapsed = await events(world, "relink_lapsed")
    assert [(e.details["person"], e.details["new_account"]) for e in lapsed] == [
        ("sw-patel", 6666)]
    assert "lapsed unanswered" in ask.text and not ask.buttons
    await mallory.wait_for("not confirmed in time")
    assert "nobody answered" in (await manager.wait_for("Priya Patel")).text
    await world.runner.housekeeper.run_once()  # nothing left to sweep: nothing said twice
    assert len(await events(world, "relink_lapsed")) == 1
    await patel.press_data(yes, message_id=ask.message_id)  # a Yes kept from before
    await patel.wait_for_answer()
    assert await linked_to(world, "sw-patel") == TG_IDS["sw-patel"]
