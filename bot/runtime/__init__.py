"""Telegram intake and the long-running loops: polling, the webhook server, the
update processor (chats in parallel, each in order), each update once
(``updates``), health, housekeeping.

May import everything below handlers: the engine, the record, delivery, the
foundation and ``storage``; never ``handlers`` or the app wiring above it
(``bot.app`` puts handlers and runtime together).
"""
