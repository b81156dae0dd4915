"""Three bot instances on one PostgreSQL database, behind a round-robin balancer.

Each instance is a real subprocess in webhook mode; the emulator delivers the
updates through a round-robin balancer (``FakeBotAPI.balance``), one chat's
updates one after another as Telegram does, and enforces Telegram's flood
limits. Fifty carers make four reports each (the issue's 200) while some
updates are redelivered at once to a second instance, a follower is killed with
SIGKILL (and started again), then the leader. At the end:

* every report is recorded once, each typed text in exactly one report, each
  carer's reports in the order they were made (per-chat order kept);
* every alert reached its worker, and so did the reminder of the escalation
  step that falls due 8 s after each report (while the leader changes), each
  exactly once — except the documented send-before-record window of the killed
  leader, accepted only when the record shows it (the first copy arrived before
  the kill, the next after it, and the delivery row counts an attempt for each);
* (the wake-up through ``NOTIFY`` of a leader by a follower is proven in
  ``tests/test_cluster.py``, not here: with ``NOTIFY`` switched off this scenario
  still passes, because under a burst the leader is kept awake by the reports it
  takes itself; the median alert latency it used to check is a timing, printed
  as a figure, not asserted);
* no 429 from the emulator: handler replies of every instance and the leader's
  outbox shared one budget (``storage/send_budget.py``);
* a follower took the lead within 5 seconds of the kill, measured from the
  record (its ``sender_instances.started_at``).

The issue's size runs here in about 80 s (load 3.3–4.2 on the shared two-core
machine: 5 s to start, 62 s of reporting at 3.2 reports a second, alert p50 2.9 s;
the limit set for it is 150 s). The reports a second are bounded by Telegram's
global limit (about eight paced requests a report, 29 a second for the whole bot),
not by the database: a report takes its reference and the audit head only as its
last writes (``bot/record/incidents.py`` ``finish_report``), so the burst no longer
queues on the reference's counter row. ``bench/multi_instance.py`` runs the same
scenario and prints the figures (and who waited for which lock); the balancer's
health checks skip the killed instances.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot import audit
from bot.emulator import FakeBotAPI
from storage.db import Database
from storage.models import (
    Delivery,
    EscalationAction,
    Incident,
    IncidentRecipient,
    SenderInstance,
)
from tests.botprocess import ROOT, TOKEN, link, load_directory
from tests.conftest import WORKING_MORNING
from tests.test_crash import Carer

CARERS = 50
REPORTS_EACH = 4
INSTANCES = 3
SECRET = "multi-instance-secret"

pytestmark = pytest.mark.parametrize("backend", ["postgresql"])

# How long after SIGKILL a request the dead leader had already written may still be read
# by the emulator, which shares this loaded process's event loop.
KILL_SLACK = 2.0
LEASE = timedelta(seconds=5)
PATIENCE = 15.0  # seconds a scripted carer waits for the next question (test_crash.Carer)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(path: Path, db_url: str, fake: FakeBotAPI, port: int) -> Path:
    path.write_text("\n".join([
        'log_level = "INFO"',
        "[telegram]",
        'mode = "webhook"',
        f'api_base_url = "{fake.base_url}"',
        f'base_file_url = "{fake.base_file_url}"',
        "request_timeout_seconds = 5.0",
        "[telegram.webhook]",
        'url = "https://balancer.invalid/telegram"',
        'listen = "127.0.0.1"',
        f"port = {port}",
        'path = "/telegram"',
        "[database]",
        f'url = "{db_url}"',
        "[service]",
        'duty_phone = "0116 000 0999"',
        'out_of_hours_phone = "0116 000 9999"',
        "[escalation.routine]",  # a step due while the burst runs and the leader changes
        'steps = [{ after = "8s", notify = "recipients" }]',
        'outcome_within = "10 working days"',
        "[delivery]",
        "poll_interval_seconds = 20.0",  # the safety net; NOTIFY wakes the leader sooner
        f'lease = "{LEASE.seconds}s"',
    ]) + "\n")
    return path


class Instance:
    """One bot process in webhook mode, listening on its own port."""

    def __init__(self, n: int, db_url: str, fake: FakeBotAPI, tmp: Path) -> None:
        self.n = n
        self.port = free_port()
        self.config = write_config(tmp / f"config{n}.toml", db_url, fake, self.port)
        self.log_path = tmp / f"bot{n}.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.cpu_s = 0.0  # CPU seconds of the processes stopped so far (benchmark figures)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/telegram"

    async def start(self, timeout: float = 40.0) -> None:
        env = {**os.environ, "FOSTERBOT_TELEGRAM_TOKEN": TOKEN, "PYTHONPATH": str(ROOT),
               "PTB_TIMEDELTA": "1", "FOSTERBOT_WEBHOOK_SECRET": SECRET}
        with open(self.log_path, "ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "--config", str(self.config), "run",
                cwd=str(ROOT), env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while True:
                if self.proc.returncode is not None or time.monotonic() > deadline:
                    raise AssertionError(f"instance {self.n} did not start:\n{self.log()}")
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as r:
                        await r.read()
                        if r.status in (200, 503):
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self._note_cpu()
        self.proc.send_signal(signal.SIGKILL)

    async def terminate(self) -> int:
        assert self.proc is not None
        self._note_cpu()
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), 30)

    async def ensure_stopped(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self._note_cpu()
            self.proc.kill()
            await self.proc.wait()

    def _note_cpu(self) -> None:
        """Add the running process's CPU time so far (Linux ``/proc``; nothing elsewhere)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            self.cpu_s += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError, AttributeError):
            pass

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"

    def leads(self) -> bool:
        text = self.log()
        return text.rfind(" leads (") > text.rfind("no longer leads")


