"""getUpdates' answer decoded without the updates already in hand.

Our polling loop (``bot/runtime/polling.py``) confirms an update only once it was handled,
so while some are in hand every poll brings them back with the new ones. They were not
parsed into ``Update`` objects again, but their JSON still was: under a burst of reports
(50 carers at once, ``bench/report_throughput.py``) decoding updates already in hand
was about a twentieth of the bot's CPU.

``UpdatesRequest`` is our Bot API client (``bot/runtime/bot_api_http.py``) for getUpdates
with python-telegram-bot's documented hook, ``parse_json_payload``, overridden: before
decoding, each update the poller says it already has (``known``) is cut down to
``{"update_id": N, "~known": 1}`` (``is_known_stub`` tells the poller which those are),
and the rest is decoded as usual.

Why cutting the bytes is safe: getUpdates' answer is ``{"ok":true,"result":[U, U, ...]}``
with each update an object that begins ``{"update_id":`` (Telegram's compact JSON, and
our emulator's; white space between tokens is allowed). That byte sequence can only be
JSON's own structure, never text in a string (a string's quotes are escaped as ``\\"``),
and no other Bot API object has an ``update_id``. So one update runs from its
``{"update_id":`` to the comma before the next. Anything unexpected (another layout, a
segment that does not end as an object does, a cut answer that is not valid JSON) falls
back to decoding the whole answer as python-telegram-bot would: never worse than before,
and an update the poller does not already have is never cut.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from bot.runtime.bot_api_http import AiohttpRequest

STUB_KEY = "~known"
# Where ``bot/app.py`` leaves the request for the poller (``Application.bot_data``).
UPDATES_REQUEST = "fosterbot_updates_request"
_START = re.compile(rb'\{\s*"update_id"\s*:\s*(\d+)')


def is_known_stub(data: object) -> bool:
    """Whether a getUpdates entry is an update the poller already had (cut down here)."""
    return isinstance(data, dict) and len(data) == 2 and data.get(STUB_KEY) == 1


def _ends_object_then(segment: bytes, closer: bytes) -> bool:
    """``segment`` (white space allowed) ends ``}`` then ``closer``."""
    segment = segment.rstrip()
    if not segment.endswith(closer):
        return False
    return segment[:len(segment) - len(closer)].rstrip().endswith(b"}")


def without_known(payload: bytes, known: Callable[[int], bool]) -> bytes | None:
    """``payload`` with each update that ``known`` says is in hand cut down to a stub;
    None when there is nothing to cut or the answer is not laid out as expected."""
    starts = [(m.start(), int(m.group(1))) for m in _START.finditer(payload)]
    if not any(known(update_id) for _, update_id in starts):
        return None
    body = payload.rstrip()
    if not body.endswith(b"}"):
        return None
    # The last update ends before the result list's "]" and the answer's "}".
    result_end = body[:-1].rstrip()
    if not result_end.endswith(b"]"):
        return None
    last_end = len(result_end) - 1
    pieces, at = [], 0
    for k, (start, update_id) in enumerate(starts):
        last = k + 1 == len(starts)
        end = last_end if last else starts[k + 1][0]
        # Between two updates: "}" "," (the comma is cut with the update, and put back).
        if not _ends_object_then(payload[start:end], b"" if last else b","):
            return None
        if known(update_id):
            stub = b'{"update_id":%d,"%s":1}' % (update_id, STUB_KEY.encode())
            pieces += [payload[at:start], stub, b"" if last else b","]
            at = end
    pieces.append(payload[at:])
    return b"".join(pieces)


class UpdatesRequest(AiohttpRequest):
    """The getUpdates request: set ``known`` (an update id -> already in hand) to have
    those updates come back as stubs instead of being decoded again."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.known: Callable[[int], bool] | None = None
        self.cut = 0  # updates not decoded again (for tests and benchmarks)

    def parse_json_payload(self, payload: bytes) -> dict:
        known = self.known
        if known is not None:
            slim = without_known(payload, known)
            if slim is not None:
                try:
                    data = json.loads(slim.decode("utf-8", "replace"))
                except ValueError:
                    data = None
                if isinstance(data, dict) and isinstance(data.get("result"), list):
                    self.cut += sum(1 for u in data["result"] if is_known_stub(u))
                    return data
        return super().parse_json_payload(payload)
