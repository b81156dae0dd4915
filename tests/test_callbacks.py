"""The callback vocabulary (bot/callbacks.py): one table, strict parsing, stable wire format,
and handler patterns that route each action to exactly one handler."""

from __future__ import annotations

import re

import pytest
from telegram.ext import ApplicationBuilder, CallbackQueryHandler

import handlers
from bot import callbacks
from bot.callbacks import ACTIONS, ID, MAX_BYTES, WORD
from handlers import alerts, child, notification, oversight, report, review, start, tasks, thread
from tests.conftest import TOKEN

SAMPLE = {ID: 42, WORD: "A1", callbacks.YES_NO: "y"}


def _samples(action: callbacks.Action) -> list[tuple[object, ...]]:
    """Argument values for every shape the action takes (with and without optional ones)."""
    required = tuple(SAMPLE[a] for a in action.args)
    out = [required]
    for i in range(1, len(action.optional) + 1):
        out.append(required + tuple(SAMPLE[a] for a in action.optional[:i]))
    return out


ALL = sorted(ACTIONS.values(), key=lambda a: a.code)


@pytest.mark.parametrize("action", ALL, ids=[a.code for a in ALL])
def test_every_action_round_trips(action):
    for values in _samples(action):
        data = action.data(*values)
        assert len(data.encode()) <= MAX_BYTES
        assert action.parse(data) == values
        pressed = callbacks.parse(data)
        assert pressed is not None and pressed.action is action and pressed.args == values
        # Parsing is limited to the actions asked for.
        others = [a for a in ALL if a is not action]
        assert callbacks.parse(data, *others) is None


def test_wire_format_of_buttons_already_sent_is_unchanged():
    """Buttons sitting in people's chats were built by the old encoder: they must still parse
    to the same action and arguments."""
    sent_before = {
        "ack:42": (callbacks.ACK, (42,)),
        "notified:42": (callbacks.NOTIFIED, (42,)),
        "log:42": (callbacks.LOG, (42,)),
        "logp:42:3": (callbacks.LOG_PAGE, (42, 3)),
        "rc:7:A1": (callbacks.REPORT_CHILD, (7, "A1")),
        "rk:7:physical_injury": (callbacks.REPORT_CATEGORY, (7, "physical_injury")),
        "rd:7": (callbacks.REPORT_KEEP_DESCRIPTION, (7,)),
        "rs:7": (callbacks.REPORT_SUBMIT, (7,)),
        "re:7": (callbacks.REPORT_EDIT, (7,)),
        "re:7:where": (callbacks.REPORT_EDIT, (7, "where")),
        "re:7:review": (callbacks.REPORT_EDIT, (7, "review")),
        "rx:7": (callbacks.REPORT_DISCARD, (7,)),
        "ry:7": (callbacks.REPORT_OFFER_YES, (7,)),
        "rn:7": (callbacks.REPORT_OFFER_NO, (7,)),
        "rq:7": (callbacks.REPORT_OFFER_DROP, (7,)),
        "ra:7:42": (callbacks.REPORT_OFFER_ADD_TO, (7, 42)),
        "rw:7:now": (callbacks.REPORT_WHEN, (7, "now")),
        "rw:7:today": (callbacks.REPORT_WHEN, (7, "today")),
        "rz:7": (callbacks.REPORT_SKIP, (7,)),
        "rr:7": (callbacks.REPORT_SKIP_REST, (7,)),
        "add:42": (callbacks.ADD, (42,)),
        "fix:42": (callbacks.FIX, (42,)),
        "reply:42": (callbacks.REPLY, (42,)),
        "close:42": (callbacks.CLOSE, (42,)),
        "oc:42:nfa": (callbacks.OUTCOME, (42, "nfa")),
        "reopen:42": (callbacks.REOPEN, (42,)),
        "att:42": (callbacks.ATTACHMENTS, (42,)),
        "det:42": (callbacks.DETAILS, (42,)),
        "tx:7": (callbacks.PENDING_CANCEL, (7,)),
        "tx:0": (callbacks.PENDING_CANCEL, (0,)),
        "tf:7": (callbacks.PENDING_DONE, (7,)),
        "rl:5:y": (callbacks.RELINK, (5, "y")),
        "rl:5:n": (callbacks.RELINK, (5, "n")),
        "chp:A1:2:incident": (callbacks.CHILD_PAGE, ("A1", 2, "incident")),
        "chq:A1:2:3:incident": (callbacks.CHILD_PAGE_PART, ("A1", 2, 3, "incident")),
        "ov:42": (callbacks.OVERSEE, (42,)),
        "sd:12": (callbacks.TASK_DONE, (12,)),
        "vc:7:A1": (callbacks.VISIT_CHILD, (7, "A1")),
        "vd:7:yesterday": (callbacks.VISIT_DAY, (7, "yesterday")),
        "va:7:y": (callbacks.VISIT_ALONE, (7, "y")),
        "vk:7:n": (callbacks.VISIT_CONFIRM, (7, "n")),
        "nmade:9:phone": (callbacks.NOTE_MADE, (9, "phone")),
        "nconf:9": (callbacks.NOTE_CONFIRM, (9,)),
        "nna:9": (callbacks.NOTE_NOT_REQUIRED, (9,)),
        "cpe:42": (callbacks.ENQUIRY_CONCLUDED, (42,)),
        "cpo:42:ns": (callbacks.ENQUIRY_OUTCOME, (42, "ns")),
    }
    assert {a for a, _ in sent_before.values()} == set(ALL), "every action has a wire example"
    for data, (action, args) in sent_before.items():
        pressed = callbacks.parse(data)
        assert pressed == callbacks.Pressed(action, args), data
        assert action.data(*args) == data


