"""The outcomes a worker records when closing a report (short codes go into button data)."""

from __future__ import annotations

OUTCOMES: dict[str, str] = {
    "nfa": "No further action",
    "advice": "Advice given",
    "visit": "Visit arranged",
    "strategy": "Strategy discussion",
    "lado": "Referred to LADO",
    "police": "Referred to police",
    "cp": "Referred to child protection",
}


def outcome_label(code: str | None) -> str:
    return OUTCOMES.get(code or "", code or "")


# The outcome of a section 47 (child protection) enquiry, chosen from a report's Close menu
# (Schedule 7 row 10: its outcome is notified as an event of its own). The three outcomes
# Working Together to Safeguard Children names for an enquiry; the label is the note kept
# with the event, as "/s47 INC-… concluded <note>" keeps the typed one.
S47_OUTCOMES: dict[str, str] = {
    "ns": "Concerns not substantiated",
    "sub": "Concerns substantiated, child not at continuing risk of significant harm",
    "icpc": "Concerns substantiated: initial child protection conference",
}
