"""What the report conversation says (HTML; everything a person wrote is escaped here).

The flow lives in ``bot/record/reporting.py``; every question, note, summary
and button label it shows is built here, so the wording can be reviewed (and
later translated) in one place. Builders return text, or ``(text, buttons)``
for a whole prompt; button data comes from ``bot/callbacks.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot import callbacks
from bot.config import Category, ServiceSettings
from bot.record.render import FIELD_LABELS
from bot.rules.when_parse import EXAMPLE
from bot.texts import URGENCY_MARK, clip, emergency_lines, h, when

Buttons = list[list[tuple[str, str]]]
Shown = tuple[str, Buttons]

BUTTON_LABEL_MAX = 60

# record-field step -> (question, hint); the details key of each is in reporting.FIELD_KEYS
QUESTIONS: dict[str, tuple[str, str]] = {
    # A category's own questions (bot/rules/categories.py CATEGORY_QUESTIONS).
    "mark_where": ("Where on the baby's body is the mark?",
                   "For example: left cheek, behind the right ear, upper arm. Its size, colour "
                   "and shape too, if you can."),
    "first_seen": ("When was the mark first seen, and by whom?",
                   "For example: at 7am today by me, when changing her nappy."),
    "where": ("Where did it happen?",
              "For example: at home, at school, in the car, at contact."),
    "present": ("Who was present?",
                "Roles or initials rather than full names, please (for example: me, my partner, "
                "A1's brother)."),
    "words": ("Did the child say anything about it?",
              "Write their words exactly as they said them, in quotes if you can."),
    "action": ("What have you done already?",
               "For example: first aid, called 999, told the school, phoned the duty line."),
    "views": ("What are the child's views or wishes about it?", ""),
    "opinion": ("Is there anything you want to add as your own opinion?",
                "This step is optional. It is kept apart from the facts above, so the record "
                "shows which is which."),
}
WHEN_LABEL = "When it happened"
DESCRIPTION_LABEL = "What happened"


def _fit(label: str) -> str:
    """A button label Telegram shows in full."""
    return label if len(label) <= BUTTON_LABEL_MAX else label[:BUTTON_LABEL_MAX - 3] + "…"


def cancel_button(draft_id: int) -> tuple[str, str]:
    return ("✖️ Cancel", callbacks.REPORT_DISCARD.data(draft_id))


def discard_button(draft_id: int) -> tuple[str, str]:
    """On a paused or abandoned draft (/cancel, the draft reminder)."""
    return ("🗑 Discard it", callbacks.REPORT_DISCARD.data(draft_id))


def offer_buttons(draft_id: int) -> Buttons:
    return [[("Yes, report it", callbacks.REPORT_OFFER_YES.data(draft_id)),
             ("No", callbacks.REPORT_OFFER_NO.data(draft_id))]]


# ------------------------------------------------------------------ starting

def resumed(text: str) -> str:
    return "You have a report in progress; carrying on where you left off.\n\n" + text


def no_child_placed(duty_phone: str) -> str:
    return ("I cannot find a child currently placed with you, so I cannot take a report here. "
            "Please phone your supervising social worker"
            + (f" or the duty line on <b>{h(duty_phone)}</b>." if duty_phone else "."))


def nothing_to_show() -> str:
    return "Send /report to start a report."


# ------------------------------------------------------------------ the questions

def ask_child(draft_id: int, refs: Iterable[str]) -> Shown:
    rows = [[(ref, callbacks.REPORT_CHILD.data(draft_id, ref))] for ref in refs]
    rows.append([cancel_button(draft_id)])
    return "Which child is this about?", rows


def ask_category(draft_id: int, child_ref: str, categories: Iterable[Category]) -> Shown:
    rows = [[(_fit(c.label), callbacks.REPORT_CATEGORY.data(draft_id, c.key))]
            for c in categories]
    rows.append([cancel_button(draft_id)])
    return f"Report about <b>{h(child_ref)}</b>. What happened? Choose one:", rows


def ask_description(draft_id: int, cat: Category | None, service: ServiceSettings, *,
                    sent_at_once: bool, before: str | None) -> Shown:
    """The description: emergency numbers first for urgent categories, the category's guidance,
    and what the carer wrote before (when they came back to change it)."""
    parts = []
    if cat and cat.first:
        parts.append(f"🩺 <b>{h(cat.first)}</b>")
        parts.append("")
    if cat and cat.urgency == "urgent":
        parts.append(emergency_lines(service.out_of_hours_phone, service.duty_phone))
        parts.append("")
    if cat:
        parts.append(f"<b>{h(cat.label)}</b>")
        if cat.guidance:
            parts.append(h(cat.guidance))
    parts.append("")
    if sent_at_once:
        parts.append("Now write what happened in one message. It is sent as soon as you "
                     "send it; I will ask for the other details afterwards.")
    else:
        parts.append("Now write what happened in one message: what, when and where, who was "
                     "there, the child's own words if relevant, and what you have done already.")
    parts.append("You can also send photos, voice notes or documents.")
    if before:
        parts.append("")
        parts.append("What you wrote before (send a new message to replace it):")
        parts.append(f"<i>{h(clip(before, 1500))}</i>")
        return "\n".join(parts), [
            [("Keep what I wrote", callbacks.REPORT_KEEP_DESCRIPTION.data(draft_id))],
            [cancel_button(draft_id)]]
    return "\n".join(parts), [[cancel_button(draft_id)]]


def field_head(number: int, total: int, reference: str | None) -> str:
    """Before each record question: its number, and after an urgent report, which record."""
    if reference is not None:
        return f"For the record of <b>{h(reference)}</b> ({number} of {total}):\n"
    return f"({number} of {total}) "


def _skip_rows(draft_id: int, after: bool) -> Buttons:
    skip = [("Skip", callbacks.REPORT_SKIP.data(draft_id)),
            ("⏭ Stop here" if after else "⏭ Skip the rest",
             callbacks.REPORT_SKIP_REST.data(draft_id))]
    return [skip] if after else [skip, [cancel_button(draft_id)]]


def ask_when(draft_id: int, head: str, *, today: bool, after: bool) -> Shown:
    if today:
        text = head + "<b>What time today?</b> Type it, for example “9:15” or “2pm”."
    else:
        text = (head + "<b>When did it happen?</b>\nPress a button, or type a date and time, "
                f"{h(EXAMPLE)}.")
    skip, *tail = _skip_rows(draft_id, after)
    rows = [[("Now", callbacks.REPORT_WHEN.data(draft_id, "now")),
             ("Earlier today", callbacks.REPORT_WHEN.data(draft_id, "today"))], skip, *tail]
    return text, rows


def ask_field(draft_id: int, step: str, head: str, *, before: str | None, after: bool) -> Shown:
    question, hint = QUESTIONS[step]
    text = head + f"<b>{h(question)}</b>" + (f"\n{h(hint)}" if hint else "")
    if before:
        text += ("\n\nWhat you wrote before (send a new message to replace it):\n"
                 f"<i>{h(clip(before, 800))}</i>")
    return text, _skip_rows(draft_id, after)


def review(draft_id: int, *, child_ref: str | None, category_label: str | None,
           urgency: str | None, occurred_at: datetime | None, tz: ZoneInfo, description: str,
           fields: Iterable[tuple[str, str]], attachments: int) -> Shown:
    """The summary before Submit: every answer given (``fields`` as (details key, value))."""
    lines = [
        "<b>Please check your report</b>",
        f"Child: <b>{h(child_ref)}</b>",
        f"Category: {h(category_label)}",
        f"Urgency: {URGENCY_MARK.get(urgency, '') if urgency else ''}",
    ]
    if occurred_at is not None:
        lines.append(f"{WHEN_LABEL}: {when(occurred_at, tz)}")
    lines.append("")
    lines.append(h(clip(description, 1500)))
    for key, value in fields:
        lines.append(f"<b>{h(FIELD_LABELS[key])}:</b> {h(clip(value, 300))}")
    if attachments:
        lines.append(f"📎 {attachments} attachment{'' if attachments == 1 else 's'}")
    return "\n".join(lines), [
        [("✅ Submit", callbacks.REPORT_SUBMIT.data(draft_id))],
        [("✏️ Edit", callbacks.REPORT_EDIT.data(draft_id)), cancel_button(draft_id)]]


def step_label(step: str, field_key: str | None) -> str:
    if step == "description":
        return DESCRIPTION_LABEL
    if step == "when":
        return WHEN_LABEL
    return FIELD_LABELS[field_key]


def edit_menu(draft_id: int, steps: Iterable[tuple[str, str]]) -> Shown:
    """Which part to change: ``steps`` as (step, label)."""
    rows = [[(label, callbacks.REPORT_EDIT.data(draft_id, step))] for step, label in steps]
    rows.append([("↩️ Back to the review", callbacks.REPORT_EDIT.data(draft_id, "review"))])
    return "Which part do you want to change?", rows


# ------------------------------------------------------------------ notes before a prompt

def description_overflow(length: int, kept: int) -> str:
    return (f"What happened is {length} characters; the first {kept} are the description and "
            "the rest is kept with the report as a note. Nothing was lost.")


def rest_added_to(reference: str) -> str:
    return (f"Added to <b>{h(reference)}</b> as the rest of what happened; "
            "everyone who has it was told.")


def added_to_description(length: int) -> str:
    return f"Added to what happened ({length} characters in all)."


def when_unreadable(error: str) -> str:
    return f"⚠️ {h(error)}\n\n"


def report_refused(error: str) -> str:
    return f"⚠️ {h(error)}\n\n"


KEPT_TYPED = "I have kept what you typed. Please use the buttons to carry on."


def file_added_to(reference: str) -> str:
    return f"📎 Added to <b>{h(reference)}</b> and sent on.\n\n"


def file_attached(kind_label: str, count: int) -> str:
    return f"📎 {kind_label.capitalize()} attached ({count} so far).\n\n"


# ------------------------------------------------------------------ the record

def answer_on_record(field_key: str | None, shown: str) -> str:
    """A record field answered after an urgent report, as the follow-up on its thread
    (plain text: it is escaped wherever it is shown)."""
    label = WHEN_LABEL if field_key is None else FIELD_LABELS[field_key]
    return f"{label}: {shown}"


def record_updated(reference: str) -> str:
    return (f"Thank you. The record of <b>{h(reference)}</b> is updated and everyone who has it "
            "was told. Use Add more on your receipt (or /myreports) if anything else comes up.")


def questions_after_submit(first_question: str, first_of_all: str = "") -> str:
    """After an urgent report went: the category's first instruction again, then the questions."""
    again = f"🩺 <b>{h(first_of_all)}</b>\n\n" if first_of_all else ""
    return (again + "Your report has gone. When you are able, a few more questions for the "
            "record (each can be skipped):\n\n" + first_question)


