"""*Needs action* beyond its first page, over real HTTP: with more late reports than a page
(50), each page shows the next ones most overdue first, whichever clock each went late on
first, and the count is of them all (issues 13 and 17: ranked and cut to the page in SQL).

The reports are made and acknowledged through ``bot.record.incidents``; their deadlines are
then written directly (as ``tests/review_seed.py`` does for the engines' work) so that the
clocks interleave: a report's place is set by the earliest clock it is late on."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from bot.record import incidents
from storage.models import Incident, Person
from tests.review_seed import NOW, load_directory, utc
from tests.web_helpers import start_console

LATE = 120  # late reports: two full pages and part of a third
# Which clock each report goes late on first: half on acknowledgement (60, more than a
# page: the second page needs more than each clock's first 50), 20 on each of the others.
CLOCK_PATTERN = (0, 1, 0, 2, 0, 3, 0, 0, 1, 2, 0, 3)
REFERENCE = re.compile(r'<h3><a href="[^"]*">(INC-\d{4}-\d+)</a>')


@pytest.fixture
def settings_overrides():
    return {"web": {"enabled": True, "public_base_url": "http://127.0.0.1"}}


def _deadlines(i: int) -> tuple[dict, timedelta]:
    """Report ``i``'s clock columns, and how long before NOW it first went late. The
    moments are a permutation of 120 ten-minute steps (37 is prime to 120), so neither the
    id order nor the clock order is the page's order; every fifth report is also late on a
    second clock a minute after its first, which must not move it."""
    ago = timedelta(minutes=5 + 10 * ((i * 37) % LATE))
    since, later = NOW - ago, NOW - ago + timedelta(minutes=1)
    not_yet = NOW + timedelta(hours=3)
    clock = CLOCK_PATTERN[i % len(CLOCK_PATTERN)]
    cols = {0: {"ack_due_at": since},
            1: {"outcome_due_at": since},
            2: {"ack_due_at": not_yet, "notification_due_at": since},
            3: {"ack_due_at": not_yet, "undelivered_since": since}}[clock]
    if i % 5 == 0:
        cols["notification_due_at" if clock != 2 else "undelivered_since"] = later
    return cols, ago


async def _seed(services, clock) -> tuple[list[str], set[str]]:
    """LATE late reports and some that are not; the late ones' references, most overdue
    first (from the deadlines written, not from the query under test), and those late on
    two clocks."""
    clock.set(utc(2026, 11, 20, 9, 0))
    await load_directory(services)
    ranked: list[tuple[timedelta, int, str]] = []
    twice: set[str] = set()
    async with services.db.write() as s:
        carer, patel = await s.get(Person, "carer-smith"), await s.get(Person, "sw-patel")
        for i in range(LATE + 6):
            sub = await incidents.submit_report(
                s, services, carer=carer, child_ref="A1", category_key="contact",
                description=f"Report {i}.")
            inc = sub.incident
            if i < LATE:
                cols, ago = _deadlines(i)
                if "outcome_due_at" in cols:
                    await incidents.acknowledge(s, services, incident_id=inc.id, person=patel)
                ranked.append((ago, inc.id, inc.reference))
                if i % 5 == 0:
                    twice.add(inc.reference)
            elif i < LATE + 3:  # not late yet: its first step is still to come
                cols = {"ack_due_at": NOW + timedelta(hours=1)}
            else:  # late deadlines, but closed and notified: nothing to do
                cols = {"status": "closed", "ack_due_at": NOW - timedelta(days=2),
                        "notification_due_at": NOW - timedelta(days=2),
                        "notified_at": NOW - timedelta(days=1)}
            await s.execute(update(Incident).where(Incident.id == inc.id).values(**cols))
    clock.set(NOW)
    ranked.sort(key=lambda r: (-r[0], r[1]))  # longest late first, then by id
    return [ref for _ago, _id, ref in ranked], twice


@pytest.fixture
async def console(services, clock):
    c_expected, c_twice = await _seed(services, clock)
    c = await start_console(services)
    c.expected, c.twice = c_expected, c_twice
    try:
        yield c
    finally:
        await c.close()


async def _page(client, url) -> str:
    async with client.get(url, allow_redirects=False) as r:
        assert r.status == 200
        return await r.text()


async def test_each_page_beyond_the_first_shows_the_next_most_overdue(console):
    expected = console.expected
    jones = await console.client("tm-jones")
    needs = console.url("/web/needs")

    first = await _page(jones, needs)
    assert "Overdue: 120 reports" in first
    assert "Showing the 50 most overdue of 120." in first
    assert REFERENCE.findall(first) == expected[:50]
    assert "Page 1 of 3" in first and 'rel="next" href="/web/needs?page=2"' in first

    second = await _page(jones, needs + "?page=2")
    assert "Overdue: 120 reports" in second
    assert "Showing 51–100 of 120, most overdue first." in second
    assert REFERENCE.findall(second) == expected[50:100]
    assert '<ol class="items" start="51">' in second
    assert "Page 2 of 3" in second and 'rel="prev" href="/web/needs?page=1"' in second

    third = await _page(jones, needs + "?page=3")
    assert REFERENCE.findall(third) == expected[100:]
    assert "Showing 101–120 of 120" in third and 'rel="next"' not in third
    # Past the end: the last page; the part the page refreshes is of the same page.
    assert REFERENCE.findall(await _page(jones, needs + "?page=9")) == expected[100:]
    assert REFERENCE.findall(await _page(jones, needs + "?page=3&part=list")) == expected[100:]

    # Each report once, with the clocks it is late on (every fifth on two).
    for ref in expected[50:100]:
        assert _entry(second, ref).count("<li>") == (2 if ref in console.twice else 1), ref


def _entry(page: str, ref: str) -> str:
    """The list item of one report on a page."""
    start = page.index(f">{ref}</a>")
    return page[start:page.index("</ul>", start)]
