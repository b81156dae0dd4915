"""A manager acting on an incident in the console, the bot running against the emulator: each
form goes through the domain function the bot's handler calls, and the carer's and the
worker's chats show the effect. Attachments are fetched through the bot and streamed."""

from __future__ import annotations

import struct

import pytest
from sqlalchemy import select

from storage.models import Attachment, AuditEvent, Incident, NotificationRecord
from tests import review_seed
from tests.conftest import TOKEN
from tests.web_helpers import csrf_of, start_console

ALLEGATION = "Allegation or serious complaint about a carer or househol…"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 4, 3) + b"bruise-photo"
OGG = b"OggS-voice-note-bytes"
HTML = b"<script>alert('carer file')</script>"


@pytest.fixture
def settings_overrides():
    return {"web": {"enabled": True, "public_base_url": "http://127.0.0.1"}}


@pytest.fixture
async def console(world):
    c = await start_console(world.services)
    try:
        yield c
    finally:
        await c.close()


async def _incident(world, ref: str) -> Incident:
    async with world.services.db.read() as s:
        return (await s.execute(select(Incident).where(Incident.reference == ref))).scalar_one()


async def _post(client, console, page: str, action: str, **fields):
    token = await csrf_of(client, console.url(page))
    async with client.post(console.url(f"{page}/{action}"), data={"csrf": token, **fields}) as r:
        return r.status, str(r.url), await r.text()


async def test_a_manager_acts_on_an_incident_and_the_chats_show_it(world, console):
    await world.import_directory(review_seed.DIRECTORY)  # adds the South team
    patel, _jones, smith = await world.link_all("sw-patel", "tm-jones", "carer-smith")
    ref = await world.report(smith, child="A1", category=ALLEGATION,
                             text="A1 says a visitor pushed her.")
    alert = await patel.wait_for(ref)
    await world.settle()
    page = f"/web/incidents/{ref}"
    manager, other = await console.client("tm-jones"), await console.client("tm-south")

    async with manager.get(console.url(page)) as r:
        html = await r.text()
    assert f"Acknowledge {ref}" in html and "Schedule 7 notification: Ofsted" in html

    # A forged form (no CSRF token) changes nothing.
    async with manager.post(console.url(f"{page}/acknowledge"), data={}) as r:
        assert r.status == 403
    assert (await _incident(world, ref)).status == "open"

    # Acknowledge on behalf: the carer is told, the worker's alert says who.
    smith.mark()
    status, url, html = await _post(manager, console, page, "acknowledge")
    assert status == 200 and url.endswith("?done=acknowledged")
    assert "Acknowledged. The carer has been told" in html and f"Acknowledge {ref}" not in html
    await world.settle()
    told = await smith.wait_for("was acknowledged by")
    assert ref in told.text and "Alex Jones" in told.text
    assert "Acknowledged by Alex Jones" in next(
        m for m in patel.messages if m.message_id == alert.message_id).text
    inc = await _incident(world, ref)
    assert (inc.acknowledged_by_id, inc.acknowledged_on_behalf_of_id) == ("tm-jones", "sw-patel")

    # The worker tries to close in the bot: held until a manager records oversight.
    await patel.click("Close with outcome", message_id=alert.message_id)
    await patel.wait_for("cannot be closed yet")
    await world.settle()
    patel.mark()
    status, _, html = await _post(manager, console, page, "oversight", decision="",
                                  rationale="Seen by the LADO")
    assert status == 400 and "The decision is missing" in html and "Seen by the LADO" in html
    status, url, html = await _post(
        manager, console, page, "oversight", decision="Strategy discussion; A1 stays.",
        rationale="No injury found; the carer acted at once.",
        actions="sw-patel, 2026-11-27, Visit and see A1 alone")
    assert status == 200 and url.endswith("?done=oversight")
    assert "Management oversight recorded by Alex Jones" in html  # in the timeline
    assert "Viewed in the web console by Alex Jones" in html
    await world.settle()
    assert ref in (await patel.wait_for("You can now close it")).text
    assert "Visit and see A1 alone" in (await patel.wait_for("An action for you")).text

    # A notification per recipient, through the register's own function.
    async with world.services.db.read() as s:
        ofsted = (await s.execute(select(NotificationRecord).where(
            NotificationRecord.recipient == "ofsted"))).scalar_one()
    status, url, _ = await _post(manager, console, page, "notification", record=str(ofsted.id),
                                 what="made", method="form", reference="OF-123", at="")
    assert status == 200 and url.endswith("?done=notified")
    async with world.services.db.read() as s:
        ofsted = await s.get(NotificationRecord, ofsted.id)
        placing = (await s.execute(select(NotificationRecord).where(
            NotificationRecord.recipient == "responsible_authority"))).scalar_one()
    assert (ofsted.method, ofsted.reference, ofsted.made_by_id) == ("form", "OF-123", "tm-jones")
    assert ofsted.made_at == world.clock.now()
    status, _, html = await _post(manager, console, page, "notification", record=str(placing.id),
                                  what="not_required", reason="")
    assert status == 400 and "Say why" in html
    status, _, html = await _post(manager, console, page, "notification", record=str(placing.id),
                                  what="made", method="phone", at="2026-11-25T09:30")
    assert status == 200 and "its written confirmation is still owed" in html
    status, url, html = await _post(manager, console, page, "notification", record=str(placing.id),
                                    what="confirmed", reference="email 42")
    assert status == 200 and url.endswith("?done=confirmed")
    assert "Schedule 7 notification:" not in html  # nothing owed any more
    async with world.services.db.read() as s:
        placing = await s.get(NotificationRecord, placing.id)
    assert placing.made_at.isoformat() == "2026-11-25T09:30:00+00:00"  # London = UTC in Nov
    assert (placing.method, placing.confirm_reference) == ("phone", "email 42")

    # Another team's manager can neither see nor act.
    async with other.post(console.url(f"{page}/close"),
                          data={"csrf": await csrf_of(other, console.url("/web/stats")),
                                "outcome": "nfa", "note": "x"}) as r:
        assert r.status == 403
    assert (await _incident(world, ref)).status == "acknowledged"

    # Close with an outcome, then reopen: the carer is told each time.
    smith.mark()
    status, url, _ = await _post(manager, console, page, "close", outcome="nfa",
                                 note="Strategy discussion held; no further action.")
    assert status == 200 and url.endswith("?done=closed")
    await world.settle()
    assert ref in (await smith.wait_for("was closed by")).text
    status, url, html = await _post(manager, console, page, "reopen", reason="New information")
    assert status == 200 and url.endswith("?done=reopened") and "Close with an outcome" in html
    await world.settle()
    assert ref in (await smith.wait_for("was reopened by")).text
    async with world.services.db.read() as s:
        done = [e.event for e in (await s.execute(select(AuditEvent).where(
            AuditEvent.actor_id == "tm-jones").order_by(AuditEvent.id))).scalars()]
    for event in ("acknowledged", "oversight_recorded", "notification_made", "closed",
                  "reopened"):
        assert event in done


