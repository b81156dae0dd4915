"""Strict checking of formatted message text, as Telegram does it.

Telegram rejects a whole ``sendMessage`` when the HTML (or MarkdownV2) in it
does not parse, answering ``400 Bad Request: can't parse entities: ...``.
Bots that forget to escape a user's ``<`` or ``&`` only find out in
production, so the emulator is *at least* as strict as Telegram here:

* ``parse_html(text)`` accepts only the tags the Bot API documents (b, strong,
  i, em, u, ins, s, strike, del, span class="tg-spoiler", tg-spoiler, a href,
  code, pre, blockquote [expandable], tg-emoji emoji-id) and the entities
  ``&lt; &gt; &amp; &quot;`` plus numeric ones.  Anything else - an unknown
  tag, a missing/misnested end tag, a bare ``<`` or a bare ``&`` - raises
  :class:`EntityParseError`.  (A bare ``>`` is accepted, as Telegram does.)
* ``parse_markdown_v2(text)`` is a *minimal* MarkdownV2 checker: it enforces
  the escaping rule for the reserved characters and balanced ``* _ __ ~ ||
  ` ```` markers and ``[text](url)`` links, and returns the plain text.  It
  returns no entities (formatting is dropped), which is enough for tests that
  look at what the user reads.

Both return ``(plain_text, entities)``; entity offsets/lengths are in UTF-16
code units like the real API.
"""

from __future__ import annotations

import re

__all__ = ["EntityParseError", "parse_html", "parse_markdown_v2", "utf16_len"]


class EntityParseError(ValueError):
    """The text could not be parsed; ``str(err)`` is the detail Telegram would give."""


