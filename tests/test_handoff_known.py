"""Whether a chat owes replies handed to the outbox is read once per update (issue 18).

``bot/delivery/handoff.py``: the update's first read (``bot/runtime/updates.py`` ``check``)
also reads whether the update's chat has handed-over replies waiting, and the rate limiter's
check before each of the update's sends to that chat (``Handoff.owes``) uses that answer
instead of a read of its own. A hand-over during the update marks the chat at once; a send to
another chat, or outside an update, still reads the outbox.
"""

from __future__ import annotations

from sqlalchemy import event

from bot.delivery.handoff import Handoff, answering
from bot.runtime import updates


class Statements:
    """Counts the statements run on ``db`` while inside."""

    def __init__(self, db) -> None:
        self.engine = db.engine.sync_engine
        self.texts: list[str] = []

    def _seen(self, _conn, _cursor, text, *_args) -> None:
        self.texts.append(" ".join(text.split()))

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def reads_of_what_is_owed(self) -> int:
        return sum(1 for t in self.texts if t.startswith("SELECT max(deliveries.next_attempt_at)"))


async def test_an_update_asks_once_whether_its_chat_owes_and_learns_of_its_own_hand_over(world):
    smith = await world.linked("carer-smith")
    await world.settle()
    db, clock = world.services.db, world.services.clock
    handoff = Handoff(db, clock, lambda: None)
    other = smith.id + 1
    with Statements(db) as seen:
        with answering(smith.id):
            handled, person, roles = await updates.check(db, 555_001, smith.id, smith.id)
            assert (handled, person.id, roles) == (False, "carer-smith", frozenset({"carer"}))
            assert len(seen.texts) == 1  # the first read, and nothing else
            assert await handoff.owes(smith.id) is False
            assert await handoff.owes(str(smith.id)) is False  # however the id is given
            assert seen.reads_of_what_is_owed() == 0
            assert await handoff.owes(other) is False  # another chat: its own read
            assert seen.reads_of_what_is_owed() == 1
            handed = await handoff.take("sendMessage", {"text": "first"}, smith.id, 61.0)
            assert handed is not None and handed["message_id"] == 0
            count = seen.reads_of_what_is_owed()
            assert await handoff.owes(smith.id) is True  # its own hand-over: known, not read
            assert seen.reads_of_what_is_owed() == count
        # Outside an update nothing is known: the outbox is read, and says so too.
        assert await handoff.owes(smith.id) is True
        assert seen.reads_of_what_is_owed() == count + 1
    # The next update's first read finds the reply still waiting.
    with answering(smith.id):
        await updates.check(db, 555_002, smith.id, smith.id)
        with Statements(db) as seen:
            assert await handoff.owes(smith.id) is True
            assert seen.texts == []


async def test_an_update_from_nobody_linked_or_without_a_chat_still_reads_the_outbox(world):
    smith = await world.linked("carer-smith")
    await world.settle()
    db = world.services.db
    handoff = Handoff(db, world.services.clock, lambda: None)
    await handoff.take("sendMessage", {"text": "waiting"}, 4242, 61.0)
    with Statements(db) as seen:
        with answering(4242):
            # Nobody is linked to this account: the first read finds no row to carry the answer.
            assert await updates.check(db, 555_003, 4242, 4242) == (False, None, frozenset())
            assert await handoff.owes(4242) is True
            assert seen.reads_of_what_is_owed() == 1
        with answering(None):  # an update without a chat (an inline query, say)
            await updates.check(db, 555_004, smith.id, None)
            assert await handoff.owes(4242) is True
            assert seen.reads_of_what_is_owed() == 2

