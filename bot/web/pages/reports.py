"""*Open reports*: filters (team, worker, category, urgency, state) and paging
(``bot/review/browse.py``). Managers see their teams, administrators all, workers only
the reports sent to them (as ``/open`` in the bot)."""

from __future__ import annotations

from aiohttp import web

from bot.review import browse
from bot.rules.categories import URGENCIES
from bot.web import kit

STATE_LABELS = {"open": "Not closed", "awaiting": "Waiting for acknowledgement",
                "acknowledged": "Acknowledged", "closed": "Closed"}


def _filters(request: web.Request, svc) -> browse.Filters:
    q = request.query
    pick = (lambda name, allowed: q.get(name, "") if q.get(name, "") in allowed else "")
    return browse.Filters(
        team=q.get("team", "")[:64], worker=q.get("worker", "")[:64],
        category=pick("category", {c.key for c in svc.settings.categories}),
        urgency=pick("urgency", set(URGENCIES)),
        state=q.get("state") if q.get("state") in STATE_LABELS else "open")


@kit.page("/open", name="open", nav="Open reports")
async def open_reports(request: web.Request) -> web.Response:
    svc = kit.services(request)
    scope = kit.scope(request)
    filters = _filters(request, svc)
    try:
        page = int(request.query.get("page", "1"))
    except ValueError:
        page = 1
    mine = None if kit.is_reviewer(request) else kit.person(request).id
    async with kit.db_read(request) as s:
        # A worker reviews no team: what was sent to them, in whichever team.
        result = await browse.open_reports(s, scope=None if mine else scope, mine=mine,
                                           filters=filters,
                                           page=page, per_page=svc.settings.web.page_size)
    query = {k: v for k, v in vars(filters).items() if v}
    return kit.render(request, "open.html", title="Open reports", result=result,
                      filters=filters, query=query, states=STATE_LABELS,
                      urgencies=URGENCIES,
                      categories=svc.settings.categories, mine=mine is not None,
                      category={c.key: c.label for c in svc.settings.categories})
