"""The bot under benchmark, in its own process (started by ``bench/_common.BotProcess``).

``--mode fosterbot``: the real bot (``BotRunner``: application, handlers,
update processor, outbox dispatcher, and whatever engines it starts).
``--mode echo``: a bare python-telegram-bot application that only echoes text,
with the same HTTP settings and concurrency.
``--mode floor``: a bare python-telegram-bot application making exactly the Bot API
calls of one report, without a database (``bench/_floor.py``); ``--routes FILE`` is a
JSON object: carer chat id -> [child reference, worker chat id]; ``--paced``: with
python-telegram-bot's own rate limiter; ``--http aiohttp``: on fosterbot's HTTP client.

Prints ``READY`` when polling; answers each ``stats`` line on stdin with JSON
(CPU seconds, current and peak RSS in MB); stops cleanly when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import resource
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


# SQL statements and transactions the bot ran (counted by engine events; fosterbot mode).
_SQL = {"statements": 0, "transactions": 0, "connects": 0}
# FOSTERBOT_BENCH_DBLOG=FILE: every call the bot makes to the database driver, written to FILE
# at exit for bench/_replay.py (bench/_dblog.py; fosterbot mode).
_DBLOG = os.environ.get("FOSTERBOT_BENCH_DBLOG")
# FOSTERBOT_BENCH_SQL_HISTOGRAM=FILE: statements by text, written to FILE at exit.
_HIST: dict[str, int] = {}
# PostgreSQL: the shared send budget's calls, on a connection of its own (not counted above).
_RUNNER: list = []
# CPU seconds spent in the garbage collector, and its collections by generation.
_GC = {"gc_cpu": 0.0, "gc_runs": [0, 0, 0]}
_GC_START = [0.0]


def _gc_timer(phase: str, info: dict) -> None:
    if phase == "start":
        _GC_START[0] = time.process_time()
    else:
        _GC["gc_cpu"] += time.process_time() - _GC_START[0]
        _GC["gc_runs"][info["generation"]] += 1


gc.callbacks.append(_gc_timer)


def _count_sql(engine) -> None:
    from sqlalchemy import event

    histogram = os.environ.get("FOSTERBOT_BENCH_SQL_HISTOGRAM")

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _statement(_conn, _cursor, statement, *_args) -> None:
        _SQL["statements"] += 1
        if histogram:
            key = " ".join(statement.split())[:90]
            _HIST[key] = _HIST.get(key, 0) + 1

    if histogram:
        import atexit

        def _dump() -> None:
            with open(histogram, "w") as f:
                for key, n in sorted(_HIST.items(), key=lambda kv: -kv[1]):
                    f.write(f"{n:7d} {key}\n")

        atexit.register(_dump)

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(*_args) -> None:
        _SQL["transactions"] += 1

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(*_args) -> None:
        _SQL["connects"] += 1


def _stats() -> dict:
    """CPU seconds and memory of this process.

    Peak RSS is /proc's VmHWM, not getrusage's ru_maxrss: on Linux ru_maxrss
    survives execve, so a child would report its (large) parent's peak.
    """
    mem = {"VmRSS:": 0, "VmHWM:": 0}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key = line.split(":", 1)[0] + ":"
            if key in mem:
                mem[key] = int(line.split()[1])
    except OSError:
        mem["VmHWM:"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"cpu": time.process_time(), "rss_mb": mem["VmRSS:"] / 1024,
            "peak_rss_mb": mem["VmHWM:"] / 1024, "threads": _thread_cpu(), **_SQL,
            "gc_cpu": _GC["gc_cpu"], "gc_runs": list(_GC["gc_runs"]),
            **_budget(), **_trips()}


def _trips() -> dict:
    if not os.environ.get("FOSTERBOT_BENCH_PG_TRIPS"):
        return {}
    from bench import _pg_trips

    return {"pg_trips": _pg_trips.counts()}


def _budget() -> dict:
    budget = _RUNNER[0].budget if _RUNNER else None
    if budget is None:
        return {}
    return {"budget_takes": budget.takes, "budget_waits": budget.waits,
            "budget_refusals": budget.refusals}


def _thread_cpu() -> dict[str, float]:
    """CPU seconds per thread name (main thread, database driver threads, ...)."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").glob("*"):
        try:
            comm = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = "main" if task.name == str(os.getpid()) else comm
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return out


