"""The console's pages, one module each. Importing this package runs every module's
``@page`` registrations: add your module to the import below (in navigation order: the
``isort: split`` lines keep that order)."""

from __future__ import annotations

from bot.web.pages import needs, reports

# isort: split
from bot.web.pages import stats

# isort: split
from bot.web.pages import notifications

# isort: split
from bot.web.pages import compliance

# isort: split
from bot.web.pages import audit, child, incident

MODULES = (needs, reports, stats, notifications, compliance, audit, incident, child)
