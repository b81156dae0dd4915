"""A CSV file for the browser to save: UTF-8 with a byte-order mark (so a spreadsheet reads
names and "–" correctly), a file name that says what and when, never cached."""

from __future__ import annotations

from aiohttp import web


def csv_response(text: str, filename: str) -> web.Response:
    return web.Response(body=("\ufeff" + text).encode("utf-8"),
                        headers={"Content-Type": "text/csv; charset=utf-8",
                                 "Content-Disposition": f'attachment; filename="{filename}"'})
