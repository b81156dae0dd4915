"""Every message text the bot sends, in one place, HTML-escaped.

All messages use parse mode HTML; anything that came from a person (names,
descriptions, phone numbers) goes through :func:`h`. Times are shown in the
service's time zone (Europe/London by default).
"""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

# The answer to a button that is malformed or no longer applies.
STALE_BUTTON = "This button is not valid (it may be out of date). Nothing was changed."

LONDON = ZoneInfo("Europe/London")
MAX_MESSAGE = 4096

URGENCY_MARK = {"urgent": "🔴 URGENT", "high": "🟠 High", "routine": "🟢 Routine"}


def h(text: object) -> str:
    """Escape anything a person wrote before it is sent with parse mode HTML."""
    return html.escape(str(text), quote=False)


def local(dt: datetime, tz: ZoneInfo = LONDON) -> datetime:
    return dt.astimezone(tz)


def hhmm(dt: datetime, tz: ZoneInfo = LONDON) -> str:
    return local(dt, tz).strftime("%H:%M")


def when(dt: datetime, tz: ZoneInfo = LONDON) -> str:
    """'14:05 Fri 27 Nov 2026' in local time."""
    d = local(dt, tz)
    return f"{d:%H:%M} {d:%a} {d.day} {d:%b %Y}"


def waited(delta: timedelta) -> str:
    mins = int(delta.total_seconds() // 60)
    if mins < 60:
        return f"{mins} min"
    hours, mins = divmod(mins, 60)
    if hours < 48:
        return f"{hours} h {mins:02d} min"
    return f"{hours // 24} days {hours % 24} h"


def clip(text: str, limit: int) -> str:
    """Shorten plain text to ``limit`` characters, saying so."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 25)].rstrip() + " … [shortened]"


EMERGENCY_FIRST = "⚠️ <b>If a child is in immediate danger, call 999 first.</b>"


def emergency_lines(out_of_hours_phone: str, duty_phone: str) -> str:
    lines = [EMERGENCY_FIRST]
    if duty_phone:
        lines.append(f"Duty social worker (office hours): <b>{h(duty_phone)}</b>")
    if out_of_hours_phone:
        lines.append(f"Out of hours (Emergency Duty Team): <b>{h(out_of_hours_phone)}</b>")
    return "\n".join(lines)


COMMANDS_TOO_FAST = ("You are sending commands faster than I can take them. Please wait a "
                     "minute; anything you type for a report is still kept.")


def unknown_user() -> str:
    return (
        "Sorry, this bot is only for people registered with the fostering service. "
        "If you should have access, ask your service for an invite link."
    )
