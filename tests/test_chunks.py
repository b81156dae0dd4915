"""The one HTML chunker (issue 14 findings 2 and 12): every piece parses on its own, fits
Telegram's 4096 parsed characters, is never cut inside a tag or an entity, and nothing
but the line breaks or spaces cut at is lost."""

from __future__ import annotations

import random

from bot.chunks import split_html, tg_len
from bot.emulator.markup import parse_html
from bot.texts import h


def plain(html_text: str) -> str:
    return parse_html(html_text)[0]


def check(text: str, limit: int = 4096) -> list[str]:
    pieces = split_html(text, limit)
    for p in pieces:
        body, _ = parse_html(p)  # raises on a broken tag or entity
        assert tg_len(body) <= limit
    return pieces


def squash(s: str) -> str:
    return s.replace("\n", "").replace(" ", "")


def test_escaped_angle_brackets_count_once_and_are_never_cut():
    where = "<" * 1500
    text = "<b>Where:</b> " + h(where) + "\n" + h("x & y " * 800)
    pieces = check(text)
    assert len(text) > 4096 * 2  # the HTML is long; what Telegram counts is not
    assert squash("".join(plain(p) for p in pieces)) == squash(plain(text))
    for p in pieces:
        assert not p.rstrip().endswith("&") and "&l\n" not in p


def test_tags_are_closed_and_reopened_across_pieces():
    text = '<b>Bold <i>and italic ' + "word " * 2000 + "</i></b> and after"
    pieces = check(text, 1000)
    assert len(pieces) > 5
    assert all(p.startswith("<b><i>") for p in pieces[1:-1])
    assert pieces[0].endswith("</i></b>")
    _body, entities = parse_html(pieces[2])
    assert {e["type"] for e in entities} == {"bold", "italic"}
    assert squash("".join(plain(p) for p in pieces)) == squash(plain(text))


def test_prefers_line_breaks_and_keeps_short_text_whole():
    assert split_html("short <b>text</b>") == ["short <b>text</b>"]
    lines = [f"line {i} " + "y" * 50 for i in range(200)]
    pieces = check("\n".join(lines), 1000)
    for p in pieces:  # every piece ends at the end of a line
        assert p.split("\n")[-1].startswith("line ")
        assert p.split("\n")[-1].endswith("y" * 50)


def test_astral_characters_count_two_and_are_not_split():
    text = "😀" * 3000  # 6000 UTF-16 units
    pieces = check(text)
    assert len(pieces) == 2 and "".join(pieces) == text


def test_random_markup_always_parses_and_nothing_is_lost():
    rng = random.Random(14)
    alphabet = ["a", "b", " ", "\n", "&", "<", ">", "é", "😀", '"']
    for _ in range(60):
        parts = []
        for _ in range(rng.randint(1, 40)):
            word = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300)))
            tag = rng.choice([None, "b", "i", "code", "a"])
            if tag == "a":
                parts.append(f'<a href="https://example.org/?q=1&amp;r=2">{h(word)}</a>')
            elif tag:
                parts.append(f"<{tag}>{h(word)}</{tag}>")
            else:
                parts.append(h(word))
        text = "".join(parts)
        limit = rng.choice([50, 300, 4096])
        pieces = check(text, limit)
        assert squash("".join(plain(p) for p in pieces)) == squash(plain(text))
