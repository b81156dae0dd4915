"""Polling: a slow update holds up only its own chat, and is confirmed only once handled."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.runtime import polling
from bot.runtime.updates_request import UPDATES_REQUEST


async def _until_reply_is_on_the_wire(world, before: int) -> None:
    """Until the bot's (delayed) reply has reached the fake: the update is in hand."""
    for _ in range(200):
        if world.fake.counters["sendMessage"] > before:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the bot never started answering")


async def test_a_slow_update_holds_up_only_its_own_chat(world):
    slow = await world.linked("sw-khan")
    other = await world.linked("carer-brown")
    await world.settle()
    # The reply to the social worker's /help takes 3 s to reach Telegram.
    world.fake.delay_next("sendMessage", 3.0, chat_id=slow.id)
    started = time.monotonic()
    before = world.fake.counters["sendMessage"]
    await slow.send("/help")
    await _until_reply_is_on_the_wire(world, before)  # so the next update is a later batch
    await other.send("/help")
    await other.wait_for("/help", timeout=5)
    other_answered = time.monotonic() - started
    await slow.wait_for("/help", timeout=10)
    slow_answered = time.monotonic() - started
    assert other_answered < 2.0 < slow_answered  # the carer did not wait for the slow one
    # And the slow chat stays in order behind its own slow update.
    await slow.send("/help")
    await slow.wait_for("/help", timeout=5)


async def test_an_update_in_hand_is_not_confirmed_until_handled(world):
    slow = await world.linked("sw-khan")
    other = await world.linked("carer-brown")
    await world.settle()
    world.fake.delay_next("sendMessage", 2.0, chat_id=slow.id)
    before = world.fake.counters["sendMessage"]
    await slow.send("/help")
    slow_update = world.fake.updates[-1]["update_id"]
    await _until_reply_is_on_the_wire(world, before)
    await other.send("/help")
    other_update = world.fake.updates[-1]["update_id"]
    await other.wait_for("/help", timeout=5)
    # The carer's later update is handled, but the slow one before it is not yet:
    # neither is confirmed to Telegram (a crash now would have both sent again).
    assert {slow_update, other_update} <= set(world.fake.unconfirmed_update_ids())
    await slow.wait_for("/help", timeout=10)
    await world.settle()
    await slow.send("/help")  # the next poll confirms everything handled before it
    await slow.wait_for("/help", timeout=5)
    assert not {slow_update, other_update} & set(world.fake.unconfirmed_update_ids())


async def test_updates_sent_again_while_in_hand_are_parsed_once(world, monkeypatch):
    """Each poll while an update is in hand sends it again; it is not parsed again."""
    from collections import Counter

    from telegram import Update

    parsed: Counter = Counter()
    parse = Update.de_json.__func__

    def counting(cls, data, bot=None):
        parsed[data["update_id"]] += 1
        return parse(cls, data, bot)

    monkeypatch.setattr(Update, "de_json", classmethod(counting))
    slow = await world.linked("sw-khan")
    await world.settle()
    world.fake.delay_next("sendMessage", 2.0, chat_id=slow.id)
    polls = world.fake.counters["getUpdates"]
    before = world.fake.counters["sendMessage"]
    await slow.send("/help")
    slow_update = world.fake.updates[-1]["update_id"]
    await _until_reply_is_on_the_wire(world, before)
    await slow.wait_for("/help", timeout=10)
    # It was in hand for 2 s against a patience of 0.2 s: sent again at least twice.
    assert world.fake.counters["getUpdates"] - polls >= 3
    assert parsed[slow_update] == 1
    # Nor was its JSON decoded again: each time it came back as a stub.
    assert world.runner.app.bot_data[UPDATES_REQUEST].cut >= 2


async def test_an_unreadable_update_is_logged_and_confirmed(world, caplog):
    import logging

    carer = await world.linked("carer-brown")
    await world.settle()
    words = "the child said her uncle hit her"
    with caplog.at_level(logging.ERROR, logger="bot.runtime.polling"):
        bad = world.fake.push_unreadable_update({"message": {"text": words}})
        await carer.send("/help")
        await carer.wait_for("/help", timeout=5)  # the updates after it are handled
        await world.settle()
        await carer.send("/help")  # the next poll confirms what came before
        await carer.wait_for("/help", timeout=5)
    assert bad not in world.fake.unconfirmed_update_ids()
    assert any(f"could not read update {bad}" in r.getMessage() for r in caplog.records)
    # Finding 9: logged by id and size, never its content (nor in a traceback).
    assert words not in caplog.text
    assert all(words not in str(r.args) and not r.exc_info for r in caplog.records)


@pytest.mark.parametrize("status, description, retry_after", [
    (429, "Too Many Requests: retry after 1", 1),
    (500, "Internal Server Error", None),
    (403, "Forbidden: bot was blocked", None),
    (502, "Bad Gateway", None),
])
async def test_polling_survives_an_error_from_getupdates(world, status, description, retry_after,
                                                        monkeypatch):
    """An answer to getUpdates that python-telegram-bot raises as an error other than a
    network error (429, 403, …) must not end the polling loop. (The loop's first pause
    after a failure is shortened from 1 s: what is checked is that it polls again; the
    429's own "retry after 1" is still waited out.)"""
    monkeypatch.setattr(polling, "POLL_RETRY_FIRST", 0.05)
    carer = await world.linked("carer-brown")
    await world.settle()
    world.fake.fail_next("getUpdates", status=status, description=description,
                         retry_after=retry_after, times=2)
    await carer.send("/help")  # answered through the long poll already waiting
    await carer.wait_for("/help", timeout=10)
    carer.mark()
    await carer.send("/help")  # the next two polls fail; a later one brings this
    await carer.wait_for("/help", timeout=15)
    assert world.fake.counters["injected_failures"] == 2


async def test_a_429_on_getupdates_is_waited_out_as_asked(world):
    carer = await world.linked("carer-brown")
    await world.settle()
    world.fake.fail_next("getUpdates", retry_after=2)
    await carer.send("/help")  # answered through the long poll already waiting
    await carer.wait_for("/help", timeout=10)
    carer.mark()
    started = time.monotonic()
    await carer.send("/help")
    await carer.wait_for("/help", timeout=15)
    # The doubling backoff would have polled again after 1 s; Telegram asked for 2.
    assert time.monotonic() - started >= 1.5
