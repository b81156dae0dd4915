"""Issue 14 (guard), finding 8: strangers cannot flood the bot; linked people's commands
are limited too.

Before: each unlinked message got a reply and an audit row, unthrottled; 1 000
messages from 50 accounts delayed a linked carer's reply by 9–13 s and added
1 008 undeletable audit rows.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from bot.app import make_services
from storage.models import AuditEvent


@pytest.fixture
def settings_overrides():
    """A low command limit: every reply in a chat is paced at Telegram's one a second, so
    twenty-five /help answers would take half a minute of real time."""
    return {"limits": {"commands_per_minute": 4}}

ACCOUNTS = 50
EACH = 20


async def events(world, event: str) -> list[AuditEvent]:
    async with world.services.db.read() as s:
        return list((await s.execute(select(AuditEvent).where(AuditEvent.event == event)
                                     .order_by(AuditEvent.id))).scalars())


async def test_a_flood_from_strangers_neither_delays_a_carer_nor_fills_the_audit_log(world):
    smith = await world.linked("carer-smith")
    await world.settle()
    strangers = [world.fake.user(70_000 + i, f"Stranger{i}") for i in range(ACCOUNTS)]
    sent_to: list[int] = []  # every chat the bot sent to, in order (the emulator's view)
    world.fake.on_message(lambda chat, m: sent_to.append(chat))
    before = len(await events(world, "access_refused"))
    for n in range(EACH):  # 1 000 messages, the accounts taking turns
        for i, stranger in enumerate(strangers):
            if n % 5 == 4 and stranger.messages:  # a button on the bot's one answer
                await stranger.press_data("ack:1")
            else:
                await stranger.send("/report" if n % 2 else f"let me in {n}")
        if n == EACH // 2:
            smith.mark()
            asked = time.monotonic()
            await smith.send("/help")
    await smith.wait_for("/report", timeout=30)
    waited = time.monotonic() - asked
    await world.settle()
    # Each account was answered once; everything else was only counted.
    replies = sum(len(s.messages) for s in strangers)
    assert replies == ACCOUNTS
    for stranger in strangers:
        assert len(stranger.messages) == 1 and "only for people registered" in stranger.messages[0].text
    refused = (await events(world, "access_refused"))[before:]
    assert len(refused) == ACCOUNTS  # one row per account per window, not one per message
    assert {e.telegram_user_id for e in refused} == {s.id for s in strangers}
    # The carer was not queued behind the flood: before their answer the bot sent at
    # most one message per stranger (before: up to a thousand, 9–13 s of them).
    before_carer = sent_to[:sent_to.index(smith.id)]
    assert len(before_carer) <= ACCOUNTS, len(before_carer)
    assert waited < 30, f"the carer waited {waited:.1f}s"
    # A new window: one more answer each, and the row counts the attempts not answered.
    world.clock.advance(seconds=world.settings.limits.stranger_window.amount.total_seconds())
    await strangers[0].send("hello again")
    await strangers[0].wait_for("only for people registered")
    last = (await events(world, "access_refused"))[-1]
    assert last.telegram_user_id == strangers[0].id and last.details["repeats"] == EACH - 1
    # The carer still gets everything as before.
    smith.mark()
    await smith.send("/help")
    await smith.wait_for("/report")


async def test_a_linked_persons_commands_are_limited_per_minute(world):
    smith = await world.linked("carer-smith")
    limit = world.settings.limits.commands_per_minute
    for _ in range(limit + 5):
        await smith.send("/help")
    told = await smith.wait_for("faster than I can take them", timeout=10)
    await world.settle()
    helps = [m for m in smith.messages
             if "/report" in m.text and "faster" not in m.text and "Linked" not in m.text]
    assert len(helps) == limit
    assert len([m for m in smith.messages if "faster than I can take" in m.text]) == 1
    assert told
    assert len(await events(world, "rate_limited")) == 1
    # Text is never limited: a report can still be written.
    await smith.send("something happened at school")
    await smith.wait_for("Report this as an incident?")
    # A minute later commands run again.
    world.clock.advance(minutes=1)
    smith.mark()
    await smith.send("/help")
    await smith.wait_for("/report")


async def test_a_refused_stranger_can_still_link_with_an_invite_at_once(world):
    """The quiet window never swallows ``/start <code>``, and once linked the account is
    no stranger: everything it sends is answered."""
    u = world.user("sw-khan")
    await u.send("hello?")
    await u.wait_for("only for people registered")
    await u.send("anyone there?")  # in the window: not answered
    code = await world.invite("sw-khan")
    u.mark()
    await u.send(f"/start {code}")
    await u.wait_for("Linked")
    u.mark()
    await u.send("/help")
    await u.wait_for("/away")
    assert len([m for m in u.messages if "only for people registered" in m.text]) == 1


async def test_a_strangers_window_survives_a_restart_and_is_shared(world):
    """Issue 14 gap: the stranger counters were in memory, so a restart answered a flooding
    account again and a second instance did not know it. Now the window is in the database:
    after a restart the account still gets nothing more, another instance counts its
    attempts too, and the next window's one audit row counts them all."""

    stranger = world.fake.user(70_001, "Stranger")
    await stranger.send("let me in")
    await stranger.wait_for("only for people registered")
    await world.stop_bot()
    await world.services.db.dispose()
    world.services = make_services(world.settings, clock=world.clock)  # a fresh process
    await world.start_bot()
    for text in ("hello?", "anyone there?"):
        await stranger.send(text)
    await world.settle()
    assert len(stranger.messages) == 1  # not answered again after the restart
    other = make_services(world.settings, clock=world.clock)  # a second instance
    try:
        async with other.db.write() as s:
            verdict = await other.limits.stranger(s, stranger.id, world.clock.now())
        assert not verdict.allow
    finally:
        await other.db.dispose()
    world.clock.advance(seconds=world.settings.limits.stranger_window.amount.total_seconds())
    await stranger.send("again")
    await stranger.wait_for("only for people registered", timeout=10)
    assert len(stranger.messages) == 2
    last = (await events(world, "access_refused"))[-1]
    assert last.telegram_user_id == stranger.id and last.details["repeats"] == 3
    # Two days on, the housekeeping forgets the window (the audit keeps the count of it).
    world.clock.advance(days=2)
    await world.runner.housekeeper.run_once()
    forgotten = await events(world, "strangers_forgotten")
    assert [(e.details["accounts"], e.details["unanswered_attempts"]) for e in forgotten] == [
        (1, 0)]
