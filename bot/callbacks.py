"""Callback data: one table of named button actions, checked on the way back in.

Every button the bot sends carries ``code:arg[:arg]`` (1–64 bytes, Telegram's
limit). Buttons may be pressed hours or days later (after a restart), so the
data names database rows, never in-memory objects, and every press is checked
against the database and the presser's rights. Anything that does not parse is
forged or stale and is refused.

Each action is declared once below, with its wire code and argument shape, and
used in the three places a button lives:

* where it is built: ``callbacks.ACK.data(incident.id)`` → ``"ack:42"``;
* where its handler is registered: ``pattern(ACK)`` → ``"^(?:ack):"``
  (``pattern(*TIMELINE)`` for a handler serving a group);
* where a handler dispatches: ``parse(query.data, *TIMELINE)`` → a
  :class:`Pressed` naming the action and its typed arguments, or None.

The wire codes never change: buttons already sitting in people's chats must keep
working after an upgrade. A new action needs a new code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_BYTES = 64
_CODE = re.compile(r"^[a-z][a-z_]{0,15}$")


@dataclass(frozen=True)
class Arg:
    """One argument's shape: a regular expression for its text and whether it is a number."""

    name: str
    regex: str
    numeric: bool = False

    def matches(self, text: str) -> bool:
        return re.fullmatch(self.regex, text) is not None

    def value(self, text: str) -> int | str:
        return int(text) if self.numeric else text


# A database row id (or a page number): digits only, at most 12.
ID = Arg("id", r"[0-9]{1,12}", numeric=True)
# A short token: a child reference, a category key, an outcome code, a step name.
WORD = Arg("word", r"[A-Za-z0-9_.-]{1,40}")
# A yes or a no: "y" or "n".
YES_NO = Arg("answer", r"[yn]")


@dataclass(frozen=True)
class Action:
    """A button action: its wire ``code``, required ``args``, then ``optional`` trailing args."""

    code: str
    args: tuple[Arg, ...]
    optional: tuple[Arg, ...] = ()
    doc: str = ""

    def data(self, *values: object) -> str:
        """The callback data for this action; ValueError if it would not parse back."""
        data = ":".join([self.code, *(str(v) for v in values)])
        if self.parse(data) is None:
            raise ValueError(f"callback data not encodable as {self.code!r}: {data!r}")
        return data

    def parse(self, data: str | None) -> tuple[int | str, ...] | None:
        """The typed arguments if ``data`` is exactly this action with the right shape."""
        if not data or len(data.encode()) > MAX_BYTES:
            return None
        code, *parts = data.split(":")
        if code != self.code:
            return None
        shape = self.args + self.optional
        if not len(self.args) <= len(parts) <= len(shape):
            return None
        if not all(arg.matches(p) for arg, p in zip(shape, parts)):
            return None
        return tuple(arg.value(p) for arg, p in zip(shape, parts))


@dataclass(frozen=True)
class Pressed:
    """A parsed button press: which action, with which arguments."""

    action: Action
    args: tuple[int | str, ...]

    def arg(self, i: int) -> int | str | None:
        return self.args[i] if i < len(self.args) else None


ACTIONS: dict[str, Action] = {}


def _action(code: str, *args: Arg, optional: tuple[Arg, ...] = (), doc: str = "") -> Action:
    if not _CODE.match(code):
        raise ValueError(f"bad action code {code!r}")
    if code in ACTIONS:
        raise ValueError(f"action code {code!r} declared twice")
    if not args:
        raise ValueError(f"action {code!r} needs at least one argument")
    action = Action(code, args, optional, doc)
    ACTIONS[code] = action
    return action


# ------------------------------------------------------------------ the table

# Alerts, reminders and the managers' /overdue list.
ACK = _action("ack", ID, doc="Acknowledge incident (also 'on behalf' from /overdue)")
NOTIFIED = _action("notified", ID, doc="Old single 'Ofsted and responsible authority notified' "
                   "button (before the register): answered, records nothing")
# Schedule 7 notification register: one recipient of one event.
NOTE_MADE = _action("nmade", ID, WORD, doc="Recipient notified (notification record, method)")
NOTE_CONFIRM = _action("nconf", ID, doc="Phone notification confirmed in writing (record)")
NOTE_NOT_REQUIRED = _action("nna", ID, doc="Area authority not required: it is the placing "
                            "authority (record)")
# A section 47 enquiry's outcome from a report's Close menu (opens its notification).
ENQUIRY_CONCLUDED = _action("cpe", ID, doc="Section 47 enquiry concluded, from the Close menu: "
                            "show its outcomes (incident)")
ENQUIRY_OUTCOME = _action("cpo", ID, WORD,
                          doc="Section 47 enquiry outcome chosen (incident, outcome code)")

# Linking: the current account's Yes / No to moving a person to another account.
RELINK = _action("rl", ID, YES_NO,
                 doc="Relink request: y = move to the new account, n = refuse (request, answer)")

# The managers' review: a timeline in a new message, and its page turns.
LOG = _action("log", ID, doc="Timeline of incident")
LOG_PAGE = _action("logp", ID, ID, doc="Timeline of incident, page n")

# A child's chronology: page turns (child ref, page, optionally the kind shown).
CHILD_PAGE = _action("chp", WORD, ID, optional=(WORD,),
                     doc="Chronology of child, page n (child ref, page[, kind])")
