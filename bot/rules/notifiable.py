"""Schedule 7 notifications: who must be told of which event, by when, and how.

Pure rules, no database. The defaults follow regulation 36 and Schedule 7 of the
Fostering Services (England) Regulations 2011 (SI 2011/581, as amended: the
"Primary Care Trust" column is now the integrated care board, the Independent
Safeguarding Authority is now the Disclosure and Barring Service). Regulation
36(1) says "without delay"; Ofsted expects a death at once and anything else
within 24 hours (National Minimum Standards 2011, standard 29.9), weekends
included. Configuration (``[notification.events]``) replaces any of them; the
source of each default, and how it was checked (against reproductions of the table
as made and as amended, and Ofsted's current guidance; the revised text on
legislation.gov.uk could not be reached), is written in ``config.example.toml``.
"""

from __future__ import annotations

import re
from datetime import datetime

# Who may be told. The keys go into button data and the register.
RECIPIENTS: dict[str, str] = {
    "ofsted": "Ofsted",
    "responsible_authority": "Responsible (placing) authority",
    "area_authority": "Area authority (where the foster home is, if different)",
    "icb": "Integrated care board",
    "secretary_of_state": "Secretary of State (DfE)",
    "police": "Police",
}
SHORT: dict[str, str] = {
    "ofsted": "Ofsted",
    "responsible_authority": "Placing authority",
    "area_authority": "Area authority",
    "icb": "ICB",
    "secretary_of_state": "Secretary of State",
    "police": "Police",
}

# How a notification was made. A phone call must be confirmed in writing (reg. 36(2)).
METHODS: dict[str, str] = {"form": "Ofsted online form", "email": "email", "phone": "phone"}
NEEDS_WRITTEN_CONFIRMATION = frozenset({"phone"})

# Events that are not a carer's report category.
S47_START, S47_OUTCOME, DBS_REFERRAL = "s47_start", "s47_outcome", "dbs_referral"
EVENT_LABELS: dict[str, str] = {
    S47_START: "Child protection (section 47) enquiry started",
    S47_OUTCOME: "Outcome of a child protection (section 47) enquiry",
    DBS_REFERRAL: "Referral to the Disclosure and Barring Service",
}

_BOTH = ("ofsted", "responsible_authority")
_CP_ENQUIRY = ("ofsted", "responsible_authority", "area_authority")

# Event key -> (recipients, deadline, source). Event keys are the category keys of
# notifiable report categories plus the three events above. Schedule 7 is a table whose
# rows are not numbered: "row N" counts them in the order of the text as made (2011),
# which has ten rows (row 8: a child missing from the placement).
DEFAULT_EVENTS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "death": (("ofsted", "responsible_authority", "secretary_of_state", "area_authority", "icb"),
              "1h", "Sch. 7 row 1: death of a child placed with foster parents"),
    DBS_REFERRAL: (_BOTH, "24h",
                   ("Sch. 7 row 2: information given to the DBS (as made: the Independent "
                   "Safeguarding Authority) under ss. 35, 36, 39, 41 or 45 Safeguarding "
                   "Vulnerable Groups Act 2006 about anyone working for the service")),
    "serious_illness": (_BOTH, "24h",
                        "Sch. 7 row 3: serious illness or serious accident of a child placed"),
    "infectious_disease": (("ofsted", "responsible_authority", "icb"), "24h",
                           ("Sch. 7 row 4: outbreak at the foster home of an infectious "
                           "disease a medical practitioner attending thinks serious enough")),
    "serious_offence": (("responsible_authority", "police"), "24h",
                        ("Sch. 7 row 5: allegation that a child placed committed a serious "
                        "offence (the responsible authority and the police; not Ofsted)")),
    "exploitation": (("ofsted", "responsible_authority", "area_authority", "police"), "24h",
                     ("Sch. 7 row 6: involvement or suspected involvement of a child placed "
                     "in sexual exploitation (as made: \"prostitution\")")),
    "police_called": (_BOTH, "24h",
                      ("Sch. 7 row 7: serious incident relating to a child placed needing "
                      "the police to be called to the foster home")),
    "missing": (("responsible_authority",), "24h",
                ("Sch. 7 row 8: a child placed is missing from the placement (the category "
                "is not notifiable by default; see config.example.toml)")),
    "allegation": (_BOTH, "24h",
                   ("Sch. 7 row 9: any serious complaint about a foster parent approved by "
                   "the service")),
    "disclosure": (_CP_ENQUIRY, "24h",
                   ("Sch. 7 row 10: instigation of a child protection enquiry (flagged at "
                   "the disclosure; the enquiry's start and outcome are recorded as s47 "
                   "events)")),
    S47_START: (_CP_ENQUIRY, "24h", ("Sch. 7 row 10: instigation of any child protection "
                                    "enquiry involving a child placed")),
    S47_OUTCOME: (_CP_ENQUIRY, "24h", ("Sch. 7 row 10: outcome of any child protection "
                                      "enquiry involving a child placed")),
}


# A DBS referral names the person by a reference, never by name: letters, digits and
# hyphens with at least one digit (a name such as "Jane-Smith" is refused).
_SUBJECT = re.compile(r"^(?=.*[0-9])[A-Za-z0-9][A-Za-z0-9-]{0,31}$")


def valid_subject(text: str) -> bool:
    return _SUBJECT.fullmatch(text.strip()) is not None


def missing(rows: list[RowLike]) -> list[str]:
    """Recipient keys still owed, in order: not made, or made by phone and not confirmed."""
    out = []
    for r in rows:
        if r.not_required_reason:
            continue
        if r.made_at is None or (r.method in NEEDS_WRITTEN_CONFIRMATION and r.confirmed_at is None):
            out.append(r.recipient)
    return out


def late_by(due_at: datetime | None, made_at: datetime | None, now: datetime) -> float | None:
    """Hours late (made, or still open and past due); None when on time or not due."""
    if due_at is None:
        return None
    end = made_at or now
    if end <= due_at:
        return None
    return round((end - due_at).total_seconds() / 3600, 2)


class RowLike:  # pragma: no cover - a typing aid (the storage row has these attributes)
    recipient: str
    made_at: datetime | None
    method: str | None
    confirmed_at: datetime | None
    not_required_reason: str | None
