"""The console's pages, one module each. Importing this package runs every module's
``@page`` registrations: add your module to the import below (in navigation order)."""

from __future__ import annotations

from bot.web.pages import needs, reports

MODULES = (needs, reports)
