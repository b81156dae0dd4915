"""Start-up's objects are kept out of the garbage collector once the bot runs
(``bot/runtime/gc_tuning.py``); what is made afterwards is collected as before."""

from __future__ import annotations

import gc
import weakref

from bot.runtime import gc_tuning


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector can free it


def _tracked(obj: object) -> bool:
    return any(o is obj for o in gc.get_objects())


def test_settle_freezes_what_is_alive_and_still_collects_what_comes_after():
    kept = _Node()
    was_enabled = gc.isenabled()
    gc.disable()  # no automatic collection in between: the test says when
    try:
        assert _tracked(kept)
        frozen = gc_tuning.settle()
        assert frozen > 0 and gc.get_freeze_count() > 0
        assert not _tracked(kept)  # in the permanent generation: never walked again
        later = _Node()
        gone = weakref.ref(later)
        assert _tracked(later)
        del later
        assert gone() is not None  # a cycle: not freed by reference counting
        gc.collect()
        assert gone() is None  # the new cycle is still found and freed
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()
    assert _tracked(kept)