def submitting(reference: str) -> str:
    return f"Submitting <b>{h(reference)}</b>… your receipt follows."


# ------------------------------------------------------------------ offers and discards

def offer(draft_id: int, *, files_kept: bool) -> Shown:
    kept = " (what you sent is kept with it)" if files_kept else ""
    return f"Report this as an incident?{kept}", offer_buttons(draft_id)


def offer_add(draft_id: int, reports: Iterable[tuple[int, str, str, str]]) -> Shown:
    """Add it to an open report: ``reports`` as (incident id, reference, child, category)."""
    rows = [[(_fit(f"{ref} · {child} · {category}"),
              callbacks.REPORT_OFFER_ADD_TO.data(draft_id, incident_id))]
            for incident_id, ref, child, category in reports]
    rows.append([("No, do not keep it", callbacks.REPORT_OFFER_DROP.data(draft_id))])
    return "Add it to one of your open reports?", rows


NOT_REPORTER = "Only the carer who sent a report can add to it. Nothing was changed."


def added_to_report(reference: str) -> str:
    return f"Added to <b>{h(reference)}</b> and sent to everyone who has it."


def offer_not_kept() -> str:
    return "OK, I have not kept that message anywhere. Send /report whenever you need to."


def report_discarded() -> str:
    return "Report cancelled and discarded. Send /report to start again."


