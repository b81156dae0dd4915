"""The record: a report from its draft to its close, and everything said about it.

``reporting`` runs the report conversation over its draft row, ``incidents``
submits and acknowledges (routing the alerts through the outbox), ``thread``
holds follow-ups, replies, corrections and outcomes, ``attachments`` the files,
``drafts`` abandoned drafts, ``notification`` the statutory notification,
``alerts`` and ``render`` the wording of alerts and of the full record,
``inbox`` where text typed outside a flow goes, ``prompt`` what a flow answers.

Every function works inside the caller's write transaction; nothing here talks
to Telegram (the outbox sends). May import: ``bot.escalation`` (to start and stop
clocks), ``bot.services``, ``bot.people``, ``bot.delivery``, the foundation
modules and ``bot.rules``, ``storage``; never ``bot.engine``, review or handlers.
"""
