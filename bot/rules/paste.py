"""A long paste that Telegram split into several messages: knowing the next piece, joining it.

Telegram cuts a text longer than 4096 characters into messages sent one straight after
the other. It numbers a private chat's messages (the bot's and the person's) in one
sequence, so the next piece of a split paste has the very next id; anything typed after
the bot answered leaves a gap. One rule for the report's description
(``bot/record/reporting.py``) and for "Add more" on a report (``bot/record/thread.py``).
Pure: nothing here reads the database.
"""

from __future__ import annotations


def follows(last_id: object, message_id: int | None) -> bool:
    """Is ``message_id`` the piece sent straight after ``last_id``, before the bot answered?"""
    return (message_id is not None and isinstance(last_id, int)
            and not isinstance(last_id, bool) and message_id == last_id + 1)


def joined(before: str, text: str) -> str:
    """The pieces as one text (Telegram cuts at a line break or a space: a newline keeps
    the join readable and loses nothing)."""
    return f"{before}\n{text}" if before else text
