"""Issue 14 finding 4: one pacing gate for every send.

Handler replies, files and outbox deliveries share the per-chat and global limiters
(``bot/delivery/pacing.py``); a 429 is waited out (or left to the outbox), never raised to
the person; the audit records what was actually delivered.
"""

from __future__ import annotations

import struct

import pytest
from sqlalchemy import select

from storage.models import Attachment, AuditEvent, Delivery, Incident, IncidentMessage
from tests.conftest import TELEGRAM_PACING

URGENT = "Child missing or absent without permission"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 4, 3) + b"photo"


@pytest.fixture
def settings_overrides():
    """Telegram's own per-chat pacing (one a second, burst 3): the other tests run faster."""
    return {"delivery": TELEGRAM_PACING}


def said_sorry(user) -> bool:
    return any("Sorry" in (ev.content or "") for ev in user._events)


async def test_a_burst_to_the_carer_gets_no_429_and_nothing_is_lost(world):
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    world.fake.enforce_rate_limits = True  # Telegram's flood control: 1 a second, burst 3
    refs = []
    for text in ("Gone since 9 this morning", "Her brother has gone too"):
        # Handler replies (the questions) and outbox sends (receipt, the questions after an
        # urgent report) all land in the carer's chat at once.
        refs.append(await world.report(smith, child="A1", category=URGENT, text=text))
    await world.settle()
    assert world.fake.counters["429"] == 0
    assert not said_sorry(smith)
    texts = [m.text or "" for m in smith.messages]
    for ref in refs:
        assert sum(ref in t and "received and recorded" in t for t in texts) == 1
        assert sum(ref in t and "a few more questions" in t for t in texts) == 1
        assert any(ref in (m.text or "") for m in patel.messages)


async def test_a_429_on_a_handler_reply_is_waited_out(world):
    smith = await world.linked("carer-smith")
    world.fake.fail_next("sendMessage", retry_after=1, chat_id=smith.id)
    await smith.send("/help")
    await smith.wait_for("/report", timeout=8)
    assert world.fake.counters["injected_failures"] == 1
    assert not said_sorry(smith)


async def viewed(world) -> list[AuditEvent]:
    async with world.services.db.read() as s:
        return list((await s.execute(select(AuditEvent).where(
            AuditEvent.event == "attachments_viewed"))).scalars())


async def report_with_photos(world, smith, n: int) -> str:
    await smith.send("/report")
    await smith.wait_for("Which child")
    await smith.click("A1")
    await smith.wait_for("Choose one")
    await smith.click("Other / general update")
    await smith.wait_for("write what happened")
    await smith.send("Photos of the damage to her room.")
    await smith.wait_for("When did it happen")
    for i in range(n):
        await smith.send_photo(PNG + bytes([i]))
        await smith.wait_for(f"({i + 1} so far)")
    await smith.click("Skip the rest")
    await smith.wait_for("Please check your report")
    await smith.click("Submit")
    receipt = await smith.wait_for("received and recorded")
    return receipt.text.split("Report ")[1].split(" ")[0]


async def test_view_attachments_through_a_429_sends_them_all(world):
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    ref = await report_with_photos(world, smith, 4)
    alert = await patel.wait_for(ref)
    await world.settle()
    world.fake.fail_next("sendPhoto", retry_after=1, chat_id=patel.id)
    before = len(patel.messages)
    await patel.click("View attachments (4)", message_id=alert.message_id)
    await patel.wait_for_answer(timeout=10)
    assert len([m for m in patel.messages[before:] if m.photo]) == 4
    assert [e.details["count"] for e in await viewed(world)] == [4]
    assert not said_sorry(patel)


async def test_the_audit_counts_the_files_that_arrived(world):
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    ref = await report_with_photos(world, smith, 4)
    alert = await patel.wait_for(ref)
    await world.settle()
    async with world.services.db.write() as s:  # the third file is no longer on Telegram
        third = (await s.execute(select(Attachment).order_by(Attachment.id))).scalars().all()[2]
        third.file_id = "AgAD-gone"
    before = len(patel.messages)
    await patel.click("View attachments (4)", message_id=alert.message_id)
    answer = await patel.wait_for_answer("could not")
    assert "2 of 4" in answer.text and answer.show_alert
    assert len([m for m in patel.messages[before:] if m.photo]) == 2
    assert [(e.details["count"], e.details["of"]) for e in await viewed(world)] == [(2, 4)]


