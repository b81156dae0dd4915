"""The web console over real HTTP: signing in with one-time links, sessions, CSRF, headers,
and who sees what on *Needs action* and *Open reports*, for every role."""

from __future__ import annotations

import pytest

from tests import review_seed
from tests.web_helpers import csrf_of, start_console


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


async def test_a_manager_signs_in_sees_needs_action_and_signs_out(console):
    jones = await console.client("tm-jones")
    async with jones.get(console.url("/web/")) as r:
        assert r.status == 200
        assert str(r.url).endswith("/web/needs")
        page = await r.text()
    assert "Needs action" in page and "North Children" in page
    assert console.seeded.refs["r8"] in page
    assert console.seeded.refs["s1"] not in page  # another team's report
    token = await csrf_of(jones, console.url("/web/needs"))
    async with jones.post(console.url("/web/signout"), data={"csrf": token}) as r:
        assert r.status == 200 and "signed out" in await r.text()
    async with jones.get(console.url("/web/needs"), allow_redirects=False) as r:
        assert r.status == 401
