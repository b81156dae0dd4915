"""An attachment's bytes for the console, fetched through the bot and streamed.

The page links to ``/incidents/{ref}/files/{id}``, never to Telegram: the Bot API's file
URL carries the bot token, so the console asks ``getFile`` for the file's path, downloads
it from the file server itself and streams it on in chunks (the Bot API serves files of
up to 20 MB). A copy the service kept (``storage.keep_files``) is served from disk
instead, decrypted. Nothing about the request to Telegram (its URL holds the token) is
put into an error or a log line: only the attachment's id and the kind of failure.

What the browser is told: photos ``image/jpeg``, voice notes ``audio/ogg``, videos and
video notes ``video/mp4`` — shown inline by the page (``<img>``, ``<audio>``,
``<video>``); documents are always a download (``Content-Disposition: attachment``,
type ``application/octet-stream``), so a carer's HTML or SVG file never runs in the
console's origin.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote

import aiohttp

from bot.config import Settings
from bot.record.attachments import read_kept
from storage.models import Attachment

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=10)
INLINE_TYPES = {"photo": "image/jpeg", "voice": "audio/ogg", "video": "video/mp4",
                "video_note": "video/mp4"}


class FileUnavailable(Exception):
    """The file could not be fetched (Telegram refused or could not be reached)."""


@dataclass(frozen=True)
class Served:
    content_type: str
    disposition: str
    size: int | None
    chunks: AsyncIterator[bytes]


def _filename(att: Attachment) -> str:
    name = att.file_name or f"{att.kind}-{att.id}"
    return "".join(c if c.isalnum() or c in "-_. " else "_" for c in name)[:100] or "file"


def headers_for(att: Attachment) -> tuple[str, str]:
    """(Content-Type, Content-Disposition) for an attachment."""
    name = _filename(att)
    if att.kind in INLINE_TYPES:
        return INLINE_TYPES[att.kind], f"inline; filename*=UTF-8''{quote(name)}"
    return "application/octet-stream", f"attachment; filename*=UTF-8''{quote(name)}"


async def _from_disk(path: str) -> AsyncIterator[bytes]:
    data = await asyncio.to_thread(read_kept, path)
    for i in range(0, len(data), CHUNK):
        yield data[i:i + CHUNK]


async def open_file(settings: Settings, att: Attachment) -> Served:
    """Where the bytes come from, ready to stream. Raises :class:`FileUnavailable`."""
    ctype, disposition = headers_for(att)
    if att.local_path:
        return Served(ctype, disposition, None, _from_disk(att.local_path))
    token = settings.token
    if not token:
        raise FileUnavailable("no bot token configured")
    tg = settings.telegram
    session = aiohttp.ClientSession(timeout=TIMEOUT)
    try:
        async with session.post(f"{tg.api_base_url}{token}/getFile",
                                json={"file_id": att.file_id}) as resp:
            answer = await resp.json(content_type=None)
        if not answer.get("ok") or not (answer.get("result") or {}).get("file_path"):
            raise FileUnavailable(f"getFile refused: {answer.get('description', '?')}")
        path = answer["result"]["file_path"]
        size = answer["result"].get("file_size")
        resp = await session.get(f"{tg.base_file_url}{token}/{path}")
        if resp.status != 200:
            resp.release()
            raise FileUnavailable(f"the file server answered {resp.status}")
    except FileUnavailable:
        await session.close()
        raise
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        await session.close()
        raise FileUnavailable(type(exc).__name__) from None

    async def chunks() -> AsyncIterator[bytes]:
        try:
            async for chunk in resp.content.iter_chunked(CHUNK):
                yield chunk
        finally:
            resp.release()
            await session.close()

    return Served(ctype, disposition, size if isinstance(size, int) else None, chunks())
