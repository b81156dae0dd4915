"""*A child*: the chronology (``bot/review/chronology.py``, the same entries as ``/child``),
newest first, filtered by kind and paged, and the whole of it (or of one kind) as CSV
(``?format=csv``: the file ``fosterbot chronology --out`` writes).

Who sees it is ``Access.may_see_child`` (the allocated worker and their cover, the managers
of the child's team, administrators, and a supervising social worker for the periods of
their carers' placements only); anyone else gets 403 and an ``access_refused`` event. Every
view (each page, each filter) is a ``web_viewed`` event with the child's reference, why the
person may see it and the kind asked for. Children appear by reference only.
"""

from __future__ import annotations

from aiohttp import web

from bot.review import chronology
from bot.review import chronology_texts as texts
from bot.web import kit
from bot.web.csv_download import csv_response

PAGE_SIZE = 50


@kit.page("/children/{ref}", name="child")
async def show(request: web.Request) -> web.Response:
    svc = kit.services(request)
    ref = request.match_info["ref"].strip()
    kind = request.query.get("kind") or None
    if kind is not None and kind not in chronology.KINDS:
        kind = None
    try:
        page = max(1, int(request.query.get("page", "1")))
    except ValueError:
        page = 1
    async with kit.db_read(request) as s:
        view = await svc.access.may_see_child(s, kit.person(request), ref)
        chron = None
        if view is not None:
            chron = await chronology.entries_for(
                s, svc.settings, ref, tz=svc.tz, today=svc.today(),
                kinds=[kind] if kind else None, view=view)
    if view is None or chron is None:
        return await kit.refuse(request, action="child", why="may not see this child",
                                child=ref[:40],
                                text="You cannot see this child's chronology: there is no such "
                                     "child, or you are not among those who may see it.")
    if request.query.get("format") == "csv":  # the whole chronology (of this kind)
        await kit.audit_view(request, what="child", child=ref, why=view.reason, kind=kind,
                             download="csv")
        return csv_response(chronology.to_csv(chron, svc.tz),
                            f"chronology_{ref}_{svc.today().isoformat()}.csv")
    await kit.audit_view(request, what="child", child=ref, why=view.reason, kind=kind,
                         page=page)
    pages = max(1, -(-len(chron.entries) // PAGE_SIZE))
    page = min(page, pages)
    shown = chron.entries[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    return kit.render(request, "child.html", title=f"Child {ref}: chronology", ref=ref,
                      entries=shown, total=len(chron.entries), page=page, pages=pages,
                      kind=kind, kinds=list(texts.KIND_LABELS.items()), view=view,
                      tz=svc.tz)
