"""*Open reports*: filters (team, worker, category, urgency, state) and paging
(``bot/review/browse.py``). Managers see their teams, administrators all, workers only
the reports sent to them (as ``/open`` in the bot).

The worker filter travels in the URL as an opaque tag (``kit.opaque``: keyed by the
session, so it names nobody in a URL, a log or the browser's history), resolved here
against the workers the reader may filter by."""

from __future__ import annotations

from aiohttp import web

from bot.review import browse
from bot.rules.categories import URGENCIES
from bot.web import kit

STATE_LABELS = {"open": "Not closed", "awaiting": "Waiting for acknowledgement",
                "acknowledged": "Acknowledged", "closed": "Closed"}


@kit.page("/open", name="open", nav="Open reports")
async def open_reports(request: web.Request) -> web.Response:
    svc = kit.services(request)
    q = request.query
    reviewer = kit.is_reviewer(request)
    try:
        page = int(q.get("page", "1"))
    except ValueError:
        page = 1
    async with kit.db_read(request) as s:
        teams, workers = (await browse.filter_choices(s, kit.scope(request))
                          if reviewer else ([], []))
        tags = {kit.opaque(request, w.id): w for w in workers}
        worker = tags.get(q.get("worker", ""))
        filters = browse.Filters(
            team=q.get("team", "") if q.get("team", "") in {t.id for t in teams} else "",
            worker=worker.id if worker else "",
            category=q.get("category", "") if svc.settings.category(q.get("category", ""))
            else "",
            urgency=q.get("urgency", "") if q.get("urgency", "") in URGENCIES else "",
            state=q.get("state") if q.get("state") in STATE_LABELS else "open")
        # A worker reviews no team: what was sent to them, in whichever team.
        result = await browse.open_reports(
            s, scope=kit.scope(request) if reviewer else None,
            mine=None if reviewer else kit.person(request).id, filters=filters, page=page,
            per_page=svc.settings.web.page_size)
    query = {k: v for k, v in vars(filters).items() if v and k != "worker"}
    if worker is not None:
        query["worker"] = kit.opaque(request, worker.id)
    return kit.render(request, "open.html", title="Open reports", result=result,
                      filters=filters, query=query, states=STATE_LABELS, teams=teams,
                      workers=[(tag, w) for tag, w in tags.items()], urgencies=URGENCIES,
                      categories=svc.settings.categories, mine=not reviewer,
                      category={c.key: c.label for c in svc.settings.categories})
