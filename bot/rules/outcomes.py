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
