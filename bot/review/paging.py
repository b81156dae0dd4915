"""Cutting long HTML texts into Telegram messages without losing anything.

Telegram refuses a message over 4096 characters (UTF-16 code units, counted
after the HTML is parsed). We count the HTML itself, which is never shorter,
so a page that fits here fits there.
"""

from __future__ import annotations

from bot.chunks import split_html
from bot.texts import MAX_MESSAGE, h


def tg_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def split_escaped(text: str, budget: int) -> list[str]:
    """Cut plain ``text`` into pieces whose escaped HTML fits ``budget`` each (prefers newlines)."""
    pieces: list[str] = []
    cur: list[str] = []
    cur_len = 0
    for ch in text:
        n = tg_len(h(ch))
        if cur and cur_len + n > budget:
            chunk = "".join(cur)
            cut = chunk.rfind("\n")
            if cut > len(chunk) // 2:
                pieces.append(chunk[:cut])
                cur = list(chunk[cut + 1:])
                cur_len = tg_len(h("".join(cur)))
            else:
                pieces.append(chunk)
                cur, cur_len = [], 0
        cur.append(ch)
        cur_len += n
    if cur:
        pieces.append("".join(cur))
    return pieces or [""]


def pack(blocks: list[str], budget: int, sep: str = "\n\n") -> list[list[str]]:
    """Group blocks (each within ``budget``) into pages of at most ``budget``, in order."""
    pages: list[list[str]] = [[]]
    used = 0
    for b in blocks:
        n = tg_len(b) + (tg_len(sep) if pages[-1] else 0)
        if pages[-1] and used + n > budget:
            pages.append([])
            used = 0
            n = tg_len(b)
        pages[-1].append(b)
        used += n
    return pages


def messages(lines: list[str], limit: int = MAX_MESSAGE) -> list[str]:
    """HTML lines (each short) as one or more messages, split between lines; a single
    over-long line is cut by the one chunker (``bot.chunks``), its markup kept."""
    fitted: list[str] = []
    for line in lines:
        if tg_len(line) <= limit:
            fitted.append(line)
        else:
            fitted.extend(split_html(line, limit))
    return ["\n".join(page) for page in pack(fitted, limit, sep="\n")]
