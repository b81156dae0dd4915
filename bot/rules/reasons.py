"""Why someone was sent a report: the recipient-reason codes and their labels.

Routing, escalation and rerouting write these codes on each recipient row; alerts,
timelines and receipts show the labels. Pure values: nothing here reads the database.
"""

from __future__ import annotations

# The worker a report was handed over from when the child's allocation changed
# (bot/people/handover.py): no longer a holder, and no longer acts on it.
HANDED_OVER = "handed_over"

REASON_LABELS = {
    "allocated": "allocated social worker",
    "cover": "covering for the allocated social worker",
    "duty": "duty social worker",
    "edt": "Emergency Duty Team (out of hours)",
    "supervising": "supervising social worker",
    "manager_fallback": "team manager (nobody else could be reached)",
    "copy:team_manager": "team manager (copied)",
    "copy:duty": "duty social worker (copied)",
    "copy:edt": "Emergency Duty Team (copied)",
    "copy:lado": "LADO (copied)",
    "copy:child_protection": "child protection (copied)",
    "escalation:team_manager": "team manager (escalated: not acknowledged in time)",
    "escalation:duty": "duty social worker (escalated: not acknowledged in time)",
    "escalation:edt": "Emergency Duty Team (escalated: not acknowledged in time)",
    "escalation:service_manager": "service manager (escalated: not acknowledged in time)",
    "escalation:person": "escalated to you: not acknowledged in time",
    "escalation:cover": "covering (escalated: the person it went to is away)",
    "escalation:deputy": "deputy team manager (escalated: nobody above could be reached)",
    "escalation:last_resort": "last resort (escalated: nobody else in the chain could be reached)",
    HANDED_OVER: "handed over (the child was allocated to another worker)",
    "outcome:holder": "holds the report (outcome due)",
    "notification": "team manager (notifiable event)",
    "reroute:cover": "covering (the person it went to could not be reached)",
    "reroute:duty": "duty social worker (the person it went to could not be reached)",
    "reroute:team_manager": "team manager (the person it went to could not be reached)",
    "reroute:deputy": "deputy team manager (the person it went to could not be reached)",
    "reroute:service_manager": "service manager (the person it went to could not be reached)",
    "reroute:edt": "Emergency Duty Team (the person it went to could not be reached)",
    "reroute:last_resort": "last resort (nobody else in the chain could be reached)",
}


def reason_label(reason: str) -> str:
    return REASON_LABELS.get(reason, reason.replace("_", " "))