def test_no_two_actions_share_a_code():
    codes = [a.code for a in ALL]
    assert len(codes) == len(set(codes))
    assert set(codes) == set(ACTIONS)
    with pytest.raises(ValueError):
        callbacks._action("ack", ID)


@pytest.mark.parametrize("data", [
    None, "", "zzz:1", "ACK:1", "ack", "ack:", "ack:abc", "ack:1:2", "ack:-1", "ack:1.5",
    "ack: 1", "ack:1\n", "ack:１", "ack:1234567890123", "rc:7", "rc:7:", "rc:7:A 1", "rc:7:A1:x",
    "re:7:where:again", "logp:1", "logp:abc:1", "oc:1", "tx:", ":1", "x" * 64,
    "ack:" + "1" * 61,
])
def test_malformed_or_unknown_data_is_refused(data):
    assert callbacks.parse(data) is None
    assert all(a.parse(data) is None for a in ALL)


def test_overlong_data_is_refused_even_when_well_formed():
    word = "w" * 40
    data = f"rc:{'9' * 12}:{word}"
    assert len(data.encode()) <= MAX_BYTES and callbacks.parse(data) is not None
    over = "re:" + "1" * 12 + ":" + "w" * 40 + "x" * 10
    assert len(over.encode()) > MAX_BYTES
    assert callbacks.parse(over) is None and callbacks.REPORT_EDIT.parse(over) is None


@pytest.mark.parametrize("values", [("abc",), (1, 2), (), ("1 2",), (1, "a:b")])
def test_building_data_that_would_not_parse_back_fails_loudly(values):
    with pytest.raises(ValueError):
        callbacks.ACK.data(*values)
    with pytest.raises(ValueError):
        callbacks.REPORT_CHILD.data(1, "a" * 41)


def _registered() -> list[CallbackQueryHandler]:
    app = ApplicationBuilder().token(TOKEN).build()
    handlers.register(app)
    return [h for group in app.handlers.values() for h in group
            if isinstance(h, CallbackQueryHandler)]


def test_every_registered_pattern_matches_exactly_its_actions():
    expected = {
        alerts.acknowledge_button: {callbacks.ACK},
        notification.notification_button: set(callbacks.NOTIFICATION),
        notification.enquiry_button: set(callbacks.ENQUIRY),
        start.relink_button: {callbacks.RELINK},
        review.log_button: set(callbacks.TIMELINE),
        child.child_button: set(callbacks.CHRONOLOGY),
        oversight.oversee_button: set(callbacks.OVERSIGHT),
        report.draft_button: set(callbacks.REPORT),
        thread.thread_button: set(callbacks.THREAD),
        tasks.tasks_button: set(callbacks.TASKS),
        tasks.visit_button: set(callbacks.VISIT),
    }
    registered = _registered()
    patterned = [h for h in registered if h.pattern is not None]
    assert {h.callback for h in patterned} == set(expected)
    # The last callback handler takes whatever nothing else did (forged or stale data).
    assert registered[-1].pattern is None
    served: dict[callbacks.Action, object] = {}
    for action in ALL:
        for values in _samples(action):
            data = action.data(*values)
            matching = [h.callback for h in patterned if re.match(h.pattern, data)]
            assert len(matching) == 1, (data, matching)
            served[action] = matching[0]
    for callback, actions in expected.items():
        assert {a for a, cb in served.items() if cb is callback} == actions
    for data in ("zzz:1", "rb:1", "acknowledge:1", "logs:1", "x" * 64, "ack", "reply"):
        assert not any(re.match(h.pattern, data) for h in patterned), data


def test_the_groups_cover_the_table_once():
    grouped = [callbacks.ACK, *callbacks.NOTIFICATION, callbacks.RELINK, *callbacks.TIMELINE,
               *callbacks.REPORT, *callbacks.THREAD, *callbacks.CHRONOLOGY, *callbacks.OVERSIGHT,
               *callbacks.TASKS, *callbacks.ENQUIRY, *callbacks.VISIT]
    assert len(grouped) == len(set(grouped)) == len(ACTIONS)
