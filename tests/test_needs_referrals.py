"""A notifiable event recorded without a report (a DBS referral) is in needs action like
every other late clock (issues 13 and 16): ``/overdue`` for the notification owners and the
recorder's team manager, never for a worker or another team's manager; ``fosterbot
overdue``; the morning digest; counted in ``/healthz``; gone once every recipient is
recorded."""

from __future__ import annotations

import asyncio
import csv
import io

import pytest
from sqlalchemy import select

from bot import cli
from bot.runtime import health
from storage.models import NotifiableEvent, NotificationRecord
from tests.escalation_helpers import events, tick
from tests.web_helpers import start_console
from tests.world import EXAMPLE_DIRECTORY, TG_IDS

TG_IDS.setdefault("rm-reg", 5201)
TG_IDS.setdefault("tm-south", 5203)

# The registered manager manages no team; a second team with a manager of its own.
DIRECTORY = EXAMPLE_DIRECTORY.read_text() + """
[[people]]
id = "rm-reg"
name = "Rhona Registered"
roles = ["team_manager"]

[[teams]]
id = "south"
name = "South Children's Team"
manager = "tm-south"

[[people]]
id = "tm-south"
name = "Sam South"
roles = ["team_manager"]
team = "south"
"""

LINE = ("STAFF-0042 — Referral to the Disclosure and Barring Service, recorded 10:00 Wed 25 "
        "Nov 2026 by Alex Jones")
LATE = ("📋 Ofsted notification not recorded: late by 1 h 00 min (since 10:00 Thu 26 Nov 2026); "
        "owner Rhona Registered (registered manager)")


@pytest.fixture
def settings_overrides():
    return {"notification": {"registered_manager": "rm-reg"},
            "web": {"enabled": True, "public_base_url": "http://127.0.0.1", "port": 0}}


async def overdue(world, user) -> str:
    """Everything /overdue answers, as one text."""
    before = len(user.messages)
    await user.send("/overdue")
    await world.settle()
    assert len(user.messages) > before, user.transcript()
    return "\n\n".join(m.text for m in user.messages[before:])


def cli_overdue(tmp_path, db_url, capsys, *args: str) -> str:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[database]\nurl = "{db_url}"\n[notification]\nregistered_manager = '
                   '"rm-reg"\n', encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["--config", str(cfg), *args]) == 0
    return capsys.readouterr().out


async def test_dbs_referral_overdue_is_listed_until_every_recipient_is_recorded(
        world, db_url, tmp_path, capsys):
    await world.import_directory(DIRECTORY)
    reg, jones, south, patel = await world.link_all("rm-reg", "tm-jones", "tm-south",
                                                    "sw-patel")
    await jones.send("/dbsreferral STAFF-0042")
    await jones.wait_for("Recorded")
    await tick(world, minutes=1)
    # Before its deadline it is not late: the registered manager, who manages no team, is
    # answered (not refused) and nothing is overdue.
    assert "✅ Nothing is overdue" in await overdue(world, reg)

    # Thu 11:00: an hour past the 24-hour deadline, nothing recorded.
    await tick(world, hours=24, minutes=59)
    text = await overdue(world, reg)
    assert "Notifications overdue without a report: 1, most overdue first." in text
    assert LINE in text and LATE in text, text
    assert "Still to record: Ofsted, Responsible (placing) authority" in text
    # The manager of whoever recorded it sees it too; another team's manager does not; a
    # worker is refused /overdue as before.
    assert LINE in await overdue(world, jones)
    south_text = await overdue(world, south)
    assert "STAFF-0042" not in south_text and "Nothing is overdue" in south_text
    patel.mark()
    await patel.send("/overdue")
    assert "This is for team managers" in (await patel.wait_for()).text
    assert "STAFF-0042" not in "\n".join(m.text for m in patel.messages)

    # The console's Needs action page: the same list and the same scope.
    console = await start_console(world.services)
    pages = {}
    try:
        for who in ("tm-jones", "tm-south"):
            client = await console.client(who)
            async with client.get(console.url("/web/needs")) as r:
                assert r.status == 200
                pages[who] = await r.text()
    finally:
        await console.close()
    assert "Notifications overdue without a report: 1" in pages["tm-jones"]
    assert "<h3>STAFF-0042</h3>" in pages["tm-jones"]
    assert "Still to record: Ofsted, Responsible (placing) authority" in pages["tm-jones"]
    assert "STAFF-0042" not in pages["tm-south"]

    # /healthz counts it as information: still 200-worthy.
    report = await health.status(world.services)
    assert report["tasks"]["overdue_notifications_without_report"] == 1
    assert report["tasks"]["oldest_notification_overdue_seconds"] == 3600.0
    assert report["ok"] is True

    # The command line lists it, for the whole service and for the recorder's team only.
    out = await asyncio.to_thread(cli_overdue, tmp_path, db_url, capsys, "overdue")
    assert "Notifications overdue without a report: 1" in out and LINE in out
    assert "Still to record: Ofsted, Responsible (placing) authority" in out
    out = await asyncio.to_thread(cli_overdue, tmp_path, db_url, capsys, "overdue",
                                  "--team", "south")
    assert "STAFF-0042" not in out

    # The morning digest (Thursday's, sent late because the housekeeping ran now): the
    # registered manager and the recorder's manager get the line; the other team's does not.
    await world.runner.housekeeper.run_once()
    await world.settle()
    [reg_digest] = [m for m in reg.messages if "Needs action in" in m.text]
    assert "Notifications overdue without a report: 1" in reg_digest.text
    assert LINE in reg_digest.text and "Still to record: Ofsted, Responsible (placing) authority" in \
        reg_digest.text
    assert [m for m in jones.messages if "Needs action in" in m.text and LINE in m.text]
    assert not [m for m in south.messages if "Needs action in" in m.text]
    sent = {e.details["to"]: e.details["notifications_without_report"]
            for e in await events(world, None, "digest_sent")}
    assert sent == {"rm-reg": 1, "tm-jones": 1}

    # Ofsted recorded: still listed, with only the placing authority missing.
    out = await asyncio.to_thread(cli_overdue, tmp_path, db_url, capsys, "notification",
                                  "record", "STAFF-0042", "ofsted", "--method", "form",
                                  "--ref", "OF-77", "--by", "rm-reg")
    text = await overdue(world, reg)
    assert LINE in text and "Still to record: Responsible (placing) authority" in text
    # The placing authority too: the referral leaves needs action and the health count.
    await asyncio.to_thread(cli_overdue, tmp_path, db_url, capsys, "notification", "record",
                            "STAFF-0042", "responsible_authority", "--method", "email",
                            "--ref", "LA-1", "--by", "rm-reg")
    await world.settle()
    text = await overdue(world, reg)
    assert "STAFF-0042" not in text and "✅ Nothing is overdue" in text
    assert "STAFF-0042" not in await overdue(world, jones)
    report = await health.status(world.services)
    assert report["tasks"]["overdue_notifications_without_report"] == 0
    assert report["tasks"]["oldest_notification_overdue_seconds"] is None


