"""Pure rules: who is told, who holds a report, what the categories and roles are,
working time and bank holidays, durations, dates typed by carers, outcomes.

Values in, values out: nothing here reads the database, talks to Telegram or
sends anything (import-linter forbids it), so every rule is tested without the
bot. Imports only the standard library, ``holidays`` and other modules of this
package.

Modules: ``routing`` (recipients of a report, holders, substitutes), ``reasons``
(why each recipient was told, and the labels), ``categories``, ``roles``,
``workhours`` (working time, closures, bank holidays, DST), ``durations``
("15m", "1 working day"), ``when_parse`` ("yesterday 5pm"), ``outcomes``.
"""
