"""Updates whose handling failed because the database was unavailable: retried, not lost.

When the database cannot be reached (a server restarting, a dropped connection,
a lock held too long) a handler fails before the carer's words are saved. Such
an update is *not* counted as handled: it is not written to
``processed_updates``, the polling loop does not confirm it (Telegram sends it
again, and the loop takes it again after a short back-off), and in webhook mode
the answer is 503 so Telegram re-delivers it. The person is told once, honestly,
that what they sent is not saved yet and will be taken in when the database is
back (``bot.app.error_handler``).

The application's error handler marks such an update here (``mark``); the
source of updates asks (``take``) when its handling is over.
"""

from __future__ import annotations

import time
from typing import Any

_KEY = "fosterbot_unavailable_updates"
_TOLD = "fosterbot_told_unavailable"
TELL_AGAIN_AFTER = 120.0  # seconds: one message per chat per outage, not one per retry


def mark(bot_data: dict[str, Any], update_id: int) -> None:
    bot_data.setdefault(_KEY, set()).add(update_id)


def take(bot_data: dict[str, Any], update_id: int | None) -> bool:
    """Did this update fail on the database (and so must be delivered again)? Forgets it."""
    failed = bot_data.get(_KEY)
    if not failed or update_id is None or update_id not in failed:
        return False
    failed.discard(update_id)
    return True


def should_tell(bot_data: dict[str, Any], chat_id: int, update_id: int | None) -> bool:
    """Tell a chat once per outage (and never twice about one update)."""
    told: dict[Any, float] = bot_data.setdefault(_TOLD, {})
    now = time.monotonic()
    if update_id is not None and ("u", update_id) in told:
        return False
    last = told.get(("c", chat_id))
    if update_id is not None:
        told[("u", update_id)] = now
    if last is not None and now - last < TELL_AGAIN_AFTER:
        return False
    told[("c", chat_id)] = now
    if len(told) > 10_000:
        for k in [k for k, t in told.items() if now - t > TELL_AGAIN_AFTER * 10]:
            del told[k]
    return True
