"""What the incident thread says (HTML; everything a person wrote is escaped here).

The flow lives in ``bot/record/thread.py`` (follow-ups, replies, corrections,
outcomes, reopening); every prompt, refusal, notice and button label it shows
is built here, so the wording can be reviewed (and later translated) in one
place. Button data comes from ``bot/callbacks.py``.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot import callbacks
from bot.rules.outcomes import OUTCOMES, outcome_label
from bot.texts import clip, h, when

Buttons = list[list[tuple[str, str]]]
Shown = tuple[str, Buttons]

# Refusals (the reason for the audit log stays in thread.py).
NOT_REPORTER = "Only the carer who sent this report can add to it. Nothing was changed."
NOT_HOLDER_REPLY = "You do not hold this report, so you cannot reply on it. Nothing was sent."
NOT_HOLDER_CLOSE = "You do not hold this report, so you cannot close it. Nothing was changed."
MAY_NOT_REOPEN = ("Only the worker who holds this report or the team manager can reopen it. "
                  "Nothing was changed.")

# How a worker's prompts name the carer when alerts are minimal (names only via Show details).
THE_CARER = "the carer"


def cancel_button(draft_id: int) -> tuple[str, str]:
    """Cancel a pending state (draft id 0: none was started yet, nothing to end)."""
    return ("✖️ Cancel", callbacks.PENDING_CANCEL.data(draft_id))


def done_button(draft_id: int) -> tuple[str, str]:
    return ("✔️ Done", callbacks.PENDING_DONE.data(draft_id))


# ------------------------------------------------------------------ starting a pending state

def closed_no_more(reference: str) -> str:
    return (f"<b>{h(reference)}</b> is closed, so nothing more can be added to it. If something "
            "new has happened, send /report.")


def ask_correction(draft_id: int, reference: str) -> Shown:
    return (f"Type the correction to <b>{h(reference)}</b>. Your original report is kept exactly "
            "as it was; the correction is added next to it and sent to everyone who has the "
            "report.", [[cancel_button(draft_id)]])


def ask_followup(draft_id: int, reference: str) -> Shown:
    return (f"Send what you want to add to <b>{h(reference)}</b>: text, photos, voice notes, "
            "video notes or documents. Everyone who has the report is told. Press Done when you "
            "have finished.", [[done_button(draft_id), cancel_button(draft_id)]])


def closed_reopen_first(reference: str) -> str:
    return f"<b>{h(reference)}</b> is closed. Reopen it first if there is more to say."


def ask_reply(draft_id: int, carer_name: str, reference: str) -> Shown:
    return (f"Write your reply to <b>{h(carer_name)}</b> about <b>{h(reference)}</b> (text, or a "
            "photo or document). It is kept on the record.", [[cancel_button(draft_id)]])


def ask_outcome(incident_id: int, reference: str) -> Shown:
    rows = [[(label, callbacks.OUTCOME.data(incident_id, code))]
            for code, label in OUTCOMES.items()]
    rows.append([cancel_button(0)])
    return f"Close <b>{h(reference)}</b>: what was the outcome?", rows


def ask_outcome_note(draft_id: int, reference: str, code: str) -> Shown:
    return (f"Outcome for <b>{h(reference)}</b>: <b>{h(OUTCOMES[code])}</b>.\n"
            "Now type a short note of the outcome (what was decided and what happens next). "
            "The report is then closed and the carer told.", [[cancel_button(draft_id)]])


def not_closed(reference: str) -> str:
    return f"<b>{h(reference)}</b> is not closed."


def ask_reopen_reason(draft_id: int, reference: str) -> Shown:
    return (f"Why are you reopening <b>{h(reference)}</b>? Type the reason; it is kept on the "
            "record.", [[cancel_button(draft_id)]])


def cancelled() -> str:
    return "Cancelled. Nothing more was sent or changed."


def finished(reference: str) -> str:
    return (f"Done. Everything you sent is on <b>{h(reference)}</b>. /myreports shows your "
            "reports.")


# ------------------------------------------------------------------ answers

def too_long(draft_id: int, length: int, limit: int) -> Shown:
    return (f"That is {length} characters; please send it in parts of under {limit}.",
            [[cancel_button(draft_id)]])


def closed_meanwhile_not_added(reference: str) -> str:
    return (f"<b>{h(reference)}</b> was closed meanwhile, so this was not added. If something "
            "new has happened, send /report.")


def correction_needs_words(draft_id: int) -> Shown:
    return "A correction needs words: please type it.", [[cancel_button(draft_id)]]


def correction_added(reference: str) -> str:
    return (f"Correction added to <b>{h(reference)}</b> next to your original report, and sent "
            "to everyone who has it.")


def followup_added(draft_id: int, reference: str) -> Shown:
    return (f"Added to <b>{h(reference)}</b> and sent on. Send more, or press Done.",
            [[done_button(draft_id)]])


def followup_joined(draft_id: int, reference: str, length: int) -> Shown:
    """The next piece of a long paste, joined to the follow-up it continues."""
    text = (f"Joined to your last follow-up on <b>{h(reference)}</b> (a long message arrives "
            f"in pieces; it is one entry of {length} characters on the record) and sent on. "
            "Send more, or press Done.")
    return text, [[done_button(draft_id)]]


def closed_meanwhile_not_sent(reference: str) -> str:
    return f"<b>{h(reference)}</b> was closed meanwhile; nothing was sent."


def reply_needed(draft_id: int) -> Shown:
    return "Please type your reply.", [[cancel_button(draft_id)]]


def reply_sent(carer_name: str, reference: str) -> str:
    return f"Sent to {h(carer_name)} and kept on <b>{h(reference)}</b>."


def text_needed(draft_id: int) -> Shown:
    return "Please type it as text.", [[cancel_button(draft_id)]]


# ------------------------------------------------------------------ told to others

def to_recipients(*, kind: str, reference: str, category_label: str, child_ref: str,
                  minimal: bool, author_name: str, at: datetime, tz: ZoneInfo, text: str,
                  files: str) -> str:
    """A follow-up or correction as its recipients see it (``files``: "2 photos", or "")."""
    correction = kind == "correction"
    if minimal:
        what = "correction to" if correction else "follow-up on"
        return (f"{'✏️' if correction else '💬'} New {what} <b>{h(reference)}</b> "
                f"({h(category_label)}, child <b>{h(child_ref)}</b>)."
                "\nTap “Show details” to read it (each read is recorded).")
    head = "✏️ Correction to" if correction else "💬 Follow-up on"
    lines = [f"{head} <b>{h(reference)}</b> ({h(category_label)}, child <b>{h(child_ref)}</b>) "
             f"from <b>{h(author_name)}</b> at {when(at, tz)}:"]
    if text:
        lines.append(h(clip(text, 3000)))
    if files:
        lines.append(f"📎 {files}")
    if correction:
        lines.append("The original report is kept as it was; the correction sits next to it.")
    return "\n".join(lines)


def reply_to_carer_button(incident_id: int) -> list[tuple[str, str]]:
    return [("💬 Reply to carer", callbacks.REPLY.data(incident_id))]


def to_carer_reply(*, author_name: str, reference: str, at: datetime, tz: ZoneInfo, text: str,
                   files: str) -> str:
    """A worker's reply as the carer sees it."""
    lines = [f"💬 <b>{h(author_name)}</b> replied about your report <b>{h(reference)}</b> "
             f"at {when(at, tz)}:"]
    if text:
        lines.append(h(clip(text, 3000)))
    if files:
        lines.append(f"📎 {files}")
    return "\n".join(lines)


