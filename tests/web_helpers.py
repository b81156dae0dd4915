"""Helpers for the web console's tests: the console served on a real port in front of the
seeded record (``tests/review_seed.py``), and people signed in through real one-time links.

``console`` yields a :class:`Console`: ``await console.client("tm-jones")`` is an aiohttp
client session signed in as that person (through ``/web/signin``), ``console.anonymous()``
one that is not; ``console.url("/web/needs")`` the address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from sqlalchemy import select

from bot.people import web_sessions
from bot.web.server import mount
from storage.models import Person

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


@dataclass
class Console:
    services: object
    base: str
    runner: web.AppRunner
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path

    def anonymous(self) -> aiohttp.ClientSession:
        s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.sessions.append(s)
        return s

    async def link(self, person_id: str) -> str:
        """A fresh sign-in token for ``person_id`` (as ``/web`` issues it)."""
        svc = self.services
        async with svc.db.write() as s:
            person = (await s.execute(select(Person).where(Person.id == person_id))).scalar_one()
            return await web_sessions.issue_link(s, person, now=svc.clock.now(),
                                                 ttl=svc.settings.web.link_ttl.amount)

    async def client(self, person_id: str) -> aiohttp.ClientSession:
        """Signed in as ``person_id`` through the link's form."""
        c = self.anonymous()
        token = await self.link(person_id)
        async with c.post(self.url("/web/signin"), data={"token": token},
                          allow_redirects=False) as r:
            assert r.status == 303, await r.text()
        return c

    async def close(self) -> None:
        for s in self.sessions:
            await s.close()
        await self.runner.cleanup()


async def start_console(services) -> Console:
    root = web.Application()
    mount(root, services)
    runner = web.AppRunner(root, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return Console(services, f"http://127.0.0.1:{port}", runner)


async def csrf_of(client: aiohttp.ClientSession, url: str) -> str:
    async with client.get(url) as r:
        m = CSRF.search(await r.text())
    assert m, "no CSRF token on the page"
    return m.group(1)
