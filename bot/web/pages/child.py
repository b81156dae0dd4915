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
    csv_wanted = request.query.get("format") == "csv"
    async with kit.db_read(request) as s:
        view = await svc.access.may_see_child(s, kit.person(request), ref)
        chron = shown = None
        if view is not None and csv_wanted:  # the whole chronology (of this kind)
            chron = await chronology.entries_for(
                s, svc.settings, ref, tz=svc.tz, today=svc.today(),
                kinds=[kind] if kind else None, view=view)
        elif view is not None:  # one page, cut in the database
            shown = await chronology.page_of(
                s, svc.settings, ref, tz=svc.tz, today=svc.today(), per_page=PAGE_SIZE,
                page=page, kinds=[kind] if kind else None, view=view)
    if view is None or (chron is None and shown is None):
        return await kit.refuse(request, action="child", why="may not see this child",
                                child=ref[:40],
                                text="You cannot see this child's chronology: there is no such "
                                     "child, or you are not among those who may see it.")
    if chron is not None:
        await kit.audit_view(request, what="child", child=ref, why=view.reason, kind=kind,
                             download="csv")
        return csv_response(chronology.to_csv(chron, svc.tz),
                            f"chronology_{ref}_{svc.today().isoformat()}.csv")
    await kit.audit_view(request, what="child", child=ref, why=view.reason, kind=kind,
                         page=page)
    return kit.render(request, "child.html", title=f"Child {ref}: chronology", ref=ref,
                      entries=shown.entries, total=shown.total, page=shown.page,
                      pages=shown.pages,
                      kind=kind, kinds=list(texts.KIND_LABELS.items()), view=view,
                      tz=svc.tz)
