"""A test world: the example directory, people on the fake Telegram, the real bot running.

Tests read like people using the bot::

    carer = await world.linked("carer-smith")
    await carer.send("/report")
    await carer.click("Allegation")
    ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.app import BotRunner, make_services
from bot.clock import FakeClock
from bot.config import Settings
from bot.delivery.pacing import Pacing
from bot.emulator import FakeBotAPI, FakeUser
from bot.people.directory import apply_directory, parse_directory
from bot.people.invites import create_invite
from bot.services import Services
from tests.driven_time import DrivenTime

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_DIRECTORY = ROOT / "examples" / "directory.toml"

# A stable Telegram user id per directory person.
TG_IDS = {
    "tm-jones": 5001,
    "sw-patel": 5002,
    "sw-khan": 5003,
    "sw-duty": 5004,
    "edt-rota": 5005,
    "ssw-okoro": 5006,
    "lado-1": 5007,
    "carer-smith": 5008,
    "carer-brown": 5009,
    "admin-1": 5010,
}


@dataclass
class World:
    db_url: str
    clock: FakeClock
    fake: FakeBotAPI
    settings: Settings
    directory_text: str | None = None
    services: Services | None = None
    runner: BotRunner | None = None
    users: dict[str, FakeUser] = field(default_factory=dict)
    # The pacing's clock and sleep (tests/driven_time.py), when the test drives them.
    pacing_time: DrivenTime | None = None

    async def start(self, *, load_directory: bool = True) -> None:
        self.services = make_services(self.settings, clock=self.clock)
        if load_directory:
            await self.import_directory(self.directory_text or EXAMPLE_DIRECTORY.read_text())
        await self.start_bot()

    async def start_bot(self) -> None:
        pacing = None
        if self.pacing_time is not None:
            pacing = Pacing.from_settings(self.settings.delivery, clock=self.pacing_time,
                                          sleep=self.pacing_time.sleep)
        self.runner = BotRunner(self.services, pacing=pacing)
        await self.runner.start(poll_interval=0.0)

    async def stop_bot(self) -> None:
        if self.runner is not None:
            await self.runner.stop()
            self.runner = None

    async def stop(self) -> None:
        await self.stop_bot()
        await self.services.db.dispose()

    async def import_directory(self, text: str):
        directory = parse_directory(text)
        async with self.services.db.write() as s:
            return await apply_directory(s, directory, now=self.clock.now(), actor="test",
                                         statutory_settings=self.settings.statutory)

    async def invite(self, person_id: str) -> str:
        async with self.services.db.write() as s:
            code, _ = await create_invite(s, person_id, now=self.clock.now(),
                                          ttl=self.settings.service.invite_ttl.amount)
        return code

    def user(self, person_id: str) -> FakeUser:
        tg = TG_IDS[person_id]
        u = self.fake.user(tg, person_id.split("-")[-1].title(), username=person_id.replace("-", "_"))
        self.users[person_id] = u
        return u

    async def linked(self, person_id: str) -> FakeUser:
        """The person's Telegram account, linked through the real /start <code> flow."""
        u = self.user(person_id)
        code = await self.invite(person_id)
        await u.send(f"/start {code}")
        await u.wait_for("Linked")
        u.mark()
        return u

    async def link_all(self, *person_ids: str) -> list[FakeUser]:
        return [await self.linked(p) for p in person_ids]

    async def settle(self) -> None:
        """Wait until the bot has taken every update and sent everything it owes."""
        await self.fake.wait_idle(timeout=10)
        if self.runner is not None and self.runner.dispatcher is not None:
            await self.runner.dispatcher.drain()
        await self.fake.wait_idle(timeout=10)

    async def report(self, carer: FakeUser, *, child: str | None, category: str, text: str) -> str:
        """Walk the guided report through to Submit; return the incident reference."""
        await carer.send("/report")
        if child is not None:
            await carer.wait_for("Which child")
            await carer.click(child)
        await carer.wait_for("Choose one")
        await carer.click(category)
        await carer.wait_for("write what happened")
        await carer.send(text)
        # Routine/high: the record fields follow (skipped here), then the review.
        # Urgent: submitted at once; the record fields are asked after the receipt.
        step = await carer.wait_for(predicate=lambda m: "When did it happen" in m.content
                                    or "Submitting" in m.content)
        if "Submitting" not in step.content:
            await carer.click("Skip the rest")
            await carer.wait_for("Please check your report")
            await carer.click("Submit")
        receipt = await carer.wait_for("received and recorded")
        import re

        m = re.search(r"INC-\d{4}-\d{6}", receipt.text)
        assert m, receipt.text
        return m.group(0)
