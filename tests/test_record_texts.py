"""The wording moved out of the flow (bot/record/report_texts.py and thread_texts.py, the /away
answer, the export messages): everything a person wrote is escaped there, and each button
carries data its handler accepts."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from bot import callbacks
from bot.config import Category, ServiceSettings
from bot.people.away import AwayResult, away_confirmation
from bot.record import report_texts as rt
from bot.record import thread_texts as tt
from bot.review import render
from storage.models import Person

EVIL = "<b>Tom</b> & <i>co</i>"
ESCAPED = "&lt;b&gt;Tom&lt;/b&gt; &amp; &lt;i&gt;co&lt;/i&gt;"
AT = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
TZ = ZoneInfo("Europe/London")
CAT = Category(key="other", label=EVIL, urgency="urgent", guidance=EVIL)
SERVICE = ServiceSettings(out_of_hours_phone=EVIL, duty_phone=EVIL)


def _texts() -> list[str]:
    """Every builder, given person-written text wherever it takes any."""
    shown = [
        rt.ask_category(1, EVIL, [CAT]),
        rt.ask_description(1, CAT, SERVICE, sent_at_once=True, before=EVIL),
        rt.ask_when(1, rt.field_head(1, 7, EVIL), today=False, after=True),
        rt.ask_field(1, "where", rt.field_head(2, 7, None), before=EVIL, after=False),
        rt.review(1, child_ref=EVIL, category_label=EVIL, urgency="urgent", occurred_at=AT,
                  tz=TZ, description=EVIL, fields=[("where", EVIL), ("opinion", EVIL)],
                  attachments=2),
        rt.draft_reminder(1, offer=True, started=AT, tz=TZ, typed=EVIL, child_ref=None,
                          kept_for="2 days", quote_limit=3300),
        rt.draft_reminder(1, offer=False, started=AT, tz=TZ, typed=EVIL, child_ref=EVIL,
                          kept_for=EVIL, quote_limit=3300),
        rt.my_reports([rt.MyReport(1, EVIL, EVIL, EVIL, "acknowledged", AT, EVIL, AT)], TZ),
        tt.ask_correction(1, EVIL), tt.ask_followup(1, EVIL), tt.ask_reply(1, EVIL, EVIL),
        tt.ask_outcome(1, EVIL), tt.ask_outcome_note(1, EVIL, "nfa"),
        tt.ask_reopen_reason(1, EVIL), tt.followup_added(1, EVIL),
    ]
    plain = [
        rt.no_child_placed(EVIL), rt.when_unreadable(EVIL), rt.report_refused(EVIL),
        rt.file_added_to(EVIL), rt.record_updated(EVIL), rt.submitting(EVIL),
        rt.added_to_report(EVIL),
        rt.answer_label(EVIL),
        tt.closed_no_more(EVIL), tt.closed_reopen_first(EVIL), tt.not_closed(EVIL),
        tt.finished(EVIL), tt.closed_meanwhile_not_added(EVIL), tt.correction_added(EVIL),
        tt.closed_meanwhile_not_sent(EVIL), tt.reply_sent(EVIL, EVIL),
        tt.closed_already(EVIL, EVIL, "10:00"), tt.closed_notice(EVIL, EVIL, AT, TZ),
        tt.closed_done(EVIL, "nfa"), tt.reopened_notice(EVIL, EVIL, AT, TZ),
        tt.reopened_done(EVIL), tt.no_attachments(EVIL),
        tt.attachment_caption(EVIL, 1, 2, "photo", EVIL, AT, TZ),
        tt.to_carer_reply(author_name=EVIL, reference=EVIL, at=AT, tz=TZ, text=EVIL,
                          files="1 photo"),
        *(tt.to_recipients(kind=kind, reference=EVIL, category_label=EVIL, child_ref=EVIL,
                           minimal=minimal, author_name=EVIL, at=AT, tz=TZ, text=EVIL, files="")
          for kind in ("followup", "correction") for minimal in (False, True)),
        away_confirmation(AwayResult(Person(name="me"), AT, Person(name=EVIL), "cover"), TZ),
        render.export_preparing(EVIL, EVIL), render.export_too_big([EVIL]),
        render.export_ready(1, 2, EVIL),
    ]
    return [text for text, _ in shown] + plain


@pytest.mark.parametrize("text", _texts())
def test_person_written_text_is_escaped(text):
    assert "<b>Tom</b>" not in text and "<i>co</i>" not in text
    assert ESCAPED in text


def test_every_button_carries_data_its_handler_accepts():
    built = [
        rt.ask_child(3, ["A1", "B2"]), rt.ask_category(3, "A1", [CAT]),
        rt.ask_description(3, CAT, SERVICE, sent_at_once=False, before="x"),
        rt.ask_when(3, "", today=True, after=False), rt.ask_field(3, "views", "", before=None,
                                                                  after=True),
        rt.review(3, child_ref="A1", category_label="x", urgency="high", occurred_at=None,
                  tz=TZ, description="x", fields=[], attachments=0),
        rt.edit_menu(3, [("where", "Where")]), rt.offer(3, files_kept=True),
        rt.offer_add(3, [(9, "INC-2026-000009", "A1", "Other " * 20)]), rt.paused(3),
        rt.draft_reminder(3, offer=False, started=AT, tz=TZ, typed="", child_ref=None,
                          kept_for="2 days", quote_limit=10),
        rt.my_reports([rt.MyReport(9, "INC-2026-000009", "A1", "x", "open", AT)], TZ),
        tt.ask_correction(3, "r"), tt.ask_followup(3, "r"), tt.ask_outcome(9, "r"),
        tt.followup_added(3, "r"), tt.too_long(3, 5000, 3000),
        ("", tt.carer_reply_buttons(9, has_files=True)),
        ("", [tt.reply_to_carer_button(9)]),
    ]
    seen = set()
    for _, rows in built:
        for row in rows:
            for label, data in row:
                pressed = callbacks.parse(data)
                assert pressed is not None, data
                seen.add(pressed.action)
    served = (set(callbacks.REPORT) | set(callbacks.THREAD))
    assert seen <= served
    # Every report action and the thread actions a person starts with appear somewhere.
    assert set(callbacks.REPORT) <= seen


def test_long_labels_are_shortened_to_fit_a_button():
    _, rows = rt.offer_add(3, [(9, "INC-2026-000009", "A1", "Other " * 20)])
    label = rows[0][0][0]
    assert len(label) <= rt.BUTTON_LABEL_MAX and label.endswith("…")
    assert label.startswith("INC-2026-000009 · A1 · Other")
    _, rows = rt.ask_category(3, "A1", [Category(key="k", label="x" * 60, urgency="high")])
    assert rows[0][0][0] == "x" * 60  # a label that fits is shown whole