CHILD_PAGE_PART = _action("chq", WORD, ID, ID, optional=(WORD,),
                          doc="Chronology of child, page n, part m: a page whose entries "
                          "need more than one message (child ref, page, part[, kind])")

# Management oversight: "Record oversight" on an incident's log and on the manager's request.
OVERSEE = _action("ov", ID, doc="Record oversight on incident (shows the entry's form)")

# The carer's report conversation; the first argument is always the draft id.
REPORT_CHILD = _action("rc", ID, WORD, doc="Child chosen (draft, child ref)")
REPORT_CATEGORY = _action("rk", ID, WORD, doc="Category chosen (draft, category key)")
REPORT_KEEP_DESCRIPTION = _action("rd", ID, doc="Keep the description written before")
REPORT_SUBMIT = _action("rs", ID, doc="Submit the reviewed report")
REPORT_EDIT = _action("re", ID, optional=(WORD,),
                      doc="Edit: choose a part (draft), or edit that part (draft, step | 'review')")
REPORT_DISCARD = _action("rx", ID, doc="Cancel and discard the draft")
REPORT_OFFER_YES = _action("ry", ID, doc="Yes, report the text typed outside a report")
REPORT_OFFER_NO = _action("rn", ID, doc="No, do not report it (offer the open reports)")
REPORT_OFFER_DROP = _action("rq", ID, doc="Do not keep it anywhere")
REPORT_OFFER_ADD_TO = _action("ra", ID, ID, doc="Add it to this open report (draft, incident)")
REPORT_WHEN = _action("rw", ID, WORD, doc="When it happened (draft, 'now' | 'today')")
REPORT_SKIP = _action("rz", ID, doc="Skip this question")
REPORT_SKIP_REST = _action("rr", ID, doc="Skip the rest (or stop the questions after submitting)")

# The incident thread, on alerts, receipts and thread messages.
ADD = _action("add", ID, doc="Add more / Answer, on incident (the carer)")
FIX = _action("fix", ID, doc="Correct something, on incident (the carer)")
REPLY = _action("reply", ID, doc="Reply to carer, on incident")
CLOSE = _action("close", ID, doc="Close with outcome, on incident")
OUTCOME = _action("oc", ID, WORD, doc="Outcome chosen (incident, outcome code)")
REOPEN = _action("reopen", ID, doc="Reopen incident")
ATTACHMENTS = _action("att", ID, doc="View attachments of incident")
DETAILS = _action("det", ID, doc="Show details / full record of incident")
PENDING_CANCEL = _action("tx", ID,
                         doc="Cancel the pending reply or follow-up (draft; 0: none pending)")
PENDING_DONE = _action("tf", ID, doc="Done adding (draft)")

# Statutory tasks in /tasks (issue 15).
TASK_DONE = _action("sd", ID, doc="Done, on a statutory task: asks for the note (task)")
# The guided /visit (bot/record/visit_guide.py); the first argument is the draft id.
VISIT_CHILD = _action("vc", ID, WORD, doc="Visit: the child visited (draft, child ref)")
VISIT_DAY = _action("vd", ID, WORD, doc="Visit: the day (draft, 'today' | 'yesterday' | 'type')")
VISIT_ALONE = _action("va", ID, YES_NO, doc="Visit: child seen alone (draft, y | n)")
VISIT_CONFIRM = _action("vk", ID, YES_NO, doc="Visit: record it (y) or cancel (n) (draft)")

# Groups served by one handler each (handlers/__init__.py).
TIMELINE = (LOG, LOG_PAGE)
CHRONOLOGY = (CHILD_PAGE, CHILD_PAGE_PART)
OVERSIGHT = (OVERSEE,)
NOTIFICATION = (NOTIFIED, NOTE_MADE, NOTE_CONFIRM, NOTE_NOT_REQUIRED)
REPORT = (REPORT_CHILD, REPORT_CATEGORY, REPORT_KEEP_DESCRIPTION, REPORT_SUBMIT, REPORT_EDIT,
          REPORT_DISCARD, REPORT_OFFER_YES, REPORT_OFFER_NO, REPORT_OFFER_DROP,
          REPORT_OFFER_ADD_TO, REPORT_WHEN, REPORT_SKIP, REPORT_SKIP_REST)
THREAD = (ADD, FIX, REPLY, CLOSE, OUTCOME, REOPEN, ATTACHMENTS, DETAILS, PENDING_CANCEL,
          PENDING_DONE)
TASKS = (TASK_DONE,)
ENQUIRY = (ENQUIRY_CONCLUDED, ENQUIRY_OUTCOME)
VISIT = (VISIT_CHILD, VISIT_DAY, VISIT_ALONE, VISIT_CONFIRM)


def pattern(*actions: Action) -> str:
    """The CallbackQueryHandler pattern routing presses of these actions (and only these) to
    one handler. It looks at the code alone, so a known action with malformed arguments still
    reaches its handler, which refuses it (and logs the refusal under that action)."""
    if not actions:
        raise ValueError("pattern of no actions")
    return "^(?:" + "|".join(re.escape(a.code) for a in actions) + "):"


def parse(data: str | None, *actions: Action) -> Pressed | None:
    """The press, if ``data`` is exactly one of ``actions`` (any action when none are given)
    with the right argument shape; None for anything else."""
    if not data or len(data.encode()) > MAX_BYTES:
        return None
    action = ACTIONS.get(data.split(":", 1)[0])
    if action is None or (actions and action not in actions):
        return None
    args = action.parse(data)
    return None if args is None else Pressed(action, args)
