"""Storage: the models (``models``), shared read queries (``queries``), the database
handle (``db``; SQLite on the loop's thread in ``sqlite_inloop``) and Alembic
migrations (``migrate``, ``migrations/``).

Imports nothing from ``bot`` or ``handlers`` (import-linter checks it).
"""
