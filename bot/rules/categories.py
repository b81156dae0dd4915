"""The default incident categories, used when the configuration lists none (docs/ARCHITECTURE.md).

Each category: a stable key (used in callback data and the record), a label,
a default urgency, the roles also copied, whether it is a notifiable event
(Fostering Services (England) Regulations 2011, reg. 36 / Schedule 7), the
guidance shown to the carer before they write, optionally ``first`` (what the
carer must do before anything else, shown above everything, the emergency
numbers included) and ``questions`` (record questions of its own, from
``CATEGORY_QUESTIONS``, asked before the general ones).
"""

from __future__ import annotations

URGENCIES = ("urgent", "high", "routine")

# Roles that a category may copy: resolved by routing (bot/rules/routing.py).
COPY_ROLES = ("team_manager", "duty", "lado", "child_protection", "edt")

# Record questions a category may add (asked before the general ones; each is a key of
# ``incident.details``; wording in bot/record/report_texts.py, labels in bot/record/render.py).
CATEGORY_QUESTIONS = ("mark_where", "first_seen")

_MISSING = (
    "Follow the local missing-from-care protocol: if you have not already, "
    "report the child missing to the police (999 if you believe they are at risk)."
)

DEFAULT_CATEGORIES: list[dict] = [
    {
        "key": "death",
        "label": "Death of a child",
        "urgency": "urgent",
        "copy": ["team_manager", "duty"],
        "notifiable": True,
        "guidance": "Call 999 if you have not already. Then tell us here what happened.",
    },
    {
        "key": "serious_illness",
        "label": "Serious illness, serious accident or hospital admission",
        "urgency": "urgent",
        "copy": [],
        "notifiable": True,
        "guidance": "Say which hospital, what happened and who is with the child now.",
    },
    {
        "key": "missing",
        "label": "Child missing or absent without permission",
        "urgency": "urgent",
        "copy": ["duty"],
        "notifiable": False,
        "guidance": _MISSING,
    },
    {
        "key": "allegation",
        "label": "Allegation or serious complaint about a carer or household member",
        "urgency": "urgent",
        "copy": ["lado", "team_manager"],
        "notifiable": True,
        "guidance": (
            "Write down exactly what was said, by whom and when. Do not question the "
            "child further or discuss the allegation with the person it is about."
        ),
    },
    {
        "key": "disclosure",
        "label": "Disclosure of abuse / child protection concern",
        "urgency": "urgent",
        "copy": ["child_protection", "duty"],
        "notifiable": True,
        "guidance": (
            "Listen, do not ask leading questions, and record the child's exact words. "
            "Do not promise to keep it secret."
        ),
    },
    {
        # The infant protocol: bruising or any mark on a baby who is not yet mobile
        # (not crawling, pulling to stand or cruising) is a child protection matter until
        # shown otherwise, and the baby must be seen by a doctor without delay.
        "key": "infant_injury",
        "label": "Bruise, mark or injury on a baby who is not yet mobile",
        "urgency": "urgent",
        "copy": ["child_protection"],
        "notifiable": False,
        "first": (
            "Get medical attention for the baby now: call 999 if the baby is unwell or "
            "the injury is serious, otherwise take the baby to A&E or the GP today. "
            "Do not wait for a reply here."
        ),
        "guidance": (
            "Do not try to explain the mark yourself. Say what you saw; photos help, "
            "and we will ask where the mark is and when it was first seen."
        ),
        "questions": ["mark_where", "first_seen"],
    },
    {
        "key": "exploitation",
        "label": "Sexual or criminal exploitation, actual or suspected",
        "urgency": "urgent",
        "copy": ["child_protection"],
        "notifiable": True,
        "guidance": "Note names, places, vehicles, phone numbers and times you know of.",
    },
    {
        "key": "police_called",
        "label": "Police called to the foster home",
        "urgency": "high",
        "copy": ["team_manager"],
        "notifiable": True,
        "guidance": "Say why the police were called and any crime or incident number.",
    },
    {
        "key": "serious_offence",
        "label": "Child alleged to have committed a serious offence",
        "urgency": "high",
        "copy": [],
        "notifiable": True,
        "guidance": "Say what is alleged and whether the police are involved.",
    },
    {
        "key": "self_harm",
        "label": "Self-harm or suicidal thoughts",
        "urgency": "urgent",
        "copy": ["duty"],
        "notifiable": False,
        "guidance": "Keep the child safe and supervised. Seek medical help if they are hurt.",
    },
    {
        "key": "infectious_disease",
        "label": "Infectious disease outbreak in the household",
        "urgency": "high",
        "copy": [],
        "notifiable": True,
        "guidance": "Say what the illness is, who is affected and any medical advice given.",
    },
    {
        "key": "medication",
        "label": "Medication error or refused medication",
        "urgency": "high",
        "copy": [],
        "notifiable": False,
        "guidance": "If a wrong dose was taken, call NHS 111 or the pharmacist for advice first.",
    },
    {
        "key": "restraint",
        "label": "Physical intervention / restraint used",
        "urgency": "high",
        "copy": [],
        "notifiable": False,
        "guidance": "Say what led up to it, what hold was used, for how long and any injury.",
    },
    {
        "key": "online_safety",
        "label": "Online safety concern",
        "urgency": "high",
        "copy": [],
        "notifiable": False,
        "guidance": "Do not delete messages or images; note the app, account names and times.",
    },
    {
        "key": "contact",
        "label": "Contact (family time) concern",
        "urgency": "routine",
        "copy": [],
        "notifiable": False,
        "guidance": "Say what happened at or around family time and how the child was after.",
    },
    {
        "key": "education",
        "label": "Education / school incident",
        "urgency": "routine",
        "copy": [],
        "notifiable": False,
        "guidance": "Say what the school told you and any action they are taking.",
    },
    {
        "key": "other",
        "label": "Other / general update",
        "urgency": "routine",
        "copy": [],
        "notifiable": False,
        "guidance": "Tell us what you want the social worker to know.",
    },
]
