"""One chunker for every long HTML message the bot sends.

Telegram refuses a message whose text is over 4096 characters *after* the HTML
is parsed (UTF-16 code units: tags count nothing, ``&amp;`` counts one). This
module cuts HTML so that every piece

* is at most ``limit`` characters as Telegram counts it,
* is cut only between tokens: never inside a tag (``<b>``) or an entity
  (``&amp;``), never between the two halves of a surrogate pair,
* closes, at its end, the tags still open there and reopens them (with their
  attributes) at the start of the next piece, so every piece parses on its own,
* prefers a line break (then a space) in the second half of a piece to a cut
  in mid-word.

Nothing is dropped except the line break a piece is cut at; pieces that would
be empty (only whitespace) are left out. Pure: no Telegram, no database.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

MAX_MESSAGE = 4096  # bot.texts.MAX_MESSAGE (kept here too: this module depends on nothing)
_TOKEN = re.compile(r"<[^<>]*>|&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});",
                    re.DOTALL)
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z][a-zA-Z0-9-]*)")


def tg_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class _Token:
    raw: str
    size: int  # UTF-16 units once parsed
    opens: str | None = None  # tag name this token opens
    closes: str | None = None  # tag name this token closes


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        out.extend(_Token(ch, 2 if ord(ch) > 0xFFFF else 1) for ch in text[pos:m.start()])
        raw = m.group(0)
        if raw.startswith("&"):
            out.append(_Token(raw, tg_len(html.unescape(raw))))
        else:
            name_m = _TAG_NAME.match(raw)
            name = name_m.group(1).lower() if name_m else ""
            if raw.startswith("</"):
                out.append(_Token(raw, 0, closes=name))
            elif raw.endswith("/>"):
                out.append(_Token(raw, 0))
            else:
                out.append(_Token(raw, 0, opens=name))
        pos = m.end()
    out.extend(_Token(ch, 2 if ord(ch) > 0xFFFF else 1) for ch in text[pos:])
    return out


def _apply(stack: list[_Token], tok: _Token) -> None:
    if tok.opens:
        stack.append(tok)
    elif tok.closes:
        for i in range(len(stack) - 1, -1, -1):
            if stack[i].opens == tok.closes:
                del stack[i]
                break


def _closing(stack: list[_Token]) -> str:
    return "".join(f"</{t.opens}>" for t in reversed(stack))


def split_html(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """``text`` (valid Telegram HTML) as messages of at most ``limit`` parsed characters each."""
    if limit < 2:
        raise ValueError("limit too small")
    tokens = _tokens(text)
    pieces: list[str] = []
    stack: list[_Token] = []  # open tags at the start of the current piece
    i, n = 0, len(tokens)
    while i < n:
        size, j = 0, i
        best_nl = best_space = -1
        while j < n and size + tokens[j].size <= limit:
            raw = tokens[j].raw
            if raw == "\n" and size >= limit // 2:
                best_nl = j
            elif raw == " " and size >= limit // 2:
                best_space = j
            size += tokens[j].size
            j += 1
        skip = 0
        if j >= n:
            cut = n
        elif best_nl > i:  # does not all fit: cut at a line break, else a space, else here
            cut, skip = best_nl, 1
        elif best_space > i:
            cut, skip = best_space, 1
        else:
            cut = max(j, i + 1)  # (a single token over the limit cannot happen for text)
        # Tags that open right at the cut would be empty here: they go to the next piece.
        while cut - 1 > i and tokens[cut - 1].opens:
            cut, skip = cut - 1, 0
        body_stack = list(stack)
        parts = ["".join(t.raw for t in stack)]
        for t in tokens[i:cut]:
            parts.append(t.raw)
            _apply(body_stack, t)
        parts.append(_closing(body_stack))
        piece = "".join(parts)
        if html.unescape(re.sub(r"<[^<>]*>", "", piece)).strip():
            pieces.append(piece.strip("\n"))
        stack = body_stack
        i = cut + skip
    return pieces or ([text] if text else [])
