"""Issue 15: a child's chronology lists the notification register's events recipient by
recipient (made, with method and reference; written confirmation; section 47 start; not
notifiable with the reason), under the "notifications" kind, in chat and in the CSV.

The clock starts on Wed 25 Nov 2026 at 10:00 (GMT)."""

from __future__ import annotations

import csv

from bot.review import chronology
from tests.escalation_helpers import tick

POLICE = "Police called to the foster home"


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("• ")]


async def _reminded(world, who, about: str = ""):
    await world.runner.engine.run_due()
    await world.settle()
    return await who.wait_for(predicate=lambda m: "must be notified without delay" in m.text
                              and about in m.text)


async def test_the_register_recipient_by_recipient_in_the_chronology(world, tmp_path):
    jones, smith = await world.link_all("tm-jones", "carer-smith")
    ref = await world.report(smith, child="A1", category=POLICE, text="Police came at 9pm.")
    note = await _reminded(world, jones)
    world.clock.advance(minutes=10)  # 10:10
    await jones.click("Ofsted: phone", message_id=note.message_id)
    await jones.wait_for_answer()
    await jones.click("Placing authority: online form", message_id=note.message_id)
    await jones.wait_for_answer()
    # 12:10: the reminder asks for the phone call's written confirmation.
    jones.mark()
    await tick(world, hours=2)
    again = await jones.wait_for("written confirmation not yet recorded")
    await jones.click("✍️ Ofsted: confirmed in writing", message_id=again.message_id)
    await jones.wait_for_answer()
    await world.settle()

    # 12:30: a section 47 enquiry starts; its three recipients (Schedule 7 row 10: the area
    # authority too) told by email.
    world.clock.advance(minutes=20)
    jones.mark()
    await jones.send(f"/s47 {ref} started")
    await jones.wait_for("Child protection (section 47) enquiry started")
    start = await _reminded(world, jones, "enquiry started")
    for label in ("Ofsted: email", "Placing authority: email", "Area authority: email"):
        await jones.click(label, message_id=start.message_id)
        await jones.wait_for_answer()
    await world.settle()

    # 13:00: a second police call, found not notifiable after review.
    world.clock.advance(minutes=30)
    second = await world.report(smith, child="A1", category=POLICE, text="Police again.")
    # (Its first reminder is let out first: /notnotifiable while the engine writes that
    # reminder can deadlock on PostgreSQL — the register's own issue, reported.)
    jones.mark()
    await _reminded(world, jones, second)
    world.clock.advance(minutes=5)
    jones.mark()
    await jones.send(f"/notnotifiable {second} police came for a neighbour")
    await jones.wait_for("is not notifiable, after review")
    await world.settle()

    jones.mark()
    await jones.send("/child A1 notifications")
    page = await jones.wait_for("chronology (notifications)")
    lines = [line.split(" — ", 1)[1] for line in _lines(page.text)]
    label = f"{POLICE}"
    assert lines == [
        f"{second}: {label} — not notifiable after review by Alex Jones: police came for a "
        "neighbour",
        f"{second}: {label} — to notify Ofsted and Placing authority by 13:00 Thu 26 Nov 2026",
        f"{ref}: Ofsted and the responsible authority notified, recorded by Alex Jones "
        "(within the deadline)",
        f"{ref}: Ofsted notified (email), recorded by Alex Jones (within the deadline)",
        f"{ref}: Placing authority notified (email), recorded by Alex Jones (within the "
        "deadline)",
        f"{ref}: Area authority notified (email), recorded by Alex Jones (within the "
        "deadline)",
        f"{ref}: Child protection (section 47) enquiry started — to notify Ofsted, Placing "
        "authority and Area authority by 12:30 Thu 26 Nov 2026",
        f"{ref}: Ofsted: phone notification confirmed in writing, recorded by Alex Jones",
        f"{ref}: Ofsted notified (phone), recorded by Alex Jones (within the deadline)",
        f"{ref}: Placing authority notified (online form), recorded by Alex Jones (within the "
        "deadline)",
        f"{ref}: {label} — to notify Ofsted and Placing authority by 10:00 Thu 26 Nov 2026",
    ]
    # The kind filter keeps the incidents themselves out; the whole chronology has both.
    assert not any(line.startswith(f"{ref} {POLICE}") for line in lines)
    await jones.send("/child A1")
    whole = await jones.wait_for("chronology, newest first")
    assert f"{ref} {POLICE} (high)" in whole.text or f"{ref} {POLICE}" in whole.text

    # The CSV carries every line, dated, with its event.
    services = world.services
    async with services.db.read() as s:
        chron = await chronology.entries_for(s, services.settings, "A1", tz=services.tz,
                                             today=services.today(), kinds=["notification"])
    path = tmp_path / "a1.csv"
    assert chronology.write_csv(chron, path, services.tz) == 11
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert [r["event"] for r in rows] == [
        "not_notifiable", "notification_opened", "notification_made", "notification_recipient",
        "notification_recipient", "notification_recipient", "notification_opened", "notification_confirmed",
        "notification_recipient", "notification_recipient", "notification_opened"]
    assert {r["kind"] for r in rows} == {"notification"}
    assert rows[7]["at"] == "2026-11-25T12:10:00+00:00" and rows[7]["incident"] == ref