def _overdue_entry(user, subject: str):
    """The newest /overdue message about ``subject`` (one message per referral)."""
    return next(m for m in reversed(user.messages)
                if subject in m.text and "Still to record:" in m.text and "late by" in m.text)


def _data(message, label: str) -> str:
    return next(d for row in message.buttons for text, d in row if text == label)


async def test_overdue_referral_is_recorded_from_its_own_buttons(world, db_url, tmp_path,
                                                                 capsys):
    """The /overdue entry of a referral without a report carries the reminder's record
    buttons and guided exchange: the registered manager records each recipient there (how,
    then the reference), the list narrows to those still owed, and the referral leaves it
    after the last; a stale or forwarded button pressed by someone who may not record is
    refused and changes nothing; the register CSV has the rows."""
    await world.import_directory(DIRECTORY)
    reg, jones, patel, smith = await world.link_all("rm-reg", "tm-jones", "sw-patel",
                                                    "carer-smith")
    await jones.send("/dbsreferral STAFF-0042")
    await jones.wait_for("Recorded")
    await tick(world, hours=26)  # Thu 12:00: two hours past the deadline, nothing recorded

    await overdue(world, reg)
    entry = _overdue_entry(reg, "STAFF-0042")
    assert LINE in entry.text and "Still to record: Ofsted, Responsible (placing) authority" \
        in entry.text
    assert entry.button_labels == ["Ofsted: online form", "Ofsted: email", "Ofsted: phone",
                                   "Placing authority: online form", "Placing authority: email",
                                   "Placing authority: phone"]
    assert all(len(d.encode()) <= 64 for row in entry.buttons for _t, d in row)
    ofsted_form = _data(entry, "Ofsted: online form")

    # A social worker and a carer press the button (forwarded, or its data replayed): refused,
    # audited, nothing recorded.
    for outsider in (patel, smith):
        outsider.mark()
        await outsider.send("/help")
        await outsider.wait_for()
        await outsider.press_data(_data(entry, "Ofsted: online form"))
        assert "Nothing was changed" in (await outsider.wait_for_answer()).text
    refused = [e for e in await events(world, None, "access_refused")
               if e.details.get("action") == "record notification"]
    assert sorted(e.actor_id for e in refused) == ["carer-smith", "sw-patel"]
    assert not [e for e in await events(world, None, "notification_made")]

    # The registered manager taps Ofsted's online form on the list, then gives the reference.
    await reg.click("Ofsted: online form", message_id=entry.message_id)
    assert "Recorded: Ofsted notified by online form. Still to record: Placing authority." \
        in (await reg.wait_for_answer()).text
    await reg.wait_for("Reply with the reference Ofsted gave")
    await reg.send("OF-2026-0042")
    assert "Reference OF-2026-0042 recorded for Ofsted on STAFF-0042" in \
        (await reg.wait_for("Reference")).text

    # The list now names only the placing authority, with its buttons alone.
    await overdue(world, reg)
    entry = _overdue_entry(reg, "STAFF-0042")
    assert "Still to record: Responsible (placing) authority" in entry.text
    assert "Ofsted" not in entry.text.split("Still to record:", 1)[1].split("\n")[0]
    assert entry.button_labels == ["Placing authority: online form", "Placing authority: email",
                                   "Placing authority: phone"]
    # The first list's Ofsted button, tapped again: the first tap won, nothing changes.
    await reg.press_data(ofsted_form, message_id=entry.message_id)
    assert "Already recorded by Rhona Registered at 12:00" in (await reg.wait_for_answer()).text
    await reg.click("Placing authority: phone", message_id=entry.message_id)
    assert "Confirm it in writing" in (await reg.wait_for_answer()).text
    await reg.wait_for("Reply with the reference Placing authority gave")
    await reg.send("LA-3310")
    await reg.wait_for("Reference LA-3310")

    # A phone call stays owed until confirmed in writing: the list offers just that.
    await overdue(world, reg)
    entry = _overdue_entry(reg, "STAFF-0042")
    assert entry.button_labels == ["✍️ Placing authority: confirmed in writing"]
    patel.mark()
    await patel.press_data(_data(entry, "✍️ Placing authority: confirmed in writing"))
    assert "Nothing was changed" in (await patel.wait_for_answer()).text
    await reg.click("✍️ Placing authority: confirmed in writing", message_id=entry.message_id)
    assert "All recorded; reminders stop" in (await reg.wait_for_answer()).text
    await reg.wait_for("Reply with the reference Placing authority gave for the written")
    await reg.send("LA-3310-W")
    await reg.wait_for("Reference LA-3310-W")

    # Gone from the list; the register has the rows.
    await world.settle()
    text = await overdue(world, reg)
    assert "STAFF-0042" not in text and "✅ Nothing is overdue" in text
    out = tmp_path / "register.csv"
    await asyncio.to_thread(cli_overdue, tmp_path, db_url, capsys, "notifications", "--from",
                            "2026-11-01", "--to", "2026-11-30", "--out", str(out))
    rows = [r for r in csv.DictReader(io.StringIO(out.read_text().split("\n\n")[0]))
            if r["incident"] == "STAFF-0042"]
    pick = ["event", "recipient", "made", "late_by_hours", "method", "reference",
            "confirmed_in_writing", "confirmation_reference", "made_by", "status"]
    assert [[r[k] for k in pick] for r in rows] == [
        ["dbs_referral", "ofsted", "2026-11-26 12:00", "2.00", "form", "OF-2026-0042", "", "",
         "Rhona Registered", "made"],
        ["dbs_referral", "responsible_authority", "2026-11-26 12:00", "2.00", "phone", "LA-3310",
         "2026-11-26 12:00", "LA-3310-W", "Rhona Registered", "confirmed"],
    ]


