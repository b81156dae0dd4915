"""The managers' review: overdue lists, open items, timelines, statistics, exports.

Pure reads over the record (the one write is the ``export_made`` audit event).
Each function takes a *scope*: the set of team ids whose records may be read
(``bot.people.access.Access.managed_team_ids`` for a manager in Telegram), or ``None``
for everything (the administrator's command line). Handlers and the CLI only
render what these modules return.

Modules: ``periods`` (what "7d", "2026-11", "2026-11-01 2026-11-30" mean),
``lists`` (overdue and open), ``timeline`` (one incident, in order, paged),
``stats`` (counts, time to acknowledge, breaches, notifications),
``chart`` (the weekly PNG), ``export`` (CSV files and the chain head).
"""

from __future__ import annotations

Scope = frozenset[str] | None
