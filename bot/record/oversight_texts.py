"""What management oversight says (HTML; everything a person wrote is escaped here)."""

from __future__ import annotations

from bot import callbacks
from bot.texts import h

Buttons = list[list[tuple[str, str]]]

RECORD_BUTTON = "📝 Record oversight"
USAGE = ("Send /oversee followed by a report reference or a child's reference, then the entry "
         "on the lines below, for example:\n\n" "/oversee INC-2026-000123\n"
         "Decision: Strategy discussion today; A1 stays in placement.\n"
         "Rationale: The hospital found no injury; the carer acted at once.\n"
         "Action: sw-patel, 2026-12-01, Visit and see A1 alone")
NOT_A_MANAGER = ("Only a manager of the team can record management oversight on this. "
                 "Nothing was recorded.")
NO_SUCH = "There is no report or child with that reference you manage. Nothing was recorded."


def form(subject: str) -> str:
    """The entry's form for one report or child, to copy, fill in and send."""
    return (f"📝 <b>Management oversight of {h(subject)}</b>\n"
            "Copy the lines below, fill them in and send them as one message. Decision and "
            "rationale are needed; add one Action line per action (owner's id, due date, what), "
            "or none.\n\n"
            f"<code>/oversee {h(subject)}\nDecision: \nRationale: \n"
            "Action: owner-id, YYYY-MM-DD, what is to be done</code>")


def unreadable(error: str, subject: str) -> str:
    return f"⚠️ {h(error)} Nothing was recorded.\n\n" + form(subject)


def unknown_owner(owner: str, subject: str) -> str:
    return unreadable(f"There is no active person with the id “{owner}” to own an action.",
                      subject)


def recorded(subject: str, actions: int, released: bool) -> str:
    text = f"✅ Oversight of <b>{h(subject)}</b> recorded"
    if actions:
        text += f", with {actions} action{'' if actions == 1 else 's'}"
    text += "."
    if released:
        text += " The report can now be closed."
    return text


def close_held(reference: str, managers: list[str]) -> str:
    who = ", ".join(h(m) for m in managers) if managers else "the team manager"
    return (f"⏸ <b>{h(reference)}</b> cannot be closed yet: reports of this category need a "
            f"manager to record their oversight first (the decision and its rationale). "
            f"I have asked {who}; you will be told when it is recorded.")


def oversight_requested(reference: str, child_ref: str, category: str, by: str,
                        incident_id: int) -> tuple[str, Buttons]:
    return (f"📝 <b>{h(reference)}</b> ({h(category)}, child {h(child_ref)}) is ready to close, "
            f"but needs your management oversight first. {h(by)} is waiting to close it.\n"
            f"Tap below for the form, or send /oversee {h(reference)} with the entry.",
            [[(RECORD_BUTTON, callbacks.OVERSEE.data(incident_id))]])


def oversight_notice(reference: str, manager: str, decision: str) -> str:
    return (f"📝 {h(manager)} recorded management oversight on <b>{h(reference)}</b>: "
            f"{h(decision)}\nYou can now close it with its outcome.")


def action_owned(subject: str, manager: str, what: str, due: str) -> str:
    return (f"📌 An action for you from {h(manager)}'s oversight of <b>{h(subject)}</b>: "
            f"{h(what)} — due {h(due)}.")
