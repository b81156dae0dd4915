"""The console's review pages over real HTTP (issue 17 part B): an incident, a child, statistics,
the notifications register, compliance and audit — who may open each (every role), what each
shows, the audit events a view leaves, the CSV and export downloads."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from sqlalchemy import select

from storage.models import AuditEvent, Incident
from tests import review_seed
from tests.web_helpers import csrf_of, start_console

ROLES = ("carer-smith", "sw-patel", "sw-south", "tm-jones", "tm-south", "admin-1", None)


@pytest.fixture
def settings_overrides():
    return {"web": {"enabled": True, "public_base_url": "http://127.0.0.1"}}


@pytest.fixture
async def console(services, clock):
    seeded = await review_seed.seed(services, clock)
    c = await start_console(services)
    c.seeded = seeded
    try:
        yield c
    finally:
        await c.close()


async def as_role(console, who: str | None):
    """A client signed in as ``who``; a carer's sign-in is refused (the console is not for
    carers), so theirs stays signed out."""
    if who is None:
        return console.anonymous()
    if who.startswith("carer"):
        client = console.anonymous()
        async with client.post(console.url("/web/signin"), data={"token": await console.link(who)},
                               allow_redirects=False) as r:
            assert r.status != 303
        return client
    return await console.client(who)


async def statuses(console, path: str) -> dict[str | None, int]:
    """The status each role gets for ``path`` (None: signed out)."""
    out = {}
    for who in ROLES:
        client = await as_role(console, who)
        async with client.get(console.url(path), allow_redirects=False) as r:
            out[who] = r.status
    return out


async def events(services, name: str) -> list[AuditEvent]:
    async with services.db.read() as s:
        return list((await s.execute(select(AuditEvent).where(AuditEvent.event == name)
                                     .order_by(AuditEvent.id))).scalars())


async def test_an_incident_page_is_for_those_the_bot_lets_see_it(console):
    r8 = console.seeded.refs["r8"]  # North, child C3 (allocated to Priya Patel), still open
    assert await statuses(console, f"/web/incidents/{r8}") == {
        "carer-smith": 401,  # carers use the bot: they cannot sign in
        "sw-patel": 200, "sw-south": 403, "tm-jones": 200, "tm-south": 403, "admin-1": 200,
        None: 401}
    viewed = await events(console.services, "web_viewed")
    assert [(e.actor_id, e.details["what"]) for e in viewed] == [
        ("sw-patel", "incident"), ("tm-jones", "incident"), ("admin-1", "incident")]
    assert {e.incident_id for e in viewed} == {console.seeded.ids["r8"]}
    refused = [e for e in await events(console.services, "access_refused")
               if e.details.get("action") == "web view incident"]
    assert sorted(e.actor_id for e in refused) == ["sw-south", "tm-south"]
    jones = await console.client("tm-jones")
    async with jones.get(console.url(f"/web/incidents/{r8}")) as r:
        page = await r.text()
    assert "Report r8: what happened, in the carer&#39;s words." in page
    assert "Timeline" in page and "Sent to" in page  # the /log timeline, whole
    assert "Record management oversight" in page and "Acknowledge INC-" in page
    # the live part the page's script fetches, with its digest
    async with jones.get(console.url(f"/web/incidents/{r8}?part=live")) as r:
        assert r.status == 200 and r.headers["X-Digest"]
        assert "<html" not in await r.text()
    # The worker who has it may acknowledge and close, not record a manager's oversight.
    patel = await console.client("sw-patel")
    async with patel.get(console.url(f"/web/incidents/{r8}")) as r:
        page = await r.text()
    assert f"Acknowledge {r8}" in page and f"Close {r8}" in page
    assert "Record management oversight" not in page and "Schedule 7 notification" not in page
    async with jones.get(console.url("/web/incidents/INC-2026-999999")) as r:
        assert r.status == 403  # no such report: the same answer as someone else's


async def test_a_childs_chronology_is_filtered_and_paged(console):
    assert await statuses(console, "/web/children/C3") == {
        "carer-smith": 401, "sw-patel": 200, "sw-south": 403, "tm-jones": 200,
        "tm-south": 403, "admin-1": 200, None: 401}
    viewed = [e for e in await events(console.services, "web_viewed")
              if e.details["what"] == "child"]
    assert [(e.actor_id, e.details["child"], e.details["why"]) for e in viewed] == [
        ("sw-patel", "C3", "allocated"), ("tm-jones", "C3", "manager"), ("admin-1", "C3", "admin")]
    # (and each later page, filter and download below is recorded too)
    patel = await console.client("sw-patel")
    async with patel.get(console.url("/web/children/C3")) as r:
        page = await r.text()
    refs = console.seeded.refs
    assert refs["r3"] in page and refs["r8"] in page and "Placement" in page
    async with patel.get(console.url("/web/children/C3?kind=placement")) as r:
        page = await r.text()
    assert refs["r3"] not in page and "Placement" in page
    async with patel.get(console.url("/web/children/C3?kind=incident&page=9")) as r:
        page = await r.text()  # past the end: the last page
    assert refs["r3"] in page and "Next page" not in page
    async with patel.get(console.url("/web/children/C3?kind=incident&format=csv")) as r:
        assert r.headers["Content-Disposition"].startswith("attachment")
        rows = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert {row[4] for row in rows[1:]} == {refs["r3"], refs["r8"]}
    assert {row[2] for row in rows[1:]} == {"incident"}


async def test_review_pages_are_for_managers_and_admins_scoped_to_their_teams(console):
    for path in ("/web/stats", "/web/notifications", "/web/compliance", "/web/audit"):
        assert await statuses(console, path) == {
            "carer-smith": 401, "sw-patel": 403, "sw-south": 403, "tm-jones": 200,
            "tm-south": 200, "admin-1": 200, None: 401}, path
    jones, south = await console.client("tm-jones"), await console.client("tm-south")
    period = "from=2026-09-01&to=2026-11-30"
    async with jones.get(console.url(f"/web/stats?{period}")) as r:
        page = await r.text()
    assert "North Children&#39;s Team" in page and "Reports: 9" in page
    assert page.count('role="img"') == 2 and "<title" in page  # the two SVG charts
    # the month table: no reports in September or October; November's 9, 4 breaches
    assert "<th scope=\"row\">Nov 2026</th><td>9</td><td>7</td>" in page
    assert "<td>4</td></tr>" in page
    async with south.get(console.url(f"/web/stats?{period}")) as r:
        assert "Reports: 1" in await r.text()
    async with jones.get(console.url("/web/stats?from=2026-13-01")) as r:
        assert r.status == 200 and "Write dates as YYYY-MM-DD" in await r.text()

    async with jones.get(console.url(f"/web/notifications?{period}&format=csv")) as r:
        assert r.headers["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert rows[0][:3] == ["event_id", "incident", "team"]
    async with jones.get(console.url(f"/web/compliance?{period}&format=csv")) as r:
        assert r.status == 200
        assert (await r.read()).decode("utf-8-sig").startswith("team,team_name,measure")


async def test_audit_page_check_and_export(console):
    admin, jones = await console.client("admin-1"), await console.client("tm-jones")
    async with jones.get(console.url("/web/audit")) as r:
        page = await r.text()
    assert "never run from the console" in page and "Check the chain now" not in page
    token = await csrf_of(jones, console.url("/web/audit"))
    async with jones.post(console.url("/web/audit/check"), data={"csrf": token}) as r:
        assert r.status == 403  # administrators only
    token = await csrf_of(admin, console.url("/web/audit"))
    async with admin.post(console.url("/web/audit/check"), data={"csrf": token}) as r:
        assert r.status == 200 and "Intact" in await r.text()
    async with jones.get(console.url("/web/audit")) as r:
        assert "run by Service Admin" in await r.text()  # every reviewer sees the last check
    token = await csrf_of(jones, console.url("/web/audit"))
    async with jones.post(console.url("/web/audit/export"),
                          data={"csrf": token, "from": "2026-11-01", "to": "2026-11-30"}) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(await r.read()))
    names = sorted(archive.namelist())
    assert names == ["audit-chain-head_2026-11-01_2026-11-30.json",
                     "audit_2026-11-01_2026-11-30.csv", "incidents_2026-11-01_2026-11-30.csv"]
    incidents = archive.read("incidents_2026-11-01_2026-11-30.csv").decode()
    assert console.seeded.refs["r1"] in incidents and console.seeded.refs["s1"] not in incidents
    made = await events(console.services, "export_made")
    assert [e.actor_id for e in made] == ["tm-jones"]


async def test_the_incident_forms_refuse_whoever_the_bot_would_refuse(console):
    """Each form × each role that may not use it: refused (401 signed out, 403 otherwise, the
    refusal audited) and the record unchanged."""
    r8 = console.seeded.refs["r8"]
    page = f"/web/incidents/{r8}"
    forms = {"acknowledge": {}, "oversight": {"decision": "d", "rationale": "r"},
             "close": {"outcome": "nfa", "note": "n"}, "reopen": {"reason": "r"},
             "notification": {"record": "1", "what": "made", "method": "form"}}
    refused_for = {"sw-south": forms, "tm-south": forms, "carer-smith": forms, None: forms,
                   "admin-1": {"oversight": forms["oversight"]}}  # oversight is managers' work
    seen = {}
    for who, posts in refused_for.items():
        client = await as_role(console, who)
        token = ""
        if who in ("sw-south", "tm-south", "admin-1"):
            token = await csrf_of(client, console.url("/web/" + (
                "incidents/" + r8 if who == "admin-1" else "open")))
        for action, data in posts.items():
            async with client.post(console.url(f"{page}/{action}"),
                                   data={"csrf": token, **data}, allow_redirects=False) as r:
                seen[(who, action)] = r.status
    assert {k: v for k, v in seen.items() if v != (401 if k[0] in (None, "carer-smith")
                                                    else 403)} == {}
    async with console.services.db.read() as s:
        inc = await s.get(Incident, console.seeded.ids["r8"])
    assert inc.status == "open" and inc.acknowledged_at is None
    assert await events(console.services, "oversight_recorded") == []
    refused = {(e.actor_id, e.details["action"]) for e in
               await events(console.services, "access_refused")}
    assert ("admin-1", "web oversee") in refused and ("tm-south", "web close") in refused
