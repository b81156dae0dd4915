"""*Statistics*: the ``/stats`` figures (``bot/review/stats.py``) for the reader's teams and a
period (default: the last six calendar months), with two charts drawn here as SVG from the
same figures (``bot/review/svg_chart.py``): the month-by-month time to acknowledge (median
and 90th percentile) and the breaches per month. Each chart has a title and a description
and the same figures in a table under it. For team managers (their teams) and
administrators (every team)."""

from __future__ import annotations

from aiohttp import web

from bot.review import stats, svg_chart
from bot.web import kit, period_form

MONTHS = 6


def _minutes(td) -> float | None:
    return None if td is None else round(td.total_seconds() / 60, 1)


def charts(st: stats.Stats) -> tuple[str, str]:
    labels = [f"{m.start:%b %Y}" for m in st.months]
    ack = svg_chart.line_chart(
        title="Time to acknowledge, month by month",
        desc=(f"Median and 90th percentile minutes from report to acknowledgement, "
              f"{st.period.label}, {st.scope_label}. The table below gives each month's "
              f"figures."),
        labels=labels, unit="minutes",
        series=[svg_chart.Series("median", [_minutes(m.ack.median) for m in st.months]),
                svg_chart.Series("90th percentile", [_minutes(m.ack.p90) for m in st.months])])
    breaches = svg_chart.bar_chart(
        title="Breaches, month by month",
        desc=(f"Reports not acknowledged by their first escalation step's due time, per month "
              f"reported, {st.period.label}, {st.scope_label}."),
        labels=labels, values=[m.breaches for m in st.months], unit="breaches")
    return ack, breaches


@kit.page("/stats", name="stats", nav="Statistics", who=kit.REVIEWERS)
async def show(request: web.Request) -> web.Response:
    svc = kit.services(request)
    asked = period_form.asked(request.query, svc.clock.now(), svc.tz, months=MONTHS)
    async with kit.db_read(request) as s:
        st = await stats.compute(s, svc, kit.scope(request), asked.period)
    ack_svg, breach_svg = charts(st)
    return kit.render(request, "stats.html", title="Statistics", st=st, asked=asked,
                      lines=stats.lines(st, svc.tz, stats.deadline_label(svc.settings)),
                      ack_svg=ack_svg, breach_svg=breach_svg, minutes=_minutes)
