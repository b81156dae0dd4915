"""``fosterbot demo``: the whole bot on a scripted day, with no Telegram and no network.

What runs is the real thing: :class:`bot.app.BotRunner` (the same PTB
application, handlers, outbox dispatcher and escalation engine) talking
over HTTP on 127.0.0.1 to the built-in Bot API emulator (:mod:`bot.emulator`),
on a SQLite database migrated with Alembic in a temporary directory. The people
of the sample directory (``bot/data/demo_directory.toml``) link their Telegram
accounts through the real ``/start <code>`` flow, then use the bot by typing
and pressing buttons, as the tests do. A :class:`~bot.clock.FakeClock` stands
in for the day: the script moves it on between scenes and every line shows the
simulated time.

The script is the list :data:`SCENES`; every scene plays, and one whose
expectation fails stops the demo. To add a scene: write ``async def scene_x(demo: Demo)`` using the helpers on :class:`Demo`
(``at``, ``later``, ``types``, ``taps``, ``expect``, ``settle``, ``narrate``), and
put it in :data:`SCENES` at its place in the day.

Decisions:

* The demo ignores ``config.toml``: it runs on the built-in defaults plus its
  own database, emulator and phone numbers, so it behaves the same everywhere.
* The day is fixed (Wednesday 25 November 2026, Europe/London) so the output
  is reproducible; nothing depends on today's date.
* ``--keep DIR`` keeps ``fosterbot-demo.sqlite``, ``transcript.txt`` (every
  line, even with ``--quiet``) and a ``config.toml`` pointing at that
  database, so ``fosterbot --config DIR/config.toml audit verify`` works.
* Failure is loud: when something the script expects does not happen (a
  message never arrives), the demo stops with the person's chat transcript
  and exit code 1.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
import tempfile
import textwrap
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot import audit
from bot.app import BotRunner, make_services
from bot.clock import FakeClock
from bot.config import Settings, parse_settings
from bot.emulator import BotMessage, FakeBotAPI, FakeUser
from bot.people.directory import apply_directory, parse_directory
from bot.people.invites import create_invite
from bot.review import timeline
from bot.services import Services
from storage import migrate
from storage.models import Incident, Person, PersonRole

LONDON = ZoneInfo("Europe/London")
DAY = datetime(2026, 11, 25, tzinfo=LONDON)  # a Wednesday, GMT
DEMO_TOKEN = "424242:DEMO-TOKEN-NOT-A-SECRET"
DB_NAME = "fosterbot-demo.sqlite"
TRANSCRIPT_NAME = "transcript.txt"
TELEGRAM_ID_BASE = 7001

# How each person is introduced in the chat lines (their main role in the story).
ROLE_TAGS = (
    ("edt", "out of hours"),
    ("team_manager", "team manager"),
    ("duty", "duty social worker"),
    ("social_worker", "social worker"),
    ("supervising_social_worker", "supervising social worker"),
    ("carer", "carer"),
)

TO_BOT = "⟶"
FROM_BOT = "⟵ bot:"


class DemoError(RuntimeError):
    """Something the script expected did not happen (or the demo cannot start)."""


@dataclass
class DemoOptions:
    keep: Path | None = None  # keep the database and transcript here
    pause: float = 1.0  # pause multiplier: 0 = no pauses (--fast), 0.5 = twice as fast
    quiet: bool = False  # print scene titles, timelines and the verdict, not the chats
    out: TextIO = field(default_factory=lambda: sys.stdout)
    width: int | None = None  # default: the terminal's width, 60..110


@dataclass
class Actor:
    """A person of the sample directory and their simulated Telegram account."""

    person_id: str
    name: str
    tag: str
    user: FakeUser

    @property
    def label(self) -> str:
        return f"{self.name} ({self.tag})"


@dataclass
class Scene:
    key: str
    title: str
    play: Callable[["Demo"], Awaitable[None]]


# ----------------------------------------------------------------------------- printing


class Printer:
    """Writes the transcript: wrapped lines, every line also kept for ``--keep``."""

    def __init__(self, out: TextIO, *, quiet: bool, width: int | None) -> None:
        self.out = out
        self.quiet = quiet
        cols = width or shutil.get_terminal_size((100, 24)).columns
        self.width = max(60, min(cols, 110))
        self.lines: list[str] = []

    def line(self, text: str = "", *, chat: bool = False) -> None:
        self.lines.append(text)
        if not (chat and self.quiet):
            print(text, file=self.out, flush=True)

    def block(self, prefix: str, body: str, *, indent: int = 6, chat: bool = False) -> None:
        """``prefix`` then ``body`` wrapped; continuation lines indented; blank lines dropped."""
        first = True
        for para in body.splitlines() or [""]:
            if not para.strip() and not first:
                continue
            lead = prefix if first else " " * indent
            wrapped = textwrap.wrap(
                para, width=self.width, initial_indent=lead, subsequent_indent=" " * indent,
                break_on_hyphens=False, replace_whitespace=False,
            ) or [lead.rstrip()]
            for w in wrapped:
                self.line(w, chat=chat)
            first = False


def _buttons_line(message: BotMessage, limit: int = 6) -> str | None:
    labels = message.button_labels
    if not labels:
        return None
    shown = [f"[{label}]" for label in labels[:limit]]
    if len(labels) > limit:
        shown.append(f"… and {len(labels) - limit} more")
    return "buttons: " + " ".join(shown)


# ----------------------------------------------------------------------------- the demo


class Demo:
    """One run: the emulator, the bot, the cast, the clock and the printer."""

    def __init__(self, options: DemoOptions) -> None:
        self.options = options
        self.printer = Printer(options.out, quiet=options.quiet, width=options.width)
        self.clock = FakeClock(DAY.replace(hour=8, minute=55))
        self.fake: FakeBotAPI | None = None
        self.services: Any = None
        self.runner: BotRunner | None = None
        self.cast: dict[str, Actor] = {}
        self.by_chat: dict[int, Actor] = {}
        self.refs: dict[str, str] = {}  # scene key -> incident reference
        self.message_ids: dict[str, int] = {}  # e.g. "routine:alert" -> Telegram message id
        self.brief = False  # while linking: show only the first line of bot messages
        self._seen: dict[tuple[int, int], tuple[str, bool]] = {}  # text, had buttons

    # ------------------------------------------------------------------ narration
    def stamp(self) -> str:
        return f"{self.clock.now().astimezone(LONDON):%H:%M %a}"

    def narrate(self, text: str) -> None:
        self.printer.block("  » ", text, indent=4, chat=True)

    def heading(self, text: str) -> None:
        self.printer.line()
        self.printer.line(f"━━ {text} " + "━" * max(3, self.printer.width - len(text) - 4))

    async def pause(self, beats: float = 1.0) -> None:
        if self.options.pause > 0:
            await asyncio.sleep(0.6 * beats * self.options.pause)

    # ------------------------------------------------------------------ the clock
    async def at(self, hour: int, minute: int = 0, *, day: int = 0) -> None:
        """Move the simulated clock forward to hh:mm (``day`` days after the demo's day)."""
        target = (DAY + timedelta(days=day)).replace(hour=hour, minute=minute)
        if target < self.clock.now():
            raise DemoError(f"the script moved the clock backwards to {target:%H:%M}")
        self.clock.set(target)
        self.printer.line(f"  ⏱  {target:%H:%M %A %d %B %Y}", chat=False)
        await self.pause()

    async def later(self, minutes: float) -> None:
        """Let a few simulated minutes pass (no line printed: the stamps show it)."""
        self.clock.advance(minutes=minutes)

    # ------------------------------------------------------------------ chats
    def _on_bot_message(self, chat_id: int, message: BotMessage) -> None:
        actor = self.by_chat.get(chat_id)
        who = actor.label if actor else f"chat {chat_id}"
        key = (chat_id, message.message_id)
        text = message.content
        seen = self._seen.get(key)
        before, had_buttons = seen if seen is not None else (None, False)
        self._seen[key] = (text, bool(message.button_labels))
        if before is None:
            body = text.split("\n", 1)[0] + (" …" if "\n" in text else "") if self.brief else text
            prefix = f"[{self.stamp()}] {who} {FROM_BOT} "
        else:
            old = set(before.splitlines())
            new = [ln for ln in text.splitlines() if ln not in old]
            # An alert gaining a status line shows only what changed; a conversation
            # step that replaced the whole message shows it all.
            body = "\n".join(new) if new and len(new) * 2 < len(text.splitlines()) else text
            prefix = f"[{self.stamp()}] {who} {FROM_BOT} (edits #{message.message_id}) "
            if not new:
                body = "(same text)"
        self.printer.block(prefix, body, chat=True)
        if not self.brief:
            buttons = _buttons_line(message)
            if buttons:
                self.printer.block(" " * 6, buttons, indent=8, chat=True)
            elif had_buttons:
                self.printer.block(" " * 6, "(buttons removed)", chat=True)

    def who(self, person_id: str) -> Actor:
        return self.cast[person_id]

    async def types(self, actor: Actor, text: str, *, shown: str | None = None) -> None:
        self.printer.block(f"[{self.stamp()}] {actor.label} {TO_BOT} ", shown or text, chat=True)
        actor.user.mark()
        await actor.user.send(text)
        await self.pause(0.6)

    async def taps(self, actor: Actor, label: str, *, message_id: int | None = None,
                   answer: bool = True) -> str | None:
        """Press a button; print the bot's pop-up answer if it has text. Returns it."""
        self.printer.line(f"[{self.stamp()}] {actor.label} {TO_BOT} taps [{label}]", chat=True)
        try:
            await actor.user.click(label, message_id=message_id)
        except AssertionError as exc:
            raise DemoError(str(exc)) from None
        text = None
        if answer:
            try:
                got = await actor.user.wait_for_answer(timeout=10)
            except AssertionError as exc:
                raise DemoError(str(exc)) from None
            text = got.text
            if text:
                self.printer.block(f"[{self.stamp()}] {actor.label} {FROM_BOT} (pop-up) ", text,
                                   chat=True)
        await self.pause(0.6)
        return text

    async def expect(self, actor: Actor, text: str, *, timeout: float = 10) -> BotMessage:
        """Wait until ``actor`` sees a bot message containing ``text`` (since their last action)."""
        try:
            return await actor.user.wait_for(text, timeout=timeout)
        except AssertionError as exc:
            raise DemoError(f"{actor.label} never saw {text!r}.\n{exc}") from None

    async def settle(self) -> None:
        """Wait until every update is handled and everything owed is sent."""
        assert self.fake is not None and self.runner is not None
        for _ in range(3):
            await self.fake.wait_idle(timeout=15)
            await self._bot_idle()
            if self.runner.dispatcher is not None:
                await self.runner.dispatcher.drain()
        await self.fake.wait_idle(timeout=15)

    async def _bot_idle(self, timeout: float = 15) -> None:
        app = self.runner.app if self.runner else None
        if app is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        calm = 0
        while calm < 2:
            busy = (not app.update_queue.empty()
                    or app.update_processor.current_concurrent_updates > 0)
            calm = 0 if busy else calm + 1
            if loop.time() > deadline:
                raise DemoError("the bot did not finish handling its updates")
            await asyncio.sleep(0.01)

    async def mark_all(self) -> None:
        for actor in self.cast.values():
            actor.user.mark()

    # ------------------------------------------------------------------ set-up
    def settings(self, db_url: str) -> Settings:
        assert self.fake is not None
        return parse_settings({
            "telegram": {"api_base_url": self.fake.base_url,
                         "base_file_url": self.fake.base_file_url,
                         "bot_username": self.fake.bot_username},
            "database": {"url": db_url},
            "service": {"name": "Demo Fostering Service", "duty_phone": "0116 000 0999",
                        "out_of_hours_phone": "0116 000 9999"},
            "delivery": {"poll_interval_seconds": 0.2},
            "health": {"port": 0},  # no network: the demo serves nothing
            "log_level": "WARNING",
        }, source="the demo's settings").model_copy(update={"token": DEMO_TOKEN})

    async def load_directory(self) -> None:
        text = resources.files("bot").joinpath("data/demo_directory.toml").read_text("utf-8")
        directory = parse_directory(text, source="bot/data/demo_directory.toml")
        async with self.services.db.write() as s:
            await apply_directory(s, directory, now=self.clock.now(), actor="demo",
                                  source="bot/data/demo_directory.toml")
        async with self.services.db.read() as s:
            people = list((await s.execute(select(Person).order_by(Person.created_at))).scalars())
            roles: dict[str, set[str]] = {}
            for r in (await s.execute(select(PersonRole))).scalars():
                roles.setdefault(r.person_id, set()).add(r.role)
        order = [p.id for p in directory.people]
        people.sort(key=lambda p: order.index(p.id) if p.id in order else len(order))
        for i, p in enumerate(people):
            tag = next((t for role, t in ROLE_TAGS if role in roles.get(p.id, ())), "person")
            first, _, last = p.name.partition(" ")
            user = self.fake.user(TELEGRAM_ID_BASE + i, first, last_name=last or None)
            actor = Actor(p.id, p.name, tag, user)
            self.cast[p.id] = actor
            self.by_chat[user.chat_id] = actor

    async def link(self, actor: Actor) -> None:
        """An admin issues an invite; the person opens the deep link (``/start <code>``)."""
        async with self.services.db.write() as s:
            code, _ = await create_invite(s, actor.person_id, now=self.clock.now(),
                                          ttl=self.services.settings.service.invite_ttl.amount,
                                          actor="demo")
        await self.types(actor, f"/start {code}", shown="/start <invite code>")
        await self.expect(actor, "Linked")

    # ------------------------------------------------------------------ run
    async def run(self) -> int:
        keep = self.options.keep
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            if (keep / DB_NAME).exists():
                raise DemoError(f"{keep / DB_NAME} already exists: remove it or choose another "
                                "--keep directory")
        with tempfile.TemporaryDirectory(prefix="fosterbot-demo-") as tmp:
            workdir = keep if keep is not None else Path(tmp)
            db_path = workdir / DB_NAME
            db_url = f"sqlite+aiosqlite:///{db_path}"
            ok = False
            try:
                ok = await self._run(db_url)
            finally:
                if keep is not None:
                    self._keep(keep, db_path)
        return 0 if ok else 1

    async def _run(self, db_url: str) -> bool:
        p = self.printer
        p.line("fosterbot demo: the real bot against a built-in Telegram emulator (no network,")
        p.line("no token), on a scripted day with a simulated clock. Nothing real is sent.")
        await migrate.upgrade(db_url)
        async with FakeBotAPI(token=DEMO_TOKEN, bot_username="fosterbot_demo_bot") as fake:
            self.fake = fake
            self.services = make_services(self.settings(db_url), clock=self.clock)
            try:
                await self.load_directory()
                fake.on_message(self._on_bot_message)
                self.runner = BotRunner(self.services)
                await self.runner.start(poll_interval=0.0)
                try:
                    for scene in SCENES:
                        await self.play(scene)
                    await self.settle()
                finally:
                    await self.runner.stop()
                await self.timelines()
                return await self.verify()
            finally:
                await self.services.db.dispose()

    async def play(self, scene: Scene) -> None:
        self.heading(scene.title)
        await self.mark_all()
        await scene.play(self)
        await self.settle()
        await self.pause(2)

    def _keep(self, keep: Path, db_path: Path) -> None:
        (keep / TRANSCRIPT_NAME).write_text("\n".join(self.printer.lines) + "\n", encoding="utf-8")
        if db_path.exists():
            (keep / "config.toml").write_text(
                "# Written by `fosterbot demo --keep`: the demo's database.\n"
                f'[database]\nurl = "sqlite+aiosqlite:///{db_path.resolve().as_posix()}"\n',
                encoding="utf-8",
            )
        print(f"\nKept in {keep}: {DB_NAME}, {TRANSCRIPT_NAME}, config.toml "
              f"(try: fosterbot --config {keep / 'config.toml'} audit verify)",
              file=self.options.out, flush=True)

    # ------------------------------------------------------------------ the record
    async def timelines(self) -> None:
        self.heading("The record: incident timelines (from the audit log)")
        async with self.services.db.read() as s:
            incidents = list((await s.execute(select(Incident).order_by(Incident.id))).scalars())
            for inc in incidents:
                cat = self.services.settings.category(inc.category)
                self.printer.line()
                self.printer.line(f"  {inc.reference} — child {inc.child_ref}, "
                                  f"{cat.label if cat else inc.category} ({inc.urgency}): "
                                  f"{inc.status}")
                for line in await incident_timeline(s, self.services, inc):
                    self.printer.block("    ", line, indent=15)

    async def verify(self) -> bool:
        async with self.services.db.read() as s:
            result = await audit.verify(s)
        self.heading("fosterbot audit verify")
        self.printer.line(f"  {result.message}")
        if not result.ok:
            self.printer.line("  The audit chain did not verify: this is a bug, please report it.")
        return result.ok


# ----------------------------------------------------------------------------- timelines


async def incident_timeline(session: Any, services: Services, incident: Incident) -> list[str]:
    """The incident's timeline as the managers' ``/log`` shows it (bot.review.timeline)."""

    tl = await timeline.build(session, services, incident)
    lines = [f"{e.at.astimezone(services.tz):%H:%M %a}  {e.text}" for e in tl.entries]
    return lines + tl.pending


# ----------------------------------------------------------------------------- scenes


async def scene_morning(demo: Demo) -> None:
    demo.narrate("Every person in the sample directory opens the invite link an administrator "
                 "gave them (fosterbot invite PERSON_ID). Only linked people get anything from "
                 "the bot.")
    demo.brief = True
    try:
        for actor in demo.cast.values():
            await demo.link(actor)
    finally:
        demo.brief = False
    await demo.settle()


async def scene_routine(demo: Demo) -> None:
    sam, priya = demo.who("carer-smith"), demo.who("sw-patel")
    await demo.at(9, 12)
    demo.narrate("Sam Smith, a foster carer, has had a call from A1's school.")
    await demo.types(sam, "/report")
    await demo.expect(sam, "Which child")
    await demo.later(1)
    await demo.taps(sam, "A1")
    await demo.expect(sam, "Choose one")
    await demo.taps(sam, "Education / school incident")
    await demo.expect(sam, "write what happened")
    await demo.later(2)
    await demo.types(sam, "School rang at 9am: A1 had an argument with another pupil in "
                          "registration and was kept in at break. No one was hurt. A1 says "
                          "\"he started it\". I'll talk to the teacher at pick-up.")
    await demo.expect(sam, "When did it happen")
    demo.narrate("Then the bot asks, one at a time and each skippable, what a good record "
                 "holds: when, where, who was there, the child's words, action taken, the "
                 "child's views.")
    await demo.types(sam, "today 8:50")
    await demo.expect(sam, "Where did it happen")
    await demo.types(sam, "At school, in registration")
    await demo.expect(sam, "Who was present")
    await demo.taps(sam, "Skip the rest")
    await demo.expect(sam, "Please check your report")
    await demo.taps(sam, "Submit")
    receipt = await demo.expect(sam, "received and recorded")
    demo.refs["routine"] = _reference(receipt.content)
    demo.message_ids["routine:receipt"] = receipt.message_id
    await demo.settle()
    alert = await demo.expect(priya, demo.refs["routine"])
    demo.message_ids["routine:alert"] = alert.message_id
    await demo.pause()
    await demo.at(9, 20)
    demo.narrate("Priya Patel, A1's social worker, reads it between meetings.")
    await demo.taps(priya, "Acknowledge", message_id=alert.message_id)
    await demo.expect(sam, "was acknowledged by Priya Patel")


async def scene_escalation(demo: Demo) -> None:
    """Urgent, nobody acknowledges: reminder, escalation to the manager, ack on behalf.

    The default urgent ladder reminds at 15 min and escalates to the team manager
    at 30 min; the engine (``runner.engine``) runs what is due when the clock has moved.
    """
    sam, priya, alex = demo.who("carer-smith"), demo.who("sw-patel"), demo.who("tm-jones")
    assert demo.runner is not None and demo.runner.engine is not None
    engine = demo.runner.engine
    await demo.at(11, 0)
    demo.narrate("C3 tells Sam something worrying. Priya is in a long meeting with her phone "
                 "off, and the duty worker is out on a visit.")
    await demo.types(sam, "/report")
    await demo.expect(sam, "Which child")
    await demo.taps(sam, "C3")
    await demo.expect(sam, "Choose one")
    await demo.taps(sam, "Self-harm or suicidal thoughts")
    await demo.expect(sam, "write what happened")
    await demo.types(sam, "C3 showed me cuts on her forearm this morning, not deep, cleaned and "
                          "dressed. She said \"I just wanted it to stop\". She is with me now.")
    receipt = await demo.expect(sam, "received and recorded")
    ref = demo.refs["escalation"] = _reference(receipt.content)
    await demo.expect(sam, "a few more questions")
    await demo.taps(sam, "Stop here")
    await demo.settle()
    await demo.expect(priya, ref)
    for minutes, who in ((15, priya), (30, alex)):
        await demo.at(11, minutes)
        who.user.mark()  # only what arrives from now on counts
        await engine.run_due()
        await demo.settle()
        await demo.expect(who, ref)
    demo.narrate("Alex Jones, the team manager, phones Sam, then acknowledges on Priya's behalf.")
    await demo.taps(alex, "Acknowledge", message_id=alex.user.last.message_id)
    await demo.expect(sam, "was acknowledged by")


async def scene_followup(demo: Demo) -> None:
    """The carer adds more to the morning's report; the worker replies in its thread."""
    sam, priya = demo.who("carer-smith"), demo.who("sw-patel")
    ref = demo.refs["routine"]
    await demo.at(15, 30)
    demo.narrate("At pick-up the teacher tells Sam more; Sam adds it to the morning's report.")
    await demo.taps(sam, "Add more", message_id=demo.message_ids["routine:receipt"])
    await demo.expect(sam, "Send what you want to add")
    await demo.types(sam, "Teacher says the other pupil has been teasing A1 about being in care.")
    await demo.expect(sam, "Added to")
    await demo.taps(sam, "Done")
    followup = await demo.expect(priya, "Follow-up on")
    await demo.settle()
    await demo.at(15, 45)
    await demo.taps(priya, "Reply to carer", message_id=followup.message_id)
    await demo.expect(priya, "Write your reply")
    await demo.types(priya, "Thanks Sam. I'll speak to the school's designated teacher "
                            "tomorrow morning.")
    await demo.expect(sam, "replied about your report " + ref)


async def scene_outcome(demo: Demo) -> None:
    """The worker records an outcome and closes the report; the carer is told."""
    sam, priya = demo.who("carer-smith"), demo.who("sw-patel")
    await demo.at(16, 40, day=1)
    demo.narrate("Thursday afternoon: Priya has spoken to the school; she records the outcome "
                 "and closes the report.")
    await demo.taps(priya, "Close with outcome", message_id=demo.message_ids["routine:alert"])
    await demo.expect(priya, "what was the outcome")
    await demo.taps(priya, "Advice given")
    await demo.expect(priya, "type a short note")
    await demo.types(priya, "Spoke to the designated teacher: the school will address the "
                            "teasing and check in with A1 weekly. Advice given to Sam.")
    await demo.expect(sam, "was closed by Priya Patel")


async def scene_out_of_hours(demo: Demo) -> None:
    jo, edt = demo.who("carer-brown"), demo.who("edt-rota")
    await demo.at(22, 0, day=1)
    demo.narrate("Out of hours. B2 was due home from a friend's at 21:00 and is not answering "
                 "the phone. Jo Brown has called the police and now reports it.")
    await demo.types(jo, "/report")
    await demo.expect(jo, "Choose one")
    await demo.taps(jo, "Child missing or absent without permission")
    await demo.expect(jo, "write what happened")
    await demo.types(jo, "B2 not home, due back 21:00 from a friend's. Phone off. Friend's mum "
                         "says B2 left at 20:30. Police called 21:55, log 1234.")
    demo.narrate("Urgent: the report goes out at once; the rest of the record is asked "
                 "afterwards, so the alert is never held up.")
    receipt = await demo.expect(jo, "received and recorded")
    ref = demo.refs["out_of_hours"] = _reference(receipt.content)
    await demo.settle()
    alert = await demo.expect(edt, ref)
    if "Emergency Duty Team (out of hours)" not in alert.content:
        raise DemoError(f"the EDT's alert does not say why they have it:\n{alert.content}")
    await demo.at(22, 4, day=1)
    demo.narrate("The Emergency Duty Team picks it up within minutes.")
    await demo.taps(edt, "Acknowledge", message_id=alert.message_id)
    await demo.expect(jo, "was acknowledged by Emergency Duty Team")
    demo.narrate("Jo is busy phoning round; the record's questions can wait.")
    await demo.taps(jo, "Stop here")


def _reference(text: str) -> str:

    m = re.search(r"INC-\d{4}-\d{6}", text)
    if not m:
        raise DemoError(f"no incident reference in: {text!r}")
    return m.group(0)


# The day, in order. Add scenes here (see the module docstring).
SCENES: list[Scene] = [
    Scene("morning", "Wednesday morning: everyone links their Telegram account", scene_morning),
    Scene("routine", "A routine report, acknowledged promptly", scene_routine),
    Scene("escalation", "An urgent report nobody acknowledges: reminder, escalation, "
                        "acknowledgement on behalf", scene_escalation),
    Scene("followup", "A follow-up from the carer and a reply from the worker", scene_followup),
    Scene("outcome", "An outcome recorded and the report closed", scene_outcome),
    Scene("out_of_hours", "Thursday 22:00: an urgent report out of hours goes to the Emergency "
                          "Duty Team",
          scene_out_of_hours),
]


async def run_demo(options: DemoOptions | None = None) -> int:
    """Play the demo; 0 when every scene did what it should and the audit verifies."""
    options = options or DemoOptions()
    demo = Demo(options)
    try:
        return await demo.run()
    except DemoError as exc:
        print(f"\ndemo failed: {exc}", file=options.out, flush=True)
        return 1
