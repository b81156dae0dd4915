"""Issue 14's last gap: a 429 on a handler's file or edit is waited out, never raised.

Telegram's waits adding up to more than the minute a text reply waits (after which it is
handed to the outbox) used to raise ``RetryAfter`` for files, exports and edits, and the
person saw "Sorry" or lost files. Now they are waited out as long as Telegram asks
(``bot/delivery/pacing.py`` ``SharedRateLimiter``); a button's answer too late for Telegram is
dropped quietly. The waits pass on time the test drives (``tests/driven_time.py``), not in
real time.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from storage.models import Incident, IncidentMessage
from tests.driven_time import DrivenTime
from tests.test_one_pacing_gate import report_with_photos, said_sorry, viewed


@pytest.fixture
def pacing_time():
    """The pacing on time this test drives (the tests' fast per-chat pacing otherwise)."""
    return DrivenTime()


def waits_logged(caplog, endpoint: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if "429" in r.getMessage() and endpoint in r.getMessage()]


async def test_view_attachments_through_80_seconds_of_429s_arrives_whole(world, pacing_time,
                                                                         caplog):
    """Telegram answers "retry after 40" twice to the first photo of "View attachments": the
    worker waits (only their chat), and then all four photos arrive, the button is answered
    without a "Sorry", and the audit says four were viewed."""
    caplog.set_level(logging.WARNING, logger="bot.delivery.pacing")
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    ref = await report_with_photos(world, smith, 4)
    alert = await patel.wait_for(ref)
    await world.settle()
    world.fake.fail_next("sendPhoto", retry_after=40, times=2, chat_id=patel.id)
    before = len(patel.messages)
    await patel.click("View attachments (4)", message_id=alert.message_id)
    for _ in range(2):
        assert await pacing_time.sleeping(longer_than=30) > 30  # waiting on Telegram's word
        assert [m for m in patel.messages[before:] if m.photo] == []
        pacing_time.advance(40)
    await patel.wait_for_answer(timeout=10)
    assert len([m for m in patel.messages[before:] if m.photo]) == 4
    assert world.fake.counters["injected_failures"] == 2
    assert [e.details for e in await viewed(world)] == [{"count": 4}]
    assert not said_sorry(patel)
    logged = waits_logged(caplog, "sendPhoto")
    assert len(logged) == 2 and "80s in all" in logged[1], logged


async def test_an_export_refused_for_longer_than_a_minute_arrives_whole(world, pacing_time):
    """/export's first file is refused with "retry after 70": today that was "Sorry" and no
    files; now the three files and "Export ready" arrive once the wait is over, while another
    person's chat is answered at once meanwhile."""
    jones, smith = await world.link_all("tm-jones", "carer-smith")
    await world.report(smith, child="A1", category="Other / general update", text="Quiet day.")
    await world.settle()
    world.fake.fail_next("sendDocument", retry_after=70, chat_id=jones.id)
    await jones.send("/export 2026-11-01 2026-11-30")
    assert await pacing_time.sleeping(longer_than=60) > 60
    await smith.send("/help")  # another chat is not held up by Jones's wait
    await smith.wait_for("As a foster carer", timeout=5)
    assert not any(m.document for m in jones.messages)
    pacing_time.advance(70)
    await jones.wait_for("Export ready", timeout=15)
    names = sorted(m.document["file_name"] for m in jones.messages if m.document)
    assert names == ["audit-chain-head_2026-11-01_2026-11-30.json",
                     "audit_2026-11-01_2026-11-30.csv", "incidents_2026-11-01_2026-11-30.csv"]
    assert not said_sorry(jones)


async def test_a_page_turn_through_long_429s_is_shown_and_a_late_answer_dropped(world,
                                                                               pacing_time):
    """A manager turns a timeline's page: Telegram refuses the button's answer for 30 s
    (longer than it would then accept it) and the edit for 70 s. The answer is dropped
    quietly, the edit waited out: the page is turned and nobody is told "Sorry"."""
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
    await world.settle()
    world.fake.fail_next("answerCallbackQuery", retry_after=30)
    world.fake.fail_next("editMessageText", retry_after=70, chat_id=jones.id)
    answers_before = len(jones.callback_answers)
    await jones.press_data(f"logp:{inc.id}:2", message_id=first.message_id)
    assert await pacing_time.sleeping(longer_than=60) > 60
    assert "page 1 of" in first.text
    pacing_time.advance(70)
    await jones.wait_for(predicate=lambda m: m.message_id == first.message_id
                         and "page 2 of" in (m.text or ""), timeout=10)
    assert world.runner.pacing.dropped_answers == 1
    assert jones.callback_answers[answers_before:] == []
    assert world.fake.counters["injected_failures"] == 2
    assert not said_sorry(jones)


async def test_a_dropped_button_answer_with_words_arrives_as_a_message(world, pacing_time):
    """Patel acknowledges an alert; Telegram refuses the button's answer ("Acknowledged …")
    for 30 s, longer than it would then accept it. The acknowledgement is recorded, and the
    answer's words reach Patel's chat as a message instead of being lost."""
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    ref = await world.report(smith, child="A1", category="Other / general update", text="Update")
    alert = await patel.wait_for(ref)
    await world.settle()
    answers_before = len(patel.callback_answers)
    world.fake.fail_next("answerCallbackQuery", retry_after=30)
    await patel.click("Acknowledge", message_id=alert.message_id)
    said = await patel.wait_for("The carer has been told", timeout=10)
    assert said.text.startswith(f"Acknowledged {ref}")
    await smith.wait_for("was acknowledged by", timeout=10)  # the acknowledgement was done
    assert patel.callback_answers[answers_before:] == []
    assert world.runner.pacing.dropped_answers == 1
    assert not said_sorry(patel)
