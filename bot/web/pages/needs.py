"""*Needs action*: every report late on any clock in the reader's teams, most overdue first
(the same query as ``/overdue``: ``bot/review/needs.py``). For team managers and
administrators. The list refreshes itself every ``[web] refresh_seconds`` through a small
same-origin script that fetches ``?part=list`` (no ``<meta refresh>``: reloading the
whole page moves keyboard focus and screen readers, and axe counts it as a violation);
without JavaScript the *Refresh* link does the same. Paged (``?page=``, 50 reports a page,
ranked and cut in SQL); the refresh keeps the page."""

from __future__ import annotations

from aiohttp import web
from markupsafe import Markup

from bot.record import notification, notification_texts
from bot.review import lists, needs
from bot.review.render import CLOCK_LABEL
from bot.web import kit

# The bot's labels without their emoji (a browser's fonts may not have them).
CLOCK_WORDS = {clock: label.split(" ", 1)[1] for clock, label in CLOCK_LABEL.items()}


@kit.page("/needs", name="needs", nav="Needs action", who=kit.REVIEWERS)
async def needs_action(request: web.Request) -> web.Response:
    svc = kit.services(request)
    scope = kit.scope(request)
    try:
        page = int(request.query.get("page", "1"))
    except ValueError:
        page = 1
    async with kit.db_read(request) as s:
        events = await svc.access.event_scope(s, kit.person(request),
                                              notification.owners(svc))
        result = await needs.needs_action(
            s, scope, svc.clock.now(), page=page, events=events,
            owner_id=svc.settings.notification.registered_manager)
        label = await lists.team_label(s, scope)
    context = {"result": result, "team_label": label, "clock_label": CLOCK_WORDS,
               "category": _category(svc),
               "event_label": lambda key: notification_texts.event_label(svc, key),
               "recipients": lambda keys: ", ".join(map(notification_texts.recipient, keys)),
               "refresh": svc.settings.web.refresh_seconds}
    # The list is rendered once and placed in the page as it is (rendering its 50 rows was
    # most of the page's CPU; rendering them twice doubled it).
    part, digest = kit.live_part(request, "needs_list.html", **context)
    if request.query.get("part") == "list":
        return part
    return kit.render(request, "needs.html", title="Needs action", digest=digest,
                      # already rendered (and escaped) by the autoescaping template above
                      list_html=Markup(part.text), **context)


def _category(svc):
    def label(key: str) -> str:
        cat = svc.settings.category(key)
        return cat.label if cat else key
    return label
