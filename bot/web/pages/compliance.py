"""*Compliance*: the statutory clocks per team (``bot/review/compliance.py``, what
``/compliance`` and ``fosterbot compliance`` show) for a period (default: the last 30 days),
every miss listed, with a CSV download (``compliance.to_csv``). For team managers (their
teams) and administrators (every team). Children appear by reference only."""

from __future__ import annotations

from aiohttp import web

from bot.people import statutory
from bot.review import compliance
from bot.web import kit, period_form
from bot.web.csv_download import csv_response


@kit.page("/compliance", name="compliance", nav="Compliance", who=kit.REVIEWERS)
async def show(request: web.Request) -> web.Response:
    svc = kit.services(request)
    asked = period_form.asked(request.query, svc.clock.now(), svc.tz, days=30)
    async with kit.db_read(request) as s:
        report = await compliance.compute(s, kit.scope(request), asked.period.start,
                                          asked.period.end, svc.clock.now(), asked.period.label)
    if request.query.get("format") == "csv":
        return csv_response(compliance.to_csv(report, svc.tz),
                            f"compliance_{asked.period.slug(svc.tz)}.csv")
    return kit.render(request, "compliance.html", title="Compliance", report=report,
                      asked=asked, measures=compliance.MEASURES, task_label=statutory.label)
