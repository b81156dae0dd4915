"""What comes in from Telegram is cleaned of control characters before anything reads it
(``bot/runtime/inbound.py`` ``clean``), whatever the update's shape; an update with nothing
to clean (nearly all of them) is handed back as it came, without a walk over every value.

Checked against a plain reference written here, on arbitrary JSON (hypothesis) made of
text that mixes control characters with backslashes and the letters of JSON's escapes
(``\\b``, ``\\f``, ``\\r``, ``\\u00..``), which look alike once dumped.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.runtime import inbound

# C0 except tab and newline, DEL, C1: what a person's text must never be stored with.
CONTROLS = frozenset(chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20),
                                      *range(0x7F, 0xA0)))


def reference(data: Any) -> Any:
    if isinstance(data, str):
        return "".join(ch for ch in data if ch not in CONTROLS)
    if isinstance(data, dict):
        return {reference(k): reference(v) for k, v in data.items()}
    if isinstance(data, list):
        return [reference(v) for v in data]
    return data


def strings(data: Any) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for k, v in data.items() for s in strings(k) + strings(v)]
    if isinstance(data, list):
        return [s for v in data for s in strings(v)]
    return []


tricky_text = st.text(alphabet=st.one_of(
    st.characters(max_codepoint=0xA0),
    st.sampled_from(list('\\"bfrtnu01/')),
    st.characters(),
), max_size=30)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), tricky_text),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(tricky_text, inner, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_clean_removes_every_control_character_and_nothing_else(data):
    cleaned = inbound.clean(data)
    assert cleaned == reference(data)
    assert not any(ch in CONTROLS for s in strings(cleaned) for ch in s)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_an_update_with_nothing_to_clean_comes_back_as_it_came(data):
    if any(ch in CONTROLS or ch == "\\" for s in strings(data) for ch in s):
        return  # something to clean, or a backslash that may look like an escape once dumped
    assert inbound.clean(data) is data


def test_each_control_character_goes_from_keys_and_nested_values():
    for code in sorted(CONTROLS):
        update = {"update_id": 7, "message": {
            "text": f"He fell{code} and hit his head.\n\tThen he cried.",
            "entities": [{"type": f"bold{code}"}],
            f"key{code}": [f"a{code}b", 3, None],
        }}
        assert inbound.clean(update) == {"update_id": 7, "message": {
            "text": "He fell and hit his head.\n\tThen he cried.",
            "entities": [{"type": "bold"}],
            "key": ["ab", 3, None],
        }}, hex(ord(code))


def test_text_that_only_looks_like_an_escape_is_kept_as_typed():
    typed = r"C:\bin\new \u0000 \f \r" + "\u00a0\u2028\U0001F4A5"
    update = {"update_id": 8, "message": {"text": typed}}
    assert inbound.clean(update) == update
