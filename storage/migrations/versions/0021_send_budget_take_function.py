"""several instances: take a send's tokens in one call to the server (PostgreSQL only)

``fosterbot_take_send(chat_key, chat_rate, chat_burst, global_rate, global_burst)``
takes one token from the chat's bucket and one from the global bucket in
``send_buckets``, or neither, and returns 0 or the seconds to wait
(``storage/send_budget.py``). Before, each send of every instance was a
transaction of its own from the client (begin, two upserts, commit: four round
trips, holding the global row's lock across them); under a burst the leader
spent about a fifth of its time there and every instance queued behind the
global row while a starved client held it. As one statement the rows are
locked only while the server runs it.

The global row is locked first, then the chat's: every taker goes through the
global row, so two takers never hold a chat row in opposite orders, and the
housekeeping's removal of idle chat rows never waits for the global row.
A chat row is written only when its token is taken (a refusal writes nothing).
SQLite (one instance) has no shared budget: nothing to do there.

Revision ID: 0021_send_budget_take_function
Revises: 0020_handoff_pending_index
"""

from alembic import op

revision = "0021_send_budget_take_function"
down_revision = "0020_handoff_pending_index"
branch_labels = None
depends_on = None

FUNCTION = """
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
    op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS fosterbot_take_send(text, double precision, "
               "double precision, double precision, double precision)")