async def test_an_export_through_flood_control_arrives_whole(world):
    jones, smith = await world.link_all("tm-jones", "carer-smith")
    await world.report(smith, child="A1", category="Other / general update", text="Quiet day.")
    await world.settle()
    world.fake.enforce_rate_limits = True
    # Telegram answers "retry after 1" to the first file; today that lost files and the end.
    world.fake.fail_next("sendDocument", retry_after=1, chat_id=jones.id)
    await jones.send("/export 2026-11-01 2026-11-30")
    await jones.wait_for("Export ready", timeout=15)
    names = sorted(m.document["file_name"] for m in jones.messages if m.document)
    assert names == ["audit-chain-head_2026-11-01_2026-11-30.json",
                     "audit_2026-11-01_2026-11-30.csv", "incidents_2026-11-01_2026-11-30.csv"]
    assert world.fake.counters["429"] == 0  # only the one injected: our pacing caused none
    assert not said_sorry(jones)


async def test_a_burst_of_page_turns_is_paced_like_every_send(world):
    """Issue 14 gap: edits from handlers (a page turned in place) were not paced. A manager
    turns a long timeline's pages back and forth as fast as Telegram delivers the taps:
    every turn is shown, Telegram never has to answer 429, nobody is told "Sorry"."""
    jones, smith = await world.link_all("tm-jones", "carer-smith")
    ref = await world.report(smith, child="A1", category="Contact", text="Came back quiet.")
    await world.settle()
    async with world.services.db.write() as s:
        inc = (await s.execute(select(Incident).where(Incident.reference == ref))).scalar_one()
        for i in range(4):
            s.add(IncidentMessage(incident_id=inc.id, author_id="carer-smith", kind="followup",
                                  text=f"Follow-up {i}: " + "more detail. " * 200,
                                  created_at=world.clock.now()))
    await jones.send(f"/log {ref}")
    first = await jones.wait_for("page 1 of")
    world.fake.enforce_rate_limits = True  # 1 a second per chat, burst 3: sends and edits
    turns = [2, 1, 2, 1, 2, 1]
    for page in turns:
        await jones.press_data(f"logp:{inc.id}:{page}", message_id=first.message_id)
    for _ in turns:
        await jones.wait_for_answer(timeout=10)
    await world.settle()
    edits = [c for c in world.fake.calls
             if c[0] == "editMessageText" and str(c[1].get("chat_id")) == str(jones.id)]
    assert len(edits) == len(turns)  # each turn reached Telegram once: none refused
    assert world.fake.counters["429"] == 0
    assert "page 1 of" in jones.messages[-1].text
    assert not said_sorry(jones)


async def test_a_429_longer_than_we_wait_hands_the_reply_to_the_outbox(world):
    """Issue 14 gap: Telegram told the bot to wait 61 s (more than the 60 s a handler waits)
    before answering Sam's /help. Before: the general "Sorry". Now the answer is handed to
    the outbox and arrives when Telegram allows, and the answer to the /guidance Sam sent
    next arrives after it, not before."""
    smith = await world.linked("carer-smith")
    await world.settle()
    world.fake.fail_next("sendMessage", retry_after=61, chat_id=smith.id)
    before = len(smith.messages)
    await smith.send("/help")
    await smith.send("/guidance")
    await world.settle()
    assert world.fake.counters["injected_failures"] == 1
    assert not said_sorry(smith)
    assert smith.messages[before:] == []  # nothing yet: Telegram said wait
    world.clock.advance(seconds=61)
    await world.settle()
    texts = [m.text for m in smith.messages[before:]]
    assert len(texts) == 2, texts
    # The help first, then the guidance.
    assert texts[0].startswith("As a foster carer") and texts[1].startswith("Reporting well")
    assert not said_sorry(smith)


async def test_a_handed_over_reply_keeps_its_place_across_a_restart(world):
    """Issue 14's limit: which chats owe handed-over replies was kept in memory, so after a
    restart the answer to Sam's next message went straight out and overtook the one still
    waiting in the outbox. Now it is read from the outbox: after the restart the answer to
    /guidance is handed over too, behind the /help answer, and both arrive in order."""
    smith = await world.linked("carer-smith")
    await world.settle()
    world.fake.fail_next("sendMessage", retry_after=61, chat_id=smith.id)
    before = len(smith.messages)
    await smith.send("/help")
    await world.settle()
    assert world.fake.counters["injected_failures"] == 1
    await world.stop_bot()
    await world.start_bot()
    await smith.send("/guidance")
    await world.settle()
    assert smith.messages[before:] == []  # the /help answer still waits: so does this one
    async with world.services.db.read() as s:
        waiting = (await s.execute(select(Delivery).where(
            Delivery.kind == "handler_reply", Delivery.status == "pending")
            .order_by(Delivery.id))).scalars().all()
    assert [d.payload["text"].removeprefix("<b>")[:14] for d in waiting] == [
        "As a foster ca", "Reporting well"]
    assert waiting[0].next_attempt_at == waiting[1].next_attempt_at
    world.clock.advance(seconds=61)
    await world.settle()
    texts = [m.text for m in smith.messages[before:]]
    assert len(texts) == 2, texts
    assert texts[0].startswith("As a foster carer") and texts[1].startswith("Reporting well")
    assert not said_sorry(smith)
