"""*Notifications register*: the Schedule 7 register (``bot/review/register.py``) for a period
(default: the last 90 days, as ``/notifications``), open ones first, with the late totals per
month and a CSV download (``register.to_csv``, the file ``fosterbot notifications --out``
writes). Scope as in the bot: a notification owner (``[notification]`` registered manager,
deputy, out-of-hours owner) and administrators see every team, team managers theirs."""

from __future__ import annotations

from aiohttp import web

from bot.record import notification
from bot.review import register
from bot.rules import notifiable
from bot.web import kit, period_form
from bot.web.csv_download import csv_response

DAYS = 90


@kit.page("/notifications", name="notifications", nav="Notifications", who=kit.REVIEWERS)
async def show(request: web.Request) -> web.Response:
    svc = kit.services(request)
    person = kit.person(request)
    scope = None if person.id in notification.owners(svc) else kit.scope(request)
    asked = period_form.asked(request.query, svc.clock.now(), svc.tz, days=DAYS)
    async with kit.db_read(request) as s:
        rows = await register.rows(s, svc, start=asked.period.start, end=asked.period.end,
                                   teams=scope)
    if request.query.get("format") == "csv":
        return csv_response(register.to_csv(rows, svc.tz),
                            f"notifications_{asked.period.slug(svc.tz)}.csv")
    ordered = [r for r in rows if r.open] + sorted((r for r in rows if not r.open),
                                                   key=lambda r: r.opened_at, reverse=True)
    return kit.render(request, "notifications.html", title="Notifications register",
                      rows=ordered, asked=asked, months=register.monthly_late(rows, svc.tz),
                      short=notifiable.SHORT, events=notifiable.EVENT_LABELS,
                      category=svc.settings.category)
