"""The time-driven engine: runs every due escalation step once, on time or late but
never lost, and reroutes an alert that could not be delivered.

``escalation`` (the engine: claim due incidents, run their step, move the clock,
watchdog), ``targets`` (who a step goes to, through cover and substitutes),
``texts`` (the wording of reminders, escalations and notification reminders),
``rerouting`` (a failed alert goes to whoever stands in).

May import everything below it: ``bot.record`` (alert wording and buttons),
``bot.escalation``, ``bot.services``, ``bot.people``, ``bot.delivery``, the
foundation, ``bot.rules``, ``storage``; never review, handlers or the runtime.
"""