async def redeliver_now_and_then(fake: FakeBotAPI, stop: asyncio.Event) -> list[int]:
    """Send the newest update again, at once, every 0.3 s (as Telegram does after a
    time-out): the copy may reach another instance while the first is being handled."""
    again = []
    while not stop.is_set():
        await asyncio.sleep(0.3)
        if fake.updates:
            uid = fake.updates[-1]["update_id"]
            if uid not in again:
                again.append(uid)
                await fake.redeliver(uid)
    return again


async def test_three_instances_one_database(db_url, tmp_path):
    figures = await run_scenario(db_url, tmp_path)
    print(f"\nmulti-instance: {figures}")


async def run_scenario(db_url: str, tmp_path: Path, *, carers: int = CARERS,
                       reports_each: int = REPORTS_EACH, instances: int = INSTANCES,
                       kills: bool = True) -> dict:
    """The scenario and its checks (also run by ``bench/multi_instance.py``, which prints
    the figures); returns the figures. The alert latency is a figure, never checked: on a
    loaded machine it moves with the load."""
    CARERS, REPORTS_EACH, INSTANCES = carers, reports_each, instances
    await load_directory(db_url, directory_for(CARERS), WORKING_MORNING)
    fake = FakeBotAPI(token=TOKEN, enforce_rate_limits=True)
    await fake.start()
    people = {f"c{i}": 9200 + i for i in range(CARERS)}
    people |= {f"w{i}": 9300 + i for i in range(CARERS)}
    people |= {"tm": 9400, "duty": 9401}
    users = await link(db_url, fake, people, WORKING_MORNING)
    arrivals: dict[tuple[int, int], float] = {}
    walls: dict[tuple[int, int], float] = {}
    fake.on_message(lambda chat, m: (arrivals.setdefault((chat, m.message_id), time.monotonic()),
                                     walls.setdefault((chat, m.message_id), time.time())))
    bots = [Instance(n, db_url, fake, tmp_path) for n in range(INSTANCES)]
    fake.balance([b.url for b in bots])
    # Patient carers: with three bot processes, the emulator and the carers on a loaded
    # machine, an answer can take longer than 6 s, and a carer who starts again each time
    # only adds to the load.
    carers = [Carer(users[f"c{i}"], i, patience=PATIENCE) for i in range(CARERS)]
    db = Database(db_url)
    try:
        t0 = time.monotonic()
        await asyncio.gather(*(b.start() for b in bots))
        leaders = [b for b in bots if b.leads()]
        assert len(leaders) == 1, [b.log()[-2000:] for b in bots]
        leader = leaders[0]
        follower = next((b for b in bots if b is not leader), None)
        assert follower is not None or not kills, "killing a follower needs two instances"
        started = time.monotonic() - t0
        stop = asyncio.Event()
        again = asyncio.ensure_future(redeliver_now_and_then(fake, stop))
        t1 = time.monotonic()
        work = asyncio.gather(*(_reports(c, REPORTS_EACH) for c in carers))
        cpu_here = time.process_time()
        leader_killed_at, leader_killed_wall = float("inf"), None
        if kills:
            await asyncio.sleep(3)
            follower.kill()  # a follower, mid-burst
            await follower.proc.wait()
            await follower.start()
            await asyncio.sleep(3)
            leader.kill()
            leader_killed_at = time.monotonic()
            leader_killed_wall = datetime.now(UTC)
            await leader.proc.wait()
        await asyncio.wait_for(work, 60 + 3 * CARERS * REPORTS_EACH)
        reporting = time.monotonic() - t1
        stop.set()
        redelivered = await again
        for _ in range(1200):  # let every step fall due and the outbox finish
            async with db.read() as s:
                left = (await s.execute(select(Delivery.id).where(
                    Delivery.status == "pending"))).all()
                steps = (await s.execute(select(EscalationAction.id))).all()
            if not left and len(steps) >= CARERS * REPORTS_EACH:
                break
            await asyncio.sleep(0.05)
        async with db.read() as s:  # before a clean stop removes the registrations
            senders = (await s.execute(select(SenderInstance))).scalars().all()
        for b in bots:
            if b is not leader or not kills:
                assert await b.terminate() == 0, b.log()[-4000:]
        cpu_here = time.process_time() - cpu_here
        async with db.read() as s:
            incidents = (await s.execute(select(Incident).order_by(Incident.id))).scalars().all()
            recipients = (await s.execute(select(IncidentRecipient))).scalars().all()
            deliveries = (await s.execute(select(Delivery))).scalars().all()
            chain = await audit.verify(s)
    finally:
        for b in bots:
            await b.ensure_stopped()
        await db.dispose()
        await fake.stop()
    logs = "\n".join(b.log()[-3000:] for b in bots)

    # The balancer spread the updates, and redelivered copies were answered.
    assert len({url for _u, _c, url, status in fake.webhook_log if status == 200}) == INSTANCES
    assert redelivered and "already handled" in "".join(b.log() for b in bots)
    # Every report once, every typed text in exactly one report, each carer's in order.
    by_ref = {i.reference: i for i in incidents}
    assert len(incidents) == CARERS * REPORTS_EACH
    described = defaultdict(int)
    for i in incidents:
        described[(i.reporter_id, i.description)] += 1
    for c in carers:
        assert len(set(c.receipts)) == REPORTS_EACH
        assert all(by_ref[ref].reporter_id == f"c{c.index}" for ref in c.receipts)
        for text in c.typed:
            assert described[(f"c{c.index}", text)] == 1, (text, c.user.transcript())
        mine = [i.description for i in incidents if i.reporter_id == f"c{c.index}"]
        assert mine == [_text(c.index, n) for n in range(REPORTS_EACH)]
    assert {d.status for d in deliveries if d.kind != "edit"} == {"sent"}, logs
    assert len(steps) == len(incidents)  # one step each, run once (by whichever leader)
    # Each alert and each escalation step's reminder once, but for the killed leader's
    # send-before-record window, proven.
    row_of = {(d.chat_id, d.incident_id, d.kind): d for d in deliveries}
    duplicates, latencies, stages = 0, [], []
    for r in recipients:
        inc = next(i for i in incidents if i.id == r.incident_id)
        chat = people[r.person_id]
        mine = [m for m in users[r.person_id].messages if inc.reference in (m.text or "")]
        holder = r.person_id.startswith("w")  # the step reminds holders, not copies
        for kind in ("alert", "reminder") if holder else ("alert",):
            copies = [m for m in mine if ("Reminder" in m.text) == (kind == "reminder")]
            assert copies, f"no {kind} of {inc.reference} reached {r.person_id}"
            if kind == "alert":
                latencies.append(walls[(chat, copies[0].message_id)]
                                 - inc.reported_at.timestamp())
                row = row_of[(chat, inc.id, kind)]
                # Where the time went (the claim time is the last lease taken, 5 s before
                # it ran out): the report's transaction, waiting to be claimed, then paced.
                claimed = row.locked_until - LEASE if row.locked_until else row.sent_at
                stages.append(((row.created_at - inc.reported_at).total_seconds(),
                               (claimed - row.created_at).total_seconds(),
                               (row.sent_at - claimed).total_seconds()))
            if len(copies) > 1:
                times = [arrivals[(chat, m.message_id)] for m in copies]
                # The first copy left the killed leader: it reaches the emulator (in this
                # process, whose loop may be busy) at most a moment after the kill; the
                # second comes from the new leader, after the kill.
                assert len(copies) == 2 and times[0] <= leader_killed_at + KILL_SLACK \
                    and leader_killed_at < times[1] and times[0] < times[1] \
                    and row_of[(chat, inc.id, kind)].attempts >= 2, \
                    (inc.reference, kind, times, leader_killed_at)
                duplicates += 1
    latencies.sort()
    paced = sum(n for name, n in fake.counters.items()
                if name.startswith(("send", "editMessage", "copyMessage", "forwardMessage")))
    median = latencies[len(latencies) // 2]
    # Zero 429s: one budget for every send of every instance.
    assert fake.counters["429"] == 0, fake.counters
    takeover = None
    if kills:  # the new leader took over within 5 s of the kill, by the record
        new_leader = [s for s in senders if s.started_at > leader_killed_wall]
        assert len(new_leader) == 1, senders
        takeover = (new_leader[0].started_at - leader_killed_wall).total_seconds()
        assert takeover <= 5.0, takeover
    assert chain.ok, chain.message
    return {
        "instances": INSTANCES, "carers": CARERS, "reports": len(incidents),
        "started_s": round(started, 1), "reporting_s": round(reporting, 1),
        "reports_per_s": round(len(incidents) / reporting, 2),
        "redelivered": len(redelivered),
        "redeliveries_skipped": sum(b.log().count("already handled") for b in bots),
        "webhook_failures": fake.counters["webhook_failures"],
        "duplicates_in_window": duplicates,
        "takeover_s": None if takeover is None else round(takeover, 2),
        "alert_latency_p50_s": round(median, 3),
        "alert_latency_p99_s": round(latencies[int(len(latencies) * 0.99)], 3),
        "sends": fake.counters["sendMessage"], "429s": fake.counters["429"],
        # Telegram's global limit (29/s configured) is drawn on by sends and edits alike.
        "messages_and_edits_per_s": round(paced / reporting, 1),
        "bot_cpu_s": round(sum(b.cpu_s for b in bots), 1),
        "bot_cpu_ms_per_report": round(1000 * sum(b.cpu_s for b in bots) / len(incidents)),
        "emulator_and_carers_cpu_s": round(cpu_here, 1),
        "alert_stages_p50_s (report committed, claimed, sent)": tuple(
            round(sorted(st[k] for st in stages)[len(stages) // 2], 3) for k in range(3)),
    }


def _text(carer: int, n: int) -> str:
    return f"Carer {carer} report {n}: something happened."


async def _reports(carer: Carer, count: int) -> None:
    for n in range(count):
        await carer.report(_text(carer.index, n))


def directory_for(carers: int) -> str:
    """A team with a manager and a duty worker; each carer with one child, whose worker is
    their own (the same shape as the crash test's)."""
    parts = ['[[teams]]\nid = "t"\nname = "Team"\nmanager = "tm"\nduty = "duty"\n',
             '[[people]]\nid = "tm"\nname = "Manager"\nroles = ["team_manager"]\nteam = "t"\n',
             '[[people]]\nid = "duty"\nname = "Duty"\nroles = ["duty"]\nteam = "t"\n']
    for i in range(carers):
        parts.append(f'[[people]]\nid = "w{i}"\nname = "Worker {i}"\nroles = ["social_worker"]\n'
                     'team = "t"\n')
        parts.append(f'[[people]]\nid = "c{i}"\nname = "Carer {i}"\nroles = ["carer"]\n')
        parts.append(f'[[children]]\nref = "K{i}"\nteam = "t"\nallocated_social_worker = "w{i}"\n')
        parts.append(f'[[placements]]\nchild = "K{i}"\ncarers = ["c{i}"]\nfrom = 2000-01-01\n')
    return "\n".join(parts)


