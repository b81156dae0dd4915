"""The bot as a real subprocess (``python -m bot --config … run``) against the fake Bot API.

For the crash and shutdown tests: the fake runs in the test's event loop, the
bot in its own process with its own clock (the system clock), talking to the
fake over HTTP and to the test's database.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

from sqlalchemy import update

from bot.emulator import FakeBotAPI
from bot.people.directory import apply_directory, parse_directory
from storage.db import Database
from storage.models import Person

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:TEST-TOKEN"


def write_config(path: Path, db_url: str, fake: FakeBotAPI, *, delivery: dict | None = None,
                 extra: str = "") -> Path:
    delivery = {"poll_interval_seconds": 0.2, "lease": "2s", **(delivery or {})}
    lines = [
        'log_level = "INFO"',
        "[telegram]",
        f'api_base_url = "{fake.base_url}"',
        f'base_file_url = "{fake.base_file_url}"',
        "request_timeout_seconds = 5.0",
        "[database]",
        f'url = "{db_url}"',
        "[service]",
        'duty_phone = "0116 000 0999"',
        'out_of_hours_phone = "0116 000 9999"',
        "[health]",
        "port = 0",
        "[delivery]",
        *(f"{k} = {json.dumps(v)}" for k, v in delivery.items()),
    ]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


async def load_directory(db_url: str, text: str, now) -> None:
    db = Database(db_url)
    try:
        async with db.write() as s:
            await apply_directory(s, parse_directory(text), now=now, actor="test")
    finally:
        await db.dispose()


async def link(db_url: str, fake: FakeBotAPI, people: dict[str, int], now) -> dict:
    """Link people directly in the database and open their chats on the fake."""
    db = Database(db_url)
    users = {}
    try:
        async with db.write() as s:
            for pid, tg in people.items():
                await s.execute(update(Person).where(Person.id == pid).values(
                    telegram_user_id=tg, telegram_chat_id=tg, linked_at=now))
                u = fake.user(tg, pid)
                u.started = True
                users[pid] = u
    finally:
        await db.dispose()
    return users


class BotProcess:
    def __init__(self, config: Path, fake: FakeBotAPI, log_path: Path) -> None:
        self.config = config
        self.fake = fake
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self, *, ready_timeout: float = 30.0) -> None:
        """Start the bot and wait until it polls the fake for updates."""
        env = {**os.environ, "FOSTERBOT_TELEGRAM_TOKEN": TOKEN, "PYTHONPATH": str(ROOT),
               "PTB_TIMEDELTA": "1"}
        env.pop("FOSTERBOT_WEBHOOK_SECRET", None)
        before = self.fake.counters["deleteWebhook"]
        log = open(self.log_path, "ab")
        log.write(f"\n===== start {self.starts + 1} =====\n".encode())
        log.flush()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", str(self.config), "run",
            cwd=str(ROOT), env=env, stdout=log, stderr=log,
        )
        log.close()
        self.starts += 1
        deadline = time.monotonic() + ready_timeout
        while self.fake.counters["deleteWebhook"] == before:
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"the bot did not start; log:\n{self.log()}")
            await asyncio.sleep(0.02)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)

    async def wait(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def terminate(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await self.wait(timeout)

    async def ensure_stopped(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return "(no log)"
