"""The escalation policy and an incident's clocks.

``policy`` is pure: the plan frozen on each report (steps, targets, repeat),
step keys, when each step, the outcome and the notification fall due.
``clocks`` makes the transitions people cause (acknowledged: stop the ladder,
start the outcome clock) inside the caller's transaction. The engine that runs
due steps is ``bot.engine``, one layer above the record.

May import: the foundation modules (config, audit, texts), ``bot.rules`` and
``storage``; ``policy`` imports no database at all.
"""
