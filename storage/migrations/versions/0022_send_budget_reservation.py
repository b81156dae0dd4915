"""several instances: a send's slot is booked, not asked for again and again (PostgreSQL only)

``fosterbot_reserve_send(chat_key, chat_rate, chat_burst, global_rate, global_burst,
may_wait)`` books the earliest moment at which both the chat's bucket and the global
bucket in ``send_buckets`` have a token, charges both as of that moment, and returns how
long until it (``wait``) with ``booked`` true; the caller sleeps that long and sends
(``storage/send_budget.py``). Before (``fosterbot_take_send``, migration 0021) a send that
had to wait took nothing and asked again after the wait, so a busy moment cost several
round trips a send.

The buckets are token buckets whose ``at`` may lie in the future: a row says "``tokens``
at ``at``", which is the same as GCRA's theoretical arrival time ``at + (burst - tokens) /
rate``. A bucket's earliest slot is ``at + (1 - tokens) / rate`` (not before now); booking
it at ``s`` writes the tokens left at ``s`` (which is fewer than at ``at`` when ``s`` is
earlier) less one, and ``at = s``. A missing row is a full bucket, as before.

One exception keeps a send to a busy chat from holding everyone else's: when the chat's
slot lies more than one global interval (``1 / global_rate``) beyond the global one, the
global bucket would be booked in the future and every other chat's send queued behind it,
the seconds in between unused. Then nothing is booked, ``booked`` is false and ``wait`` is
how long until the chat has a token; the caller waits and asks again. That happens only
when another instance sent to the same chat meanwhile (this process keeps a copy of what it
booked per chat, ``bot/delivery/pacing.py``). ``may_wait = false`` books only a slot that
is now: ``fosterbot_take_send`` keeps its contract on top of it for an instance of the
previous version still running during an upgrade.

The global row is locked first, then the chat's, as before. SQLite (one instance) has no
shared budget: nothing to do there.

Revision ID: 0022_send_budget_reservation
Revises: 0021_send_budget_take_function
"""

from alembic import op

revision = "0022_send_budget_reservation"
down_revision = "0021_send_budget_take_function"
branch_labels = None
depends_on = None

RESERVE = """
CREATE OR REPLACE FUNCTION fosterbot_reserve_send(
    chat_key text, chat_rate double precision, chat_burst double precision,
    global_rate double precision, global_burst double precision, may_wait boolean,
    OUT wait double precision, OUT booked boolean)
LANGUAGE plpgsql AS $$
DECLARE
    g_tokens double precision;
    g_at double precision;
    c_tokens double precision;
    c_at double precision;
    now_s double precision;
    g_slot double precision;
    c_slot double precision;
    slot double precision;
BEGIN
    SELECT tokens, EXTRACT(EPOCH FROM at) INTO g_tokens, g_at
    FROM send_buckets WHERE key = 'global' FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO send_buckets (key, tokens, at) VALUES ('global', global_burst, clock_timestamp())
        ON CONFLICT (key) DO NOTHING;
        SELECT tokens, EXTRACT(EPOCH FROM at) INTO g_tokens, g_at
        FROM send_buckets WHERE key = 'global' FOR UPDATE;
    END IF;
    SELECT tokens, EXTRACT(EPOCH FROM at) INTO c_tokens, c_at
    FROM send_buckets WHERE key = chat_key FOR UPDATE;
    now_s := EXTRACT(EPOCH FROM clock_timestamp());
    -- Each bucket's earliest token (a millionth of a token is float dust), not before now.
    g_slot := GREATEST(now_s, g_at + (0.999999 - g_tokens) / global_rate);
    IF c_at IS NULL THEN
        c_slot := now_s;
    ELSE
        c_slot := GREATEST(now_s, c_at + (0.999999 - c_tokens) / chat_rate);
    END IF;
    slot := GREATEST(g_slot, c_slot);
    IF c_slot > g_slot + 1 / global_rate OR (slot > now_s AND NOT may_wait) THEN
        wait := slot - now_s;
        booked := false;
        RETURN;
    END IF;
    UPDATE send_buckets
    SET tokens = LEAST(global_burst, g_tokens + (slot - g_at) * global_rate) - 1,
        at = to_timestamp(slot)
    WHERE key = 'global';
    INSERT INTO send_buckets AS b (key, tokens, at)
    VALUES (chat_key,
            LEAST(chat_burst, COALESCE(c_tokens + (slot - c_at) * chat_rate, chat_burst)) - 1,
            to_timestamp(slot))
    ON CONFLICT (key) DO UPDATE SET tokens = EXCLUDED.tokens, at = EXCLUDED.at;
    wait := slot - now_s;
    booked := true;
END
$$
"""

# The previous version's call, on the same buckets: 0 and a token taken now, or the seconds
# to wait and nothing taken (it would misread a row whose ``at`` lies in the future).
TAKE = """
CREATE OR REPLACE FUNCTION fosterbot_take_send(
    chat_key text, chat_rate double precision, chat_burst double precision,
    global_rate double precision, global_burst double precision)
RETURNS double precision LANGUAGE sql AS $$
    SELECT CASE WHEN r.booked THEN 0 ELSE GREATEST(0.001, r.wait) END
    FROM fosterbot_reserve_send(chat_key, chat_rate, chat_burst, global_rate, global_burst,
                                false) AS r
$$
"""

# Migration 0021's function, put back by the downgrade.
TAKE_0021 = """
CREATE OR REPLACE FUNCTION fosterbot_take_send(
    chat_key text, chat_rate double precision, chat_burst double precision,
    global_rate double precision, global_burst double precision)
RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz;
    g double precision;
    c double precision;
    g_tokens double precision;
    g_at timestamptz;
    c_tokens double precision;
    c_at timestamptz;
BEGIN
    SELECT tokens, at INTO g_tokens, g_at FROM send_buckets WHERE key = 'global' FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO send_buckets (key, tokens, at) VALUES ('global', global_burst, clock_timestamp())
        ON CONFLICT (key) DO NOTHING;
        SELECT tokens, at INTO g_tokens, g_at FROM send_buckets WHERE key = 'global' FOR UPDATE;
    END IF;
    SELECT tokens, at INTO c_tokens, c_at FROM send_buckets WHERE key = chat_key FOR UPDATE;
    t := clock_timestamp();
    g := LEAST(global_burst, g_tokens + GREATEST(0, EXTRACT(EPOCH FROM t - g_at)) * global_rate);
    IF c_at IS NULL THEN
        c := chat_burst;
    ELSE
        c := LEAST(chat_burst, c_tokens + GREATEST(0, EXTRACT(EPOCH FROM t - c_at)) * chat_rate);
    END IF;
    IF c < 0.999999 OR g < 0.999999 THEN
        RETURN GREATEST(0.001, (1 - c) / chat_rate, (1 - g) / global_rate);
    END IF;
    UPDATE send_buckets SET tokens = g - 1, at = t WHERE key = 'global';
    INSERT INTO send_buckets AS b (key, tokens, at) VALUES (chat_key, c - 1, t)
    ON CONFLICT (key) DO UPDATE SET tokens = EXCLUDED.tokens, at = EXCLUDED.at;
    RETURN 0;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(RESERVE)
    op.execute(TAKE)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(TAKE_0021)
    op.execute("DROP FUNCTION IF EXISTS fosterbot_reserve_send(text, double precision, "
               "double precision, double precision, double precision, boolean)")
