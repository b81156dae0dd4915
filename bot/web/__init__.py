"""The web console: managers' (and workers') review of the record in a browser.

Served by the bot's own aiohttp server under ``/web`` when ``[web] enabled``, or
alone by ``fosterbot web``. Server-rendered HTML (Jinja2, autoescaped), usable
without JavaScript, no assets from other sites. Signing in is through the bot
(``/web`` links, the Telegram Mini App); access is decided by the one access
module, ``bot/people/access.py``, and pages call the same domain services as
the bot. ``bot/web/README.md`` says how to add a page.

Modules: ``kit`` (``@page``, ``render``, ``refuse``, ``audit_view``: what a page
uses), ``security`` (the session, CSRF and header middlewares), ``signin``
(links, the Mini App, sign-out), ``initdata`` (Telegram's Mini App signature),
``server`` (builds the application), ``pages/`` (one module per page).
"""
