"""Attachments: photos, voice notes, video notes and documents on a report and its thread."""

from __future__ import annotations

import asyncio
import hashlib
import struct
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.models import Attachment, AuditEvent, Incident

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 4, 3) + b"bruise-photo"
PNG2 = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 8, 6) + b"second-photo"
OGG = b"OggS-voice-note-bytes"
PDF = b"%PDF-1.4 school letter"
MP4 = b"\x00\x00\x00\x18ftypmp42-video-note"
LETTER = b"%PDF-1.4 reply letter"


@pytest.fixture
def settings_overrides(tmp_path):
    return {"storage": {"keep_files": True, "files_dir": str(tmp_path / "files")}}


async def _attachments(world, ref: str) -> tuple[Incident, list[Attachment]]:
    async with world.services.db.read() as s:
        inc = (await s.execute(select(Incident).where(Incident.reference == ref))).scalar_one()
        rows = (await s.execute(select(Attachment).where(Attachment.incident_id == inc.id)
                                .order_by(Attachment.id))).scalars().all()
    return inc, list(rows)


async def _kept(world, ref: str, n: int) -> list[Attachment]:
    """Wait until the bot has kept ``n`` files of the incident on disk (downloads run after
    the reply), then return the rows."""
    for _ in range(100):
        await world.settle()
        _, rows = await _attachments(world, ref)
        if len([a for a in rows if a.local_path]) >= n:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {[a.local_path for a in rows]} kept")


async def test_files_during_a_report_are_attached_kept_and_viewable(world, tmp_path):
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    await smith.send("/report")
    await smith.wait_for("Which child")
    await smith.click("A1")
    await smith.wait_for("Choose one")
    await smith.click("Education / school incident")
    await smith.wait_for("write what happened")
    await smith.send_photo(PNG, caption="Bruise on her arm after PE.")  # caption = description
    got = await smith.wait_for("When did it happen")
    assert "Photo attached (1 so far)" in got.text
    await smith.send_voice(OGG)
    await smith.wait_for("Voice note attached (2 so far)")
    await smith.send_document(PDF, "letter.pdf", mime_type="application/pdf")
    await smith.wait_for("Document attached (3 so far)")
    await smith.send_video_note(MP4)
    await smith.wait_for("Video note attached (4 so far)")
    await smith.click("Skip the rest")
    review = await smith.wait_for("Please check your report")
    assert "📎 4 attachments" in review.text and "Bruise on her arm after PE." in review.text
    await smith.click("Submit")
    receipt = await smith.wait_for("received and recorded")
    ref = receipt.text.split("Report ")[1].split(" ")[0]

    alert = await patel.wait_for(ref)
    assert "📎 4 attachments" in alert.text
    assert "📎 View attachments (4)" in alert.button_labels

    rows = await _kept(world, ref, 4)
    assert [a.kind for a in rows] == ["photo", "voice", "document", "video_note"]
    assert rows[2].file_name == "letter.pdf"
    for a, data in zip(rows, (PNG, OGG, PDF, MP4)):
        path = Path(a.local_path)
        assert path.parent == tmp_path / "files" / ref
        assert path.read_bytes() == data
        assert a.sha256 == hashlib.sha256(data).hexdigest()
        assert a.uploaded_by_id == "carer-smith" and a.message_id is None

    patel.mark()
    await patel.click("View attachments", message_id=alert.message_id)
    await patel.wait_for_count(len(patel.messages) + 5)
    sent = patel.messages[-5:]
    assert sent[0].photo and f"{ref} · 1 of 4 · photo from Sam Smith" in sent[0].caption
    assert sent[1].voice and "2 of 4 · voice note" in sent[1].caption
    assert sent[2].document and sent[2].document["file_name"] == "letter.pdf"
    assert "4 of 4 · video note" in sent[3].text and sent[4].video_note
    served = world.fake.files[sent[0].photo[-1]["file_id"]]["data"]
    assert served == PNG  # the same file, re-sent by its Telegram file id
    await patel.wait_for_answer()  # answered once all were sent, and the view recorded
    async with world.services.db.read() as s:
        viewed = (await s.execute(select(AuditEvent).where(
            AuditEvent.event == "attachments_viewed"))).scalars().all()
    assert [(v.actor_id, v.details["count"]) for v in viewed] == [("sw-patel", 4)]


async def test_files_as_follow_ups_replies_and_outside_a_conversation(world):
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    ref = await world.report(smith, child="A1", category="Other / general update",
                             text="Update.")
    alert = await patel.wait_for(ref)
    assert "View attachments" not in " ".join(alert.button_labels)

    await smith.click("Add more", message_id=smith.last.message_id)
    await smith.wait_for("Send what you want to add")
    await smith.send_photo(PNG2, caption="The scratch today")
    await smith.wait_for("Added to")
    note = await patel.wait_for("Follow-up on")
    assert "The scratch today" in note.text and "📎 1 photo" in note.text
    assert "📎 View attachments (1)" in note.button_labels
    await world.settle()
    assert "📎 View attachments (1)" in alert.button_labels  # the alert is kept current
    await smith.click("Done")

    # A worker's reply with a document reaches the carer, who can open it.
    await patel.click("Reply to carer", message_id=alert.message_id)
    await patel.wait_for("Write your reply")
    await patel.send_document(LETTER, "plan.pdf", caption="The plan we agreed")
    await patel.wait_for("Sent to Sam Smith")
    got = await smith.wait_for("replied about your report")
    assert "The plan we agreed" in got.text and "📎 1 document" in got.text
    smith.mark()
    await smith.click("View attachments", message_id=got.message_id)
    await smith.wait_for(predicate=lambda m: bool(m.document))

    # A file sent outside any conversation is offered, then added to the open report.
    smith.mark()
    await smith.send_voice(OGG)
    offer = await smith.wait_for("Report this as an incident?")
    assert "kept with it" in offer.text
    await smith.click("No")
    await smith.wait_for("Add it to one of your open reports?")
    await smith.click(ref)
    await smith.wait_for("Added to " + ref)
    await patel.wait_for("📎 1 voice note")

    rows = await _kept(world, ref, 3)
    assert [(a.kind, a.uploaded_by_id, a.message_id is not None) for a in rows] == [
        ("photo", "carer-smith", True), ("document", "sw-patel", True),
        ("voice", "carer-smith", True)]
    assert Path(rows[1].local_path).read_bytes() == LETTER
