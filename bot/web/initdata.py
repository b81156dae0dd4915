"""Telegram Mini App ``initData``: checked exactly as Telegram documents it.

``secret_key = HMAC_SHA256(key="WebAppData", message=bot_token)``; the data-check
string is every field but ``hash`` as ``key=value`` (values URL-decoded), sorted
by key, joined by newlines; valid when ``hash`` equals the hex
``HMAC_SHA256(key=secret_key, message=data_check_string)`` (constant-time
compare). ``auth_date`` (Unix seconds) must be no older than ``max_age`` and not
in the future (a minute's clock skew allowed). A field given twice is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

SKEW = timedelta(minutes=1)


@dataclass(frozen=True)
class Checked:
    status: str  # ok | malformed | forged | stale
    telegram_user_id: int | None = None


def _secret(bot_token: str) -> bytes:
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def _check_string(fields: dict[str, str]) -> str:
    return "\n".join(f"{k}={fields[k]}" for k in sorted(fields))


def sign(fields: dict[str, str], bot_token: str) -> str:
    """``initData`` as Telegram would send it for ``fields`` (tests, the emulator's twin)."""
    digest = hmac.new(_secret(bot_token), _check_string(fields).encode(),
                      hashlib.sha256).hexdigest()
    return urlencode({**fields, "hash": digest})


def check(init_data: str, bot_token: str, *, now: datetime, max_age: timedelta) -> Checked:
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return Checked("malformed")
    fields = dict(pairs)
    if len(fields) != len(pairs) or "hash" not in fields or not bot_token:
        return Checked("malformed")
    given = fields.pop("hash")
    expected = hmac.new(_secret(bot_token), _check_string(fields).encode(),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return Checked("forged")
    try:
        signed_at = datetime.fromtimestamp(int(fields["auth_date"]), tz=UTC)
        user = json.loads(fields["user"])
        user_id = int(user["id"])
    except (KeyError, ValueError, TypeError):
        return Checked("malformed")
    if now - signed_at > max_age or signed_at - now > SKEW:
        return Checked("stale", user_id)
    return Checked("ok", user_id)