# ------------------------------------------------------------------ abandoned drafts

def draft_reminder(draft_id: int, *, offer: bool, started: datetime, tz: ZoneInfo, typed: str,
                   child_ref: str | None, kept_for: str, quote_limit: int) -> Shown:
    """The one reminder about a draft nobody came back to (``bot/record/drafts.py``)."""
    at = when(started, tz)
    if offer:
        return (f"You sent me this at {at} and it has not been reported:\n\n"
                f"<i>{h(clip(typed, quote_limit))}</i>\n\n"
                "Report it as an incident?", offer_buttons(draft_id))
    about = f" about <b>{h(child_ref)}</b>" if child_ref else ""
    return (f"📝 You have an unfinished report{about}, started {at}.\n"
            "Send /report to carry on where you left off, or discard it.\n"
            f"If it is not finished it will be discarded after {h(kept_for)} without activity, "
            "and what you typed will be sent back to you.",
            [[("🗑 Discard", callbacks.REPORT_DISCARD.data(draft_id))]])


def draft_expired_head(*, offer: bool, started: datetime, tz: ZoneInfo,
                       has_answers: bool) -> list[str]:
    """The opening lines of the last message about a discarded draft."""
    if offer:
        lines = [f"I did not report the message you sent at {when(started, tz)}."]
    else:
        lines = [f"Your unfinished report (started {when(started, tz)}) was discarded after a "
                 "long time without activity."]
    if has_answers:
        lines += ["Here is everything you had given, so nothing is lost:", ""]
    return lines


