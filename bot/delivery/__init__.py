"""Delivery: every message the bot owes someone is a row in ``deliveries`` (the
outbox), sent by one dispatcher within Telegram's limits.

``outbox`` (enqueue in the caller's transaction; the Dispatcher claims, sends,
records the message id, retries, gives up), ``pacing`` (global and per-chat
rate limits), ``stopping`` (waiting unless a stop is asked for).

May import: the foundation (audit, clock, config), ``storage`` and Telegram's
client types; nothing from the record, the engine or handlers (a failed alert
is handed to ``bot.engine.rerouting`` through a callback the app wires).
"""