async def _echo_app(args):
    from telegram import Update
    from telegram.ext import ApplicationBuilder, MessageHandler, filters
    from telegram.request import HTTPXRequest

    from bot.runtime.update_processor import PerChatUpdateProcessor

    async def echo(update: Update, context) -> None:
        await update.effective_chat.send_message(update.effective_message.text)

    app = (ApplicationBuilder().token(args.token).base_url(args.base_url)
           .base_file_url(args.base_file_url)
           .concurrent_updates(PerChatUpdateProcessor(64))
           .request(HTTPXRequest(connection_pool_size=32))
           .get_updates_request(HTTPXRequest(read_timeout=50))
           .build())
    app.add_handler(MessageHandler(filters.TEXT, echo))
    await app.initialize()
    await app.start()
    await app.updater.start_polling(poll_interval=0.0, timeout=10)

    async def stop():
        await app.updater.stop()
        await app.stop()
        await app.shutdown()

    return stop


async def _floor_app(args):
    from bench._floor import build_floor

    table = json.loads(Path(args.routes).read_text())
    routes = {int(chat): (child, int(worker)) for chat, (child, worker) in table.items()}
    app = build_floor(args.token, args.base_url, args.base_file_url, routes,
                      paced=args.paced, http=args.http)
    await app.initialize()
    await app.start()
    await app.updater.start_polling(poll_interval=0.0, timeout=10)

    async def stop():
        await app.updater.stop()
        await app.stop()
        await app.shutdown()

    return stop


async def _fosterbot(args):
    from bot.app import BotRunner, make_services, quiet_ptb_warnings
    from bot.clock import FakeClock, SystemClock
    from bot.config import parse_settings
    from bot.runtime import gc_tuning

    quiet_ptb_warnings()
    settings = parse_settings({
        "telegram": {"api_base_url": args.base_url, "base_file_url": args.base_file_url},
        "database": {"url": args.db},
        "health": {"port": 0},
        "service": {"duty_phone": "0116 000 0999", "out_of_hours_phone": "0116 000 9999"},
    }).model_copy(update={"token": args.token})
    clock = FakeClock(datetime.fromisoformat(args.fake_time)) if args.fake_time else SystemClock()
    services = make_services(settings, clock=clock)
    _count_sql(services.db.engine)
    if _DBLOG:
        from bench import _dblog

        _dblog.install(services.db.engine)
    runner = BotRunner(services)
    _RUNNER.append(runner)
    await runner.start(poll_interval=0.0, set_commands=False)
    gc_tuning.settle()  # as ``fosterbot run`` does once started

    async def stop():
        await runner.stop()
        await services.db.dispose()

    return stop


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["fosterbot", "echo", "floor"], required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--base-url", required=True)
    p.add_argument("--base-file-url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--fake-time")
    p.add_argument("--routes", help="floor mode: JSON file, carer chat -> [child, worker chat]")
    p.add_argument("--paced", action="store_true",
                   help="floor mode: python-telegram-bot's AIORateLimiter (Telegram's limits)")
    p.add_argument("--http", choices=["httpx", "aiohttp"], default="httpx",
                   help="floor mode: python-telegram-bot's default HTTP client or fosterbot's")
    p.add_argument("--profile", help="write a cProfile of the bot's run to this file")
    p.add_argument("--profile-window", action="store_true",
                   help="profile only between the first and the second `stats` line (a "
                        "benchmark's measured window), not the whole run")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if os.environ.get("FOSTERBOT_BENCH_PG_TRIPS"):
        from bench import _pg_trips

        _pg_trips.install()
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        if not args.profile_window:
            profiler.enable()
    start = {"echo": _echo_app, "floor": _floor_app, "fosterbot": _fosterbot}[args.mode]
    stop = await start(args)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    stats_asked = [0]

    def answer_stats() -> None:  # on the loop's thread, the one profiled
        stats_asked[0] += 1
        if profiler is not None and args.profile_window and stats_asked[0] == 2:
            profiler.disable()
        if _DBLOG and args.mode == "fosterbot":
            from bench import _dblog

            _dblog.mark()
        print(json.dumps(_stats()), flush=True)
        if profiler is not None and args.profile_window and stats_asked[0] == 1:
            profiler.enable()

    def read_stdin() -> None:  # a thread: stdin is a plain pipe
        for line in sys.stdin:
            if line.strip() == "stats":
                loop.call_soon_threadsafe(answer_stats)
        loop.call_soon_threadsafe(done.set)

    print("READY", flush=True)
    threading.Thread(target=read_stdin, daemon=True).start()
    await done.wait()
    await stop()
    if _DBLOG and args.mode == "fosterbot":
        from bench import _dblog

        _dblog.dump(_DBLOG)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)

if __name__ == "__main__":
    asyncio.run(main())
