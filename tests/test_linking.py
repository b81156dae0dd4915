"""Invite codes and /start: linking, every refusal, and strangers getting nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.people import invites
from storage.models import AuditEvent, Invite, Person, StartAttempt


async def audit_events(world, event):
    async with world.services.db.read() as s:
        return list((await s.execute(select(AuditEvent).where(AuditEvent.event == event)
                                     .order_by(AuditEvent.id))).scalars())


async def test_start_with_code_links_and_says_who_and_what(world):
    code = await world.invite("sw-patel")
    u = world.user("sw-patel")
    await u.send(f"/start {code}")
    msg = await u.wait_for("Linked")
    assert "You are Priya Patel (social worker)" in msg.text
    assert "Acknowledge" in msg.text  # what a social worker does with the bot
    async with world.services.db.read() as s:
        p = await s.get(Person, "sw-patel")
        inv = (await s.execute(select(Invite))).scalar_one()
    assert p.telegram_user_id == u.id and p.telegram_chat_id == u.id
    assert inv.code_hash == invites.hash_code(code) and code not in inv.code_hash
    assert inv.used_at is not None
    assert [e.actor_id for e in await audit_events(world, "linked")] == ["sw-patel"]


async def test_code_is_single_use(world):
    code = await world.invite("carer-smith")
    first = world.user("carer-smith")
    await first.send(f"/start {code}")
    await first.wait_for("Linked")
    other = world.fake.user(777, "Mallory")
    await other.send(f"/start {code}")
    msg = await other.wait_for("already been used")
    assert "Linked" not in msg.text
    async with world.services.db.read() as s:
        assert (await s.get(Person, "carer-smith")).telegram_user_id == first.id


async def test_wrong_expired_and_revoked_codes(world):
    u = world.fake.user(778, "Someone")
    await u.send("/start not-a-real-code")
    await u.wait_for("not valid")

    expired = await world.invite("sw-khan")
    world.clock.advance(days=7, seconds=1)
    await u.send(f"/start {expired}")
    await u.wait_for("expired")

    revoked = await world.invite("sw-khan")
    async with world.services.db.write() as s:
        # Both unused codes (the expired one too) are withdrawn.
        assert await invites.revoke_invites(s, "sw-khan", now=world.clock.now()) == 2
    await u.send(f"/start {revoked}")
    await u.wait_for("withdrawn")
    refused = await audit_events(world, "invite_refused")
    assert [e.details["why"] for e in refused] == ["invalid", "expired", "revoked"]


async def test_repeated_wrong_codes_are_slowed_down(world):
    u = world.fake.user(779, "Guesser")
    for i in range(invites.MAX_FAILURES):
        await u.send(f"/start guess{i}")
        await u.wait_for("not valid")
    good = await world.invite("sw-khan")
    await u.send(f"/start {good}")
    msg = await u.wait_for("Too many wrong codes")
    assert "15 minutes" in msg.text or "16 minutes" in msg.text
    world.clock.advance(minutes=16)
    await u.send(f"/start {good}")
    await u.wait_for("Linked")


async def test_stranger_gets_polite_refusal_for_every_command_and_button(world):
    smith = await world.linked("carer-smith")
    stranger = world.fake.user(780, "Stranger")
    window = world.settings.limits.stranger_window.amount  # one answer per window
    for command in ("/start", "/help", "/report", "/myreports", "/cancel", "/guidance",
                    "/overdue", "hello there"):
        await stranger.send(command)
        msg = await stranger.wait_for("only for people registered")
        assert "report" not in msg.text.lower().replace("registered", "")
        assert not msg.buttons
        world.clock.advance(seconds=window.total_seconds())
    # A button pressed by a stranger (forged from a real alert's data).
    await stranger.press_data("ack:1")
    answer = await stranger.wait_for_answer("only for people registered")
    assert answer.show_alert
    refused = await audit_events(world, "access_refused")
    assert len(refused) == 9 and all(e.telegram_user_id == stranger.id for e in refused)
    assert len(smith.messages) == 1  # only their own "Linked": nobody else was told anything


async def test_account_linked_to_one_person_cannot_take_another(world):
    smith = await world.linked("carer-smith")
    code = await world.invite("carer-brown")
    await smith.send(f"/start {code}")
    await smith.wait_for("already linked to Sam Smith")


async def test_invite_for_unknown_or_inactive_person(world):
    async with world.services.db.write() as s:
        try:
            await invites.create_invite(s, "nobody", now=world.clock.now(), ttl=timedelta(days=7))
        except LookupError as exc:
            assert "no person with id 'nobody'" in str(exc)
        else:
            raise AssertionError("an invite for an unknown person was created")


async def test_invite_lockout_doubles_each_time(world):
    """Finding 13: five wrong codes lock the account for 15 minutes, then 30, then 60
    (as the README says), not 15 minutes again and again."""
    u = world.fake.user(781, "Guesser")
    good = await world.invite("sw-khan")
    waits = []
    for round_ in range(3):
        for i in range(invites.MAX_FAILURES):
            u.mark()
            await u.send(f"/start guess{round_}x{i}")
            await u.wait_for("not valid")
        u.mark()
        await u.send(f"/start {good}")
        msg = await u.wait_for("Too many wrong codes")
        minutes = int(msg.text.split("wait ")[1].split(" minutes")[0])
        waits.append(minutes)
        world.clock.advance(minutes=minutes)
    assert waits[0] in (15, 16) and waits[1] in (30, 31) and waits[2] in (60, 61), waits
    # Once the lockout has passed, the right code still works and the count starts again.
    u.mark()
    await u.send(f"/start {good}")
    await u.wait_for("Linked")
    async with world.services.db.read() as s:
        row = await s.get(StartAttempt, 781)
    assert row.lockouts == 0 and row.locked_until is None