async def test_each_overdue_referral_has_its_own_message_and_buttons(world):
    """Two referrals overdue: one message each, its buttons recording on that referral only;
    the heading is on the first and the pointer to the register on the last."""
    await world.import_directory(DIRECTORY)
    reg, jones = await world.link_all("rm-reg", "tm-jones")
    await jones.send("/dbsreferral STAFF-0042")
    await jones.wait_for("Recorded")
    await tick(world, minutes=30)
    await jones.send("/dbsreferral CARER-0007")
    await jones.wait_for("Recorded")
    await tick(world, hours=25)
    before = len(reg.messages)
    await overdue(world, reg)
    shown = [m for m in reg.messages[before:] if "Still to record:" in m.text]
    assert [("STAFF-0042" in m.text, "CARER-0007" in m.text) for m in shown] == [
        (True, False), (False, True)]
    assert "Notifications overdue without a report: 2" in shown[0].text
    assert "/notifications" in shown[1].text and "/notifications" not in shown[0].text
    assert shown[0].button_labels == shown[1].button_labels
    await reg.click("Ofsted: email", message_id=shown[1].message_id)
    await reg.wait_for_answer()
    assert [e.details["recipient"] for e in await events(world, None, "notification_made")] \
        == ["ofsted"]
    async with world.services.db.read() as s:
        rows = (await s.execute(select(NotifiableEvent.subject, NotificationRecord.recipient)
                                .join(NotificationRecord,
                                      NotificationRecord.event_id == NotifiableEvent.id)
                                .where(NotificationRecord.made_at.is_not(None)))).all()
    assert [tuple(r) for r in rows] == [("CARER-0007", "ofsted")]
