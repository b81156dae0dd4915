"""The infant protocol: a bruise, mark or injury on a baby who is not yet mobile."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from bot.config import Category
from storage.models import Incident, IncidentRecipient
from tests.world import EXAMPLE_DIRECTORY

LABEL = "Bruise, mark or injury on a baby who is not yet mobile"


async def test_infant_injury_goes_at_once_to_child_protection_and_asks_where_and_when(world):
    # Chris Reid (lado-1) also holds the child protection role.
    await world.import_directory(EXAMPLE_DIRECTORY.read_text().replace(
        'roles = ["lado"]', 'roles = ["lado", "child_protection"]'))
    patel, cp, smith = await world.link_all("sw-patel", "lado-1", "carer-smith")

    await smith.send("/report")
    await smith.wait_for("Which child")
    await smith.click("A1")
    await smith.wait_for("Choose one")
    await smith.click(LABEL)
    ask = await smith.wait_for("write what happened")
    # Medical attention comes first, before the emergency numbers and the guidance.
    assert ask.text.startswith("🩺 Get medical attention for the baby now")
    assert "Do not wait for a reply here." in ask.text
    assert ask.text.index("Do not wait") < ask.text.index("call 999 first")
    assert "sent as soon as you send it" in ask.text

    await smith.send("Small blue bruise <2cm> noticed at bath time.")
    receipt = await smith.wait_for("received and recorded")
    ref = receipt.text.split("Report ")[1].split(" ")[0]
    alert = await patel.wait_for(ref)
    assert "Small blue bruise <2cm>" in alert.text  # escaped, shown as typed
    copy = await cp.wait_for(ref)  # child protection copied, before any question is answered
    assert LABEL in copy.text and "URGENT" in copy.text.upper()

    # The record's own questions come first, then the general ones.
    question = await smith.wait_for("a few more questions")
    assert question.text.startswith("🩺 Get medical attention")
    assert "Where on the baby's body is the mark?" in question.text
    assert "(1 of 9)" in question.text
    await smith.send("Left upper arm, about 2cm, blue")
    nxt = await smith.wait_for("When was the mark first seen")
    assert "(2 of 9)" in nxt.text
    await smith.send("7pm yesterday by me at bath time")
    await smith.wait_for("When did it happen")
    await smith.click("Stop here")
    await smith.wait_for("record of")
    await world.settle()

    followup = await patel.wait_for("Where the mark is: Left upper arm, about 2cm, blue")
    assert ref in followup.text
    await patel.wait_for("When the mark was first seen: 7pm yesterday by me at bath time")
    async with world.services.db.read() as s:
        inc = (await s.execute(select(Incident).where(Incident.reference == ref))).scalar_one()
        reasons = dict((await s.execute(
            select(IncidentRecipient.person_id, IncidentRecipient.reason)
            .where(IncidentRecipient.incident_id == inc.id))).all())
    assert inc.category == "infant_injury" and inc.urgency == "urgent"
    assert inc.details["mark_where"] == "Left upper arm, about 2cm, blue"
    assert inc.details["first_seen"] == "7pm yesterday by me at bath time"
    assert set(inc.details["added_later"]) == {"mark_where", "first_seen"}
    assert "lado-1" in reasons and "sw-patel" in reasons

    # The full record shows both answers under their own labels.
    await patel.click("Full record", message_id=alert.message_id)
    full = await patel.wait_for("full record")
    assert "Where the mark is (added after submitting): Left upper arm" in full.text
    assert "When the mark was first seen (added after submitting): 7pm yesterday" in full.text


async def test_other_categories_do_not_ask_the_infant_questions(world):
    smith = await world.linked("carer-smith")
    await smith.send("/report")
    await smith.wait_for("Which child")
    await smith.click("A1")
    await smith.wait_for("Choose one")
    await smith.click("Education / school incident")
    ask = await smith.wait_for("write what happened")
    assert "🩺" not in ask.text
    await smith.send("Detention for talking.")
    first = await smith.wait_for("When did it happen")
    assert "(1 of 7)" in first.text


def test_a_category_may_only_ask_known_questions():
    Category(key="x", label="X", urgency="urgent", questions=["mark_where"])
    with pytest.raises(ValidationError, match="unknown or repeated"):
        Category(key="x", label="X", urgency="urgent", questions=["shoe_size"])