DRAFT_EXPIRED_TAIL = ["", "Send /report to start a report; you can paste this text in."]


def continued(part: int, of: int) -> str:
    """The first line of the second and later parts of a long message."""
    return f"<i>continued ({part}/{of})</i>\n"


def answer_label(label: str) -> str:
    return f"<b>{h(label)}:</b>"


# ------------------------------------------------------------------ the carer's commands

NOT_A_CARER = "Only foster carers can send reports. /help shows what you can do."
STALE = "That button is from a report that is finished or no longer yours."
NOT_UNDERSTOOD = ("I only act on commands and buttons. To reply on a report, use the "
                  "“Reply to carer” button on its alert. /help shows what you can do.")
PENDING_CANCELLED = "Cancelled. Nothing more will be sent from what you type next."
NOTHING_TO_CANCEL = "Nothing to cancel. /help shows what you can do."
NO_REPORTS_YET = "You have not sent any reports yet. /report starts one."


def paused(draft_id: int) -> Shown:
    return ("Paused. Your report in progress is kept: send /report to carry on, or discard it.",
            [[discard_button(draft_id)]])


@dataclass(frozen=True)
class MyReport:
    """One line of /myreports."""

    incident_id: int
    reference: str
    child_ref: str
    category_label: str
    status: str
    reported_at: datetime
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None


def my_reports(reports: Iterable[MyReport], tz: ZoneInfo) -> Shown:
    """The carer's recent reports and their status, with Add / Correct on those not closed."""
    lines = ["<b>Your recent reports</b>"]
    buttons: Buttons = []
    for r in reports:
        if r.status != "closed":
            buttons.append([(f"➕ Add to {r.reference}", callbacks.ADD.data(r.incident_id)),
                            (f"✏️ Correct {r.reference}", callbacks.FIX.data(r.incident_id))])
        status = {
            "open": "⏳ waiting for acknowledgement",
            "acknowledged": "✅ acknowledged by " + h(r.acknowledged_by or "someone")
            + (f" at {when(r.acknowledged_at, tz)}" if r.acknowledged_at else ""),
            "closed": "☑️ closed",
        }.get(r.status, r.status)
        lines.append(f"\n<b>{h(r.reference)}</b> — {h(r.child_ref)}, {h(r.category_label)}\n"
                     f"Sent {when(r.reported_at, tz)}: {status}")
    return "\n".join(lines), buttons