def utf16_len(text: str) -> int:
    """Length of *text* in UTF-16 code units (Telegram's unit for entity offsets)."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


# tag name -> entity type (None: handled specially)
_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}
_SPECIAL_TAGS = {"span", "a", "blockquote", "tg-emoji"}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ATTR_RE = re.compile(
    r"""\s*([a-zA-Z][a-zA-Z0-9_-]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?"""
)
_ENTITY_RE = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]+);")


def _decode_entity(text: str, i: int) -> tuple[str, int]:
    """Decode the HTML entity starting at ``text[i] == '&'``; return (char, end index)."""
    m = _ENTITY_RE.match(text, i)
    if not m:
        raise EntityParseError(
            f'Unsupported character "&" at byte offset {_byte_offset(text, i)}: '
            "use &amp; for a literal ampersand"
        )
    body = m.group(1)
    if body.startswith("#"):
        code = int(body[2:], 16) if body[1:2] in ("x", "X") else int(body[1:])
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise EntityParseError(
                f"Invalid numeric entity at byte offset {_byte_offset(text, i)}"
            )
        return chr(code), m.end()
    name = body.lower() if body.lower() in _NAMED_ENTITIES else body
    if name not in _NAMED_ENTITIES:
        raise EntityParseError(
            f'Unsupported HTML entity "&{body};" at byte offset {_byte_offset(text, i)}'
        )
    return _NAMED_ENTITIES[name], m.end()


def _decode_attr(value: str, text: str) -> str:
    out = []
    i = 0
    while i < len(value):
        if value[i] == "&":
            ch, i = _decode_entity(value, i)
            out.append(ch)
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _parse_attrs(raw: str, text: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    pos = 0
    raw = raw.rstrip()
    while pos < len(raw):
        m = _ATTR_RE.match(raw, pos)
        if not m or m.end() == pos:
            raise EntityParseError(f"Can't parse attributes of tag: {raw!r}")
        value = next((g for g in m.group(2, 3, 4) if g is not None), "")
        attrs[m.group(1).lower()] = _decode_attr(value, text)
        pos = m.end()
    return attrs


def parse_html(text: str) -> tuple[str, list[dict]]:
    """Parse Telegram-flavoured HTML strictly; return (plain text, entities)."""
    out: list[str] = []
    out_len16 = 0  # running UTF-16 length of the output
    stack: list[tuple[str, int, dict, int]] = []  # (tag, start16, attrs, source index)
    entities: list[dict] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "&":
            decoded, i = _decode_entity(text, i)
            out.append(decoded)
            out_len16 += utf16_len(decoded)
            continue
        if ch != "<":
            out.append(ch)
            out_len16 += 2 if ord(ch) > 0xFFFF else 1
            i += 1
            continue
        end = text.find(">", i)
        offset = _byte_offset(text, i)
        if end == -1:
            raise EntityParseError(
                f"Unclosed start tag at byte offset {offset}: use &lt; for a literal \"<\""
            )
        inner = text[i + 1 : end]
        if inner.startswith("/"):
            name = inner[1:].strip().lower()
            if not stack:
                raise EntityParseError(f'Unexpected end tag "</{name}>" at byte offset {offset}')
            open_name, start16, attrs, _src = stack.pop()
            if name != open_name:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {offset}, expected "</{open_name}>", '
                    f'found "</{name}>"'
                )
            entity = _make_entity(open_name, attrs, start16, out_len16 - start16, stack)
            if entity is not None:
                entities.append(entity)
            i = end + 1
            continue
        m = re.match(r"([a-zA-Z][a-zA-Z0-9-]*)(.*)$", inner, re.S)
        if not m:
            raise EntityParseError(
                f'Unsupported start tag "{inner[:20]}" at byte offset {offset}: '
                'use &lt; for a literal "<"'
            )
        name = m.group(1).lower()
        if name not in _SIMPLE_TAGS and name not in _SPECIAL_TAGS:
            raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {offset}')
        attrs = _parse_attrs(m.group(2), text)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {offset}'
            )
        if name == "a" and not attrs.get("href"):
            raise EntityParseError(f'Tag "a" must have attribute "href" at byte offset {offset}')
        if name == "tg-emoji" and not attrs.get("emoji-id"):
            raise EntityParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {offset}'
            )
        stack.append((name, out_len16, attrs, i))
        i = end + 1
    if stack:
        name = stack[-1][0]
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{name}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _make_entity(name: str, attrs: dict, offset: int, length: int, stack: list) -> dict | None:
    if length == 0:
        return None
    if name == "span":
        kind: dict = {"type": "spoiler"}
    elif name == "a":
        href = attrs["href"]
        m = re.match(r"tg://user\?id=(\d+)$", href)
        if m:
            kind = {"type": "text_mention", "user": {"id": int(m.group(1)), "is_bot": False,
                                                     "first_name": ""}}
        else:
            kind = {"type": "text_link", "url": href}
    elif name == "blockquote":
        kind = {"type": "expandable_blockquote" if "expandable" in attrs else "blockquote"}
    elif name == "tg-emoji":
        kind = {"type": "custom_emoji", "custom_emoji_id": attrs["emoji-id"]}
    elif name == "code" and stack and stack[-1][0] == "pre":
        # <pre><code class="language-x"> - the language goes on the pre entity
        lang = attrs.get("class", "")
        if lang.startswith("language-"):
            stack[-1][2]["_language"] = lang[len("language-"):]
        return None
    else:
        kind = {"type": _SIMPLE_TAGS[name]}
        if name == "pre" and attrs.get("_language"):
            kind["language"] = attrs["_language"]
    return {**kind, "offset": offset, "length": length}


_MD_RESERVED = set("_*[]()~`>#+-=|{}.!")


def parse_markdown_v2(text: str) -> tuple[str, list[dict]]:
    """Minimal strict MarkdownV2: check escaping and balance, return (plain, [])."""
    out: list[str] = []
    open_markers: list[tuple[str, int]] = []
    i = 0
    n = len(text)
    names = {"*": "Bold", "_": "Italic", "__": "Underline", "~": "Strikethrough",
             "||": "Spoiler", "`": "Code", "```": "Pre"}
    while i < n:
        ch = text[i]
        if ch == "\\":
            if i + 1 >= n:
                raise EntityParseError(
                    f"Can't find end of the entity starting at byte offset {_byte_offset(text, i)}"
                )
            out.append(text[i + 1])
            i += 2
            continue
        in_code = bool(open_markers) and open_markers[-1][0] in ("`", "```")
        for marker in ("```", "__", "||", "*", "_", "~", "`"):
            if text.startswith(marker, i) and (not in_code or marker == open_markers[-1][0]):
                if open_markers and open_markers[-1][0] == marker:
                    open_markers.pop()
                else:
                    open_markers.append((marker, i))
                i += len(marker)
                break
        else:
            if in_code:
                out.append(ch)
                i += 1
                continue
            if ch == "[":
                close = text.find("](", i)
                end = text.find(")", close + 2) if close != -1 else -1
                if close == -1 or end == -1:
                    raise EntityParseError(
                        "Character '[' is reserved and must be escaped with the preceding '\\'"
                    )
                inner_plain, _ = parse_markdown_v2(text[i + 1 : close])
                out.append(inner_plain)
                i = end + 1
                continue
            if ch == ">" and (i == 0 or text[i - 1] == "\n"):
                i += 1
                continue
            if ch in _MD_RESERVED:
                raise EntityParseError(
                    f"Character '{ch}' is reserved and must be escaped with the preceding '\\'"
                )
            out.append(ch)
            i += 1
    if open_markers:
        marker, pos = open_markers[-1]
        raise EntityParseError(
            f"Can't find end of {names[marker]} entity at byte offset {_byte_offset(text, pos)}"
        )
    return "".join(out), []
