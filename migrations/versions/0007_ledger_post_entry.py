"""Posting one journal entry on PostgreSQL in one round trip: the function ledger_post_entry.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 00:05:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# What marketplace.ledger.posting.post runs on PostgreSQL, the same steps as its batched statements: insert the
# entry unless its key is there (a concurrent post of the same key waits, then finds it), its postings, and the
# balances of its accounts, locked first in ascending id so that writers sharing hot accounts queue rather than
# deadlock. The caller has checked that the postings balance; the deferred trigger postings_balance checks again
# at commit.
LEDGER_POST_ENTRY = '''
CREATE FUNCTION ledger_post_entry(
    p_key text, p_kind text, p_ref text, p_occurred_on date, p_memo text, p_reverses_id integer,
    p_created_at timestamptz, p_accounts integer[], p_amounts bigint[],
    OUT entry_id integer, OUT posted boolean)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO journal_entries (idempotency_key, kind, ref, occurred_on, memo, reverses_id, created_at)
    VALUES (p_key, p_kind, p_ref, p_occurred_on, p_memo, p_reverses_id, p_created_at)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id INTO entry_id;
    posted := entry_id IS NOT NULL;
    IF NOT posted THEN
        SELECT id INTO entry_id FROM journal_entries WHERE idempotency_key = p_key;
        RETURN;
    END IF;
    INSERT INTO postings (entry_id, account_id, amount)
    SELECT ledger_post_entry.entry_id, line.account_id, line.amount
    FROM unnest(p_accounts, p_amounts) AS line(account_id, amount);
    PERFORM FROM ledger_accounts WHERE id = ANY(p_accounts) ORDER BY id FOR NO KEY UPDATE;
    UPDATE ledger_accounts AS a SET balance = a.balance + line.amount
    FROM unnest(p_accounts, p_amounts) AS line(account_id, amount)
    WHERE a.id = line.account_id;
END $$'''


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(LEDGER_POST_ENTRY)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP FUNCTION ledger_post_entry(text, text, text, date, text, integer, timestamptz, integer[], '
                   'bigint[])')