def carer_reply_buttons(incident_id: int, *, has_files: bool) -> Buttons:
    buttons = [[("↩️ Answer", callbacks.ADD.data(incident_id))]]
    if has_files:
        buttons.append([("📎 View attachments", callbacks.ATTACHMENTS.data(incident_id))])
    return buttons


# ------------------------------------------------------------------ closing and reopening

def closed_already(reference: str, by_name: str | None, at: str) -> str:
    return (f"<b>{h(reference)}</b> is already closed by {h(by_name or 'someone')} at {at}.")


def outcome_on_record(code: str, note: str) -> str:
    """The outcome message kept on the thread (plain text: escaped wherever it is shown)."""
    return f"{OUTCOMES[code]}. {note}"


def closed_notice(reference: str, by_name: str, at: datetime, tz: ZoneInfo) -> str:
    return (f"☑️ Your report <b>{h(reference)}</b> was closed by <b>{h(by_name)}</b> at "
            f"{when(at, tz)}. If something new happens, send /report.")


def closed_done(reference: str, code: str) -> str:
    return (f"Closed <b>{h(reference)}</b> with outcome: <b>{h(outcome_label(code))}</b>. "
            "The carer has been told.")


def reopened_notice(reference: str, by_name: str, at: datetime, tz: ZoneInfo) -> str:
    return (f"🔄 Your report <b>{h(reference)}</b> was reopened by <b>{h(by_name)}</b> at "
            f"{when(at, tz)}. You can add to it again from /myreports.")


def reopened_done(reference: str) -> str:
    return f"Reopened <b>{h(reference)}</b>. The carer has been told."


# ------------------------------------------------------------------ viewing the record

NO_VIEW = "You do not have access to this report. Nothing was shown."
FILE_NOT_USABLE = "I could not use that message here. Send /report to start a report, or /help."
FILE_NOWHERE = ("I could not use that file here: to send it on a report, press “Reply to carer” "
                "on its alert first. /help shows what you can do.")


def no_attachments(reference: str) -> str:
    return f"<b>{h(reference)}</b> has no attachments."


def attachment_caption(reference: str, number: int, total: int, kind_label: str,
                       uploader: str, at: datetime, tz: ZoneInfo) -> str:
    return (f"{h(reference)} · {number} of {total} · {kind_label} from {h(uploader)}, "
            f"{when(at, tz)}")


def view_incomplete(what: str, delivered: int, total: int) -> str:
    """A button's answer when Telegram refused part of a record or of the files (plain text)."""
    return (f"Sorry, the {what} could not be shown in full ({delivered} of {total} sent): "
            "Telegram did not accept the rest. Please tap the button again.")


def note_not_recorded(note: str) -> str:
    """After a close held for oversight: the outcome note typed, so it is not lost."""
    return ("\n\nYour outcome note, not recorded yet (send it again once you can close):\n"
            f"<i>{h(clip(note, 1500))}</i>")
