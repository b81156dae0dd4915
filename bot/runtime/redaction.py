"""Secrets never reach the logs: the bot token (and the webhook secret) are redacted.

python-telegram-bot puts the token in every Bot API URL and in some error
messages (a mistyped ``telegram.api_base_url`` answers 404, and the bot says
"The token `…` was rejected by the server"); httpx logs the URLs it fetches.
:func:`install` wraps the log-record factory at start-up, so every record of
every logger — message, arguments, traceback and stack — has the secrets
replaced by ``[redacted]`` before any handler (file, console, pytest) sees it,
whichever handlers are added later. Anything shaped like a Bot API token
(``123456789:AA…``, 30 or more characters after the colon) is redacted too.
:func:`redact` is for text the program prints itself.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "[redacted]"
# A Telegram bot token: the bot's numeric id, a colon, 30+ URL-safe characters.
TOKEN_SHAPE = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}")

_secrets: list[str] = []
_installed = False


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return TOKEN_SHAPE.sub(MASK, text)


def _needs(text: str) -> bool:
    return any(s in text for s in _secrets) or TOKEN_SHAPE.search(text) is not None


_formatter = logging.Formatter()


def _clean(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken log call is not ours to fix here
        message = str(record.msg)
    if _needs(message):
        record.msg, record.args = redact(message), None
    if record.exc_info and record.exc_info[0] is not None:
        text = _formatter.formatException(record.exc_info)
        if _needs(text):
            # Formatters use exc_text when it is set; the exception object itself is
            # dropped so no later formatter can print it again unredacted.
            record.exc_text, record.exc_info = redact(text), None
    if record.stack_info and _needs(record.stack_info):
        record.stack_info = redact(record.stack_info)


def install(secrets: Iterable[str]) -> None:
    """Redact ``secrets`` (empty ones ignored) from every log record from now on."""
    global _installed
    for secret in secrets:
        if secret and len(secret) >= 6 and secret not in _secrets:
            _secrets.append(secret)
    if _installed:
        return
    _installed = True
    make = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        _clean(record)
        return record

    logging.setLogRecordFactory(factory)
