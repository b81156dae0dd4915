"""The garbage collector, once the bot has started: what exists by then is kept out of it.

Everything built at start-up (modules, python-telegram-bot's application and handlers,
SQLAlchemy's metadata, mappers and compiled statements, the configuration) lives as long
as the process. CPython's collector would still walk all of it at every full collection,
and a large part at every middle one. ``gc.freeze()`` moves what is alive into a
permanent generation the collector skips; new objects (each update's) are collected as
before. Measured (``bench/report_throughput.py``, bench/RESULTS.md): time in the collector
per report 3.9 → 1.4 ms.

Decision: frozen once, after the bot started (``fosterbot run``), not in tests, which
start and stop many bots in one process (frozen objects are never collected, so a test
run would keep every stopped bot's). A ``gc.collect()`` first, so that start-up's
garbage is freed rather than kept for ever.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def settle() -> int:
    """Collect start-up's garbage, then keep everything still alive out of later
    collections. Returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("started: %d objects kept out of the garbage collector", frozen)
    return frozen
