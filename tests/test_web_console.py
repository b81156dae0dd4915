"""The web console over real HTTP: signing in with one-time links and the Telegram Mini App,
sessions (idle, sign-out, deactivated, relinked), CSRF, security headers, and who sees
what on *Needs action* and *Open reports*, for every role (the seeded record of
``tests/review_seed.py``: North with Jones, Patel, Khan; South with Robin South, Kim Lee)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.config import ConfigError, parse_settings
from bot.people import relinking, web_sessions
from bot.rules.durations import parse_duration
from bot.web import initdata
from storage.models import AuditEvent, Person, WebSession
from tests import review_seed
from tests.conftest import ROOT, TOKEN
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


def _configure(services, **web) -> None:
    """Change [web] settings of the running console (as a restart with them would)."""
    settings = services.settings
    services.settings = settings.model_copy(
        update={"web": settings.web.model_copy(update=web)})


async def _get(client, url) -> tuple[int, str]:
    async with client.get(url, allow_redirects=False) as r:
        return r.status, await r.text()


async def _events(services, *names) -> list[AuditEvent]:
    async with services.db.read() as s:
        return list((await s.execute(select(AuditEvent).where(AuditEvent.event.in_(names))
                                     .order_by(AuditEvent.id))).scalars())


async def test_each_role_sees_what_the_bot_would_show_them(console):
    refs = console.seeded.refs
    north_late, south_late = refs["r8"], refs["s1"]  # both unacknowledged, long overdue
    needs, open_ = console.url("/web/needs"), console.url("/web/open")

    # Team manager: their team only, on both pages.
    jones = await console.client("tm-jones")
    status, page = await _get(jones, needs)
    assert status == 200 and north_late in page and south_late not in page
    assert "North Children&#39;s Team" in page or "North Children's Team" in page
    status, page = await _get(jones, open_)
    assert status == 200 and refs["r2"] in page and refs["r9"] in page and south_late not in page

    # The other team's manager: the other way round.
    south = await console.client("tm-south")
    status, page = await _get(south, needs)
    assert status == 200 and south_late in page and north_late not in page
    status, page = await _get(south, open_)
    assert south_late in page and north_late not in page

    # Administrator: every team.
    admin = await console.client("admin-1")
    status, page = await _get(admin, needs)
    assert status == 200 and north_late in page and south_late in page
    status, page = await _get(admin, open_ + "?state=awaiting")
    assert north_late in page and south_late in page and refs["r1"] not in page  # r1 acknowledged

    # A worker of the team: no needs-action list (it is the managers' /overdue); open
    # reports only those sent to them.
    patel = await console.client("sw-patel")
    status, page = await _get(patel, needs)
    assert status == 403 and north_late not in page
    status, page = await _get(patel, open_)
    assert status == 200 and north_late in page and refs["r2"] not in page  # r2 is Khan's
    assert "Reports sent to you" in page and 'name="team"' not in page

    # A worker of another team: none of North's reports.
    lee = await console.client("sw-south")
    assert (await _get(lee, needs))[0] == 403
    status, page = await _get(lee, open_)
    assert status == 200 and north_late not in page and south_late in page
    status, page = await _get(lee, open_ + "?team=north")  # no team filter for workers
    assert status == 200 and north_late not in page and south_late in page

    # The console's front door leads reviewers to needs action, workers to their reports.
    for client, page_name in ((jones, "needs"), (admin, "needs"), (patel, "open"),
                              (lee, "open")):
        async with client.get(console.url("/web/"), allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == f"/web/{page_name}"

    # Signed out: 401 everywhere, with how to sign in.
    anon = console.anonymous()
    for url in (needs, open_, console.url("/web/")):
        status, page = await _get(anon, url)
        assert status == 401 and "/web" in page and north_late not in page

    # A carer cannot sign in at all.
    carer = console.anonymous()
    token = await console.link("carer-smith")
    async with carer.post(console.url("/web/signin"), data={"token": token},
                          allow_redirects=False) as r:
        assert r.status == 403
    assert (await _get(carer, open_))[0] == 401

    refused = await _events(console.services, "access_refused")
    assert {(e.actor_id, e.details["why"]) for e in refused} >= {
        ("sw-patel", "reviews no team"), ("sw-south", "reviews no team")}


async def test_open_reports_filters_and_pages(console, services):
    refs = console.seeded.refs
    admin = await console.client("admin-1")
    # Category and urgency filters.
    status, page = await _get(admin, console.url("/web/open?category=allegation&state=open"))
    assert status == 200 and refs["r8"] in page and refs["r4"] in page and refs["r2"] not in page
    status, page = await _get(admin, console.url("/web/open?team=south"))
    assert refs["s1"] in page and refs["r8"] not in page
    # The worker filter: what Khan has (B2's reports, acknowledged by him or held by him).
    # Workers are named in URLs by a tag that means something only in this session.
    status, page = await _get(admin, console.url("/web/open"))
    tag = re.search(r'<option value="([0-9a-f]{16})">Omar Khan</option>', page).group(1)
    status, page = await _get(admin, console.url(f"/web/open?worker={tag}"))
    assert refs["r2"] in page and refs["r9"] in page and refs["r8"] not in page
    assert "sw-khan" not in page
    jones = await console.client("tm-jones")
    status, page = await _get(jones, console.url(f"/web/open?worker={tag}"))
    assert refs["r8"] in page  # another session's tag is no filter at all
    # Paging: 10 reports not closed, 5 a page (the smallest page size).
    _configure(services, page_size=5)
    status, first = await _get(admin, console.url("/web/open"))
    assert "Page 1 of 2" in first and "Next page" in first and "Previous page" not in first
    status, second = await _get(admin, console.url("/web/open?page=2"))
    assert "Page 2 of 2" in second and "Previous page" in second
    assert refs["r1"] in first and refs["r1"] not in second  # oldest first
    assert refs["s1"] in second  # the youngest but two
    # Nonsense is ignored, not an error.
    status, page = await _get(admin, console.url("/web/open?page=x&state=nope&urgency=<b>"))
    assert status == 200 and "&lt;b&gt;" not in page and "<b>" not in page


async def test_a_link_works_once_and_for_ten_minutes(console, clock):
    token = await console.link("tm-jones")
    first = console.anonymous()
    async with first.get(console.url(f"/web/signin/{token}")) as r:  # a preview changes nothing
        assert r.status == 200 and "Sign in" in await r.text()
    async with first.post(console.url("/web/signin"), data={"token": token},
                          allow_redirects=False) as r:
        assert r.status == 303
        cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/web" in cookie
    assert "Secure" not in cookie  # the base URL is http here
    second = console.anonymous()
    async with second.post(console.url("/web/signin"), data={"token": token}) as r:
        assert r.status == 403 and "already been used" in await r.text()

    late = await console.link("tm-jones")
    clock.advance(minutes=10, seconds=1)
    async with console.anonymous().post(console.url("/web/signin"), data={"token": late}) as r:
        assert r.status == 403 and "expired" in await r.text()
    async with console.anonymous().post(console.url("/web/signin"), data={"token": "x" * 43}) as r:
        assert r.status == 403
    refused = [e.details["why"] for e in await _events(console.services, "web_signin_refused")]
    assert refused == ["used", "expired", "invalid"]
    # The token itself is never stored.
    async with console.services.db.read() as s:
        hashes = list((await s.execute(select(WebSession.token_hash))).scalars())
    assert hashes and all(len(h) == 64 for h in hashes) and token not in hashes


def _init_data(user_id: int, at, token: str = TOKEN) -> str:
    return initdata.sign({"auth_date": str(int(at.timestamp())), "query_id": "AAH1",
                          "user": json.dumps({"id": user_id, "first_name": "Alex"})}, token)


async def test_the_mini_app_signs_in_only_with_telegrams_fresh_signature(console, clock):
    jones_tg = review_seed.TG_IDS["tm-jones"]
    url = console.url("/web/app")
    async with console.anonymous().get(url) as r:  # the loader page, no inline script
        page = await r.text()
        assert r.status == 200 and "miniapp.js" in page and "<script>" not in page

    good = console.anonymous()
    async with good.post(url, data={"initData": _init_data(jones_tg, clock.now())},
                         allow_redirects=False) as r:
        assert r.status == 303
    assert (await _get(good, console.url("/web/needs")))[0] == 200

    forged = _init_data(jones_tg, clock.now(), token="654321:ANOTHER-BOT")
    tampered = _init_data(review_seed.TG_IDS["carer-smith"], clock.now()).replace(
        str(review_seed.TG_IDS["carer-smith"]), str(jones_tg))
    stale = _init_data(jones_tg, clock.now() - timedelta(hours=1, seconds=1))
    stranger = _init_data(999999, clock.now())
    for data in (forged, tampered, stale, stranger, "hash=abc", ""):
        client = console.anonymous()
        async with client.post(url, data={"initData": data}, allow_redirects=False) as r:
            assert r.status == 403, data
        assert (await _get(client, console.url("/web/needs")))[0] == 401
    why = [e.details["why"] for e in await _events(console.services, "web_signin_refused")]
    assert why == ["forged", "forged", "stale", "account not linked", "forged", "malformed"]
    signed = await _events(console.services, "web_signed_in")
    assert [(e.actor_id, e.details["how"]) for e in signed] == [("tm-jones", "miniapp")]


async def test_csrf_headers_idle_and_sign_out(console, clock):
    jones = await console.client("tm-jones")
    async with jones.get(console.url("/web/needs")) as r:
        headers = r.headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
    assert headers["Cache-Control"] == "no-store" and headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    async with jones.get(console.url("/web/static/console.css")) as r:
        assert r.status == 200 and "no-store" not in r.headers["Cache-Control"]

    # Sign out without the form's token, or with another session's: refused, still signed in.
    other = await console.client("tm-south")
    for data in ({}, {"csrf": await csrf_of(other, console.url("/web/needs"))}):
        async with jones.post(console.url("/web/signout"), data=data) as r:
            assert r.status == 403 and "nothing was done" in await r.text()
    assert (await _get(jones, console.url("/web/needs")))[0] == 200

    south_csrf = await csrf_of(other, console.url("/web/needs"))
    async with other.post(console.url("/web/signout"), data={"csrf": south_csrf}) as r:
        assert r.status == 200 and "signed out" in await r.text()
    assert (await _get(other, console.url("/web/needs")))[0] == 401

    # Idle for longer than [web] session_idle (30 min): signed out.
    clock.advance(minutes=29)
    assert (await _get(jones, console.url("/web/needs")))[0] == 200
    clock.advance(minutes=31)
    assert (await _get(jones, console.url("/web/needs")))[0] == 401
    async with console.services.db.read() as s:
        ended = dict((await s.execute(select(WebSession.person_id, WebSession.ended_reason)))
                     .all())
    assert ended == {"tm-jones": "idle", "tm-south": "signed_out"}


async def test_sessions_end_when_the_person_is_deactivated_or_relinked(console, clock):
    services = console.services
    lado = await console.client("lado-1")  # a worker role: may use the console
    khan = await console.client("sw-khan")
    assert (await _get(lado, console.url("/web/open")))[0] == 200
    text = review_seed.DIRECTORY.replace('id = "lado-1"\nname = "Chris Reid"\n',
                                         'id = "lado-1"\nname = "Chris Reid"\nactive = false\n')
    assert text != review_seed.DIRECTORY
    await review_seed.load_directory(services, text)
    assert (await _get(lado, console.url("/web/open")))[0] == 401

    async with services.db.write() as s:
        person = await s.get(Person, "sw-khan")
        await relinking.link(s, person, telegram_user_id=777001, chat_id=777001,
                             now=clock.now(), invite_id=0, how="replacement code")
    assert (await _get(khan, console.url("/web/open")))[0] == 401
    ended = await _events(services, "web_sessions_ended")
    assert [(e.details["person"], e.details["why"]) for e in ended] == [
        ("lado-1", "deactivated"), ("sw-khan", "relinked")]


async def test_a_session_ends_at_its_absolute_limit_however_busy(console, clock):
    _configure(console.services, session_max=parse_duration("1h"))
    jones = await console.client("tm-jones")
    for _ in range(2):
        clock.advance(minutes=25)
        assert (await _get(jones, console.url("/web/needs")))[0] == 200
    clock.advance(minutes=11)  # 61 minutes after signing in, 11 since the last request
    assert (await _get(jones, console.url("/web/needs")))[0] == 401


async def test_fosterbot_web_serves_the_console_alone(console, tmp_path):
    """``fosterbot web`` against the same database: a link the bot issued signs in there."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[database]\nurl = "{console.services.settings.database.url}"\n'
                   '[web]\nenabled = true\npublic_base_url = "http://127.0.0.1"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOSTERBOT_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(cfg), "web", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path)
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        base = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        client = console.anonymous()
        assert (await _get(client, base + "/web/needs"))[0] == 401
        async with console.services.db.write() as s:  # that process keeps the real time
            token = await web_sessions.issue_link(s, await s.get(Person, "tm-jones"),
                                                  now=datetime.now(UTC), ttl=timedelta(minutes=10))
        async with client.post(base + "/web/signin", data={"token": token}) as r:
            assert r.status == 200 and console.seeded.refs["r8"] in await r.text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0, (await proc.stderr.read()).decode()


def test_web_settings_are_checked_by_key():
    with pytest.raises(ConfigError, match=r"web\.public_base_url: expected an address"):
        parse_settings({"web": {"public_base_url": "console.example.org"}})
    with pytest.raises(ConfigError, match=r"web\.session_idle: use a clock time"):
        parse_settings({"web": {"session_idle": "1 working day"}})
    web = parse_settings({"web": {"public_base_url": "https://c.example.org/"}}).web
    assert web.public_base_url == "https://c.example.org" and web.secure
    assert not web.enabled and web.link_ttl.amount == timedelta(minutes=10)
