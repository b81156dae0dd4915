"""Roles a person can hold, and what each may do with the bot."""

from __future__ import annotations

CARER = "carer"
SOCIAL_WORKER = "social_worker"
SUPERVISING_SOCIAL_WORKER = "supervising_social_worker"
TEAM_MANAGER = "team_manager"
DUTY = "duty"
EDT = "edt"
LADO = "lado"
CHILD_PROTECTION = "child_protection"
ADMIN = "admin"

ROLES = (
    CARER,
    SOCIAL_WORKER,
    SUPERVISING_SOCIAL_WORKER,
    TEAM_MANAGER,
    DUTY,
    EDT,
    LADO,
    CHILD_PROTECTION,
    ADMIN,
)

# Roles that receive alerts and may act on them.
WORKER_ROLES = frozenset(
    {SOCIAL_WORKER, SUPERVISING_SOCIAL_WORKER, TEAM_MANAGER, DUTY, EDT, LADO, CHILD_PROTECTION}
)

ROLE_LABELS = {
    CARER: "foster carer",
    SOCIAL_WORKER: "social worker",
    SUPERVISING_SOCIAL_WORKER: "supervising social worker",
    TEAM_MANAGER: "team manager",
    DUTY: "duty social worker",
    EDT: "Emergency Duty Team",
    LADO: "Local Authority Designated Officer",
    CHILD_PROTECTION: "child protection team",
    ADMIN: "administrator",
}
