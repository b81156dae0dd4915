"""getUpdates' answer decoded without the updates already in hand
(``bot/runtime/updates_request.py``): the rest decodes exactly as before, whatever the
updates say, and an answer laid out otherwise is decoded whole."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.runtime.updates_request import STUB_KEY, UpdatesRequest, is_known_stub, without_known

# Text that looks like the cut's own markers, inside strings and as keys.
_TRICKY = st.sampled_from(['{"update_id":7', '},{"update_id":8,', ']}', '"', "\\", "ü 😀",
                           '{"update_id": 9}', ",", "}", "{"])
_TEXT = st.lists(st.one_of(_TRICKY, st.text(max_size=8)), max_size=6).map("".join)
_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), _TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(_TEXT, inner, max_size=3)),
    max_leaves=8)


@st.composite
def _answers(draw):
    ids = sorted(draw(st.sets(st.integers(1, 10**9), max_size=8)))
    updates = [{"update_id": i, **draw(st.dictionaries(_TEXT.filter(lambda k: k != "update_id"),
                                                        _VALUE, max_size=3))} for i in ids]
    known = draw(st.sets(st.sampled_from(ids), max_size=len(ids))) if ids else set()
    compact = draw(st.booleans())
    return updates, known, compact


@settings(max_examples=150, deadline=None)
@given(_answers())
def test_the_updates_in_hand_become_stubs_and_the_rest_decode_as_before(answer):
    updates, known, compact = answer
    body = {"ok": True, "result": updates}
    payload = (json.dumps(body, separators=(",", ":")) if compact else json.dumps(body)).encode()
    request = UpdatesRequest()
    request.known = known.__contains__
    data = request.parse_json_payload(payload)
    assert data["ok"] is True
    assert [u["update_id"] for u in data["result"]] == [u["update_id"] for u in updates]
    for got, sent in zip(data["result"], updates):
        if sent["update_id"] in known:
            assert is_known_stub(got) and got == {"update_id": sent["update_id"], STUB_KEY: 1}
        else:
            assert got == sent  # decoded exactly as a whole answer would be
    assert request.cut == len(known)


def test_an_answer_laid_out_otherwise_is_decoded_whole():
    updates = [{"update_id": 5, "message": {"text": "a"}}, {"update_id": 6}]
    known = {5}.__contains__
    # The result list not last in the answer, or its end cut off: nothing is cut.
    other_order = json.dumps({"result": updates, "ok": True}, separators=(",", ":")).encode()
    assert without_known(other_order, known) is None
    request = UpdatesRequest()
    request.known = known
    assert request.parse_json_payload(other_order)["result"] == updates
    assert request.cut == 0
    # Nothing known: nothing to cut, nothing built.
    plain = json.dumps({"ok": True, "result": updates}).encode()
    assert without_known(plain, {99}.__contains__) is None
    # Without ``known`` (a poller that does not use it) the answer is decoded whole.
    assert UpdatesRequest().parse_json_payload(plain)["result"] == updates
