"""Benchmark: several bot instances on one PostgreSQL database, at the issue's full size.

The scenario of ``tests/test_multi_instance.py`` (instances as separate processes in
webhook mode behind the emulator's round-robin balancer, Telegram's flood limits
enforced, updates redelivered at once to another instance, a follower then the
leader killed with SIGKILL) at 50 carers making 200 reports, with every check
of the test, printing the figures: time to start, reports per second, webhook
retries, redeliveries skipped, duplicates in the documented window, the leader
takeover (from ``sender_instances``), the emulator's 429 count, the messages and
edits a second (Telegram's global limit, 29/s configured, is drawn on by both)
and the CPU the bot processes spent per report; and who waited for which lock
(``bench/pg_waits.py``: ``pg_stat_activity`` of the bench's database every 0.1 s).

    python bench/multi_instance.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres \\
        [--carers 50] [--reports-each 4] [--instances 3] [--no-kills]

Scale-out: ``--instances 1 --no-kills`` and ``--instances 2 --no-kills``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PTB_TIMEDELTA", "1")

from bench._common import machine, scratch_database  # noqa: E402
from bench.pg_waits import sampling  # noqa: E402
from tests.test_multi_instance import run_scenario  # noqa: E402


async def main(args: argparse.Namespace) -> None:
    async with scratch_database(args.postgres) as url:
        with tempfile.TemporaryDirectory(prefix="fosterbot-multi-") as tmp:
            async with sampling(url) as waits:
                figures = await run_scenario(url, Path(tmp), carers=args.carers,
                                             reports_each=args.reports_each,
                                             instances=args.instances,
                                             kills=not args.no_kills)
            figures.update(waits.summary())
    print(f"machine: {machine()}")
    for key, value in figures.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--postgres", required=True, help="an admin URL of a PostgreSQL server")
    ap.add_argument("--carers", type=int, default=50)
    ap.add_argument("--reports-each", type=int, default=4)
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--no-kills", action="store_true",
                    help="kill nobody (the scale-out figures: 1 or 2 instances, same burst)")
    asyncio.run(main(ap.parse_args()))
