"""The console's SVG charts and the compliance CSV: pure, no database."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.review import compliance, svg_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_line_chart_is_an_accessible_image_with_a_point_per_value_and_gaps_kept():
    svg = svg_chart.line_chart(
        title="Time to acknowledge <by month>", desc="Median & 90th percentile",
        labels=["Sep 2026", "Oct 2026", "Nov 2026"],
        series=[svg_chart.Series("median", [12.0, None, 30.0]),
                svg_chart.Series("90th percentile", [40.0, None, 95.0])],
        unit="minutes")
    root = ET.fromstring(svg)  # well-formed, the title's "<" escaped
    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby").split()
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert (title.get("id"), title.text) == (title_id, "Time to acknowledge <by month>")
    assert (desc.get("id"), desc.text) == (desc_id, "Median & 90th percentile")
    points = root.findall(f"{SVG}circle")
    assert [p.find(f"{SVG}title").text for p in points] == [
        "median, Sep 2026: 12 minutes", "median, Nov 2026: 30 minutes",
        "90th percentile, Sep 2026: 40 minutes", "90th percentile, Nov 2026: 95 minutes"]
    # the October gap breaks each line: no polyline joins only two points across it
    assert root.findall(f"{SVG}polyline") == []
    # the axis is rounded up above the largest value; higher values sit higher
    ys = [float(p.get("cy")) for p in points]
    assert ys[1] < ys[0] and ys[3] < ys[2]
    assert "100" in [t.text for t in root.findall(f"{SVG}text")]
    assert "style=" not in svg  # nothing a strict CSP would block


def test_bar_chart_and_empty_chart():
    svg = svg_chart.bar_chart(title="Breaches by month", desc="Reports acknowledged late",
                              labels=["Oct", "Nov"], values=[0, 4], unit="reports")
    root = ET.fromstring(svg)
    bars = root.findall(f"{SVG}rect")
    assert [b.find(f"{SVG}title").text for b in bars] == ["Oct: 0 reports", "Nov: 4 reports"]
    assert float(bars[0].get("height")) == 0 and float(bars[1].get("height")) > 0
    empty = svg_chart.line_chart(title="t", desc="d", labels=["Nov"],
                                 series=[svg_chart.Series("median", [None])], unit="minutes")
    assert "No data in this period" in empty
    assert svg_chart.nice_max(0) == 1 and svg_chart.nice_max(95) == 100
    assert svg_chart.nice_max(120) == 200 and svg_chart.nice_max(21) == 25


def test_compliance_csv_has_a_row_per_measure_and_per_miss():
    tz = ZoneInfo("Europe/London")
    due = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    team = compliance.TeamFigures("north", "=North")
    team.assessment.due, team.assessment.on_time = 2, 1
    team.assessment.misses.append(compliance.Miss("A1", "needs_assessment", due, None,
                                                  "sw-patel"))
    report = compliance.Compliance(due, due, "November 2026", [team])
    rows = list(csv.reader(io.StringIO(compliance.to_csv(report, tz))))
    assert rows[0] == compliance.CSV_COLUMNS
    assert rows[1][:7] == ["north", "'=North", "assessment", "2", "1", "50.0", "0"]
    assert rows[2][7:] == ["A1", compliance.statutory.label("needs_assessment"),
                           "2026-11-03 09:00", "", "sw-patel"]