async def test_attachments_streamed_and_the_live_part_follows_the_bot(world, console):
    patel, smith = await world.link_all("sw-patel", "carer-smith")
    await smith.send("/report")
    await smith.wait_for("Which child")
    await smith.click("A1")
    await smith.wait_for("Choose one")
    await smith.click("Education / school incident")
    await smith.wait_for("write what happened")
    await smith.send_photo(PNG, caption="Bruise on her arm after PE.")
    await smith.wait_for("When did it happen")
    await smith.send_voice(OGG)
    await smith.wait_for("Voice note attached")
    await smith.send_document(HTML, "note.html", mime_type="text/html")
    await smith.wait_for("Document attached")
    await smith.click("Skip the rest")
    await smith.wait_for("Please check your report")
    await smith.click("Submit")
    receipt = await smith.wait_for("received and recorded")
    ref = receipt.text.split("Report ")[1].split(" ")[0]
    alert = await patel.wait_for(ref)
    await world.settle()
    me = await console.client("sw-patel")
    async with me.get(console.url(f"/web/incidents/{ref}")) as r:
        html = await r.text()
    assert TOKEN not in html and "api.telegram" not in html and "/file/bot" not in html
    assert '<img src="/web/incidents/' in html and "<audio controls" in html
    inc = await _incident(world, ref)
    async with world.services.db.read() as s:
        rows = (await s.execute(select(Attachment).where(Attachment.incident_id == inc.id)
                                .order_by(Attachment.id))).scalars().all()
    got = {}
    for a in rows:
        async with me.get(console.url(f"/web/incidents/{ref}/files/{a.id}")) as r:
            got[a.kind] = (r.status, r.headers["Content-Type"],
                           r.headers["Content-Disposition"].split(";")[0], await r.read())
    assert got == {"photo": (200, "image/jpeg", "inline", PNG),
                   "voice": (200, "audio/ogg", "inline", OGG),
                   "document": (200, "application/octet-stream", "attachment", HTML)}
    anonymous = console.anonymous()
    async with anonymous.get(console.url(f"/web/incidents/{ref}/files/{rows[0].id}"),
                             allow_redirects=False) as r:
        assert r.status == 401
    async with me.get(console.url(f"/web/incidents/{ref}/files/999999")) as r:
        assert r.status == 404
    async with world.services.db.read() as s:
        seen = (await s.execute(select(AuditEvent).where(
            AuditEvent.event == "web_viewed", AuditEvent.incident_id == inc.id))).scalars().all()
    assert sorted(e.details["what"] for e in seen) == ["attachment"] * 3 + ["incident"]

    # The page's live part (what its script fetches) follows a change made in the bot.
    live = console.url(f"/web/incidents/{ref}?part=live")
    async with me.get(live) as r:
        before, digest = await r.text(), r.headers["X-Digest"]
    await patel.click("Acknowledge", message_id=alert.message_id)
    await world.settle()
    async with me.get(live) as r:
        after = await r.text()
        assert r.headers["X-Digest"] != digest
    assert "acknowledged by Priya Patel" not in before and "acknowledged by Priya Patel" in after
