"""*Audit*: the hash chain's state — its head (events, last hash, when) and the last check of
the whole chain (``bot/review/chain_state.py``) — a *Check the chain now* button for
administrators, and the export (``bot/review/export.py``, what ``/export`` sends) as one ZIP
of its three files (reports, audit events, the chain head) for a period.

Decisions: walking the chain reads every event (seconds for a million), so it runs only when
an administrator asks, and its result is itself an audit event, shown to every reviewer with
who ran it and when. The export's scope is the bot's: a team manager's holds their teams'
reports and the events about them, an administrator's everything; making one is an audit
event (``export_made``). The ZIP is written to a private temporary folder, streamed, then
deleted."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import zipfile
from pathlib import Path

from aiohttp import web

from bot.review import chain_state
from bot.review import export as review_export
from bot.rules.roles import ADMIN
from bot.web import kit, period_form

CHUNK = 64 * 1024


async def _is_admin(request: web.Request) -> bool:
    svc = kit.services(request)
    async with kit.db_read(request) as s:
        return ADMIN in await svc.access.roles(s, kit.person(request))


@kit.page("/audit", name="audit", nav="Audit", who=kit.REVIEWERS)
async def show(request: web.Request) -> web.Response:
    svc = kit.services(request)
    async with kit.db_read(request) as s:
        chain = await chain_state.state(s)
    asked = period_form.asked(request.query, svc.clock.now(), svc.tz, days=30)
    return kit.render(request, "audit.html", title="Audit", chain=chain, asked=asked,
                      may_check=await _is_admin(request),
                      checked=request.query.get("checked") == "1")


@kit.page("/audit/check", name="audit_check", method="POST", who=kit.REVIEWERS)
async def check(request: web.Request) -> web.StreamResponse:
    if not await _is_admin(request):
        return await kit.refuse(request, action="check the audit chain",
                                why="not an administrator",
                                text="Only an administrator can run the check of the whole "
                                     "chain. Its last result is on the Audit page.")
    svc = kit.services(request)
    await chain_state.check(svc.db, now=svc.clock.now(), actor_id=kit.person(request).id)
    raise web.HTTPSeeOther(str(request.app.router["audit"].url_for().with_query(checked="1")))


def _zip(folder: Path, files: list[Path]) -> Path:
    target = folder / "export.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for f in files:
            z.write(f, f.name)
    return target


@kit.page("/audit/export", name="audit_export", method="POST", who=kit.REVIEWERS)
async def export(request: web.Request) -> web.StreamResponse:
    svc = kit.services(request)
    form = await request.post()
    asked = period_form.asked(form, svc.clock.now(), svc.tz, days=30)
    if asked.error:
        async with kit.db_read(request) as s:
            chain = await chain_state.state(s)
        return kit.render(request, "audit.html", status=400, title="Audit", chain=chain,
                          asked=asked, may_check=await _is_admin(request), checked=False)
    folder = Path(tempfile.mkdtemp(prefix="fosterbot-web-export-"))
    try:
        result = await review_export.export(
            svc.db, svc.settings, period=asked.period, scope=kit.scope(request),
            out_dir=folder / "files", now=svc.clock.now(), actor_id=kit.person(request).id)
        archive = await asyncio.to_thread(_zip, folder, result.files)
        name = f"fosterbot-export_{asked.period.slug(svc.tz)}.zip"
        response = web.StreamResponse(headers={
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="{name}"'})
        response.content_length = archive.stat().st_size
        await response.prepare(request)
        with archive.open("rb") as f:
            while chunk := f.read(CHUNK):
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        shutil.rmtree(folder, ignore_errors=True)
