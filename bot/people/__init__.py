"""People: the directory (teams, people, roles, children, placements), linking a
Telegram account to a person (invites), away and cover, and access — who may see
and do what, the one place for those decisions (``access``).

Reads and writes its own tables through SQLAlchemy. May import: ``bot.rules``,
``bot.audit``, ``bot.config``, ``bot.clock``, ``bot.texts``, ``bot.delivery`` and
``storage``; never the record, the engine, handlers or Telegram.
"""
